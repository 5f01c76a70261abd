//! Progress bars for `facebench train`: a sink of training events.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::Write;

use crate::run::{event_line, EventSink, TrainEvent};

pub struct TrainProgress {
    multi: MultiProgress,
    run: Option<ProgressBar>,
    epoch: Option<ProgressBar>,
    decoding: Option<ProgressBar>,
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
            decoding: None,
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
                self.start_run_bar(config.train.epochs, *start_epoch);
                return;
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
                return;
            }
            TrainEvent::Decoding {
                split, done, total, ..
            } => {
                let bar = self.decoding.get_or_insert_with(|| {
                    let b = self.multi.add(ProgressBar::new(*total as u64));
                    b.set_style(style(
                        "decode [{bar:30}] {pos}/{len} {msg} images into the cache  ETA {eta}",
                    ));
                    b
                });
                bar.set_message(split.clone());
                bar.set_length(*total as u64);
                bar.set_position(*done as u64);
                if done < total {
                    return;
                }
                bar.finish_and_clear();
                self.decoding = None;
            }
            TrainEvent::Epoch(m) => {
                // the epoch bar gives way to the epoch's line
                if let Some(bar) = self.epoch.take() {
                    bar.finish_and_clear();
                }
                if let Some(bar) = &self.run {
                    bar.set_position(m.epoch as u64);
                }
            }
            TrainEvent::Finished { .. } => {
                if let Some(bar) = self.run.take() {
                    bar.finish_and_clear();
                }
            }
            TrainEvent::Failed { .. } => {
                // the caller prints the error once, as "error: ..."
                for bar in [self.epoch.take(), self.run.take(), self.decoding.take()]
                    .into_iter()
                    .flatten()
                {
                    bar.abandon();
                }
                return;
            }
            _ => {}
        }
        if let Some(line) = event_line(event) {
            self.println(line);
        }
    }

    /// The bar of the whole run, in epochs.
    fn start_run_bar(&mut self, epochs: usize, done: usize) {
        let bar = self.multi.add(ProgressBar::new(epochs as u64));
        bar.set_style(style(
            "run   [{bar:30}] epoch {pos}/{len}  {elapsed_precise}  ETA {eta_precise}",
        ));
        bar.set_position(done as u64);
        self.run = Some(bar);
    }
}

impl EventSink for TrainProgress {
    fn on_event(&mut self, event: &TrainEvent) -> anyhow::Result<()> {
        TrainProgress::on_event(self, event);
        Ok(())
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
    config: &crate::run::RunConfig,
    dataset: &crate::run::DatasetSummary,
    device: &str,
    params: usize,
) -> [String; 4] {
    [
        format!("run      {run}  ({})", run_dir.display()),
        format!(
            "model    {}  {} trainable parameters, {} px input",
            config.model.display_name(),
            crate::numbers::thousands(params),
            config.data.input_size
        ),
        format!(
            "data     {} classes: train {}  val {}  test {}  ({} skipped)",
            dataset.classes.len(),
            dataset.images.train,
            dataset.images.val,
            dataset.images.test,
            dataset.skipped
        ),
        format!("device   {device}"),
    ]
}

/// The first Ctrl-C (or SIGTERM / SIGHUP) stops `control` after its current
/// step, saying `message` on stderr; a second one quits at once.
pub fn stop_on_interrupt(control: crate::engine::TrainControl, message: &'static str) {
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let _ = ctrlc::set_handler(move || {
        if interrupted.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        let _ = writeln!(std::io::stderr(), "\n{message}");
        control.stop();
    });
}
