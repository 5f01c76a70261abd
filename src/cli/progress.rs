//! Progress bars for `facebench train`: a sink of training events.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::Write;

use crate::engine::{EpochMetrics, TrainEvent};

pub struct TrainProgress {
    multi: MultiProgress,
    run: Option<ProgressBar>,
    epoch: Option<ProgressBar>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl TrainProgress {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::new(),
            run: None,
            epoch: None,
        }
    }

    /// Above the bars on a terminal; plain lines when output is piped.
    fn println(&self, line: String) {
        if self.multi.is_hidden() {
            // a closed stderr must not end the run
            let _ = writeln!(std::io::stderr(), "{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// An epoch's summary line; the epoch bar gives way to it.
    fn on_epoch(&mut self, m: &EpochMetrics) {
        if let Some(bar) = self.epoch.take() {
            bar.finish_and_clear();
        }
        self.println(format!(
            "epoch {:>3}  train loss {:.4} acc {:5.1}%   val loss {:.4} acc {:5.1}%   lr {:.2e}  {:.1}s  {:.0} img/s",
            m.epoch,
            m.train_loss,
            m.train_accuracy * 100.0,
            m.val_loss,
            m.val_accuracy * 100.0,
            m.lr,
            m.seconds,
            m.images_per_sec
        ));
        if let Some(bar) = &self.run {
            bar.set_position(m.epoch as u64);
        }
    }

    pub fn on_event(&mut self, event: &TrainEvent) {
        match event {
            TrainEvent::Started {
                run,
                run_dir,
                config,
                dataset,
                device,
                params,
                start_epoch,
                start_batch,
                ..
            } => {
                for line in started_lines(run, run_dir, config, dataset, device, *params) {
                    self.println(line);
                }
                if *start_batch > 0 {
                    self.println(format!(
                        "resuming epoch {} at batch {}",
                        start_epoch + 1,
                        start_batch + 1
                    ));
                } else if *start_epoch > 0 {
                    self.println(format!("resuming after epoch {start_epoch}"));
                }
                let bar = self.multi.add(ProgressBar::new(config.train.epochs as u64));
                bar.set_style(style(
                    "run   [{bar:30}] epoch {pos}/{len}  {elapsed_precise}  ETA {eta_precise}",
                ));
                bar.set_position(*start_epoch as u64);
                self.run = Some(bar);
            }
            TrainEvent::Iteration {
                batch,
                batches,
                loss,
                accuracy,
                images_per_sec,
                epoch,
                ..
            } => {
                let bar = self.epoch.get_or_insert_with(|| {
                    let b = self.multi.add(ProgressBar::new(*batches as u64));
                    b.set_style(style("epoch [{bar:30}] {pos}/{len} {msg}  ETA {eta}"));
                    b
                });
                bar.set_length(*batches as u64);
                bar.set_position(*batch as u64);
                bar.set_message(format!(
                    "ep {epoch} loss {loss:.4} acc {:.1}% {images_per_sec:.0} img/s",
                    accuracy * 100.0
                ));
            }
            TrainEvent::Epoch(m) => self.on_epoch(m),
            TrainEvent::LrChanged {
                from, to, reason, ..
            } => self.println(format!("lr       {from:.2e} -> {to:.2e} ({reason})")),
            TrainEvent::PhaseChanged {
                epoch,
                phase,
                description,
            } => self.println(format!("epoch {epoch}: phase {phase}: {description}")),
            TrainEvent::WeightsLoaded {
                file,
                format,
                tensors,
                values,
            } => self.println(format!(
                "weights  {tensors} tensors ({values} values, {format}) from {}",
                file.display()
            )),
            TrainEvent::EarlyStopped {
                epoch,
                best_epoch,
                best_val_accuracy,
            } => self.println(format!(
                "early stop at epoch {epoch}: best val acc {:.1}% at epoch {best_epoch}",
                best_val_accuracy * 100.0
            )),
            TrainEvent::Evaluated {
                split,
                accuracy,
                macro_f1,
                macro_auc,
                path,
            } => self.println(format!(
                "{split} accuracy {:.2}%  macro F1 {:.4}  macro AUC {}  -> {}",
                accuracy * 100.0,
                macro_f1,
                macro_auc.map_or("n/a".into(), |a| format!("{a:.4}")),
                path.display()
            )),
            TrainEvent::Finished {
                status,
                epochs_completed,
                seconds,
                ..
            } => {
                if let Some(bar) = self.run.take() {
                    bar.finish_and_clear();
                }
                self.println(format!(
                    "finished {status:?} after {epochs_completed} epochs in {seconds:.1}s"
                ));
            }
            TrainEvent::Failed { .. } => {
                // the caller prints the error once, as "error: ..."
                for bar in [self.epoch.take(), self.run.take()].into_iter().flatten() {
                    bar.abandon();
                }
            }
            TrainEvent::Checkpoint {
                epoch,
                batch: Some(b),
                kind,
                ..
            } => self.println(format!(
                "checkpoint {} at epoch {}, batch {b}: --resume continues there",
                kind.name(),
                epoch + 1
            )),
            TrainEvent::Paused { .. }
            | TrainEvent::Resumed { .. }
            | TrainEvent::Checkpoint { .. } => {}
        }
    }
}

impl Default for TrainProgress {
    fn default() -> Self {
        Self::new()
    }
}

/// The lines that open a run's output: run, model, data, device.
fn started_lines(
    run: &str,
    run_dir: &std::path::Path,
    config: &crate::engine::RunConfig,
    dataset: &crate::engine::DatasetSummary,
    device: &str,
    params: usize,
) -> [String; 4] {
    [
        format!("run      {run}  ({})", run_dir.display()),
        format!(
            "model    {}  {} trainable parameters, {} px input",
            config.model.display_name(),
            super::commands::thousands(params),
            config.data.input_size
        ),
        format!(
            "data     {} classes: train {}  val {}  test {}  ({} skipped)",
            dataset.classes.len(),
            dataset.train,
            dataset.val,
            dataset.test,
            dataset.skipped
        ),
        format!("device   {device}"),
    ]
}
