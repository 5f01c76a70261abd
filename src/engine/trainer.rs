//! The training loop on its own thread, generic over the burn backend.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::Context;
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use crossbeam_channel::{unbounded, Receiver, Sender};

use super::checkpoint::{
    find_checkpoint, load_model, load_state, load_training, save_checkpoint, CheckpointKind,
    EpochProgress, TrainerState,
};
use super::control::TrainControl;
use super::device::{DeviceChoice, ResolvedDevice};
use super::evaluate::{evaluate_bank, loss_and_accuracy};
use super::events::{EpochMetrics, FinishStatus, TrainEvent};
use super::optimizer::AnyOptimizer;
use super::phases;
use super::prepare::{prepare_data, PreparedData};
use super::schedule::{EarlyStopping, LrSchedule};
use super::RunConfig;
use crate::loader::BatchStream;
use crate::model::{trainable_params, Network};
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

/// Sends events to the caller and appends them to the run's `metrics.jsonl`.
struct Reporter {
    tx: Sender<TrainEvent>,
    log: Option<MetricsLog>,
}

impl Reporter {
    fn emit(&mut self, event: TrainEvent) -> anyhow::Result<()> {
        if let Some(log) = &mut self.log {
            log.append(&event)
                .with_context(|| format!("cannot append to {}", log.path().display()))?;
        }
        // a caller that stopped listening does not stop the run
        let _ = self.tx.send(event);
        Ok(())
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
            let mut reporter = Reporter { tx, log: None };
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
            let _ = reporter.emit(TrainEvent::Failed { error });
            if let Some(log) = &mut reporter.log {
                let _ = log.flush();
            }
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
    let (config, run_dir, data_root, resume_dir) = match &request.resume {
        Some(path) => {
            let run = RunStore::new(&request.runs_root).open(&path.to_string_lossy())?;
            let record = run.read_record()?;
            // a run that ended before its first checkpoint (killed in its first
            // epoch, say) starts over in its own folder
            let dir = find_checkpoint(&run, CheckpointKind::Last);
            // `--data` on a resume points at the dataset's new place; the
            // fingerprint check below makes sure it is the same data
            let root = if request.data_root.as_os_str().is_empty() {
                record.data_root
            } else {
                request.data_root.clone()
            };
            (record.config, Some(run), root, dir)
        }
        None => (
            request.config.clone(),
            None,
            // stored absolute, so resume and eval work from any folder
            std::fs::canonicalize(&request.data_root).unwrap_or_else(|_| request.data_root.clone()),
            None,
        ),
    };
    config.check()?;
    let device = DeviceChoice::parse(&config.device)
        .and_then(DeviceChoice::resolve)
        .map_err(anyhow::Error::msg)?;
    let data = prepare_data(&data_root, &config, false)?;
    let run_dir = match run_dir {
        Some(run) => {
            let record = run.read_record()?;
            let same_files = [&data.fingerprint, &data.legacy_fingerprint]
                .contains(&&record.dataset.fingerprint);
            if !same_files {
                anyhow::bail!(
                    "the train files in {} changed since run {} started; resume needs the same data, so start a new run",
                    data_root.display(),
                    run.name()
                );
            }
            let here = std::fs::canonicalize(&data_root).unwrap_or_else(|_| data_root.clone());
            if record.data_root != here {
                // the dataset moved: the run remembers its new place
                run.write_record(&RunRecord {
                    data_root: here,
                    ..record
                })?;
            }
            run
        }
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
    let metrics_path = run_dir.metrics_path();
    let resume_point = match resume_dir.as_deref() {
        Some(dir) => {
            let state = load_state(dir)?;
            Some(ResumePoint {
                epochs_completed: state.epochs_completed,
                iteration: state.iteration,
                phase: state.phase,
            })
        }
        // starting over: everything logged so far is logged again
        None if request.resume.is_some() => Some(ResumePoint {
            epochs_completed: 0,
            iteration: 0,
            phase: 0,
        }),
        None => None,
    };
    reporter.log = Some(match resume_point {
        Some(point) => MetricsLog::open_for_resume(&metrics_path, &point)?.0,
        None => MetricsLog::open(&metrics_path)
            .with_context(|| format!("cannot open {}", metrics_path.display()))?,
    });
    let ctx = RunContext {
        config: &config,
        data: &data,
        data_root: &data_root,
        run: &run_dir,
        resume: resume_dir.as_deref(),
        device_name: device.to_string(),
    };
    let result = match device {
        ResolvedDevice::Cpu => train_on::<burn::backend::Autodiff<burn::backend::Flex>>(
            &ctx,
            burn::backend::flex::FlexDevice,
            reporter,
            control,
        ),
        #[cfg(feature = "cuda")]
        ResolvedDevice::Cuda(n) => train_on::<burn::backend::Autodiff<burn::backend::Cuda>>(
            &ctx,
            burn::backend::cuda::CudaDevice::new(n),
            reporter,
            control,
        ),
        #[cfg(not(feature = "cuda"))]
        ResolvedDevice::Cuda(_) => unreachable!("resolve() refuses CUDA in a build without it"),
    };
    if result.is_err() && ctx.resume.is_none() && !run_dir.config_path().exists() {
        // the inputs failed before the run began (weights that do not load,
        // say): the error goes to the caller, and no empty run folder stays
        reporter.log = None;
        let _ = std::fs::remove_dir_all(&run_dir.path);
    }
    result
}

struct RunContext<'a> {
    config: &'a RunConfig,
    data: &'a PreparedData,
    data_root: &'a Path,
    run: &'a RunDir,
    resume: Option<&'a Path>,
    device_name: String,
}

fn train_on<B: AutodiffBackend>(
    ctx: &RunContext,
    device: B::Device,
    reporter: &mut Reporter,
    control: &TrainControl,
) -> anyhow::Result<()> {
    let config = ctx.config;
    let data = ctx.data;
    let classes = &data.dataset.classes;
    B::seed(&device, config.train.seed);
    let mut model: Network<B> = config.model.init(classes.len(), &device);
    let mut phase = phases::first_phase(config);
    if let Some(dir) = ctx.resume {
        phase = load_state(dir)?.phase;
    }
    let mut optimizer =
        AnyOptimizer::<Network<B>, B>::new(&phases::optimizer_config(config, phase));
    let mut state = TrainerState {
        epochs_completed: 0,
        iteration: 0,
        schedule: LrSchedule::new(
            config.scheduler.clone(),
            phases::optimizer_config(config, phase).lr,
        ),
        early_stopping: EarlyStopping::new(config.early_stopping.clone()),
        elapsed_seconds: 0.0,
        phase,
        epoch_progress: None,
        phase2_pending: false,
    };
    let mut weights_loaded = None;
    if let Some(dir) = ctx.resume {
        (model, optimizer, state) = load_training(dir, model, optimizer, &device)?;
    } else if let Some(spec) = &config.model.weights {
        let path = crate::weights::resolve_weights(spec)?;
        let (loaded, report) = crate::weights::load_pretrained(model, &path)?;
        model = loaded;
        weights_loaded = Some(report);
    }
    model = model.with_freeze(&phases::freeze_plan(config, state.phase));
    let params = trainable_params(&model);
    if !ctx.run.config_path().exists() {
        ctx.run.write_record(&RunRecord {
            facebench_version: env!("CARGO_PKG_VERSION").into(),
            created: chrono::Local::now().to_rfc3339(),
            data_root: ctx.data_root.to_path_buf(),
            config: config.clone(),
            dataset: data.summary(),
            device: ctx.device_name.clone(),
            params,
        })?;
    }
    reporter.emit(TrainEvent::Started {
        run: ctx.run.name(),
        run_dir: ctx.run.path.clone(),
        config: Box::new(config.clone()),
        dataset: data.summary(),
        device: ctx.device_name.clone(),
        params,
        start_epoch: state.epochs_completed,
        start_batch: state.epoch_progress.as_ref().map_or(0, |p| p.batches_done),
        time: chrono::Local::now().to_rfc3339(),
    })?;

    if let Some(report) = weights_loaded {
        reporter.emit(TrainEvent::WeightsLoaded {
            file: report.file,
            format: report.format.name().into(),
            tensors: report.matched.len(),
            values: report.values,
        })?;
    }
    if ctx.resume.is_none() && config.model.architecture.is_transfer() {
        reporter.emit(TrainEvent::PhaseChanged {
            epoch: 1,
            phase: state.phase,
            description: phases::describe(config, state.phase),
        })?;
    }

    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let train_pipeline = data.pipeline(config, true);
    let eval_pipeline = data.pipeline(config, false);
    let batch_size = config.train.batch_size;
    let prefetch = config.data.prefetch_batches;
    let mut status = FinishStatus::Completed;
    let started = Instant::now();
    let elapsed_before = state.elapsed_seconds;

    for epoch in state.epochs_completed..config.train.epochs {
        if phases::enters_phase2(config, state.phase, epoch) || state.phase2_pending {
            state.phase2_pending = false;
            state.phase = 2;
            model = model.with_freeze(&phases::freeze_plan(config, 2));
            let o = phases::optimizer_config(config, 2);
            optimizer = AnyOptimizer::new(&o);
            state.schedule.base_lr = o.lr;
            state.schedule.lr = o.lr;
            state.schedule.bad_epochs = 0;
            reporter.emit(TrainEvent::PhaseChanged {
                epoch: epoch + 1,
                phase: 2,
                description: phases::describe(config, 2),
            })?;
        }
        let lr = state.schedule.lr;
        let epoch_start = Instant::now();
        // a run stopped in the middle of this epoch goes on from where it stood
        let mut progress: EpochProgress = state.epoch_progress.take().unwrap_or_default();
        let seconds_before = progress.seconds;
        let stream = BatchStream::spawn_from(
            data.train.clone(),
            train_pipeline.clone(),
            batch_size,
            epoch,
            true,
            prefetch,
            progress.batches_done,
        );
        let batches = stream.batches();
        let mut last_tick = Instant::now();
        for (b, batch) in (progress.batches_done..).zip(stream) {
            let iteration = state.iteration;
            let mut pause_error = None;
            let after = control.between_batches(|| {
                pause_error = reporter
                    .emit(TrainEvent::Paused {
                        epoch: epoch + 1,
                        iteration,
                    })
                    .err();
            });
            if let Some(e) = pause_error {
                return Err(e);
            }
            if after.was_paused && !after.stop {
                reporter.emit(TrainEvent::Resumed {
                    epoch: epoch + 1,
                    iteration,
                })?;
            }
            if after.stop {
                state.elapsed_seconds = elapsed_before + started.elapsed().as_secs_f64();
                progress.seconds = seconds_before + epoch_start.elapsed().as_secs_f64();
                state.epoch_progress = (progress.batches_done > 0).then_some(progress);
                checkpoint(
                    ctx,
                    reporter,
                    CheckpointKind::Last,
                    &model,
                    Some(&optimizer),
                    &state,
                )?;
                return finish(
                    reporter,
                    FinishStatus::Stopped,
                    &state,
                    None,
                    state.elapsed_seconds,
                );
            }
            let n = batch.len();
            let s = batch.input_size;
            let images =
                Tensor::<B, 4>::from_data(TensorData::new(batch.images, [n, 3, s, s]), &device);
            let targets =
                Tensor::<B, 1, Int>::from_data(TensorData::new(batch.labels, [n]), &device);
            // random ops (dropout) draw from a seed of the iteration alone, so a
            // resumed run draws what the uninterrupted one would have
            B::seed(&device, iteration_seed(config.train.seed, state.iteration));
            let logits = model.forward(images);
            let loss = loss_fn.forward(logits.clone(), targets.clone());
            let loss = match model.penalty() {
                Some(penalty) => loss + penalty,
                None => loss,
            };
            let loss_value: f64 = loss.clone().into_scalar().elem();
            if !loss_value.is_finite() {
                anyhow::bail!(
                    "the loss became {loss_value} at epoch {}, batch {}: training diverged; lower optimizer.lr (now {lr}) and start again",
                    epoch + 1,
                    b + 1
                );
            }
            let correct: i64 = logits
                .argmax(1)
                .squeeze_dim::<1>(1)
                .equal(targets)
                .int()
                .sum()
                .into_scalar()
                .elem();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
            state.iteration += 1;
            progress.batches_done = b + 1;
            progress.loss_sum += loss_value * n as f64;
            progress.correct += correct as usize;
            progress.seen += n;
            let now = Instant::now();
            let rate = n as f64 / now.duration_since(last_tick).as_secs_f64().max(1e-9);
            last_tick = now;
            reporter.emit(TrainEvent::Iteration {
                epoch: epoch + 1,
                iteration: state.iteration,
                batch: b + 1,
                batches,
                loss: loss_value,
                accuracy: correct as f64 / n as f64,
                lr,
                images_per_sec: rate,
            })?;
        }
        let train_seconds = seconds_before + epoch_start.elapsed().as_secs_f64();
        let valid = model.valid();
        let (val_loss, val_accuracy) = loss_and_accuracy(
            &valid,
            data.val.clone(),
            eval_pipeline.clone(),
            batch_size,
            prefetch,
            &device,
        );
        state.epochs_completed = epoch + 1;
        let is_best = state.early_stopping.observe(epoch + 1, val_accuracy);
        let lr_change = state
            .schedule
            .on_epoch_end(epoch + 1, val_loss, val_accuracy);
        let seen = progress.seen.max(1) as f64;
        reporter.emit(TrainEvent::Epoch(EpochMetrics {
            epoch: epoch + 1,
            phase: state.phase,
            train_loss: progress.loss_sum / seen,
            train_accuracy: progress.correct as f64 / seen,
            val_loss,
            val_accuracy,
            lr,
            seconds: seconds_before + epoch_start.elapsed().as_secs_f64(),
            images_per_sec: progress.seen as f64 / train_seconds.max(1e-9),
        }))?;
        if let Some((from, to, reason)) = lr_change {
            reporter.emit(TrainEvent::LrChanged {
                epoch: epoch + 1,
                from,
                to,
                reason,
            })?;
        }
        // early stopping in phase 1 of a transfer run ends the phase, not the
        // run; decided before the checkpoint so a resume knows it
        let stop_early = state.early_stopping.should_stop();
        if stop_early
            && state.phase == 1
            && config.model.architecture.is_transfer()
            && epoch + 1 < config.train.epochs
        {
            state.early_stopping.epochs_without_improvement = 0;
            state.phase2_pending = true;
        }
        state.elapsed_seconds = elapsed_before + started.elapsed().as_secs_f64();
        // best first: a crash between the two saves leaves `last` at the epoch
        // before, which resuming trains again, never `last` naming a best epoch
        // whose weights `best` lacks
        if is_best {
            checkpoint(ctx, reporter, CheckpointKind::Best, &model, None, &state)?;
        }
        checkpoint(
            ctx,
            reporter,
            CheckpointKind::Last,
            &model,
            Some(&optimizer),
            &state,
        )?;
        if stop_early && !state.phase2_pending {
            reporter.emit(TrainEvent::EarlyStopped {
                epoch: epoch + 1,
                best_epoch: state.early_stopping.best_epoch,
                best_val_accuracy: state.early_stopping.best_accuracy,
            })?;
            status = FinishStatus::EarlyStopped;
            break;
        }
        if control.is_stopping() {
            return finish(
                reporter,
                FinishStatus::Stopped,
                &state,
                None,
                state.elapsed_seconds,
            );
        }
    }

    // evaluate the best epoch's weights (or the last, when restore_best is off)
    let final_model = match find_checkpoint(ctx.run, CheckpointKind::Best) {
        Some(dir) if config.early_stopping.restore_best => {
            load_model(&dir, model.valid(), &device)?
        }
        _ => model.valid(),
    };
    let mut report = evaluate_bank(
        &final_model,
        data.eval.clone(),
        eval_pipeline,
        classes,
        batch_size,
        &device,
    );
    report.split = data.eval_split.name().into();
    report.checkpoint = if config.early_stopping.restore_best {
        "best"
    } else {
        "last"
    }
    .into();
    ctx.run.write_eval(&report)?;
    reporter.emit(TrainEvent::Evaluated {
        split: report.split.clone(),
        accuracy: report.accuracy,
        macro_f1: report.macro_avg.f1,
        macro_auc: report.auc_macro,
        path: ctx.run.eval_path(),
    })?;
    let seconds = elapsed_before + started.elapsed().as_secs_f64();
    finish(reporter, status, &state, Some(report.accuracy), seconds)
}

/// The seed of the backend's random ops in one iteration: a function of the
/// run's seed and the iteration alone.
fn iteration_seed(seed: u64, iteration: usize) -> u64 {
    seed ^ (iteration as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Save a checkpoint of `kind` and report it.
fn checkpoint<B: AutodiffBackend>(
    ctx: &RunContext,
    reporter: &mut Reporter,
    kind: CheckpointKind,
    model: &Network<B>,
    optimizer: Option<&AnyOptimizer<Network<B>, B>>,
    state: &TrainerState,
) -> anyhow::Result<()> {
    let path = save_checkpoint(ctx.run, kind, model, optimizer, state)?;
    reporter.emit(TrainEvent::Checkpoint {
        epoch: state.epochs_completed,
        batch: state.epoch_progress.as_ref().map(|p| p.batches_done),
        kind,
        path,
    })
}

fn finish(
    reporter: &mut Reporter,
    status: FinishStatus,
    state: &TrainerState,
    test_accuracy: Option<f64>,
    seconds: f64,
) -> anyhow::Result<()> {
    let best = &state.early_stopping;
    reporter.emit(TrainEvent::Finished {
        status,
        epochs_completed: state.epochs_completed,
        best_epoch: best.best_epoch,
        best_val_accuracy: if best.best_epoch > 0 {
            best.best_accuracy
        } else {
            0.0
        },
        test_accuracy,
        seconds,
    })
}
