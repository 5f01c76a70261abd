//! Renders views headless (egui_kittest + wgpu) for screenshots/: the
//! Training tab replaying a finished run's metrics.jsonl, the whole window with
//! a fine-tuning preset loaded, and the Runs tab of that run's folder with
//! every run ticked.
//!
//! cargo run --release --example render_views -- RUN_DIR DATASET PRESET OUT_DIR

use std::path::PathBuf;

use egui_kittest::Harness;
use facebench::gui::{training_tab_ui, AppState, LiveRun, Tab, WorkbenchApp};
use facebench::run::RunConfig;
use facebench::store::RunDir;

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [run, data, preset, out] = <[PathBuf; 4]>::try_from(args)
        .map_err(|_| anyhow::anyhow!("usage: render_views RUN_DIR DATASET PRESET OUT_DIR"))?;
    std::fs::create_dir_all(&out)?;

    let events = RunDir::new(&run).read_events()?;
    let live = LiveRun::from_events(&events);
    let mut smoothing = 0.6;
    let mut h = Harness::builder()
        .with_size([1200.0, 800.0])
        .with_accessibility_check(false)
        .build_ui(|ui| training_tab_ui(ui, Some(&live), &mut smoothing, &mut None));
    h.run_steps(3);
    let image = h.render().map_err(|e| anyhow::anyhow!("{e}"))?;
    image.save(out.join("training-xception.png"))?;

    let state = AppState {
        dataset_path: data.display().to_string(),
        config: RunConfig::load(&preset)?,
        tab: Tab::Dataset,
        ..AppState::default()
    };
    let mut h = Harness::builder()
        .with_size([1500.0, 1000.0])
        .with_accessibility_check(false)
        .build_ui_state(
            |ui, app: &mut WorkbenchApp| {
                app.logic(ui.ctx());
                app.frame_ui(ui)
            },
            WorkbenchApp::new(state),
        );
    for _ in 0..600 {
        h.step();
        if h.state().dataset().report().is_some() && h.state().thumbnails_pending() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.run_steps(5);
    let image = h.render().map_err(|e| anyhow::anyhow!("{e}"))?;
    image.save(out.join("finetune-form.png"))?;

    let runs_dir = run.parent().map(PathBuf::from).unwrap_or_default();
    let state = AppState {
        dataset_path: data.display().to_string(),
        config: RunConfig::load(&preset)?,
        runs_dir: runs_dir.clone(),
        tab: Tab::Runs,
        ..AppState::default()
    };
    let mut h = Harness::builder()
        .with_size([1500.0, 900.0])
        .with_accessibility_check(false)
        .build_ui_state(
            |ui, app: &mut WorkbenchApp| {
                app.logic(ui.ctx());
                app.frame_ui(ui)
            },
            WorkbenchApp::new(state),
        );
    for _ in 0..300 {
        h.step();
        let runs = h.state_mut().runs_mut();
        if !runs.runs.is_empty() && runs.selected.is_empty() {
            let all: Vec<PathBuf> = runs.runs.iter().map(|r| r.path.clone()).collect();
            runs.selected.extend(all);
        }
        let ticked = &runs.selected;
        if !ticked.is_empty() && ticked.iter().all(|r| runs.tail_epochs(r) > 0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    h.run_steps(5);
    let image = h.render().map_err(|e| anyhow::anyhow!("{e}"))?;
    image.save(out.join("runs-transfer.png"))?;
    println!("wrote {}", out.display());
    Ok(())
}
