//! Training the run queue: one run at a time, in queue order, each into an
//! ordinary run folder. Only one process trains a runs folder's queue (the
//! worker lock); a run left running by a worker that is gone (a crash, a
//! closed window) is resumed from its checkpoint first. A failed run is
//! marked with its reason and the queue moves on; a stop leaves the run
//! `stopped`, to be resumed by the next worker.

use std::path::{Path, PathBuf};

use super::control::TrainControl;
use super::trainer::{start_training, TrainRequest};
use crate::run::{FinishStatus, TrainEvent};
use crate::store::{ItemState, QueueFile, QueueItem, QueueScope, RunDir};

/// What the worker reports, for a progress display.
#[derive(Debug, Clone)]
pub enum QueueEvent {
    /// Item `id` starts (or resumes, from `resume`).
    Started {
        id: u64,
        label: String,
        resume: Option<PathBuf>,
    },
    /// An event of the run being trained.
    Train(TrainEvent),
    /// Item `id` ended in `state`.
    Ended { id: u64, state: ItemState },
}

/// Train the items of `scope` in the queue of `runs` until none is left or
/// `control` stops it; returns how many items ended (done or failed).
pub fn run_queue(
    runs: &Path,
    scope: QueueScope,
    control: &TrainControl,
    on_event: &mut dyn FnMut(QueueEvent),
) -> anyhow::Result<usize> {
    let file = QueueFile::of(runs);
    let Some(_worker) = file.try_worker_lock()? else {
        anyhow::bail!(
            "another facebench process is training the queue of {}; it goes on there",
            runs.display()
        );
    };
    // run folders are recorded absolute, for any process in any folder
    let runs = &crate::files::canonical(runs);
    let pid = std::process::id();
    let mut ended = 0;
    while !control.is_stopping() {
        let Some((item, resume)) = file.update(|q| take_next(q, pid, scope))? else {
            break;
        };
        on_event(QueueEvent::Started {
            id: item.id,
            label: item.label(),
            resume: resume.clone(),
        });
        let state = train_item(&file, runs, &item, resume, pid, control, on_event)?;
        let stopped = matches!(state, ItemState::Stopped { .. });
        ended += usize::from(!stopped);
        file.update(|q| q.set_state(item.id, state.clone()))?;
        on_event(QueueEvent::Ended { id: item.id, state });
        if stopped {
            break;
        }
    }
    Ok(ended)
}

/// Mark the next item running for `pid`; with the run folder to resume,
/// when it has one that recorded its config.
fn take_next(
    q: &mut crate::store::RunQueue,
    pid: u32,
    scope: QueueScope,
) -> Option<(QueueItem, Option<PathBuf>)> {
    let id = q.next_for(pid, scope)?;
    let item = q.get_mut(id)?;
    let resume = item
        .state
        .run()
        .filter(|r| RunDir::new(r).config_path().exists())
        .map(Path::to_path_buf);
    item.state = ItemState::Running {
        pid,
        run: resume.clone(),
    };
    Some((item.clone(), resume))
}

/// Train one item to its end; its final state.
fn train_item(
    file: &QueueFile,
    runs: &Path,
    item: &QueueItem,
    resume: Option<PathBuf>,
    pid: u32,
    control: &TrainControl,
    on_event: &mut dyn FnMut(QueueEvent),
) -> anyhow::Result<ItemState> {
    let handle = start_training(TrainRequest {
        config: item.config.clone(),
        data_root: if resume.is_some() {
            PathBuf::new()
        } else {
            item.data_root.clone()
        },
        runs_root: runs.to_path_buf(),
        resume: resume.clone(),
    });
    let (mut run, mut finished, mut failure) = (resume, None, None);
    for event in handle.events.iter() {
        if control.is_stopping() {
            handle.control.stop();
        }
        match &event {
            TrainEvent::Started { run_dir, .. } => {
                run = Some(run_dir.clone());
                let dir = run.clone();
                file.update(|q| q.set_state(item.id, ItemState::Running { pid, run: dir }))?;
            }
            TrainEvent::Finished { status, .. } => finished = Some(*status),
            TrainEvent::Failed { error } => failure = Some(error.clone()),
            _ => {}
        }
        on_event(QueueEvent::Train(event));
    }
    handle.join();
    Ok(match (failure, finished, run) {
        (Some(reason), _, run) => ItemState::Failed { reason, run },
        (None, Some(FinishStatus::Stopped), Some(run)) => ItemState::Stopped { run },
        (None, Some(_), Some(run)) => ItemState::Done { run },
        (None, _, run) => ItemState::Failed {
            reason: "the run ended without finishing".into(),
            run,
        },
    })
}
