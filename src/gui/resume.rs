//! Resume a stopped or failed run from the window, as `facebench train --resume
//! RUN` does: the run continues from its last checkpoint in its own folder. The
//! run's earlier curves are read from its `metrics.jsonl` off the UI thread so
//! the plots show the whole run, not only what comes after the resume.

use std::path::{Path, PathBuf};

use egui::{RichText, Ui};

use super::jobs::Job;
use super::live_run::LiveRun;
use super::theme;
use super::train_session::TrainSession;
use crate::engine::{start_training, TrainHandle, TrainRequest};
use crate::run::{CheckpointKind, FinishStatus, RunConfig, TrainEvent};
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

/// A run's recorded events up to its last checkpoint (where training picks up
/// again, in the middle of an epoch too), folded into the series the Training
/// tab draws. What was logged after that checkpoint is left out: the resumed
/// run logs it again (and the engine removes it from `metrics.jsonl`).
pub fn history(run: &Path, events: &[TrainEvent]) -> LiveRun {
    let last_checkpoint = events.iter().rposition(|e| {
        matches!(
            e,
            TrainEvent::Checkpoint {
                kind: CheckpointKind::Last,
                ..
            }
        )
    });
    let upto = last_checkpoint.map_or(0, |i| i + 1);
    let kept: Vec<&TrainEvent> = events[..upto]
        .iter()
        .filter(|e| {
            !matches!(
                e,
                TrainEvent::Finished { .. }
                    | TrainEvent::Failed { .. }
                    | TrainEvent::Evaluated { .. }
            )
        })
        .collect();
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
        ui.label(RichText::new(format!("This run {why}.")).color(theme::WARNING));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::PerSplit;
    use crate::run::{DatasetSummary, EpochMetrics};

    fn started(start_epoch: usize) -> TrainEvent {
        TrainEvent::Started {
            run: "r".into(),
            run_dir: PathBuf::from("runs/r"),
            config: Box::default(),
            dataset: DatasetSummary {
                root: PathBuf::new(),
                classes: vec!["a".into(), "b".into()],
                images: PerSplit {
                    train: 4,
                    val: 1,
                    test: 1,
                },
                skipped: 0,
                fingerprint: String::new(),
                mean: [0.5; 3],
                std: [0.5; 3],
            },
            device: "cpu".into(),
            params: 1,
            start_epoch,
            start_batch: 0,
            time: String::new(),
        }
    }

    /// Epoch `epoch` of 4 batches, or its first `batches` of them.
    fn epoch(epoch: usize, batches: usize, complete: bool) -> Vec<TrainEvent> {
        let mut out: Vec<TrainEvent> = (1..=batches)
            .map(|b| TrainEvent::Iteration {
                epoch,
                iteration: (epoch - 1) * 4 + b,
                batch: b,
                batches: 4,
                loss: 1.0,
                accuracy: 0.5,
                lr: 1e-3,
                images_per_sec: 10.0,
            })
            .collect();
        if complete {
            out.push(TrainEvent::Epoch(EpochMetrics {
                epoch,
                phase: 1,
                train_loss: 1.0,
                train_accuracy: 0.5,
                val_loss: 1.0,
                val_accuracy: 0.5,
                lr: 1e-3,
                seconds: 1.0,
                images_per_sec: 10.0,
            }));
        }
        out
    }

    fn stopped() -> TrainEvent {
        TrainEvent::Finished {
            status: FinishStatus::Stopped,
            epochs_completed: 0,
            best_epoch: 0,
            best_val_accuracy: 0.0,
            test_accuracy: None,
            seconds: 1.0,
        }
    }

    fn checkpoint(epoch: usize, batch: Option<usize>) -> TrainEvent {
        TrainEvent::Checkpoint {
            epoch,
            batch,
            kind: CheckpointKind::Last,
            path: PathBuf::from("runs/r/checkpoints/last"),
        }
    }

    #[test]
    fn history_ends_at_the_last_checkpoint() {
        // epoch 1, then stopped after batch 2 of epoch 2 (a mid-epoch checkpoint)
        let mut events = vec![started(0)];
        events.extend(epoch(1, 4, true));
        events.push(checkpoint(1, None));
        events.extend(epoch(2, 2, false));
        events.push(checkpoint(1, Some(2)));
        events.push(stopped());
        let live = history(Path::new("runs/r"), &events);
        assert_eq!(live.iter_x, (1..=6).map(|i| i as f64).collect::<Vec<_>>());
        let epochs: Vec<usize> = live.epochs.iter().map(|m| m.epoch).collect();
        assert_eq!(epochs, [1]);
        assert!(live.is_running(), "the stop is not part of the history");
        assert!(live.log.last().is_some_and(|l| l.contains("resuming r")));

        // killed in epoch 3 after its checkpoint-less iterations: those are
        // trained (and logged) again, so the history leaves them out
        let mut events = vec![started(0)];
        events.extend(epoch(1, 4, true));
        events.push(checkpoint(1, None));
        events.extend(epoch(2, 4, true));
        events.push(checkpoint(2, None));
        events.extend(epoch(3, 3, false));
        let live = history(Path::new("runs/r"), &events);
        assert_eq!(live.iter_x, (1..=8).map(|i| i as f64).collect::<Vec<_>>());
        assert_eq!(live.epochs.len(), 2);
    }
}
