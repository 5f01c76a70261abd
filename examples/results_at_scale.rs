//! The Results tab at 1,000, 3,000 and 10,000 identities (issue 26): the
//! evaluation's size on disk, the time from opening the run in the tab
//! until it is drawn, the slowest frame meanwhile, the mean frame time once
//! open, and whether the open tab asks egui for more frames while nothing
//! happens (a window that asks for none sleeps: no CPU while idle).
//! Headless (egui_kittest, CPU side: layout and tessellation, no GPU
//! upload), like `gui_frame_time`. Numbers go to docs/performance.md.
//!
//!     cargo run --release --example results_at_scale [-- 1000,3000,10000 [RUNS]]
//!
//! With RUNS, the runs are written there and kept (to open them in a real
//! window: `facebench gui --runs RUNS --tab runs`); else in a temporary
//! folder.
//!
//! Each identity has one test face, scored by a network that puts 0.6 on
//! the right person, except that every fifth face goes to the next person;
//! the rest of the mass is spread over everyone, so every class has a full
//! ROC curve.

use std::path::PathBuf;
use std::time::Instant;

use egui_kittest::Harness;
use facebench::data::PerSplit;
use facebench::eval::classification_report;
use facebench::gui::{AppState, Tab, WorkbenchApp};
use facebench::run::{DatasetSummary, RunConfig};
use facebench::store::{RunRecord, RunStore};

fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "1000,3000,10000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let tmp = tempfile::tempdir()?;
    let runs_root = match std::env::args().nth(2) {
        Some(dir) => PathBuf::from(dir),
        None => tmp.path().to_path_buf(),
    };
    println!("| identities | eval.json | evaluation (s) | open to drawn (s) | slowest frame while opening (ms) | mean frame once open (ms) | frames asked for while idle |");
    println!("|---|---|---|---|---|---|---|");
    for k in sizes {
        let classes: Vec<String> = (0..k).map(|c| format!("person {c:05}")).collect();
        let (mut y_true, mut probs, mut paths) = (Vec::new(), Vec::new(), Vec::new());
        for c in 0..k {
            let mut p: Vec<f32> = (0..k)
                .map(|j| 0.4 / k as f32 * (1.0 + ((c * 31 + j * 17) % 13) as f32 / 13.0) / 1.5)
                .collect();
            p[if c % 5 == 0 { (c + 1) % k } else { c }] += 0.6;
            y_true.push(c);
            probs.push(p);
            paths.push(PathBuf::from(format!("faces/{c}.jpg")));
        }
        let start = Instant::now();
        let eval = classification_report(&classes, &y_true, &probs, &paths);
        let evaluation = start.elapsed().as_secs_f64();
        drop(probs);
        let dir = RunStore::new(&runs_root).create(&format!("scale-{k}"))?;
        dir.write_record(&RunRecord {
            facebench_version: "bench".into(),
            created: String::new(),
            data_root: PathBuf::new(),
            config: RunConfig::default(),
            dataset: DatasetSummary {
                root: PathBuf::new(),
                classes: classes.clone(),
                images: PerSplit {
                    train: 0,
                    val: 0,
                    test: k,
                },
                skipped: 0,
                fingerprint: String::new(),
                mean: [0.5; 3],
                std: [0.5; 3],
            },
            device: "cpu".into(),
            params: 0,
        })?;
        dir.write_eval(&eval)?;
        let bytes = std::fs::metadata(dir.path.join("eval.json"))?.len();

        let app = WorkbenchApp::new(AppState {
            tab: Tab::Results,
            runs_dir: runs_root.clone(),
            ..AppState::default()
        });
        let mut h = Harness::builder()
            .with_size([1500.0, 1000.0])
            .with_accessibility_check(false)
            .build_ui_state(
                |ui, app: &mut WorkbenchApp| {
                    app.logic(ui.ctx());
                    app.frame_ui(ui)
                },
                app,
            );
        h.step();
        let ctx = h.ctx.clone();
        let start = Instant::now();
        h.state_mut().results_mut().open(&ctx, dir.path.clone());
        let mut slowest: f64 = 0.0;
        while h.state().results().loaded.is_none() {
            let t = Instant::now();
            h.step();
            slowest = slowest.max(t.elapsed().as_secs_f64());
            anyhow::ensure!(start.elapsed().as_secs() < 600, "the run did not open");
        }
        // the first frame that draws it
        let t = Instant::now();
        h.step();
        slowest = slowest.max(t.elapsed().as_secs_f64());
        let open = start.elapsed().as_secs_f64();
        // thumbnails of the gallery's faces (missing files here) settle first
        let settle = Instant::now();
        while h.state().thumbnails_pending() > 0 && settle.elapsed().as_secs() < 60 {
            h.step();
        }
        h.run_steps(3);
        let frames = 20;
        let t = Instant::now();
        let mut asked = 0;
        for _ in 0..frames {
            h.step();
            asked += usize::from(h.ctx.has_requested_repaint());
        }
        let mean = t.elapsed().as_secs_f64() * 1000.0 / frames as f64;
        println!(
            "| {k} | {:.1} MB | {evaluation:.1} | {open:.2} | {:.0} | {mean:.1} | {asked} of {frames} |",
            bytes as f64 / 1e6,
            slowest * 1000.0
        );
    }
    Ok(())
}
