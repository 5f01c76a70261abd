//! A trained run opened for use: its record and the checkpoint that
//! explanations, predictions, embedding maps and exports read.

use std::path::{Path, PathBuf};

use burn::prelude::*;

use super::checkpoint::{find_checkpoint, load_network};
use crate::model::Network;
use crate::run::CheckpointKind;
use crate::store::{RunDir, RunRecord};

pub struct TrainedRun {
    pub record: RunRecord,
    /// Its best checkpoint, else its last.
    pub checkpoint: PathBuf,
}

impl TrainedRun {
    /// Open the run folder `path`: read its record and find its checkpoint.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let run = RunDir::new(path);
        let record = run.read_record()?;
        let checkpoint = explained_checkpoint(&run)?;
        Ok(Self { record, checkpoint })
    }

    /// The run's network (its recorded architecture and classes) with the
    /// checkpoint's weights, on `device`.
    pub fn load_model<B: Backend>(&self, device: &B::Device) -> anyhow::Result<Network<B>> {
        let classes = self.record.dataset.classes.len();
        load_network(&self.record.config.model, classes, &self.checkpoint, device)
    }
}

/// The checkpoint a trained run is used with: its best, else its last.
pub fn explained_checkpoint(run: &RunDir) -> anyhow::Result<PathBuf> {
    find_checkpoint(run, CheckpointKind::Best)
        .or_else(|| find_checkpoint(run, CheckpointKind::Last))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} has no checkpoint to use; train it first",
                run.path.display()
            )
        })
}
