//! The workbench driven headless through egui_kittest: real clicks on real
//! widgets, background work polled as in the app.

mod common;

use common::tiny_config;

use std::path::PathBuf;
use std::time::Duration;

use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use facebench::engine::{train_blocking, FinishStatus, RunConfig, TrainRequest};
use facebench::gui::{AppState, Tab, WorkbenchApp};

fn harness<'a>(app: WorkbenchApp, size: [f32; 2]) -> Harness<'a, WorkbenchApp> {
    // Form fields are labelled by the row label beside them, which AccessKit
    // does not link, so the unlabelled-widget check is off.
    Harness::builder()
        .with_size(size)
        .with_accessibility_check(false)
        .build_ui_state(|ui, app: &mut WorkbenchApp| app.frame_ui(ui), app)
}

/// Step the UI until `done` holds. The bound only catches a hang; no test
/// depends on how fast the machine is.
fn step_until(h: &mut Harness<'_, WorkbenchApp>, what: &str, done: impl Fn(&WorkbenchApp) -> bool) {
    for _ in 0..30_000 {
        h.step();
        if done(h.state()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for: {what}");
}

fn state(data: &std::path::Path, runs: PathBuf, config: RunConfig) -> AppState {
    AppState {
        dataset_path: data.display().to_string(),
        config,
        runs_dir: runs,
        ..AppState::default()
    }
}

fn scanned(app: &WorkbenchApp) -> bool {
    app.dataset.report().is_some() || app.dataset.error().is_some()
}

#[test]
fn invalid_input_disables_train_with_its_reason() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 10, 48);
    let mut config = tiny_config(1);
    config.train.batch_size = 1;
    let mut h = harness(
        WorkbenchApp::new(state(&data, tmp.path().join("runs"), config)),
        [1400.0, 900.0],
    );
    step_until(&mut h, "dataset scan", scanned);
    h.run_steps(2);
    h.get_by_label_contains("Train is disabled: fix train.batch_size");
    assert!(h.get_by_label("Train").accesskit_node().is_disabled());
    // the field itself is marked too: its message under it, besides the reason
    assert!(h.get_all_by_label_contains("must be in 2..=4096").count() >= 2);

    h.state_mut().state.config.train.batch_size = 16;
    h.run_steps(2);
    assert!(h.query_by_label_contains("Train is disabled").is_none());
    assert!(!h.get_by_label("Train").accesskit_node().is_disabled());

    // an unusable dataset blocks Train with the dataset's own message
    h.state_mut().state.dataset_path = tmp.path().join("missing").display().to_string();
    h.get_by_label("Open").click();
    step_until(&mut h, "failed scan", |a| a.dataset.error().is_some());
    h.run_steps(2);
    h.get_by_label_contains("Train is disabled: dataset:");
}

#[test]
fn train_streams_points_into_the_plots_then_stops() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 30, 48);
    let mut h = harness(
        WorkbenchApp::new(state(&data, tmp.path().join("runs"), tiny_config(50))),
        [1400.0, 900.0],
    );
    step_until(&mut h, "dataset scan", scanned);
    h.run_steps(2);
    h.get_by_label("Train").click();
    step_until(&mut h, "iteration points", |a| {
        a.session.as_ref().is_some_and(|s| s.live.iter_x.len() >= 3)
    });
    assert_eq!(h.state().state.tab, Tab::Training);
    h.run_steps(2);
    h.get_by_label("loss per iteration");
    h.get_by_label("Stop").click();
    step_until(&mut h, "stopped", |a| {
        a.session.as_ref().is_some_and(|s| !s.live.is_running())
    });
    let live = &h.state().session.as_ref().unwrap().live;
    assert_eq!(
        live.finished,
        Some(FinishStatus::Stopped),
        "{:?}",
        live.failed
    );
    assert!(
        live.log.iter().any(|l| l.contains("checkpoint last")),
        "{:?}",
        live.log
    );
}

#[test]
fn clicking_a_confusion_cell_filters_the_gallery_to_that_pair() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 20, 48);
    let runs = tmp.path().join("runs");
    let run = train_blocking(
        TrainRequest {
            config: tiny_config(1),
            data_root: data.clone(),
            runs_root: runs.clone(),
            resume: None,
        },
        |_| {},
    )
    .unwrap();
    let mut app = WorkbenchApp::new(state(&data, runs, tiny_config(1)));
    app.state.tab = Tab::Results;
    let mut h = harness(app, [1400.0, 1600.0]);
    h.step();
    let ctx = h.ctx.clone();
    h.state_mut().results.open(&ctx, run.clone());
    step_until(&mut h, "results loaded", |a| {
        a.results.loaded.is_some() || a.results.error.is_some()
    });
    assert!(
        h.state().results.error.is_none(),
        "{:?}",
        h.state().results.error
    );
    h.run_steps(3);
    h.get_by_label_contains("accuracy");
    let (origin, cell, order) = h
        .state()
        .results
        .confusion
        .drawn
        .clone()
        .expect("matrix drawn");
    // aim at the busiest off-diagonal cell, or the first diagonal one
    let eval = h.state().results.loaded.as_ref().unwrap().eval.clone();
    let m = eval.confusion.clone();
    let (mut t, mut p) = (order[0], order[0]);
    for (r, &a) in order.iter().enumerate() {
        for (c, &b) in order.iter().enumerate() {
            if a != b && m[a][b] > 0 && (t == p || m[a][b] > m[t][p]) {
                (t, p) = (a, b);
                let _ = (r, c);
            }
        }
    }
    let (r, c) = (
        order.iter().position(|&x| x == t).unwrap(),
        order.iter().position(|&x| x == p).unwrap(),
    );
    let pos = origin + egui::vec2((c as f32 + 0.5) * cell, (r as f32 + 0.5) * cell);
    h.hover_at(pos);
    h.step();
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: Default::default(),
        });
        h.step();
    }
    h.run_steps(2);
    assert_eq!(h.state().results.confusion.selected, Some((t, p)));
    let items = h.state().results.gallery_items();
    assert_eq!(
        items.len(),
        m[t][p],
        "the gallery holds exactly that cell's faces"
    );
    let preds = &h.state().results.loaded.as_ref().unwrap().eval.predictions;
    assert!(items
        .iter()
        .all(|&i| preds[i].true_class == t && preds[i].predicted == p));
    let heading = format!(
        "{} -> {}: {} face(s)",
        eval.classes[t], eval.classes[p], m[t][p]
    );
    h.get_by_label(&heading);
}

#[test]
fn snapshot_dataset_tab_on_the_demo_data() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 12, 64);
    let mut config = tiny_config(1);
    config.data.augment.brightness = 0.3;
    let mut h = harness(
        WorkbenchApp::new(state(&data, tmp.path().join("runs"), config)),
        [1300.0, 1000.0],
    );
    step_until(&mut h, "dataset scan", scanned);
    h.run_steps(3);
    step_until(&mut h, "thumbnails", |a| a.thumbnails_pending() == 0);
    h.run_steps(5);
    // the dataset path is a temp folder whose name (and so text width) varies:
    // mask where it appears, out to a fixed right edge
    let wide =
        |r: egui::Rect| egui::Rect::from_min_max(r.min, egui::pos2(r.min.x.max(1290.0), r.max.y));
    let mut masks = vec![wide(h.get_by_label(&data.display().to_string()).rect())];
    masks.extend(
        h.get_all_by_value(&data.display().to_string())
            .map(|n| n.rect()),
    );
    masks.push(wide(h.get_by_label_contains("at 64 px").rect()));
    for r in masks {
        h.mask(r);
    }
    h.snapshot("dataset_tab_demo");
}

/// The Results tab on a fixed evaluation (the scikit-learn fixture's
/// predictions), so the snapshot does not depend on any training.
#[test]
fn snapshot_results_tab_on_a_fixed_evaluation() {
    use facebench::engine::DatasetSummary;
    use facebench::gui::LoadedRun;
    use facebench::store::RunRecord;
    let fx: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/metrics_sklearn.json")).unwrap();
    let classes: Vec<String> = serde_json::from_value(fx["classes"].clone()).unwrap();
    let y_true: Vec<usize> = serde_json::from_value(fx["y_true"].clone()).unwrap();
    let probs: Vec<Vec<f32>> = serde_json::from_value(fx["probs"].clone()).unwrap();
    let mut eval = facebench::eval::classification_report(&classes, &y_true, &probs, &[]);
    eval.split = "test".into();
    eval.checkpoint = "best".into();
    eval.images_per_sec = 1000.0;
    let record = RunRecord {
        facebench_version: "test".into(),
        created: String::new(),
        data_root: PathBuf::new(),
        config: tiny_config(1),
        dataset: DatasetSummary {
            root: PathBuf::new(),
            classes: classes.clone(),
            train: 0,
            val: 0,
            test: y_true.len(),
            skipped: 0,
            fingerprint: String::new(),
            mean: [0.5; 3],
            std: [0.5; 3],
        },
        device: "cpu".into(),
        params: 0,
    };
    let mut app = WorkbenchApp::new(AppState {
        tab: Tab::Results,
        ..AppState::default()
    });
    app.results.run = Some(PathBuf::from("fixture-run"));
    app.results.loaded = Some(LoadedRun { record, eval });
    app.results.confusion.selected = Some((1, 0));
    let mut h = harness(app, [1300.0, 1300.0]);
    h.run_steps(4);
    step_until(&mut h, "thumbnails", |a| a.thumbnails_pending() == 0);
    h.run_steps(3);
    h.get_by_label_contains("person_1 -> person_0:");
    h.snapshot("results_tab_fixture");
}

/// The Training tab on a fixed, synthetic event stream (two phases, an LR
/// change), so the snapshot does not depend on a real run's timing.
#[test]
fn snapshot_training_tab_on_fixed_events() {
    use facebench::engine::{EpochMetrics, TrainEvent};
    use facebench::gui::{training_tab_ui, LiveRun};
    let mut live = LiveRun::default();
    live.name = "fixed-run".into();
    live.device = "cpu".into();
    live.epochs_planned = 8;
    live.batch_size = 32;
    for i in 0..2000usize {
        let t = i as f64;
        if i == 1000 {
            live.apply(&TrainEvent::PhaseChanged {
                epoch: 5,
                phase: 2,
                description: "unfreeze the base".into(),
            });
        }
        live.apply(&TrainEvent::Iteration {
            epoch: i / 250 + 1,
            iteration: i + 1,
            batch: i % 250 + 1,
            batches: 250,
            loss: 3.0 * (-t / 600.0).exp() + 0.2 * (t * 0.7).sin().abs(),
            accuracy: 0.5,
            lr: if i < 1000 { 1e-3 } else { 1e-5 },
            images_per_sec: 120.0 + 10.0 * (t * 0.05).sin(),
        });
        if (i + 1) % 250 == 0 {
            let e = (i + 1) / 250;
            live.apply(&TrainEvent::Epoch(EpochMetrics {
                epoch: e,
                phase: if e > 4 { 2 } else { 1 },
                train_loss: 2.5 / e as f64,
                train_accuracy: 1.0 - 0.8 / e as f64,
                val_loss: 2.8 / e as f64,
                val_accuracy: 0.9 - 0.7 / e as f64,
                lr: 1e-3,
                seconds: 60.0,
                images_per_sec: 120.0,
            }));
        }
    }
    let mut smoothing = 0.6;
    let mut h = Harness::builder()
        .with_size([1200.0, 800.0])
        .with_accessibility_check(false)
        .build_ui(|ui| training_tab_ui(ui, Some(&live), &mut smoothing, &mut None));
    h.run_steps(3);
    h.get_by_label("loss per iteration");
    h.get_by_label_contains("epoch 8/8");
    h.snapshot("training_tab_fixed");
}

/// The Runs tab on two hand-written run folders (fixed names and numbers), one
/// ticked for the overlay.
#[test]
fn snapshot_runs_tab_on_fixed_runs() {
    use facebench::engine::{DatasetSummary, EpochMetrics, FinishStatus, TrainEvent};
    use facebench::store::{MetricsLog, RunDir, RunRecord};
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    for (k, name) in ["run-a-resnet", "run-b-resnet"].iter().enumerate() {
        let dir = RunDir::new(runs.join(name));
        std::fs::create_dir_all(&dir.path).unwrap();
        let mut config = tiny_config(5);
        config.model.depths = [k + 1; 4];
        dir.write_record(&RunRecord {
            facebench_version: "test".into(),
            created: String::new(),
            data_root: PathBuf::new(),
            config,
            dataset: DatasetSummary {
                root: PathBuf::new(),
                classes: vec!["a".into(), "b".into()],
                train: 8,
                val: 2,
                test: 2,
                skipped: 0,
                fingerprint: String::new(),
                mean: [0.5; 3],
                std: [0.5; 3],
            },
            device: "cpu".into(),
            params: 100_000 * (k + 1),
        })
        .unwrap();
        let mut log = MetricsLog::open(&dir.metrics_path()).unwrap();
        for e in 1..=5 {
            log.append(&TrainEvent::Epoch(EpochMetrics {
                epoch: e,
                phase: 1,
                train_loss: 2.0 / e as f64,
                train_accuracy: 0.5 + 0.08 * e as f64,
                val_loss: 2.2 / e as f64,
                val_accuracy: 0.4 + (0.06 + 0.02 * k as f64) * e as f64,
                lr: 1e-3,
                seconds: 10.0,
                images_per_sec: 100.0,
            }))
            .unwrap();
        }
        log.append(&TrainEvent::Finished {
            status: FinishStatus::Completed,
            epochs_completed: 5,
            best_epoch: 5,
            best_val_accuracy: 0.7,
            test_accuracy: None,
            seconds: 50.0,
        })
        .unwrap();
    }
    let mut app = WorkbenchApp::new(AppState {
        tab: Tab::Runs,
        runs_dir: runs.clone(),
        ..AppState::default()
    });
    app.runs.selected.insert(runs.join("run-a-resnet"));
    app.runs.selected.insert(runs.join("run-b-resnet"));
    let mut h = harness(app, [1300.0, 800.0]);
    step_until(&mut h, "runs listed", |a| a.runs.runs.len() == 2);
    step_until(&mut h, "curves tailed", |a| {
        a.runs.selected.iter().all(|p| a.runs.tail_epochs(p) == 5)
    });
    h.run_steps(3);
    assert_eq!(
        h.get_all_by_label("run-a-resnet").count(),
        2,
        "in the table and the legend"
    );
    h.get_by_label("ResNet [2,2,2,2] x8");
    // the runs folder is a temp path: mask it (it ends the header row)
    let folder = h.get_by_label(&format!("in {}", runs.display())).rect();
    h.mask(egui::Rect::from_min_max(
        folder.min,
        egui::pos2(1290.0, folder.max.y),
    ));
    h.snapshot("runs_tab_fixed");
}

#[test]
fn transfer_architectures_show_weights_head_and_phase_fields() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 10, 48);
    let mut h = harness(
        WorkbenchApp::new(state(&data, tmp.path().join("runs"), tiny_config(1))),
        [1400.0, 1000.0],
    );
    step_until(&mut h, "dataset scan", scanned);
    h.run_steps(2);
    assert!(h.query_by_label("blocks per stage").is_some());
    assert!(h.query_by_label("phase 1 epochs").is_none());

    let config = &mut h.state_mut().state.config;
    config.model.architecture = facebench::model::Architecture::Xception;
    config.finetune.phase1_epochs = 5; // more than train.epochs (1)
    h.run_steps(2);
    assert!(h.query_by_label("blocks per stage").is_none());
    h.get_by_label("weights");
    h.get_by_label("head dense");
    h.get_by_label("phase 1 epochs");
    // 64 px is below Xception's minimum and phase 1 is longer than the run:
    // both block Train with their reasons
    h.get_by_label_contains("Train is disabled");
    assert!(h.get_all_by_label_contains("needs at least 71 px").count() >= 1);
    assert!(
        h.get_all_by_label_contains("more than train.epochs")
            .count()
            >= 1
    );
}

/// "save as PNG" on a Training-tab plot writes the whole plot block (title,
/// legend, axes) into the run's folder, and the status line names the file.
#[test]
fn saving_a_training_plot_writes_a_png_into_the_run_folder() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 20, 48);
    let mut h = harness(
        WorkbenchApp::new(state(&data, tmp.path().join("runs"), tiny_config(1))),
        [1400.0, 1000.0],
    );
    step_until(&mut h, "dataset scan", scanned);
    h.run_steps(2);
    h.get_by_label("Train").click();
    step_until(&mut h, "run finished", |a| {
        a.session.as_ref().is_some_and(|s| !s.live.is_running())
    });
    let live = &h.state().session.as_ref().unwrap().live;
    assert!(live.failed.is_none(), "{:?}", live.failed);
    let run_dir = live.run_dir.clone().expect("the run has a folder");
    h.state_mut().state.tab = Tab::Training;
    h.run_steps(3);
    let expected = std::path::absolute(run_dir.join("loss-per-iteration.png")).unwrap();
    assert!(!expected.exists());
    h.get_by_label("loss-per-iteration").click();
    step_until(&mut h, "PNG written", |a| {
        a.status.as_deref().is_some_and(|s| s.contains("loss-per-iteration"))
    });
    h.run_steps(2);
    assert!(expected.is_file(), "{} written", expected.display());
    // the status line names the file
    h.get_by_label_contains(&expected.display().to_string());
    // the whole block, not just the plot frame: wider (the y axis) and taller
    // (title, legend, x axis) than the bare plot area
    let frame = egui_plot::PlotMemory::load(&h.ctx, egui::Id::unique(("training-plot", "iter-loss")))
        .expect("the plot was drawn")
        .transform()
        .frame()
        .to_owned();
    let png = image::open(&expected).unwrap();
    let ppp = h.ctx.pixels_per_point();
    assert!(
        png.width() as f32 > frame.width() * ppp + 10.0
            && png.height() as f32 > frame.height() * ppp + 40.0,
        "{}x{} PNG vs a {}x{} plot area",
        png.width(),
        png.height(),
        frame.width(),
        frame.height()
    );
    // and it is the plot, not an empty crop: more than one colour
    let rgba = png.to_rgba8();
    let first = rgba.get_pixel(0, 0);
    assert!(rgba.pixels().any(|p| p != first));
}
