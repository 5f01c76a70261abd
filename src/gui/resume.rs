//! Resume a stopped or failed run from the window, as `facebench train --resume
//! RUN` does: the run continues from its last checkpoint in its own folder. The
//! run's earlier curves are read from its `metrics.jsonl` off the UI thread so
//! the plots show the whole run, not only what comes after the resume.

use std::path::{Path, PathBuf};

use egui::{Color32, RichText, Ui};

use super::app::TrainSession;
use super::jobs::Job;
use super::live_run::LiveRun;
use crate::engine::{
    start_training, FinishStatus, RunConfig, TrainEvent, TrainHandle, TrainRequest,
};
use crate::store::RunDir;

/// A resumed run once its history is read and its training thread started.
pub struct Resumed {
    pub run: PathBuf,
    pub live: LiveRun,
    pub handle: TrainHandle,
}

/// Read `run`'s history, then start training it again (on a job thread).
pub fn spawn_resume(ctx: &egui::Context, run: PathBuf) -> Job<Result<Resumed, String>> {
    Job::spawn(ctx, move || {
        let events = RunDir::new(&run)
            .read_events()
            .map_err(|e| format!("cannot resume {}: {e:#}", run.display()))?;
        let live = history(&run, &events);
        // read before the trainer appends to the file again
        let handle = start_training(TrainRequest {
            // resume uses the run's own config and dataset folder
            config: RunConfig::default(),
            data_root: PathBuf::new(),
            runs_root: run.parent().map(Path::to_path_buf).unwrap_or_default(),
            resume: Some(run.clone()),
        });
        Ok(Resumed { run, live, handle })
    })
}

/// A run's recorded events, up to its last completed epoch (where training
/// picks up again), folded into the series the Training tab draws. Iterations
/// of an unfinished epoch are left out: the resumed run replays them.
pub fn history(run: &Path, events: &[TrainEvent]) -> LiveRun {
    let mut kept: Vec<&TrainEvent> = Vec::new();
    let mut started = 0;
    for e in events {
        match e {
            TrainEvent::Started { start_epoch, .. } => {
                started += 1;
                if started > 1 {
                    // an earlier resume replayed everything after start_epoch
                    kept.retain(|k| match k {
                        TrainEvent::Iteration { epoch, .. } => epoch <= start_epoch,
                        TrainEvent::Epoch(m) => m.epoch <= *start_epoch,
                        _ => true,
                    });
                }
            }
            TrainEvent::Finished { .. }
            | TrainEvent::Failed { .. }
            | TrainEvent::Evaluated { .. } => continue,
            _ => {}
        }
        kept.push(e);
    }
    let done = kept
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Epoch(m) => Some(m.epoch),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    kept.retain(|e| !matches!(e, TrainEvent::Iteration { epoch, .. } if *epoch > done));
    let mut live = LiveRun::from_events(kept);
    live.paused = false;
    live.log.push(format!(
        "resuming {} from its last checkpoint",
        run.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    live
}

/// What a run that ended in this window can do next. Returns the run to
/// resume when *Resume run* is clicked.
pub fn resume_bar_ui(
    ui: &mut Ui,
    session: Option<&TrainSession>,
    pending: bool,
) -> Option<PathBuf> {
    let s = session?;
    let run = s.run_dir.as_ref()?;
    let why = match (&s.live.finished, &s.live.failed) {
        (_, Some(_)) => "failed",
        (Some(FinishStatus::Stopped), _) => "was stopped",
        _ => return None,
    };
    let mut clicked = None;
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("This run {why}.")).color(Color32::from_rgb(230, 150, 60)));
        if pending {
            ui.spinner();
            ui.label("resuming…");
        } else if ui
            .button(RichText::new("Resume run").strong())
            .on_hover_text(format!(
                "Continue from the last checkpoint in {}, as `facebench train --resume` does",
                run.display()
            ))
            .clicked()
        {
            clicked = Some(run.clone());
        }
    });
    clicked
}
