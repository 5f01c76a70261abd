//! One row of the Runs tab's comparison table: a run's summary plus the data
//! it was trained on and whether it can be resumed, read off the UI thread.

use crate::engine::find_checkpoint;
use crate::run::CheckpointKind;
use crate::store::{lock_holder, RunDir, RunStatus, RunSummary};

/// One line of the comparison table: the run's summary (with the data it was
/// trained on), and whether it can be resumed.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub summary: RunSummary,
    /// Stopped, failed or interrupted, with a last checkpoint to continue from.
    pub resumable: bool,
    /// The process training it right now ("pid N"), when one holds its lock.
    pub held_by: Option<String>,
}

impl std::ops::Deref for RunRow {
    type Target = RunSummary;
    fn deref(&self) -> &RunSummary {
        &self.summary
    }
}

impl RunRow {
    /// Read a run folder (off the UI thread).
    pub fn read(dir: &RunDir) -> Option<Self> {
        let summary = dir.summary().ok()?;
        let held_by = lock_holder(&dir.path);
        let resumable = held_by.is_none()
            && matches!(
                summary.status,
                RunStatus::Stopped | RunStatus::Failed | RunStatus::Interrupted
            )
            && find_checkpoint(dir, CheckpointKind::Last).is_some();
        Some(Self {
            summary,
            resumable,
            held_by,
        })
    }
}
