//! The training loop, generic over the burn backend, written as its steps:
//! begin (model, optimizer, state, weights, record), then per epoch the phase
//! switch, the batches (each one step), the epoch's end (validation, schedule,
//! early stopping, checkpoints), and at the end the evaluation of the best
//! weights.

use std::path::Path;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::tensor::backend::AutodiffBackend;

use super::checkpoint::{
    encode_checkpoint, find_checkpoint, load_model, load_training, EpochProgress, TrainerState,
};
use super::checkpoint_writer::{CheckpointWriter, Written};
use super::control::TrainControl;
use super::evaluate::{evaluate_bank, loss_and_accuracy};
use super::optimizer::AnyOptimizer;
use super::phases;
use super::prepare::{PreparedData, EVAL_PREFETCH};
use super::reporter::Reporter;
use super::schedule::{EarlyStopping, LrSchedule};
use super::step::optimisation_step;
use crate::loader::{Batch, BatchPlan};
use crate::model::{trainable_params, Network};
use crate::run::CheckpointKind;
use crate::run::{EpochMetrics, FinishStatus, RunConfig, TrainEvent};
use crate::store::{RunDir, RunRecord};

/// Train the run of `ctx` on `device`, from its start or its checkpoint.
pub(super) fn train_on<B: AutodiffBackend>(
    ctx: &RunContext,
    device: B::Device,
    reporter: &mut Reporter,
    control: &TrainControl,
) -> anyhow::Result<()> {
    // the model moves through the steps by value, so the optimizer can
    // update its tensors in place
    let (mut t, mut model) = Training::<B>::begin(ctx, device, reporter)?;
    let mut status = FinishStatus::Completed;
    for epoch in t.state.epochs_completed..ctx.config.train.epochs {
        model = t.enter_phase2_when_due(model, epoch, reporter)?;
        let progress;
        (model, progress) = t.train_batches(model, epoch, reporter, control)?;
        let Some(progress) = progress else {
            return t.finish(reporter, FinishStatus::Stopped, None);
        };
        if t.end_epoch(&model, epoch, progress, reporter)? {
            status = FinishStatus::EarlyStopped;
            break;
        }
        if control.is_stopping() {
            return t.finish(reporter, FinishStatus::Stopped, None);
        }
    }
    t.flush_checkpoints(reporter)?;
    let accuracy = t.evaluate(&model, reporter)?;
    t.finish(reporter, status, Some(accuracy))
}

/// A run being trained: its model, optimizer and state on backend `B`.
struct Training<'a, B: AutodiffBackend> {
    ctx: &'a RunContext<'a>,
    device: B::Device,
    optimizer: AnyOptimizer<Network<B>, B>,
    state: TrainerState,
    loss_fn: CrossEntropyLoss<B>,
    /// Batches of the train split (augmented), the val split and the
    /// evaluation split.
    train_plan: BatchPlan,
    val_plan: BatchPlan,
    eval_plan: BatchPlan,
    /// When this process began training, and the seconds spent before it.
    started: Instant,
    elapsed_before: f64,
    /// Writes the checkpoints while training goes on.
    writer: CheckpointWriter,
}

impl<'a, B: AutodiffBackend> Training<'a, B> {
    /// The model, optimizer and state of a new run (with its pretrained
    /// weights) or of the checkpoint it resumes from; writes the record of a
    /// new run and reports the start.
    fn begin(
        ctx: &'a RunContext<'a>,
        device: B::Device,
        reporter: &mut Reporter,
    ) -> anyhow::Result<(Self, Network<B>)> {
        let config = ctx.config;
        B::seed(&device, config.train.seed);
        let model: Network<B> = config.model.init(ctx.data.dataset.classes.len(), &device);
        let state = match ctx.resume {
            Some((_, state)) => state.clone(),
            None => {
                let phase = phases::first_phase(config);
                TrainerState {
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
                }
            }
        };
        let optimizer = AnyOptimizer::new(&phases::optimizer_config(config, state.phase));
        let mut t = Self {
            ctx,
            loss_fn: CrossEntropyLossConfig::new().init(&device),
            // a GPU compiles its kernels for the shapes they meet: a short
            // last batch would compile a second set, so it is dropped there
            // (each epoch's shuffle leaves out different faces)
            train_plan: BatchPlan {
                drop_last: ctx.device.is_gpu(),
                ..ctx.data.plan(&ctx.data.train, config, true)
            },
            val_plan: ctx.data.plan(&ctx.data.val, config, false),
            eval_plan: BatchPlan {
                prefetch: EVAL_PREFETCH,
                ..ctx.data.plan(&ctx.data.eval, config, false)
            },
            device,
            optimizer,
            elapsed_before: state.elapsed_seconds,
            state,
            started: Instant::now(),
            writer: CheckpointWriter::new(ctx.run.checkpoints_dir())?,
        };
        let model = t.load_weights(model, reporter)?;
        Ok((t, model))
    }

    /// The checkpoint to resume from, or the pretrained weights of a new run;
    /// then the record and the start events.
    fn load_weights(
        &mut self,
        mut model: Network<B>,
        reporter: &mut Reporter,
    ) -> anyhow::Result<Network<B>> {
        let (ctx, config) = (self.ctx, self.ctx.config);
        let mut weights_loaded = None;
        if let Some((dir, _)) = ctx.resume {
            let optimizer = AnyOptimizer::new(&phases::optimizer_config(config, self.state.phase));
            (model, self.optimizer) = load_training(dir, model, optimizer, &self.device)?;
        } else if let Some(spec) = &config.model.weights {
            let path = crate::weights::resolve_weights(spec)?;
            let report;
            (model, report) = crate::weights::load_pretrained(model, &path)?;
            weights_loaded = Some(report);
        }
        let model = model.with_freeze(&phases::freeze_plan(config, self.state.phase));
        let params = trainable_params(&model);
        let device = ctx.device.describe();
        if !ctx.run.config_path().exists() {
            ctx.run.write_record(&RunRecord {
                facebench_version: env!("CARGO_PKG_VERSION").into(),
                created: chrono::Local::now().to_rfc3339(),
                data_root: ctx.data_root.to_path_buf(),
                config: config.clone(),
                dataset: ctx.data.summary(),
                device: device.clone(),
                params,
            })?;
        }
        reporter.emit(TrainEvent::Started {
            run: ctx.run.name(),
            run_dir: ctx.run.path.clone(),
            config: Box::new(config.clone()),
            dataset: ctx.data.summary(),
            device,
            params,
            start_epoch: self.state.epochs_completed,
            start_batch: self
                .state
                .epoch_progress
                .as_ref()
                .map_or(0, |p| p.batches_done),
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
                phase: self.state.phase,
                description: phases::describe(config, self.state.phase),
            })?;
        }
        Ok(model)
    }

    /// Unfreeze the base with a fresh optimizer at the fine-tuning rate when
    /// phase 2 starts before 0-based `epoch`.
    fn enter_phase2_when_due(
        &mut self,
        model: Network<B>,
        epoch: usize,
        reporter: &mut Reporter,
    ) -> anyhow::Result<Network<B>> {
        let config = self.ctx.config;
        if !(phases::enters_phase2(config, self.state.phase, epoch) || self.state.phase2_pending) {
            return Ok(model);
        }
        self.state.phase2_pending = false;
        self.state.phase = 2;
        let model = model.with_freeze(&phases::freeze_plan(config, 2));
        let o = phases::optimizer_config(config, 2);
        self.optimizer = AnyOptimizer::new(&o);
        self.state.schedule.restart(o.lr);
        reporter.emit(TrainEvent::PhaseChanged {
            epoch: epoch + 1,
            phase: 2,
            description: phases::describe(config, 2),
        })?;
        Ok(model)
    }

    /// Train the batches of 0-based `epoch` (only those not yet trained, when
    /// it resumes in its middle). `None` when a stop was asked for: the
    /// position in the epoch is then saved with the checkpoint.
    fn train_batches(
        &mut self,
        mut model: Network<B>,
        epoch: usize,
        reporter: &mut Reporter,
        control: &TrainControl,
    ) -> anyhow::Result<(Network<B>, Option<EpochProgress>)> {
        let epoch_start = Instant::now();
        let mut progress = self.state.epoch_progress.take().unwrap_or_default();
        let seconds_before = progress.seconds;
        let stream = self
            .train_plan
            .epoch_from(epoch, true, progress.batches_done);
        let batches = stream.batches();
        let mut last_tick = Instant::now();
        for (b, batch) in (progress.batches_done..).zip(stream) {
            if self.wait_or_stop(epoch, reporter, control)? {
                progress.seconds = seconds_before + epoch_start.elapsed().as_secs_f64();
                self.state.epoch_progress = (progress.batches_done > 0).then_some(progress);
                self.state.elapsed_seconds = self.elapsed();
                self.checkpoint(&model, reporter, CheckpointKind::Last)?;
                return Ok((model, None));
            }
            // checkpoints the writer finished meanwhile, reported as they land
            let written = self.writer.written()?;
            report_checkpoints(reporter, written)?;
            let batch = batch?;
            let n = batch.len();
            let (loss, correct);
            (model, loss, correct) = self.step(model, batch, epoch, b)?;
            progress.batches_done = b + 1;
            progress.loss_sum += loss * n as f64;
            progress.correct += correct;
            progress.seen += n;
            let now = Instant::now();
            let rate = n as f64 / now.duration_since(last_tick).as_secs_f64().max(1e-9);
            last_tick = now;
            reporter.emit(TrainEvent::Iteration {
                epoch: epoch + 1,
                iteration: self.state.iteration,
                batch: b + 1,
                batches,
                loss,
                accuracy: correct as f64 / n as f64,
                lr: self.state.schedule.lr,
                images_per_sec: rate,
            })?;
        }
        progress.seconds = seconds_before + epoch_start.elapsed().as_secs_f64();
        Ok((model, Some(progress)))
    }

    /// Between two batches: wait while paused (reporting it) and say whether
    /// to stop.
    fn wait_or_stop(
        &self,
        epoch: usize,
        reporter: &mut Reporter,
        control: &TrainControl,
    ) -> anyhow::Result<bool> {
        let iteration = self.state.iteration;
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
        Ok(after.stop)
    }

    /// One optimisation step on `batch` (batch `b` of 0-based `epoch`):
    /// returns its loss and how many images it classified right.
    fn step(
        &mut self,
        model: Network<B>,
        batch: Batch,
        epoch: usize,
        b: usize,
    ) -> anyhow::Result<(Network<B>, f64, usize)> {
        // random ops (dropout) draw from a seed of the iteration alone, so a
        // resumed run draws what the uninterrupted one would have
        B::seed(
            &self.device,
            iteration_seed(self.ctx.config.train.seed, self.state.iteration),
        );
        let lr = self.state.schedule.lr;
        let (model, stats) = optimisation_step(
            model,
            &mut self.optimizer,
            &self.loss_fn,
            batch,
            lr,
            &self.device,
        );
        // a diverged step's weights are never saved (the run fails)
        let (loss_value, correct) = stats.read()?;
        if !loss_value.is_finite() {
            anyhow::bail!(
                "the loss became {loss_value} at epoch {}, batch {}: training diverged; lower optimizer.lr (now {lr}) and start again",
                epoch + 1,
                b + 1
            );
        }
        self.state.iteration += 1;
        Ok((model, loss_value, correct))
    }

    /// Validate, update the schedule and early stopping, report the epoch and
    /// save its checkpoints. Returns whether early stopping ends the run.
    fn end_epoch(
        &mut self,
        model: &Network<B>,
        epoch: usize,
        progress: EpochProgress,
        reporter: &mut Reporter,
    ) -> anyhow::Result<bool> {
        let config = self.ctx.config;
        let lr = self.state.schedule.lr;
        let validation = Instant::now();
        let (val_loss, val_accuracy) =
            loss_and_accuracy(&model.valid(), &self.val_plan, &self.device)?;
        self.state.epochs_completed = epoch + 1;
        let is_best = self.state.early_stopping.observe(epoch + 1, val_accuracy);
        let lr_change = self
            .state
            .schedule
            .on_epoch_end(epoch + 1, val_loss, val_accuracy);
        let seen = progress.seen.max(1) as f64;
        reporter.emit(TrainEvent::Epoch(EpochMetrics {
            epoch: epoch + 1,
            phase: self.state.phase,
            train_loss: progress.loss_sum / seen,
            train_accuracy: progress.correct as f64 / seen,
            val_loss,
            val_accuracy,
            lr,
            seconds: progress.seconds + validation.elapsed().as_secs_f64(),
            images_per_sec: progress.seen as f64 / progress.seconds.max(1e-9),
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
        let stop_early = self.state.early_stopping.should_stop();
        if stop_early
            && self.state.phase == 1
            && config.model.architecture.is_transfer()
            && epoch + 1 < config.train.epochs
        {
            self.state.early_stopping.epochs_without_improvement = 0;
            self.state.phase2_pending = true;
        }
        self.state.elapsed_seconds = self.elapsed();
        // best first: a crash between the two saves leaves `last` at the epoch
        // before, which resuming trains again, never `last` naming a best epoch
        // whose weights `best` lacks
        if is_best {
            self.checkpoint(model, reporter, CheckpointKind::Best)?;
        }
        self.checkpoint(model, reporter, CheckpointKind::Last)?;
        let ends = stop_early && !self.state.phase2_pending;
        if ends {
            reporter.emit(TrainEvent::EarlyStopped {
                epoch: epoch + 1,
                best_epoch: self.state.early_stopping.best_epoch,
                best_val_accuracy: self.state.early_stopping.best_accuracy,
            })?;
        }
        Ok(ends)
    }

    /// Evaluate the best epoch's weights (or the last, when restore_best is
    /// off) on the evaluation split and write `eval.json`; returns the accuracy.
    fn evaluate(&self, model: &Network<B>, reporter: &mut Reporter) -> anyhow::Result<f64> {
        let (ctx, config) = (self.ctx, self.ctx.config);
        let final_model = match find_checkpoint(ctx.run, CheckpointKind::Best) {
            Some(dir) if config.early_stopping.restore_best => {
                load_model(&dir, model.valid(), &self.device)?
            }
            _ => model.valid(),
        };
        let mut report = evaluate_bank(
            &final_model,
            &self.eval_plan,
            &ctx.data.dataset.classes,
            &self.device,
        )?;
        report.split = ctx.data.eval_split.name().into();
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
        Ok(report.accuracy)
    }

    /// Seconds trained, this process and those before it.
    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    /// Encode a checkpoint of `kind` (`last` carries the optimizer) and queue
    /// it for the writer thread; report the checkpoints written meanwhile.
    fn checkpoint(
        &mut self,
        model: &Network<B>,
        reporter: &mut Reporter,
        kind: CheckpointKind,
    ) -> anyhow::Result<()> {
        let optimizer = (kind == CheckpointKind::Last).then_some(&self.optimizer);
        let encoded = encode_checkpoint(kind, model, optimizer, &self.state)?;
        let batch = self.state.epoch_progress.as_ref().map(|p| p.batches_done);
        self.writer
            .submit(encoded, self.state.epochs_completed, batch);
        let written = self.writer.written()?;
        report_checkpoints(reporter, written)
    }

    /// Wait for the queued checkpoints and report them.
    fn flush_checkpoints(&mut self, reporter: &mut Reporter) -> anyhow::Result<()> {
        let written = self.writer.flush()?;
        report_checkpoints(reporter, written)
    }

    fn finish(
        &mut self,
        reporter: &mut Reporter,
        status: FinishStatus,
        test_accuracy: Option<f64>,
    ) -> anyhow::Result<()> {
        self.flush_checkpoints(reporter)?;
        let best = &self.state.early_stopping;
        reporter.emit(TrainEvent::Finished {
            status,
            epochs_completed: self.state.epochs_completed,
            best_epoch: best.best_epoch,
            best_val_accuracy: if best.best_epoch > 0 {
                best.best_accuracy
            } else {
                0.0
            },
            test_accuracy,
            seconds: self.elapsed(),
        })
    }
}

/// A `Checkpoint` event for each checkpoint written.
fn report_checkpoints(reporter: &mut Reporter, written: Vec<Written>) -> anyhow::Result<()> {
    for w in written {
        reporter.emit(TrainEvent::Checkpoint {
            epoch: w.epoch,
            batch: w.batch,
            kind: w.kind,
            path: w.path,
        })?;
    }
    Ok(())
}

/// The seed of the backend's random ops in one iteration: a function of the
/// run's seed and the iteration alone.
fn iteration_seed(seed: u64, iteration: usize) -> u64 {
    seed ^ (iteration as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// What a run trains on, shared by every step of the training loop.
pub(super) struct RunContext<'a> {
    pub config: &'a RunConfig,
    pub data: &'a PreparedData,
    pub data_root: &'a Path,
    pub run: &'a RunDir,
    /// The checkpoint folder to resume from, and its state.
    pub resume: Option<(&'a Path, &'a TrainerState)>,
    pub device: super::device::ResolvedDevice,
}
