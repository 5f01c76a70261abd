//! The workbench driven headless through egui_kittest: real clicks on real
//! widgets, background work polled as in the app.

mod common;

use common::tiny_config;

use std::path::{Path, PathBuf};
use std::time::Duration;

use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use facebench::data::PerSplit;
use facebench::engine::{train_blocking, TrainRequest};
use facebench::gui::{AppState, Tab, WorkbenchApp};
use facebench::run::{FinishStatus, RunConfig};

fn harness<'a>(app: WorkbenchApp, size: [f32; 2]) -> Harness<'a, WorkbenchApp> {
    // snapshots must not show this machine's cache folder: runs started
    // here decode into memory (the cache has its own tests)
    static NO_CACHE: std::sync::Once = std::sync::Once::new();
    NO_CACHE.call_once(|| std::env::set_var("FACEBENCH_IMAGE_CACHE", "off"));
    common::app_harness(app, size)
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
    app.dataset().report().is_some() || app.dataset().error().is_some()
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

    h.state_mut().app_state_mut().config.train.batch_size = 16;
    h.run_steps(2);
    assert!(h.query_by_label_contains("Train is disabled").is_none());
    assert!(!h.get_by_label("Train").accesskit_node().is_disabled());

    // an unusable dataset blocks Train with the dataset's own message
    h.state_mut().app_state_mut().dataset_path = tmp.path().join("missing").display().to_string();
    h.get_by_label("Open").click();
    step_until(&mut h, "failed scan", |a| a.dataset().error().is_some());
    h.run_steps(2);
    h.get_by_label_contains("Train is disabled: dataset:");
}

/// A dataset with two empty class folders: the Dataset tab lists both
/// problems beside the counts, and Train is disabled with the first.
#[test]
fn a_dataset_with_problems_lists_every_one_and_disables_train() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 10, 48);
    std::fs::create_dir(data.join("empty1")).unwrap();
    std::fs::create_dir(data.join("empty2")).unwrap();
    let mut h = harness(
        WorkbenchApp::new(state(&data, tmp.path().join("runs"), tiny_config(1))),
        [1400.0, 900.0],
    );
    step_until(&mut h, "dataset scan", scanned);
    h.run_steps(2);
    h.get_by_label_contains("2 problem(s): training refuses this dataset");
    for folder in ["empty1", "empty2"] {
        assert!(
            h.get_all_by_label_contains(&format!("{folder} holds no readable images"))
                .count()
                >= 1,
            "{folder} is listed"
        );
    }
    h.get_by_label_contains("Train is disabled: dataset: class folder");
    assert!(h.get_by_label("Train").accesskit_node().is_disabled());
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
        a.session().is_some_and(|s| s.live.iter_x.len() >= 3)
    });
    assert_eq!(h.state().app_state().tab, Tab::Training);
    h.run_steps(2);
    h.get_by_label("loss per iteration");
    h.get_by_label("Stop").click();
    step_until(&mut h, "stopped", |a| {
        a.session().is_some_and(|s| !s.live.is_running())
    });
    let live = &h.state().session().unwrap().live;
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

/// A tiny ResNet trained for one epoch on a demo set under `dir`, and a
/// window on its Results tab, the run opened.
fn results_of_a_tiny_run<'a>(dir: &std::path::Path) -> (Harness<'a, WorkbenchApp>, PathBuf) {
    let data = common::demo_dataset(dir, 4, 20, 48);
    let runs = dir.join("runs");
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
    app.app_state_mut().tab = Tab::Results;
    let mut h = harness(app, [1400.0, 1600.0]);
    h.step();
    let ctx = h.ctx.clone();
    h.state_mut().results_mut().open(&ctx, run.clone());
    (h, run)
}

/// The evaluation the Results tab has loaded.
fn loaded_eval(h: &Harness<'_, WorkbenchApp>) -> facebench::eval::EvalReport {
    let loaded = h.state().results().loaded.as_ref();
    loaded.expect("results loaded").eval.clone()
}

/// Press and release the primary button at `pos`, as a click.
fn click_at(h: &mut Harness<'_, WorkbenchApp>, pos: egui::Pos2) {
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
}

#[test]
fn clicking_a_confusion_cell_filters_the_gallery_to_that_pair() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let (mut h, _run) = results_of_a_tiny_run(tmp.path());
    step_until(&mut h, "results loaded", |a| {
        a.results().loaded.is_some() || a.results().error.is_some()
    });
    assert!(
        h.state().results().error.is_none(),
        "{:?}",
        h.state().results().error
    );
    h.run_steps(3);
    h.get_by_label_contains("accuracy");
    let (origin, cell, order) = h
        .state()
        .results()
        .confusion
        .drawn
        .clone()
        .expect("matrix drawn");
    // aim at the busiest off-diagonal cell, or the first diagonal one
    let eval = h.state().results().loaded.as_ref().unwrap().eval.clone();
    let m = eval.confusion.dense();
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
    click_at(&mut h, pos);
    h.run_steps(2);
    assert_eq!(h.state().results().confusion.selected, Some((t, p)));
    let items = h.state().results().gallery_items();
    assert_eq!(
        items.len(),
        m[t][p],
        "the gallery holds exactly that cell's faces"
    );
    let preds = &loaded_eval(&h).predictions;
    assert!(items
        .iter()
        .all(|&i| preds[i].true_class == t && preds[i].predicted == p));
    let heading = format!(
        "{} -> {}: {} face(s)",
        eval.classes[t], eval.classes[p], m[t][p]
    );
    h.get_by_label(&heading);
}

/// Class names in CJK, Hangul, Cyrillic, Arabic and emoji draw as text, not
/// boxes: the fallback fonts found on this machine cover every character of
/// them (CI installs fonts-droid-fallback, fonts-nanum, fonts-dejavu-core
/// and fonts-symbola when they are missing; .ci/run), and the snapshot shows
/// them in the Dataset tab's chart and sample rows.
#[test]
fn snapshot_class_names_in_other_scripts_draw_as_text() {
    common::isolate_cache();
    let fonts = facebench::gui::fallback_fonts();
    let names = ["周杰倫", "김연아", "Юрий", "محمد", "Zoë 🙂"];
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), names.len(), 6, 48);
    let mut people: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    people.sort();
    for (folder, name) in people.iter().zip(names) {
        std::fs::rename(folder, data.join(name)).unwrap();
    }
    // the fonts first, then the folder: the names must not be laid out
    // before the fonts are in (building the harness already runs frames)
    let mut h = harness(
        WorkbenchApp::new(state(
            Path::new(""),
            tmp.path().join("runs"),
            tiny_config(1),
        )),
        [1300.0, 1000.0],
    );
    h.ctx.set_fonts(fonts.definitions);
    h.run_steps(2);
    h.state_mut().app_state_mut().dataset_path = data.display().to_string();
    h.get_by_label("Open").click();
    step_until(&mut h, "dataset scan", scanned);
    h.run_steps(3);
    step_until(&mut h, "thumbnails", |a| a.thumbnails_pending() == 0);
    h.run_steps(5);
    let font = egui::FontId::proportional(14.0);
    for name in names {
        let missing: String = name
            .chars()
            .filter(|&c| !h.ctx.fonts_mut(|f| f.has_glyph(&font, c)))
            .collect();
        assert!(
            missing.is_empty(),
            "{name}: no font here draws {missing:?} (found {:?}, missing {:?}; on Debian: apt-get install fonts-droid-fallback fonts-nanum fonts-dejavu-core fonts-symbola)",
            fonts.added,
            fonts.missing
        );
        h.get_all_by_label_contains(name)
            .next()
            .unwrap_or_else(|| panic!("{name} is shown"));
    }
    snapshot_dataset_tab(&mut h, &data, "dataset_tab_scripts");
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
    snapshot_dataset_tab(&mut h, &data, "dataset_tab_demo");
}

/// A snapshot of the Dataset tab on `data`. The dataset path is a temp
/// folder whose name (and so text width) varies: it is masked where it
/// appears, out to a fixed right edge.
fn snapshot_dataset_tab(h: &mut Harness<'_, WorkbenchApp>, data: &std::path::Path, name: &str) {
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
    h.snapshot(name);
}

/// The Results tab on a fixed evaluation (the scikit-learn fixture's
/// predictions), so the snapshot does not depend on any training; `selected`
/// is the confusion cell whose faces the gallery shows.
fn results_fixture_harness<'a>(selected: Option<(usize, usize)>) -> Harness<'a, WorkbenchApp> {
    results_fixture_harness_named(selected, None)
}

/// As [`results_fixture_harness`], with the classes renamed.
fn results_fixture_harness_named<'a>(
    selected: Option<(usize, usize)>,
    names: Option<&[&str]>,
) -> Harness<'a, WorkbenchApp> {
    let fx: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/metrics_sklearn.json")).unwrap();
    let mut classes: Vec<String> = serde_json::from_value(fx["classes"].clone()).unwrap();
    if let Some(names) = names {
        classes = names.iter().map(|n| n.to_string()).collect();
    }
    let y_true: Vec<usize> = serde_json::from_value(fx["y_true"].clone()).unwrap();
    let probs: Vec<Vec<f32>> = serde_json::from_value(fx["probs"].clone()).unwrap();
    results_harness_of(
        facebench::eval::classification_report(&classes, &y_true, &probs, &[]),
        selected,
    )
}

/// The Results tab showing `eval` (of a run that is not on disk).
fn results_harness_of<'a>(
    mut eval: facebench::eval::EvalReport,
    selected: Option<(usize, usize)>,
) -> Harness<'a, WorkbenchApp> {
    use facebench::gui::LoadedRun;
    use facebench::run::DatasetSummary;
    use facebench::store::RunRecord;
    let classes = eval.classes.clone();
    let images = eval.images;
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
            images: PerSplit {
                train: 0,
                val: 0,
                test: images,
            },
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
    app.results_mut().run = Some(PathBuf::from("fixture-run"));
    app.results_mut().loaded = Some(LoadedRun::new(record, eval));
    app.results_mut().confusion.selected = selected;
    let mut h = harness(app, [1300.0, 1300.0]);
    h.run_steps(4);
    step_until(&mut h, "thumbnails", |a| a.thumbnails_pending() == 0);
    h
}

/// 2,000 people, two test faces each, every face predicted as itself or the
/// next person: eval.json stays small (it grows with classes plus images,
/// not classes squared), it reads back, and the Results tab lists the most
/// confused pairs instead of a 4-million-cell grid; a row selects its pair.
#[test]
fn a_run_of_two_thousand_people_lists_its_most_confused_pairs() {
    let k = 2000;
    let classes: Vec<String> = (0..k).map(|c| format!("person {c:04}")).collect();
    let (mut y_true, mut probs) = (Vec::new(), Vec::new());
    for c in 0..k {
        for face in 0..2 {
            // person 7's second face goes to person 8 with the most weight
            let wrong = face == 1 && c % 7 == 0;
            let mut p = vec![0.1 / k as f32; k];
            p[if wrong { (c + 1) % k } else { c }] += 0.9;
            y_true.push(c);
            probs.push(p);
        }
    }
    let eval = facebench::eval::classification_report(&classes, &y_true, &probs, &[]);
    assert!(
        eval.roc.iter().all(|c| c.fpr.len() <= 130),
        "past 300 classes a class's curve keeps 64 steps"
    );
    let json = serde_json::to_vec(&eval).unwrap();
    assert!(json.len() < 3 << 20, "eval.json of {} bytes", json.len());
    let back: facebench::eval::EvalReport = serde_json::from_slice(&json).unwrap();
    assert_eq!(back.confusion, eval.confusion);
    assert!(back.validate().is_ok());
    let most = eval.confusion.most_confused();
    assert_eq!(most.len(), 286, "one pair per seventh person");
    assert_eq!((most[0].0, most[0].1), (0, 1));

    let mut h = results_harness_of(eval, None);
    h.run_steps(2);
    h.get_by_label("Most confused pairs");
    h.get_by_label_contains("286 pair(s) of 2000 classes");
    assert!(h.state().results().loaded.as_ref().unwrap().grid.is_none());
    // 286 misclassified faces: a page of 120 at a time, not all laid out
    h.get_by_label_contains("faces 1-120 of 286 (page 1 of 3)");
    // (below the window's fold: clicked through AccessKit, as a screen reader would)
    h.get_by_label("next >").click_accesskit();
    h.run_steps(2);
    h.get_by_label_contains("faces 121-240 of 286 (page 2 of 3)");
    h.get_by_label_contains("person 0000  ->  person 0001")
        .click();
    h.run_steps(2);
    assert_eq!(h.state().results().confusion.selected, Some((0, 1)));
    assert_eq!(
        h.state().results().gallery_page,
        0,
        "another cell starts at page one"
    );
}

#[test]
fn snapshot_results_tab_on_a_fixed_evaluation() {
    let mut h = results_fixture_harness(Some((1, 0)));
    h.run_steps(3);
    h.get_by_label_contains("person_1 -> person_0:");
    h.snapshot("results_tab_fixture");
}

/// The Training tab on a fixed, synthetic event stream (two phases, an LR
/// change), so the snapshot does not depend on a real run's timing.
#[test]
fn snapshot_training_tab_on_fixed_events() {
    use facebench::gui::{training_tab_ui, LiveRun};
    use facebench::run::{EpochMetrics, TrainEvent};
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
    use facebench::run::{DatasetSummary, EpochMetrics, FinishStatus, TrainEvent};
    use facebench::store::{MetricsLog, RunDir, RunRecord};
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    for (k, name) in ["run-a-resnet", "run-b-resnet"].iter().enumerate() {
        let dir = RunDir::new(runs.join(name));
        std::fs::create_dir_all(&dir.path).unwrap();
        let mut config = tiny_config(5);
        config.model.depths = [k + 1; 4];
        // two datasets: the table names each, and the overlay warns
        let dataset = ["orl40", "celeb23"][k];
        dir.write_record(&RunRecord {
            facebench_version: "test".into(),
            created: String::new(),
            data_root: PathBuf::from("/data").join(dataset),
            config,
            dataset: DatasetSummary {
                root: PathBuf::from("/data").join(dataset),
                classes: vec!["a".into(), "b".into()],
                images: PerSplit {
                    train: 8,
                    val: 2,
                    test: 2,
                },
                skipped: 0,
                fingerprint: format!("{k}f3a9c2e7d1b45a6"),
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
        // run b was stopped and has a last checkpoint: it can be resumed
        let stopped = k == 1;
        if stopped {
            let last = dir.checkpoints_dir().join("last");
            std::fs::create_dir_all(&last).unwrap();
            std::fs::write(last.join("state.json"), "{}").unwrap();
        }
        log.append(&TrainEvent::Finished {
            status: if stopped {
                FinishStatus::Stopped
            } else {
                FinishStatus::Completed
            },
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
    app.runs_mut().selected.insert(runs.join("run-a-resnet"));
    app.runs_mut().selected.insert(runs.join("run-b-resnet"));
    let mut h = harness(app, [1300.0, 800.0]);
    step_until(&mut h, "runs listed", |a| a.runs().runs.len() == 2);
    step_until(&mut h, "curves tailed", |a| {
        a.runs()
            .selected
            .iter()
            .all(|p| a.runs().tail_epochs(p) == 5)
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
    h.get_by_label("orl40 · 0f3a9c2e");
    h.get_by_label("celeb23 · 1f3a9c2e");
    h.get_by_label_contains("trained on different data");
    assert_eq!(
        h.get_all_by_label("resume").count(),
        1,
        "only the stopped run with a checkpoint"
    );
    h.snapshot("runs_tab_fixed");

    // the exported comparison names each run's dataset too
    h.get_by_label("Export comparison CSV").click();
    h.run_steps(2);
    let csv = std::fs::read_to_string(runs.join("comparison.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("run,sweep,dataset,dataset_fingerprint,architecture"),
        "{csv}"
    );
    assert!(
        csv.contains("run-a-resnet,,orl40,0f3a9c2e7d1b45a6,"),
        "{csv}"
    );
    assert!(
        csv.contains("run-b-resnet,,celeb23,1f3a9c2e7d1b45a6,"),
        "{csv}"
    );

    // resume from the table: the window switches to Training and continues
    // that run (in its own folder)
    h.get_by_label("resume").click();
    h.run_steps(2);
    assert_eq!(h.state().app_state().tab, Tab::Training);
    step_until(&mut h, "resumed session", |a| a.session().is_some());
    assert_eq!(
        h.state().session().unwrap().run_dir.as_ref(),
        Some(&runs.join("run-b-resnet"))
    );
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

    let config = &mut h.state_mut().app_state_mut().config;
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

/// Stop a run in the window, then *Resume run*: it continues from its last
/// checkpoint in the same run folder, the plots keep its earlier epochs, and
/// it finishes.
#[test]
fn a_stopped_run_resumes_from_the_window_in_its_own_folder() {
    use facebench::store::RunDir;
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 20, 48);
    let runs = tmp.path().join("runs");
    let epochs = 6;
    let mut h = harness(
        WorkbenchApp::new(state(&data, runs.clone(), tiny_config(epochs))),
        [1400.0, 900.0],
    );
    step_until(&mut h, "dataset scan", scanned);
    h.run_steps(2);
    h.get_by_label("Train").click();
    step_until(&mut h, "first epoch", |a| {
        a.session()
            .as_ref()
            .is_some_and(|s| !s.live.epochs.is_empty())
    });
    h.run_steps(1);
    assert!(
        h.query_by_label("Resume run").is_none(),
        "no Resume while it trains"
    );
    h.get_by_label("Stop").click();
    step_until(&mut h, "stopped", |a| {
        a.session().is_some_and(|s| !s.live.is_running())
    });
    let session = h.state().session().unwrap();
    assert_eq!(
        session.live.finished,
        Some(FinishStatus::Stopped),
        "{:?}",
        session.live.failed
    );
    let run = session.run_dir.clone().expect("the run folder is known");
    let done_before = session.live.epochs.len();
    assert!(done_before < epochs, "stopped before the end");
    h.run_steps(2);
    assert_eq!(h.state().app_state().tab, Tab::Training);
    h.get_by_label("Resume run").click();
    step_until(&mut h, "resumed run finished", |a| {
        !a.is_busy()
            && a.session()
                .as_ref()
                .is_some_and(|s| s.live.failed.is_some() || s.live.test_accuracy.is_some())
    });
    h.run_steps(2);
    let live = &h.state().session().unwrap().live;
    assert!(live.failed.is_none(), "{:?}", live.failed);
    assert_eq!(live.finished, Some(FinishStatus::Completed));
    assert_eq!(
        h.state().session().unwrap().run_dir.as_ref(),
        Some(&run),
        "the same run folder"
    );
    assert!(
        live.log
            .iter()
            .any(|l| l.starts_with("started") && l.contains(", resuming")),
        "{:?}",
        live.log
    );
    // the plots hold the whole run: the epochs before the stop and after it
    let mut seen: Vec<usize> = live.epochs.iter().map(|m| m.epoch).collect();
    seen.sort();
    assert_eq!(seen, (1..=epochs).collect::<Vec<_>>());
    assert!(
        live.iter_x.windows(2).all(|w| w[0] < w[1]),
        "iterations in order, none twice"
    );
    // no second run folder; this one was resumed and finished
    let folders: Vec<_> = std::fs::read_dir(&runs).unwrap().collect();
    assert_eq!(folders.len(), 1, "one run folder");
    assert!(run.join("eval.json").exists());
    let events = RunDir::new(&run).read_events().unwrap();
    let starts: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            facebench::run::TrainEvent::Started { start_epoch, .. } => Some(*start_epoch),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 2, "started, then resumed");
    assert!(
        starts[1] >= 1,
        "resumed after the epoch that finished before the stop"
    );
    assert!(matches!(
        events.last(),
        Some(facebench::run::TrainEvent::Finished {
            status: FinishStatus::Completed,
            ..
        })
    ));
    h.get_by_label_contains("completed");
}

/// A status line about the dataset folder goes when the path is edited.
#[test]
fn a_stale_status_line_clears_when_the_path_is_typed() {
    use egui::accesskit::Role;
    use facebench::gui::Job;
    common::isolate_cache();
    let mut app = WorkbenchApp::new(AppState {
        runs_dir: PathBuf::from("no-runs-here"),
        ..AppState::default()
    });
    app.set_folder_pick(Job::ready(None)); // the dialog was cancelled
    let mut h = harness(app, [1200.0, 800.0]);
    h.run_steps(2);
    h.get_by_label_contains("no folder chosen");
    let field = h
        .get_all_by_role(Role::TextInput)
        .next()
        .expect("path field");
    field.click();
    h.run_steps(1);
    h.get_all_by_role(Role::TextInput)
        .next()
        .expect("path field")
        .type_text("/data/faces");
    h.run_steps(2);
    assert_eq!(h.state().app_state().dataset_path, "/data/faces");
    assert!(h.query_by_label_contains("no folder chosen").is_none());
    // nor does Train start on a folder that was typed but not scanned
    h.get_by_label_contains("Train is disabled: press Open");
}

/// The preset box says "(edited)" once the form differs from the preset, and
/// Reset takes it back.
#[test]
fn the_preset_name_says_edited_when_the_form_differs() {
    common::isolate_cache();
    let preset = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets/resnet-tiny-cpu.json");
    let mut app = WorkbenchApp::new(AppState {
        runs_dir: PathBuf::from("no-runs-here"),
        ..AppState::default()
    });
    app.load_preset(&preset);
    let mut h = harness(app, [1200.0, 800.0]);
    h.run_steps(2);
    // the preset box shows its choice as its value
    h.get_by_value("resnet-tiny-cpu");
    h.state_mut().app_state_mut().config.train.batch_size += 1;
    h.run_steps(2);
    h.get_by_value("resnet-tiny-cpu (edited)");
    h.get_by_label("Reset").click();
    h.run_steps(2);
    h.get_by_value("resnet-tiny-cpu");
    assert!(h.query_by_value("resnet-tiny-cpu (edited)").is_none());
}

/// A dataset opened after scrolling down the previous one starts at the top.
#[test]
fn a_newly_opened_dataset_starts_at_the_top() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let first = common::demo_dataset(&tmp.path().join("a"), 8, 10, 48);
    let second = common::demo_dataset(&tmp.path().join("b"), 8, 10, 48);
    let mut h = harness(
        WorkbenchApp::new(state(&first, tmp.path().join("runs"), tiny_config(1))),
        [1200.0, 700.0],
    );
    step_until(&mut h, "dataset scan", scanned);
    h.run_steps(3);
    let heading = |h: &Harness<'_, WorkbenchApp>, p: &std::path::Path| {
        h.get_by_label(&p.display().to_string()).rect().min.y
    };
    let top = heading(&h, &first);
    h.get_by_label("new draws").scroll_to_me();
    h.run_steps(5);
    assert!(
        heading(&h, &first) < top - 100.0,
        "scrolled down to the augmentation preview"
    );
    h.state_mut().app_state_mut().dataset_path = second.display().to_string();
    h.get_by_label("Open").click();
    step_until(&mut h, "second scan", |a| {
        a.dataset().scanned_path == second.display().to_string()
            && (a.dataset().report().is_some() || a.dataset().error().is_some())
    });
    h.run_steps(3);
    assert!(
        (heading(&h, &second) - top).abs() < 1.0,
        "the new report starts at the top"
    );
}

/// In the gallery, a wrong prediction's "-> class" caption is red; a right one
/// (a diagonal cell of the confusion matrix) is in the normal text colour.
#[test]
fn gallery_captions_are_red_only_for_wrong_predictions() {
    use facebench::gui::WRONG_PREDICTION;
    let mut h = results_fixture_harness(Some((1, 0)));
    h.run_steps(3);
    let colors = caption_colors(&h);
    assert!(!colors.is_empty(), "captions drawn");
    assert!(colors.iter().all(|c| *c == WRONG_PREDICTION), "{colors:?}");

    h.state_mut().results_mut().confusion.selected = Some((0, 0));
    h.run_steps(3);
    h.get_by_label_contains("person_0 -> person_0:");
    let colors = caption_colors(&h);
    assert!(!colors.is_empty(), "captions drawn");
    assert!(colors.iter().all(|c| *c != WRONG_PREDICTION), "{colors:?}");
}

/// The colours of the "-> class" captions painted in the last frame.
fn caption_colors(h: &Harness<'_, WorkbenchApp>) -> Vec<egui::Color32> {
    fn visit(shape: &egui::Shape, out: &mut Vec<egui::Color32>) {
        match shape {
            egui::Shape::Vec(v) => v.iter().for_each(|s| visit(s, out)),
            egui::Shape::Text(t) if t.galley.text().starts_with("-> ") => {
                let c = t
                    .galley
                    .job
                    .sections
                    .first()
                    .map_or(egui::Color32::PLACEHOLDER, |s| s.format.color);
                out.push(if c == egui::Color32::PLACEHOLDER {
                    t.fallback_color
                } else {
                    c
                });
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for s in &h.output().shapes {
        visit(&s.shape, &mut out);
    }
    out
}

/// Classes named s1, s10, s11, s2, ... keep their label numbers (the plain
/// sorted folder names) but show as s1, s2, ..., s10, s11: in the per-class
/// table, the ROC legend and the confusion matrix.
#[test]
fn classes_show_in_natural_order_in_the_results() {
    // label order as a scan makes it: sorted as text
    let names = ["s1", "s10", "s11", "s2", "s3", "s4"];
    let mut h = results_fixture_harness_named(None, Some(&names));
    h.run_steps(3);
    let natural = [0, 3, 4, 5, 1, 2];
    let order = h
        .state()
        .results()
        .confusion
        .drawn
        .clone()
        .expect("matrix drawn")
        .2;
    assert_eq!(order, natural, "confusion matrix rows and columns");
    // the first node of each name is its row in the per-class table
    let y = |h: &Harness<'_, WorkbenchApp>, label: &str| {
        h.get_all_by_label(label).next().unwrap().rect().min.y
    };
    let rows: Vec<f32> = natural.iter().map(|&i| y(&h, names[i])).collect();
    assert!(
        rows.windows(2).all(|w| w[0] < w[1]),
        "per-class table: {rows:?}"
    );
    // the legend wraps in rows: reading order is top to bottom, left to right
    let legend: Vec<(f32, f32)> = natural
        .iter()
        .map(|&i| {
            let at = h
                .get_by_label_contains(&format!("{} (AUC", names[i]))
                .rect()
                .min;
            (at.y, at.x)
        })
        .collect();
    assert!(
        legend
            .windows(2)
            .all(|w| w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)),
        "ROC legend in reading order: {legend:?}"
    );
}

/// A run with no end record (killed, or still training elsewhere) can be
/// resumed from the Runs tab only after saying that nothing trains it now.
#[test]
fn resuming_an_interrupted_run_asks_first() {
    use facebench::run::DatasetSummary;
    use facebench::store::{MetricsLog, RunDir, RunRecord};
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let dir = RunDir::new(runs.join("run-killed"));
    std::fs::create_dir_all(dir.checkpoints_dir().join("last")).unwrap();
    std::fs::write(dir.checkpoints_dir().join("last/state.json"), "{}").unwrap();
    let config = tiny_config(5);
    let dataset = DatasetSummary {
        root: PathBuf::from("/data/orl40"),
        classes: vec!["a".into(), "b".into()],
        images: PerSplit {
            train: 8,
            val: 2,
            test: 2,
        },
        skipped: 0,
        fingerprint: "abc".into(),
        mean: [0.5; 3],
        std: [0.5; 3],
    };
    dir.write_record(&RunRecord {
        facebench_version: "test".into(),
        created: String::new(),
        data_root: PathBuf::from("/data/orl40"),
        config: config.clone(),
        dataset: dataset.clone(),
        device: "cpu".into(),
        params: 1,
    })
    .unwrap();
    let mut log = MetricsLog::open(&dir.metrics_path()).unwrap();
    log.append(&facebench::run::TrainEvent::Started {
        run: "run-killed".into(),
        run_dir: dir.path.clone(),
        config: Box::new(config),
        dataset,
        device: "cpu".into(),
        params: 1,
        start_epoch: 0,
        start_batch: 0,
        time: String::new(),
    })
    .unwrap();
    log.flush().unwrap();
    let app = WorkbenchApp::new(AppState {
        tab: Tab::Runs,
        runs_dir: runs.clone(),
        ..AppState::default()
    });
    let mut h = harness(app, [1300.0, 800.0]);
    step_until(&mut h, "runs listed", |a| a.runs().runs.len() == 1);
    h.run_steps(2);
    h.get_by_label("resume…").click();
    h.run_steps(2);
    h.get_by_label_contains("has no end record");
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("has no end record").is_none());
    assert_eq!(h.state().app_state().tab, Tab::Runs, "nothing resumed");
    assert!(h.state().session().is_none() && !h.state().is_busy());

    h.get_by_label("resume…").click();
    h.run_steps(2);
    h.get_by_label("Resume").click();
    h.run_steps(2);
    assert_eq!(h.state().app_state().tab, Tab::Training);
    step_until(&mut h, "resumed session", |a| a.session().is_some());
    assert_eq!(
        h.state().session().unwrap().run_dir.as_ref(),
        Some(&dir.path)
    );
}

/// A damaged eval.json (a class index out of range) is refused when loaded and
/// the Results tab says so; the UI thread never panics on it.
#[test]
fn a_damaged_eval_json_shows_an_error_in_the_results_tab() {
    use facebench::run::DatasetSummary;
    use facebench::store::{RunDir, RunRecord};
    let tmp = tempfile::tempdir().unwrap();
    let dir = RunDir::new(tmp.path().join("runs/damaged"));
    std::fs::create_dir_all(&dir.path).unwrap();
    let classes: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
    dir.write_record(&RunRecord {
        facebench_version: "test".into(),
        created: String::new(),
        data_root: PathBuf::new(),
        config: tiny_config(1),
        dataset: DatasetSummary {
            root: PathBuf::new(),
            classes: classes.clone(),
            images: PerSplit {
                train: 0,
                val: 0,
                test: 2,
            },
            skipped: 0,
            fingerprint: String::new(),
            mean: [0.5; 3],
            std: [0.5; 3],
        },
        device: "cpu".into(),
        params: 0,
    })
    .unwrap();
    let paths = [PathBuf::from("a/1.png"), PathBuf::from("b/1.png")];
    let mut eval = facebench::eval::classification_report(
        &classes,
        &[0, 1],
        &[vec![0.9, 0.1], vec![0.2, 0.8]],
        &paths,
    );
    eval.predictions[1].predicted = 99;
    std::fs::write(dir.eval_path(), serde_json::to_vec(&eval).unwrap()).unwrap();

    let app = WorkbenchApp::new(AppState {
        tab: Tab::Results,
        ..AppState::default()
    });
    let mut h = harness(app, [1100.0, 700.0]);
    let ctx = h.ctx.clone();
    h.state_mut().results_mut().open(&ctx, dir.path.clone());
    step_until(&mut h, "the load ends", |a| a.results().error.is_some());
    h.run_steps(2);
    h.get_by_label_contains("eval.json is damaged");
    assert!(h.state().results().loaded.is_none());
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
        a.session().is_some_and(|s| !s.live.is_running())
    });
    let live = &h.state().session().unwrap().live;
    assert!(live.failed.is_none(), "{:?}", live.failed);
    let run_dir = live.run_dir.clone().expect("the run has a folder");
    h.state_mut().app_state_mut().tab = Tab::Training;
    h.run_steps(3);
    let expected = std::path::absolute(run_dir.join("loss-per-iteration.png")).unwrap();
    assert!(!expected.exists());
    h.get_by_label("loss-per-iteration").click();
    step_until(&mut h, "PNG written", |a| {
        a.status()
            .as_ref()
            .is_some_and(|s| s.text.contains("loss-per-iteration"))
    });
    h.run_steps(2);
    assert!(expected.is_file(), "{} written", expected.display());
    // the status line names the file
    h.get_by_label_contains(&expected.display().to_string());
    // the whole block, not just the plot frame: wider (the y axis) and taller
    // (title, legend, x axis) than the bare plot area
    let frame =
        egui_plot::PlotMemory::load(&h.ctx, egui::Id::unique(("training-plot", "iter-loss")))
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

/// The device is picked from a list (not typed): opening "Schedule and
/// stopping" shows the picker with the config's device, and choosing "cuda"
/// shows the GPU index and stores a typed choice.
#[test]
fn device_is_picked_from_a_list() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = tiny_config(1);
    config.device = facebench::run::DeviceChoice::Cpu;
    let mut h = harness(
        WorkbenchApp::new(state(tmp.path(), tmp.path().join("runs"), config)),
        [1400.0, 1400.0],
    );
    h.run_steps(2);
    h.get_by_label("Schedule and stopping").click();
    h.run_steps(2);
    h.get_by_label("device");
    h.get_by_value("cpu").click();
    h.run_steps(2);
    h.get_by_label("cuda").click();
    h.run_steps(2);
    assert_eq!(
        h.state().app_state().config.device,
        facebench::run::DeviceChoice::Cuda(0)
    );
    assert!(
        h.query_by_value("GPU 0").is_some(),
        "the GPU index is shown"
    );
}

/// Grad-CAM in the gallery: the checkbox draws each face's map for its
/// predicted class (computed in the background, cached in the run folder),
/// and the enlarged face shows the evidence for the predicted and the true
/// class side by side.
#[test]
fn grad_cam_overlays_the_gallery_and_the_enlarged_face_compares_classes() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let (mut h, run) = results_of_a_tiny_run(tmp.path());
    step_until(&mut h, "results loaded", |a| a.results().loaded.is_some());
    let eval = h.state().results().loaded.as_ref().unwrap().eval.clone();
    if h.state().results().gallery_items().is_empty() {
        // all right after one epoch: show a diagonal cell's faces instead
        let c = (0..eval.classes.len())
            .max_by_key(|&c| eval.confusion.get(c, c))
            .unwrap();
        h.state_mut().results_mut().confusion.selected = Some((c, c));
    }
    h.run_steps(3);
    let items = h.state().results().gallery_items();
    assert!(!items.is_empty());
    assert!(!h.state().results().explain.overlay);
    h.get_by_label("Grad-CAM").click();
    h.run_steps(2);
    assert!(
        h.state().results().explain.overlay,
        "the checkbox turns it on"
    );
    let faces: Vec<(PathBuf, usize)> = items
        .iter()
        .map(|&i| {
            (
                eval.predictions[i].path.clone(),
                eval.predictions[i].predicted,
            )
        })
        .collect();
    step_until(&mut h, "every face's map", |a| {
        a.results().explain.error.is_some()
            || faces
                .iter()
                .all(|(path, class)| a.results().explain.map(path, *class).is_some())
    });
    assert_eq!(h.state().results().explain.error, None);
    let cache = facebench::store::RunDir::new(&run)
        .read_explain_cache("gradcam", "layer4")
        .unwrap();
    assert_eq!(cache.maps.len(), faces.len(), "cached in the run folder");

    let first = &eval.predictions[items[0]];
    h.get_by_label(&facebench::gui::face_label(&first.path))
        .click();
    step_until(&mut h, "the enlarged face's maps", |a| {
        let e = &a.results().explain;
        e.map(&first.path, first.true_class).is_some()
            && e.map(&first.path, first.predicted).is_some()
    });
    h.run_steps(3);
    let predicted = &eval.classes[first.predicted];
    h.get_by_label_contains(&format!("predicted: evidence for {predicted}"));
    if first.true_class != first.predicted {
        let true_class = &eval.classes[first.true_class];
        h.get_by_label_contains(&format!("true: evidence for {true_class}"));
    }
    assert!(h.query_by_label_contains("computing").is_none());
    h.get_by_label("Grad-CAM").click();
    h.run_steps(2);
    assert!(!h.state().results().explain.overlay, "and off again");
}

/// The Runs tab's diff: two ticked runs, the *diff* button, then a click on
/// a cell of the confusion-difference matrix lists the faces that entered
/// and left that cell.
#[test]
fn diffing_two_runs_and_clicking_a_difference_cell() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 20, 48);
    let runs = tmp.path().join("runs");
    let mut paths = Vec::new();
    for lr in [3e-3, 3e-2] {
        let mut config = tiny_config(1);
        config.optimizer.lr = lr;
        let request = TrainRequest {
            config,
            data_root: data.clone(),
            runs_root: runs.clone(),
            resume: None,
        };
        paths.push(train_blocking(request, |_| {}).unwrap());
    }
    let mut app = WorkbenchApp::new(state(&data, runs, tiny_config(1)));
    app.app_state_mut().tab = Tab::Runs;
    let mut h = harness(app, [1400.0, 1800.0]);
    step_until(&mut h, "runs listed", |a| a.runs().runs.len() == 2);
    h.state_mut().runs_mut().selected.extend(paths.clone());
    h.run_steps(2);
    h.get_by_label("diff").click();
    step_until(&mut h, "the diff", |a| {
        a.runs()
            .diff
            .as_ref()
            .is_some_and(|d| d.diff.is_some() || d.error.is_some())
    });
    h.run_steps(3);
    let diff = h.state().runs().diff.as_ref().unwrap();
    assert_eq!(diff.error, None);
    let d = diff.diff.clone().unwrap();
    assert_eq!(d.names.0, paths[0].file_name().unwrap().to_string_lossy());
    h.get_by_label_contains("optimizer.lr");
    h.get_by_label_contains("right in A, wrong in B");
    // the busiest changed cell, clicked where it was drawn
    let delta = d.eval.confusion_delta();
    let k = delta.len();
    let (t, p) = (0..k)
        .flat_map(|t| (0..k).map(move |p| (t, p)))
        .max_by_key(|&(t, p)| delta[t][p].abs())
        .unwrap();
    let origin = diff.drawn.expect("matrix drawn");
    let pos = origin + egui::vec2((p as f32 + 0.5) * 20.0, (t as f32 + 0.5) * 20.0);
    click_at(&mut h, pos);
    h.run_steps(2);
    let diff = h.state().runs().diff.as_ref().unwrap();
    assert_eq!(diff.selected, Some((t, p)));
    let (entered, left) = d.eval.cell_changes(t, p);
    h.get_by_label(&format!("{} -> {}", d.eval.classes[t], d.eval.classes[p]));
    h.get_by_label(&format!("entered in B: {}", entered.len()));
    h.get_by_label(&format!("left in B: {}", left.len()));
    assert_eq!(
        entered.len() as i64 - left.len() as i64,
        delta[t][p],
        "the faces that moved make up the cell's change"
    );
    h.get_by_label("close diff").click();
    h.run_steps(2);
    assert!(h.state().runs().diff.is_none());
}

/// The embedding map: shown on request (computed in the background and
/// cached as embeddings.json), hovering a face shows it, clicking enlarges
/// it, and a shift-drag box fills the gallery with the faces inside.
#[test]
fn the_embedding_map_hovers_opens_and_selects_faces() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let (mut h, run) = results_of_a_tiny_run(tmp.path());
    step_until(&mut h, "results loaded", |a| a.results().loaded.is_some());
    h.run_steps(2);
    h.get_by_label("show").click();
    step_until(&mut h, "the map", |a| {
        let e = &a.results().embedding;
        e.map.is_some() || e.error.is_some()
    });
    h.run_steps(3);
    assert_eq!(h.state().results().embedding.error, None);
    let map = facebench::store::RunDir::new(&run)
        .read_embeddings()
        .unwrap()
        .expect("cached in the run folder");
    let screen = h.state().results().embedding.screen.clone();
    assert_eq!(screen.len(), map.faces.len());
    // hover the first face: it is picked (its tooltip shows the face and
    // its names)
    let (i, at) = (0, screen[0]);
    h.hover_at(at);
    h.run_steps(3);
    assert_eq!(
        h.state().results().embedding.hovered.map(|h| screen[h]),
        Some(at)
    );
    let face = &map.faces[h.state().results().embedding.hovered.unwrap_or(i)];
    click_at(&mut h, at);
    h.run_steps(2);
    let preds = loaded_eval(&h).predictions;
    let opened = h.state().results().enlarged.map(|e| preds[e].path.clone());
    assert_eq!(
        opened.as_ref(),
        Some(&face.path),
        "the click enlarged that face"
    );
    h.state_mut().results_mut().enlarged = None;
    // shift-drag a box around every face
    let (min, max) = screen.iter().fold(
        (
            egui::pos2(f32::MAX, f32::MAX),
            egui::pos2(f32::MIN, f32::MIN),
        ),
        |(lo, hi), p| (lo.min(*p), hi.max(*p)),
    );
    let (from, to) = (min - egui::vec2(6.0, 6.0), max + egui::vec2(6.0, 6.0));
    let shift = egui::Modifiers::SHIFT;
    // shift held from the press to the release
    h.event(egui::Event::ModifiersChanged(shift));
    h.hover_at(from);
    h.step();
    h.event(egui::Event::PointerButton {
        pos: from,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: shift,
    });
    h.step();
    for t in 1..=5 {
        h.event(egui::Event::PointerMoved(
            from + (to - from) * (t as f32 / 5.0),
        ));
        h.step();
    }
    h.event(egui::Event::PointerButton {
        pos: to,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: shift,
    });
    h.step();
    h.event(egui::Event::ModifiersChanged(egui::Modifiers::default()));
    h.run_steps(3);
    let picked = h.state().results().map_selection.clone();
    assert_eq!(
        picked.map(|p| p.len()),
        Some(map.faces.len()),
        "every face in the box"
    );
    h.get_by_label(&format!("Selected on the map: {} face(s)", map.faces.len()));
}

/// The Try-it panel: a folder typed into its field is scored in the
/// background by the run, and each face shows its top five, most likely
/// first, as `facebench predict` gives them; with Grad-CAM on, each face
/// gets its map for its top class.
#[test]
fn try_it_scores_a_typed_folder_and_shows_each_faces_top_five() {
    use egui::accesskit::Role;
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let (mut h, run) = results_of_a_tiny_run(tmp.path());
    step_until(&mut h, "results loaded", |a| a.results().loaded.is_some());
    h.run_steps(2);
    let folder = tmp.path().join("demo").join("person_02");
    let faces = std::fs::read_dir(&folder).unwrap().count();
    // the field left of Predict, on its row
    let predict_at = h.get_by_label("Predict").rect().center();
    let field = h
        .get_all_by_role(Role::TextInput)
        .filter(|f| {
            (f.rect().center().y - predict_at.y).abs() < 8.0 && f.rect().center().x < predict_at.x
        })
        .map(|f| f.rect().center())
        .next()
        .expect("the Try-it path field");
    click_at(&mut h, field);
    h.run_steps(1);
    h.get_all_by_role(Role::TextInput)
        .find(|f| (f.rect().center() - field).length() < 1.0)
        .expect("the field")
        .type_text(&folder.to_string_lossy());
    h.run_steps(1);
    h.get_by_label("Predict").click();
    step_until(&mut h, "scored", |a| {
        let t = &a.results().try_it;
        !t.is_scoring() && (t.scored.is_some() || t.error.is_some())
    });
    h.run_steps(3);
    assert_eq!(h.state().results().try_it.error, None);
    let (of, scored) = h.state().results().try_it.scored.clone().expect("scored");
    assert_eq!(of, run);
    assert_eq!(scored.len(), faces);
    let classes = loaded_eval(&h).classes;
    let expected = facebench::engine::predict_run(&facebench::engine::PredictRequest {
        run: run.clone(),
        images: scored.iter().map(|f| f.image.clone()).collect(),
        device: facebench::run::DeviceChoice::Cpu,
        progress: None,
    })
    .unwrap();
    assert_eq!(scored, expected);
    // each face's five bars are drawn, with the names and percentages
    for face in &scored {
        for (c, p) in face.top(5) {
            let text = format!("{} {:.1}%", classes[c], p * 100.0);
            assert!(
                h.query_all_by_label(&text).count() >= 1,
                "no bar {text:?} for {}",
                face.image.display()
            );
        }
    }
    // Grad-CAM over the tried faces, for each face's top class
    let toggles: Vec<egui::Pos2> = h
        .get_all_by_label("Grad-CAM")
        .map(|n| n.rect().center())
        .collect();
    let try_it_toggle = toggles
        .iter()
        .copied()
        .min_by(|a, b| a.y.total_cmp(&b.y))
        .expect("a Grad-CAM toggle in the panel");
    click_at(&mut h, try_it_toggle);
    step_until(&mut h, "maps", |a| {
        let r = a.results();
        r.explain.error.is_some()
            || r.try_it.scored.as_ref().is_some_and(|(_, faces)| {
                faces
                    .iter()
                    .all(|f| r.explain.map(&f.image, f.top(1)[0].0).is_some())
            })
    });
    assert_eq!(h.state().results().explain.error, None);
}

/// The learning-rate finder from the form: *Find LR* sweeps in the
/// background (no run folder appears), the window draws the curve and its
/// suggestions, and a click copies the valley into the form's learning
/// rate; the form remembers the sweep's scratch file. A second sweep stops
/// when asked.
#[test]
fn find_lr_sweeps_in_the_background_and_copies_a_suggestion_into_the_form() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 6, 30, 64);
    let preset = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets/resnet-tiny-cpu.json");
    let config = RunConfig::load(&preset).unwrap();
    let runs = tmp.path().join("runs");
    let app = WorkbenchApp::new(state(&data, runs.clone(), config));
    let mut h = harness(app, [1400.0, 1000.0]);
    h.run_steps(2);
    h.get_by_label("Find LR").click();
    h.run_steps(1);
    assert!(h.state().lr_finder().is_running());
    h.run_steps(1);
    h.get_by_label_contains("of at most 200");
    step_until(&mut h, "the sweep", |a| {
        let f = a.lr_finder();
        !f.is_running() && (f.result.is_some() || f.error.is_some())
    });
    h.run_steps(2);
    assert_eq!(h.state().lr_finder().error, None);
    let result = h.state().lr_finder().result.clone().expect("a sweep");
    let valley = result.valley.expect("a valley");
    assert!(!runs.exists(), "no run folder");
    let scratch = h
        .state()
        .app_state()
        .lr_find_scratch
        .clone()
        .expect("remembered");
    assert!(scratch.is_file());
    h.get_by_label(&format!("use {valley:.1e} (valley)"))
        .click();
    h.run_steps(2);
    assert_eq!(h.state().app_state().config.optimizer.lr, valley);

    // again, stopped early by its Stop button
    h.get_by_label("Find LR").click();
    h.run_steps(1);
    h.get_by_label("Stop").click();
    step_until(&mut h, "the stopped sweep", |a| !a.lr_finder().is_running());
    let stopped = h
        .state()
        .lr_finder()
        .result
        .clone()
        .expect("a stopped sweep");
    assert_eq!(stopped.end, facebench::engine::LrFindEnd::Stopped);
    assert!(stopped.points.len() < result.points.len());
}

/// The queue from the window: *Add to queue* beside Train queues the form's
/// config; in the Runs tab a waiting run moves up, is cancelled, and *Run
/// queue* trains the rest into ordinary run folders.
#[test]
fn queued_runs_reorder_cancel_and_train_from_the_runs_tab() {
    use facebench::store::{ItemState, QueueFile};
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 8, 48);
    let runs = tmp.path().join("runs");
    let app = WorkbenchApp::new(state(&data, runs.clone(), tiny_config(1)));
    let mut h = harness(app, [1400.0, 1000.0]);
    h.run_steps(2);
    let file = QueueFile::of(&runs);
    for n in 1..=3 {
        h.get_by_label("Add to queue").click();
        step_until(&mut h, "queued", |_| {
            file.read().is_ok_and(|q| q.items.len() == n)
        });
    }
    h.get_by_label("Runs").click();
    step_until(&mut h, "the queue shown", |a| {
        a.runs().queue.queue.items.len() == 3
    });
    h.run_steps(2);
    // the last one moves up one place, the first is cancelled
    let ids = |f: &QueueFile| {
        f.read()
            .unwrap()
            .items
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&file), vec![0, 1, 2]);
    h.get_all_by_label("up")
        .last()
        .expect("an up button")
        .click();
    step_until(&mut h, "moved", |_| ids(&file) == vec![0, 2, 1]);
    h.run_steps(3);
    h.get_all_by_label("cancel")
        .next()
        .expect("a cancel button")
        .click();
    step_until(&mut h, "cancelled", |_| {
        file.read().unwrap().get(0).unwrap().state == ItemState::Cancelled
    });
    step_until(&mut h, "re-read", |a| {
        a.runs()
            .queue
            .queue
            .get(0)
            .is_some_and(|i| i.state == ItemState::Cancelled)
    });
    // the last one belongs to a sweep: the comparison table names its point
    file.update(|q| {
        q.get_mut(1).unwrap().sweep = Some(facebench::run::SweepTag {
            sweep: "s".into(),
            point: "optimizer.lr=1e-3".into(),
            seed: Some(7),
        })
    })
    .unwrap();
    h.run_steps(2);
    h.get_by_label("Run queue").click();
    step_until(&mut h, "trained", |a| {
        !a.runs().queue.is_working()
            && file
                .read()
                .unwrap()
                .items
                .iter()
                .filter(|i| matches!(i.state, ItemState::Done { .. }))
                .count()
                == 2
    });
    step_until(&mut h, "the runs listed", |a| a.runs().runs.len() == 2);
    h.run_steps(3);
    h.get_by_label("s: optimizer.lr=1e-3, seed 7");
    // the exported comparison carries the sweep column too
    h.get_by_label("Export comparison CSV").click();
    h.run_steps(2);
    let csv = std::fs::read_to_string(runs.join("comparison.csv")).unwrap();
    assert!(csv.contains(",\"s: optimizer.lr=1e-3, seed 7\","), "{csv}");
    let queue = file.read().unwrap();
    assert_eq!(queue.get(0).unwrap().state, ItemState::Cancelled);
    for id in [1, 2] {
        let run = queue
            .get(id)
            .unwrap()
            .state
            .run()
            .expect("a run folder")
            .to_path_buf();
        assert!(run.starts_with(std::fs::canonicalize(&runs).unwrap()));
        assert!(facebench::store::RunDir::new(&run)
            .read_eval()
            .unwrap()
            .is_some());
    }
}

/// A queued run left "running" by a process that is gone is named in the
/// Runs tab, with what resumes it; while a process holds the queue's
/// worker lock, the same item is not called interrupted.
#[test]
fn an_interrupted_queue_run_is_named_in_the_runs_tab() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let file = common::queue_interrupted_run(&runs, tmp.path().join("data"));
    let held = file.try_worker_lock().unwrap().expect("free");
    let mut app = WorkbenchApp::new(state(tmp.path(), runs.clone(), tiny_config(1)));
    app.app_state_mut().tab = Tab::Runs;
    let mut h = harness(app, [1400.0, 900.0]);
    step_until(&mut h, "the queue read", |a| {
        a.runs().queue.queue.items.len() == 1
    });
    h.run_steps(3);
    assert!(h
        .query_by_label_contains("stopped when their process ended")
        .is_none());
    drop(held);
    step_until(&mut h, "the lock seen free", |a| {
        !a.runs().queue.worker_alive
    });
    h.run_steps(3);
    h.get_by_label_contains("stopped when their process ended");
}

/// A queued run left running when the last window closed resumes by itself
/// when the window opens again (with a notice), and trains to its end; a
/// run that only waits is left for *Run queue*.
#[test]
fn the_window_resumes_an_interrupted_queue_on_opening() {
    use facebench::store::ItemState;
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 8, 48);
    let runs = tmp.path().join("runs");
    let file = common::queue_interrupted_run(&runs, data.clone());
    file.update(|q| q.push(tiny_config(1), data.clone(), None))
        .unwrap();
    let mut app = WorkbenchApp::new(state(&data, runs.clone(), tiny_config(1)));
    app.app_state_mut().tab = Tab::Runs;
    let mut h = harness(app, [1400.0, 1000.0]);
    // the frame that starts the worker draws the notice (polling comes first)
    step_until(&mut h, "the queue resumed", |a| a.runs().queue.is_working());
    h.get_by_label_contains("resumed 1 queued run(s)");
    step_until(&mut h, "trained", |a| {
        !a.runs().queue.is_working()
            && file
                .read()
                .unwrap()
                .get(0)
                .is_some_and(|i| matches!(i.state, ItemState::Done { .. }))
    });
    assert_eq!(
        file.read().unwrap().get(1).unwrap().state,
        ItemState::Pending,
        "the waiting run waits for Run queue"
    );
    let run = file
        .read()
        .unwrap()
        .get(0)
        .unwrap()
        .state
        .run()
        .unwrap()
        .to_path_buf();
    assert!(facebench::store::RunDir::new(&run)
        .read_eval()
        .unwrap()
        .is_some());
}
