//! Where a run's events go. The engine reports every event to its sinks in
//! order (the channel to the caller and the run's `metrics.jsonl`); the
//! caller's own sinks (the CLI's progress display, the window's live view)
//! take them from the channel. burn-train's renderers play the same part.

use super::TrainEvent;

/// Takes a run's events, one after another.
pub trait EventSink {
    /// An error stops the run (a log that cannot be written); a sink that
    /// only shows events returns `Ok`.
    fn on_event(&mut self, event: &TrainEvent) -> anyhow::Result<()>;
}
