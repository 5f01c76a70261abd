//! A training run on its own thread: the request, the run folder and its lock,
//! the event reporter, and the dispatch to the backend's training loop
//! (`training_loop`).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::Context;
use crossbeam_channel::{unbounded, Receiver};

use super::checkpoint::{find_checkpoint, load_state, TrainerState};
use super::control::TrainControl;
use super::device::OnBackend;
use super::prepare::{prepare_data, Decode, PreparedData};
use super::reporter::Reporter;
use super::training_loop::{train_on, RunContext};
use crate::run::CheckpointKind;
use crate::run::RunConfig;
use crate::run::TrainEvent;
use crate::store::{lock_run, MetricsLog, ResumePoint, RunDir, RunRecord, RunStore};

/// What to train.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub config: RunConfig,
    pub data_root: PathBuf,
    pub runs_root: PathBuf,
    /// Continue this run from its last checkpoint (its config is used).
    pub resume: Option<PathBuf>,
}

/// A run in progress: its events and its controls.
pub struct TrainHandle {
    pub events: Receiver<TrainEvent>,
    pub control: TrainControl,
    thread: Option<JoinHandle<()>>,
}

impl TrainHandle {
    /// Wait for the training thread to end.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start training on a background thread.
pub fn start_training(request: TrainRequest) -> TrainHandle {
    let (tx, rx) = unbounded();
    let control = TrainControl::default();
    let ctl = control.clone();
    let thread = std::thread::Builder::new()
        .name("facebench-train".into())
        .spawn(move || {
            let mut reporter = Reporter::new(tx);
            let result =
                std::panic::catch_unwind(AssertUnwindSafe(|| run(&request, &mut reporter, &ctl)));
            let error = match result {
                Ok(Ok(())) => return,
                Ok(Err(e)) => format!("{e:#}"),
                Err(panic) => {
                    let text = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    format!("internal error (panic): {text}")
                }
            };
            reporter.fail(error);
            reporter.flush_log();
        })
        .ok();
    TrainHandle {
        events: rx,
        control,
        thread,
    }
}

/// Train synchronously on this thread, forwarding events to `on_event`.
/// Returns the run folder.
pub fn train_blocking(
    request: TrainRequest,
    mut on_event: impl FnMut(&TrainEvent),
) -> anyhow::Result<PathBuf> {
    let handle = start_training(request);
    let mut run_dir = None;
    let mut failure = None;
    for ev in handle.events.iter() {
        on_event(&ev);
        match &ev {
            TrainEvent::Started { run_dir: d, .. } => run_dir = Some(d.clone()),
            TrainEvent::Failed { error } => failure = Some(error.clone()),
            _ => {}
        }
    }
    handle.join();
    if let Some(e) = failure {
        anyhow::bail!(e);
    }
    run_dir.ok_or_else(|| anyhow::anyhow!("training ended before it started"))
}

fn run(
    request: &TrainRequest,
    reporter: &mut Reporter,
    control: &TrainControl,
) -> anyhow::Result<()> {
    let (config, existing, data_root, resume_dir) = what_to_train(request)?;
    config.check()?;
    let device = config.device.resolve().map_err(anyhow::Error::msg)?;
    let data = prepare_data(&data_root, &config, Decode::All, &mut |split, p| {
        // a closed channel ends the run at its first step; not here
        let _ = reporter.emit(TrainEvent::Decoding {
            split: split.name().to_string(),
            done: p.done,
            total: p.total,
            seconds: p.seconds,
        });
    })?;
    let run_dir = match existing {
        Some((run, record)) => same_data_or_bail(run, record, &data, &data_root)?,
        None => {
            let label = config
                .name
                .clone()
                .unwrap_or_else(|| config.model.display_name().to_lowercase().replace(' ', ""));
            RunStore::new(&request.runs_root).create(&label)?
        }
    };
    // one process per run: a second resume of the same run stops here
    let _lock = lock_run(&run_dir.path)?;
    // read (and verified) once, for the log's repair and the training loop
    let resume_state = resume_dir.as_deref().map(load_state).transpose()?;
    reporter.attach_log(open_log(
        &run_dir,
        resume_state.as_ref(),
        request.resume.is_some(),
    )?);
    let ctx = RunContext {
        config: &config,
        data: &data,
        data_root: &data_root,
        run: &run_dir,
        resume: resume_dir.as_deref().zip(resume_state.as_ref()),
        device,
    };
    let result = device.dispatch(TrainJob {
        ctx: &ctx,
        reporter,
        control,
    });
    if result.is_err() && ctx.resume.is_none() && !run_dir.config_path().exists() {
        // the inputs failed before the run began (weights that do not load,
        // say): the error goes to the caller, and no empty run folder stays
        reporter.detach_log();
        let _ = std::fs::remove_dir_all(&run_dir.path);
    }
    result
}

/// The config, the existing run and its record (when resuming), the dataset
/// folder and the checkpoint folder to resume from.
#[allow(clippy::type_complexity)]
fn what_to_train(
    request: &TrainRequest,
) -> anyhow::Result<(
    RunConfig,
    Option<(RunDir, RunRecord)>,
    PathBuf,
    Option<PathBuf>,
)> {
    let Some(path) = &request.resume else {
        // stored absolute, so resume and eval work from any folder
        let root = crate::files::canonical(&request.data_root);
        return Ok((request.config.clone(), None, root, None));
    };
    let run = RunStore::new(&request.runs_root).open(&path.to_string_lossy())?;
    let record = run.read_record()?;
    // a run that ended before its first checkpoint (killed in its first
    // epoch, say) starts over in its own folder
    let dir = find_checkpoint(&run, CheckpointKind::Last);
    // `--data` on a resume points at the dataset's new place; the
    // fingerprint check makes sure it is the same data
    let root = if request.data_root.as_os_str().is_empty() {
        record.data_root.clone()
    } else {
        request.data_root.clone()
    };
    Ok((record.config.clone(), Some((run, record)), root, dir))
}

/// A resumed run must see the train files it started on (possibly moved);
/// when they moved, the run records their new place.
fn same_data_or_bail(
    run: RunDir,
    record: RunRecord,
    data: &PreparedData,
    data_root: &Path,
) -> anyhow::Result<RunDir> {
    let same_files = [&data.dataset.fingerprint, &data.legacy_fingerprint]
        .contains(&&record.dataset.fingerprint);
    if !same_files {
        anyhow::bail!(
            "the train files in {} changed since run {} started; resume needs the same data, so start a new run",
            data_root.display(),
            run.name()
        );
    }
    let here = crate::files::canonical(data_root);
    if record.data_root != here {
        run.write_record(&RunRecord {
            data_root: here,
            ..record
        })?;
    }
    Ok(run)
}

/// The run's `metrics.jsonl`, repaired for a resume from a checkpoint in
/// `state` (or for starting over when `resuming` without one).
fn open_log(
    run: &RunDir,
    state: Option<&TrainerState>,
    resuming: bool,
) -> anyhow::Result<MetricsLog> {
    let path = run.metrics_path();
    let point = match state {
        Some(state) => Some(ResumePoint {
            epochs_completed: state.epochs_completed,
            iteration: state.iteration,
            phase: state.phase,
        }),
        // starting over: everything logged so far is logged again
        None if resuming => Some(ResumePoint {
            epochs_completed: 0,
            iteration: 0,
            phase: 0,
        }),
        None => None,
    };
    Ok(match point {
        Some(point) => MetricsLog::open_for_resume(&path, &point)?.0,
        None => {
            MetricsLog::open(&path).with_context(|| format!("cannot open {}", path.display()))?
        }
    })
}

/// The training loop as work for [`ResolvedDevice::dispatch`].
struct TrainJob<'a> {
    ctx: &'a RunContext<'a>,
    reporter: &'a mut Reporter,
    control: &'a TrainControl,
}

impl OnBackend for TrainJob<'_> {
    type Output = anyhow::Result<()>;
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: B::Device) -> Self::Output {
        train_on::<B>(self.ctx, device, self.reporter, self.control)
    }
}
