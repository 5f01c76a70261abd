//! Renders the main views headless (egui_kittest + wgpu) for screenshots/ from
//! one finished run: the Dataset tab on its dataset, the Training tab replaying
//! its metrics.jsonl, the Results tab (and the gallery of its most confused
//! pair of classes, then with Grad-CAM over it and one face enlarged), and
//! the Runs tab of its runs folder with every run ticked (and, with two
//! runs there, their diff).
//!
//! cargo run --release --example render_screens -- RUN_DIR DATASET PRESET OUT_DIR
//!
//! With FACEBENCH_SHOT_SWEEP=1 it renders only the Runs tab of RUN_DIR's runs
//! folder (a finished sweep) as runs-sweep.png.

use std::path::{Path, PathBuf};

use egui_kittest::Harness;
use facebench::gui::{training_tab_ui, AppState, LiveRun, Tab, WorkbenchApp};
use facebench::run::RunConfig;
use facebench::store::RunDir;

fn window<'a>(state: AppState, size: [f32; 2]) -> Harness<'a, WorkbenchApp> {
    Harness::builder()
        .with_size(size)
        .with_accessibility_check(false)
        .build_ui_state(
            |ui, app: &mut WorkbenchApp| {
                app.logic(ui.ctx());
                app.frame_ui(ui)
            },
            WorkbenchApp::new(state),
        )
}

/// Step until `done` (or about 30 s), then a few more frames to settle.
fn settle(h: &mut Harness<'_, WorkbenchApp>, done: impl Fn(&mut WorkbenchApp) -> bool) {
    for _ in 0..600 {
        h.step();
        if done(h.state_mut()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    h.run_steps(6);
}

fn save(h: &mut Harness<'_, WorkbenchApp>, out: &Path, name: &str) -> anyhow::Result<()> {
    let image = h.render().map_err(|e| anyhow::anyhow!("{e}"))?;
    image.save(out.join(name))?;
    println!("wrote {}", out.join(name).display());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [run, data, preset, out] = <[PathBuf; 4]>::try_from(args)
        .map_err(|_| anyhow::anyhow!("usage: render_screens RUN_DIR DATASET PRESET OUT_DIR"))?;
    std::fs::create_dir_all(&out)?;
    let runs_dir = run.parent().map(PathBuf::from).unwrap_or_default();
    let state = |tab: Tab| -> anyhow::Result<AppState> {
        let mut state = AppState {
            dataset_path: data.display().to_string(),
            runs_dir: runs_dir.clone(),
            tab,
            ..AppState::default()
        };
        state.start_from_preset(preset.clone(), RunConfig::load(&preset)?);
        Ok(state)
    };
    if std::env::var_os("FACEBENCH_SHOT_SWEEP").is_some() {
        // a runs folder holding a finished sweep: its queue, the grid
        // points and every run ticked
        let mut h = window(state(Tab::Runs)?, [1600.0, 1300.0]);
        settle(&mut h, |a| {
            if !a.runs().runs.is_empty() && a.runs().selected.is_empty() {
                let all: Vec<PathBuf> = a.runs().runs.iter().map(|r| r.path.clone()).collect();
                a.runs_mut().selected.extend(all);
            }
            let ticked = &a.runs().selected;
            !a.runs().queue.queue.items.is_empty()
                && !ticked.is_empty()
                && ticked.iter().all(|r| a.runs().tail_epochs(r) > 0)
        });
        save(&mut h, &out, "runs-sweep.png")?;
        return Ok(());
    }

    let mut h = window(state(Tab::Dataset)?, [1600.0, 1000.0]);
    settle(&mut h, |a| {
        a.dataset().report().is_some() && a.thumbnails_pending() == 0
    });
    save(&mut h, &out, "dataset.png")?;

    // the Training tab replaying the run's events, as it looked at the end
    let events = RunDir::new(&run).read_events()?;
    let live = LiveRun::from_events(&events);
    let mut smoothing = 0.6;
    let mut h = Harness::builder()
        .with_size([1200.0, 900.0])
        .with_accessibility_check(false)
        .build_ui(|ui| training_tab_ui(ui, Some(&live), &mut smoothing, &mut None));
    h.run_steps(4);
    let image = h.render().map_err(|e| anyhow::anyhow!("{e}"))?;
    image.save(out.join("training.png"))?;
    println!("wrote {}", out.join("training.png").display());

    let mut h = window(state(Tab::Results)?, [1600.0, 1100.0]);
    let ctx = h.ctx.clone();
    h.state_mut().results_mut().open(&ctx, run.clone());
    settle(&mut h, |a| {
        a.results().loaded.is_some() && a.thumbnails_pending() == 0
    });
    save(&mut h, &out, "results.png")?;
    // the most confused pair of classes, and its faces in the gallery
    let pair = h.state().results().loaded.as_ref().and_then(|l| {
        l.eval
            .confusion
            .most_confused()
            .first()
            .map(|&(t, p, _)| (t, p))
    });
    // a taller window, so the gallery under the matrix is in view
    let mut h = window(state(Tab::Results)?, [1600.0, 1900.0]);
    h.state_mut().results_mut().open(&ctx, run.clone());
    settle(&mut h, |a| a.results().loaded.is_some());
    h.state_mut().results_mut().confusion.selected = pair;
    settle(&mut h, |a| a.thumbnails_pending() == 0);
    save(&mut h, &out, "results-confusion-gallery.png")?;
    // Grad-CAM over the same faces, and the first one enlarged: the evidence
    // for the predicted class beside the evidence for the true one
    h.state_mut().results_mut().explain.overlay = true;
    h.state_mut().results_mut().enlarged = h.state().results().gallery_items().first().copied();
    settle(&mut h, |a| {
        let r = a.results();
        let (Some(l), Some(i)) = (r.loaded.as_ref(), r.enlarged) else {
            return true;
        };
        let p = &l.eval.predictions[i];
        let faces_done = r.gallery_items().iter().all(|&g| {
            let q = &l.eval.predictions[g];
            r.explain.map(&q.path, q.predicted).is_some()
        });
        r.explain.error.is_some()
            || (faces_done
                && r.explain.map(&p.path, p.true_class).is_some()
                && a.thumbnails_pending() == 0)
    });
    if let Some(e) = &h.state().results().explain.error {
        anyhow::bail!("{e}");
    }
    save(&mut h, &out, "results-gradcam.png")?;

    // the embedding map, with the pointer resting on a misclassified face
    let mut h = window(state(Tab::Results)?, [1600.0, 2000.0]);
    h.state_mut().results_mut().open(&ctx, run.clone());
    settle(&mut h, |a| a.results().loaded.is_some());
    h.state_mut().results_mut().embedding.shown = true;
    settle(&mut h, |a| {
        let e = &a.results().embedding;
        e.error.is_some() || (e.map.is_some() && !e.screen.is_empty())
    });
    if let Some(e) = h.state().results().embedding.error.clone() {
        anyhow::bail!("{e}");
    }
    let at = {
        let e = &h.state().results().embedding;
        let faces = &e
            .map
            .as_ref()
            .map(|(_, m)| m.faces.clone())
            .unwrap_or_default();
        let wrong = (0..faces.len()).find(|&i| faces[i].predicted != faces[i].true_class);
        wrong.and_then(|i| e.screen.get(i).copied())
    };
    if let Some(at) = at {
        h.hover_at(at);
        settle(&mut h, |a| a.thumbnails_pending() == 0);
        h.run_steps(60);
    }
    save(&mut h, &out, "results-embedding.png")?;

    // Try it: one person's test faces scored by the run, with Grad-CAM
    let mut h = window(state(Tab::Results)?, [1600.0, 1000.0]);
    h.state_mut().results_mut().open(&ctx, run.clone());
    settle(&mut h, |a| a.results().loaded.is_some());
    let mut people: Vec<PathBuf> = std::fs::read_dir(data.join("test"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let person = people.get(1).cloned().unwrap_or_else(|| data.join("test"));
    h.state_mut().results_mut().try_it.typed = person.display().to_string();
    h.state_mut()
        .results_mut()
        .try_it
        .start(&ctx, &run, vec![person]);
    h.state_mut().results_mut().explain.overlay = true;
    settle(&mut h, |a| {
        let r = a.results();
        let Some((_, faces)) = r.try_it.scored.as_ref() else {
            return r.try_it.error.is_some();
        };
        r.explain.error.is_some()
            || (faces
                .iter()
                .all(|f| r.explain.map(&f.image, f.top(1)[0].0).is_some())
                && a.thumbnails_pending() == 0)
    });
    save(&mut h, &out, "results-try-it.png")?;

    // the learning-rate finder on the preset and the dataset
    let mut h = window(state(Tab::Dataset)?, [1600.0, 1000.0]);
    h.step();
    h.state_mut().find_lr(&ctx);
    for _ in 0..12_000 {
        h.step();
        if !h.state().lr_finder().is_running() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    h.run_steps(6);
    if let Some(e) = &h.state().lr_finder().error {
        anyhow::bail!("{e}");
    }
    save(&mut h, &out, "lr-finder.png")?;

    let mut h = window(state(Tab::Runs)?, [1600.0, 1000.0]);
    settle(&mut h, |a| {
        if !a.runs().runs.is_empty() && a.runs().selected.is_empty() {
            let all: Vec<PathBuf> = a.runs().runs.iter().map(|r| r.path.clone()).collect();
            a.runs_mut().selected.extend(all);
        }
        let ticked = &a.runs().selected;
        !ticked.is_empty() && ticked.iter().all(|r| a.runs().tail_epochs(r) > 0)
    });
    save(&mut h, &out, "runs.png")?;

    // with exactly two runs in the folder: their diff (the older is A)
    if h.state().runs().runs.len() == 2 {
        let mut h = window(state(Tab::Runs)?, [1600.0, 2300.0]);
        settle(&mut h, |a| {
            if a.runs().selected.is_empty() {
                let all: Vec<PathBuf> = a.runs().runs.iter().map(|r| r.path.clone()).collect();
                a.runs_mut().selected.extend(all);
            }
            a.runs().runs.len() == 2
        });
        {
            use egui_kittest::kittest::Queryable;
            h.get_by_label("diff").click();
        }
        settle(&mut h, |a| {
            a.runs()
                .diff
                .as_ref()
                .is_some_and(|d| d.diff.is_some() || d.error.is_some())
                && a.thumbnails_pending() == 0
        });
        if let Some(e) = h.state().runs().diff.as_ref().and_then(|d| d.error.clone()) {
            anyhow::bail!("{e}");
        }
        save(&mut h, &out, "runs-diff.png")?;
    }
    Ok(())
}
