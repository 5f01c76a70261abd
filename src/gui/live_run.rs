//! A run's events folded into the series the views draw. Fed live from the
//! engine's channel, or from a `metrics.jsonl` being tailed.

use std::cell::RefCell;
use std::path::PathBuf;

use super::decimate::{GrowingSeries, SmoothedSeries};
use crate::loader::BuildProgress;
use crate::run::{event_line, EpochMetrics, EventSink, FinishStatus, RunConfig, TrainEvent};

/// What happened in one run, ready to plot.
#[derive(Debug, Default, Clone)]
pub struct LiveRun {
    pub name: String,
    /// The run folder, once the engine has said where it is.
    pub run_dir: Option<PathBuf>,
    pub device: String,
    pub epochs_planned: usize,
    pub batches_per_epoch: usize,
    pub batch_size: usize,
    pub start_epoch: usize,
    /// Per iteration: x = global iteration.
    pub iter_x: Vec<f64>,
    pub iter_loss: GrowingSeries,
    pub iter_accuracy: Vec<f64>,
    /// log10 of the learning rate (plotted on a log axis).
    pub iter_log_lr: GrowingSeries,
    /// Images per second.
    pub iter_rate: GrowingSeries,
    /// The smoothed loss for the last smoothing weight drawn, extended by the
    /// frames that draw it (a cache, hence the cell).
    smoothed_loss: RefCell<SmoothedSeries>,
    pub current_epoch: usize,
    pub current_batch: usize,
    pub epochs: Vec<EpochMetrics>,
    /// Iterations at which the phase changed (two-phase fine-tuning).
    pub phase_changes: Vec<(f64, String)>,
    pub log: Vec<String>,
    pub finished: Option<FinishStatus>,
    pub failed: Option<String>,
    pub test_accuracy: Option<f64>,
    pub paused: bool,
    pub seconds: f64,
    /// A split being decoded into the image cache, before the run starts:
    /// its name and how far it is.
    pub decoding: Option<(String, BuildProgress)>,
}

impl LiveRun {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a TrainEvent>) -> Self {
        let mut run = LiveRun::default();
        for e in events {
            run.apply(e);
        }
        run
    }

    pub fn is_running(&self) -> bool {
        self.finished.is_none() && self.failed.is_none()
    }

    pub fn apply(&mut self, event: &TrainEvent) {
        self.log.extend(event_line(event));
        match event {
            TrainEvent::Started {
                run,
                run_dir,
                config,
                device,
                start_epoch,
                ..
            } => {
                self.decoding = None;
                self.on_started(run, run_dir, config, device, *start_epoch)
            }
            TrainEvent::Iteration {
                epoch,
                iteration,
                batch,
                batches,
                loss,
                accuracy,
                lr,
                images_per_sec,
            } => {
                self.iter_x.push(*iteration as f64);
                self.iter_loss.push(*loss);
                self.iter_accuracy.push(*accuracy);
                self.iter_log_lr.push(lr.max(1e-12).log10());
                self.iter_rate.push(*images_per_sec);
                self.current_epoch = *epoch;
                self.current_batch = *batch;
                self.batches_per_epoch = *batches;
            }
            TrainEvent::Epoch(m) => {
                self.seconds += m.seconds;
                self.epochs.retain(|e| e.epoch != m.epoch);
                self.epochs.push(m.clone());
            }
            TrainEvent::PhaseChanged { phase, .. } => {
                let x = self.iter_x.last().copied().unwrap_or(0.0);
                self.phase_changes.push((x, format!("phase {phase}")));
            }
            TrainEvent::Paused { .. } => self.paused = true,
            TrainEvent::Resumed { .. } => self.paused = false,
            TrainEvent::Evaluated { accuracy, .. } => self.test_accuracy = Some(*accuracy),
            TrainEvent::Finished {
                status, seconds, ..
            } => {
                self.finished = Some(*status);
                self.paused = false;
                self.seconds = *seconds;
            }
            TrainEvent::Failed { error } => {
                self.failed = Some(error.clone());
                self.paused = false;
            }
            TrainEvent::Decoding {
                split,
                done,
                total,
                seconds,
            } => {
                self.decoding = (done < total).then(|| {
                    let progress = BuildProgress {
                        done: *done,
                        total: *total,
                        seconds: *seconds,
                    };
                    (split.clone(), progress)
                });
            }
            TrainEvent::Checkpoint { .. }
            | TrainEvent::LrChanged { .. }
            | TrainEvent::WeightsLoaded { .. }
            | TrainEvent::EarlyStopped { .. } => {}
        }
    }

    /// A run started (or resumed): its name and plan.
    fn on_started(
        &mut self,
        run: &str,
        run_dir: &std::path::Path,
        config: &RunConfig,
        device: &str,
        start_epoch: usize,
    ) {
        self.name = run.to_string();
        self.run_dir = Some(run_dir.to_path_buf());
        self.device = device.to_string();
        self.epochs_planned = config.train.epochs;
        self.batch_size = config.train.batch_size;
        self.start_epoch = start_epoch;
        self.finished = None;
        self.failed = None;
    }

    /// The EMA-smoothed loss for `smoothing` and its envelope, brought up to
    /// date with the points that arrived since the last call (the whole series
    /// is recomputed only when `smoothing` changes).
    pub fn smoothed_loss(&self, smoothing: f64) -> std::cell::Ref<'_, SmoothedSeries> {
        self.smoothed_loss
            .borrow_mut()
            .sync(self.iter_loss.values(), smoothing);
        self.smoothed_loss.borrow()
    }

    /// Fraction of the run done, and estimated seconds left (from the recent
    /// images/s and the batch size).
    pub fn progress(&self) -> (f32, Option<f64>) {
        let batches = self.batches_per_epoch.max(1) as f64;
        let total = self.epochs_planned.max(1) as f64 * batches;
        let done =
            self.current_epoch.saturating_sub(1) as f64 * batches + self.current_batch as f64;
        let rates = self.iter_rate.values();
        let recent = &rates[rates.len().saturating_sub(20)..];
        let rate = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
        let eta = (self.is_running() && rate > 0.0)
            .then(|| (total - done).max(0.0) * self.batch_size.max(1) as f64 / rate);
        ((done / total).clamp(0.0, 1.0) as f32, eta)
    }
}

impl EventSink for LiveRun {
    fn on_event(&mut self, event: &TrainEvent) -> anyhow::Result<()> {
        self.apply(event);
        Ok(())
    }
}
