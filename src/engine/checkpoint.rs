//! Checkpoints: model weights (burn record), optimizer state, and the trainer's
//! own state (epoch, schedule, early stopping) so `--resume` continues exactly.
//! Each checkpoint is written into a fresh folder and swapped in by rename.

use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module};
use burn::prelude::Backend;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::optimizer::AnyOptimizer;
use super::schedule::{EarlyStopping, LrSchedule};
use crate::model::Network;
use crate::store::{atomic_write, RunDir};

type FileRecorder = NamedMpkFileRecorder<FullPrecisionSettings>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointKind {
    /// The newest state, for resuming.
    Last,
    /// The epoch with the best val accuracy.
    Best,
}

impl CheckpointKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckpointKind::Last => "last",
            CheckpointKind::Best => "best",
        }
    }
}

/// Everything besides weights that a resumed run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    pub epochs_completed: usize,
    pub iteration: usize,
    pub schedule: LrSchedule,
    pub early_stopping: EarlyStopping,
    pub elapsed_seconds: f64,
    pub phase: usize,
}

fn checkpoint_dir(run: &RunDir, kind: CheckpointKind) -> PathBuf {
    run.checkpoints_dir().join(kind.name())
}

/// Save a checkpoint of `kind`. Returns its folder.
pub fn save_checkpoint<B: AutodiffBackend>(
    run: &RunDir,
    kind: CheckpointKind,
    model: &Network<B>,
    optimizer: Option<&AnyOptimizer<Network<B>, B>>,
    state: &TrainerState,
) -> anyhow::Result<PathBuf> {
    let final_dir = checkpoint_dir(run, kind);
    let tmp = run.checkpoints_dir().join(format!("{}.tmp", kind.name()));
    let old = run.checkpoints_dir().join(format!("{}.old", kind.name()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    Recorder::<B>::record(
        &FileRecorder::new(),
        model.clone().into_record(),
        tmp.join("model"),
    )
    .map_err(|e| anyhow::anyhow!("cannot save model to {}: {e}", tmp.display()))?;
    if let Some(optimizer) = optimizer {
        optimizer.save(&tmp.join("optimizer"))?;
    }
    atomic_write(&tmp.join("state.json"), &serde_json::to_vec_pretty(state)?)?;
    let _ = std::fs::remove_dir_all(&old);
    if final_dir.exists() {
        std::fs::rename(&final_dir, &old)?;
    }
    std::fs::rename(&tmp, &final_dir)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(final_dir)
}

/// The folder of a saved checkpoint of `kind`, also after a crash between the two
/// renames of a save.
pub fn find_checkpoint(run: &RunDir, kind: CheckpointKind) -> Option<PathBuf> {
    let dir = checkpoint_dir(run, kind);
    let old = run.checkpoints_dir().join(format!("{}.old", kind.name()));
    [dir, old]
        .into_iter()
        .find(|d| d.join("state.json").exists())
}

pub fn load_state(dir: &Path) -> anyhow::Result<TrainerState> {
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is damaged: {e}", path.display()))
}

/// Load the weights of a checkpoint into `model` (any backend).
pub fn load_model<B: Backend>(
    dir: &Path,
    model: Network<B>,
    device: &B::Device,
) -> anyhow::Result<Network<B>> {
    let record =
        Recorder::<B>::load(&FileRecorder::new(), dir.join("model"), device).map_err(|e| {
            anyhow::anyhow!(
                "cannot load weights from {}: {e}; the checkpoint does not match this model config",
                dir.display()
            )
        })?;
    Ok(model.load_record(record))
}

/// Load weights and optimizer state for resuming.
pub fn load_training<B: AutodiffBackend>(
    dir: &Path,
    model: Network<B>,
    optimizer: AnyOptimizer<Network<B>, B>,
    device: &B::Device,
) -> anyhow::Result<(Network<B>, AnyOptimizer<Network<B>, B>, TrainerState)>
where
    Network<B>: AutodiffModule<B>,
{
    let model = load_model(dir, model, device)?;
    let optimizer = optimizer.load(&dir.join("optimizer"), device)?;
    Ok((model, optimizer, load_state(dir)?))
}
