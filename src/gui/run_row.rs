//! One row of the Runs tab's comparison table: a run's summary plus the data
//! it was trained on and whether it can be resumed, read off the UI thread.

use crate::engine::{find_checkpoint, CheckpointKind};
use crate::store::{lock_holder, RunDir, RunStatus, RunSummary};

/// One line of the comparison table: the run's summary, the data it was
/// trained on, and whether it can be resumed.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub summary: RunSummary,
    /// The dataset folder's name.
    pub dataset: String,
    /// The train files' fingerprint, from the run record.
    pub fingerprint: String,
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
        let record = dir.read_record().ok()?;
        let root = if record.data_root.as_os_str().is_empty() {
            &record.dataset.root
        } else {
            &record.data_root
        };
        let dataset = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| root.display().to_string());
        let held_by = lock_holder(&dir.path);
        let resumable = held_by.is_none()
            && matches!(
                summary.status,
                RunStatus::Stopped | RunStatus::Failed | RunStatus::Interrupted
            )
            && find_checkpoint(dir, CheckpointKind::Last).is_some();
        Some(Self {
            summary,
            dataset,
            fingerprint: record.dataset.fingerprint,
            resumable,
            held_by,
        })
    }

    /// "orl40 · 1a2b3c4d": the dataset's name and the start of its fingerprint.
    pub fn dataset_label(&self) -> String {
        let short: String = self.fingerprint.chars().take(8).collect();
        match (self.dataset.is_empty(), short.is_empty()) {
            (true, true) => "–".into(),
            (false, true) => self.dataset.clone(),
            (true, false) => short,
            (false, false) => format!("{} · {short}", self.dataset),
        }
    }
}
