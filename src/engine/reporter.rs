//! The run's events on their way out: the engine reports each one to the
//! run's sinks in order, first the run's `metrics.jsonl` (once the run folder
//! exists), then the channel to the caller.

use crossbeam_channel::Sender;

use crate::run::{EventSink, TrainEvent};
use crate::store::MetricsLog;

/// The channel to whoever started the run, as a sink. A caller that stopped
/// listening does not stop the run.
struct ChannelSink(Sender<TrainEvent>);

impl EventSink for ChannelSink {
    fn on_event(&mut self, event: &TrainEvent) -> anyhow::Result<()> {
        let _ = self.0.send(event.clone());
        Ok(())
    }
}

/// Sends a run's events to its sinks.
pub(super) struct Reporter {
    channel: ChannelSink,
    log: Option<MetricsLog>,
}

impl Reporter {
    pub(super) fn new(channel: Sender<TrainEvent>) -> Self {
        Self {
            channel: ChannelSink(channel),
            log: None,
        }
    }

    /// From now on, events are logged to `log` too.
    pub(super) fn attach_log(&mut self, log: MetricsLog) {
        self.log = Some(log);
    }

    /// Stop logging (the run folder is about to go), without a flush.
    pub(super) fn detach_log(&mut self) {
        self.log = None;
    }

    /// Write what the log buffers; a failure here has nowhere to go.
    pub(super) fn flush_log(&mut self) {
        if let Some(log) = &mut self.log {
            let _ = log.flush();
        }
    }

    /// The run's last event, `Failed`: logged when the log can take it, and
    /// sent to the caller in any case; when the log cannot take it either,
    /// the error says so too.
    pub(super) fn fail(&mut self, error: String) {
        let mut event = TrainEvent::Failed { error };
        if let Some(log) = &mut self.log {
            if let (Err(e), TrainEvent::Failed { error }) = (log.on_event(&event), &mut event) {
                error.push_str(&format!(
                    "; the failure is not in the run's log either: {e:#}"
                ));
            }
        }
        let _ = self.channel.on_event(&event);
    }

    /// `event` to every sink, the log first. When the log cannot be written
    /// the event goes no further and the error stops the run (its record
    /// would be incomplete; [`Reporter::fail`] then tells the caller).
    pub(super) fn emit(&mut self, event: TrainEvent) -> anyhow::Result<()> {
        let logged = match &mut self.log {
            Some(log) => log.on_event(&event),
            None => Ok(()),
        };
        if logged.is_ok() {
            self.channel.on_event(&event)?;
        }
        logged
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crossbeam_channel::unbounded;

    use super::*;

    #[test]
    fn a_failure_reaches_the_caller_even_when_the_log_cannot_take_it() {
        // writes to /dev/full fail with "No space left on device"
        let full = MetricsLog::open(Path::new("/dev/full")).expect("/dev/full (Linux)");
        let (tx, rx) = unbounded();
        let mut reporter = Reporter::new(tx);
        reporter.attach_log(full);
        let paused = TrainEvent::Paused {
            epoch: 1,
            iteration: 7,
        };
        assert!(
            reporter.emit(paused).is_err(),
            "the log's failure stops the run"
        );
        assert!(
            rx.try_recv().is_err(),
            "an event the log lost goes no further"
        );
        reporter.fail("cannot save the best checkpoint".into());
        match rx.try_recv() {
            Ok(TrainEvent::Failed { error }) => {
                assert!(
                    error.starts_with("cannot save the best checkpoint"),
                    "{error}"
                );
                assert!(error.contains("No space left on device"), "{error}");
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }
}
