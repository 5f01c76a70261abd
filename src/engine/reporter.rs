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

    /// `event` to every sink, the log first. When the log cannot be written
    /// the event goes no further and the error stops the run (its record
    /// would be incomplete). The `Failed` event sent last goes through here
    /// too, so a log that still cannot be written keeps that one from the
    /// caller as well (known gap, noted on issue 10).
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
