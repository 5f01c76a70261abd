//! Checkpoints: model weights (burn record), optimizer state, and the trainer's
//! own state (epoch, schedule, early stopping) so `--resume` continues exactly.
//! Each checkpoint is written into a fresh folder and swapped in by rename.

use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module};
use burn::prelude::Backend;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::optimizer::AnyOptimizer;
use super::schedule::{EarlyStopping, LrSchedule};
use crate::model::Network;
use crate::store::{atomic_write, write_file, RunDir};

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
    /// Where the epoch after `epochs_completed` stood when the run stopped in
    /// its middle: resuming trains only its remaining batches. `None` at an
    /// epoch boundary (and in checkpoints written before this field existed).
    #[serde(default)]
    pub epoch_progress: Option<EpochProgress>,
    /// Early stopping ended phase 1; the next epoch starts phase 2.
    #[serde(default)]
    pub phase2_pending: bool,
}

/// The part of an epoch already trained, with the sums its metrics need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochProgress {
    /// Batches of the epoch already trained (the next one is 0-based `batches_done`).
    pub batches_done: usize,
    pub loss_sum: f64,
    pub correct: usize,
    pub seen: usize,
    /// Training seconds spent in this epoch so far.
    pub seconds: f64,
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
    let written = write_checkpoint_files(&tmp, model, optimizer, state);
    if let Err(e) = written {
        // a partial checkpoint (a full disk, say) never stays behind
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.context(format!(
            "cannot save the {} checkpoint into {}; the previous one is kept",
            kind.name(),
            final_dir.display()
        )));
    }
    let _ = std::fs::remove_dir_all(&old);
    if final_dir.exists() {
        std::fs::rename(&final_dir, &old).map_err(|e| {
            anyhow::anyhow!(
                "cannot rename {} to {}: {e}",
                final_dir.display(),
                old.display()
            )
        })?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot rename {} to {}: {e}",
            tmp.display(),
            final_dir.display()
        )
    })?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(final_dir)
}

/// The files of one checkpoint, written into the folder `dir`.
fn write_checkpoint_files<B: AutodiffBackend>(
    dir: &Path,
    model: &Network<B>,
    optimizer: Option<&AnyOptimizer<Network<B>, B>>,
    state: &TrainerState,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    // encoded in memory, then written, so a write error (a full disk) keeps
    // the operating system's own words
    let weights = Recorder::<B>::record(
        &NamedMpkBytesRecorder::<FullPrecisionSettings>::default(),
        model.clone().into_record(),
        (),
    )
    .map_err(|e| anyhow::anyhow!("cannot encode the model for {}: {e}", dir.display()))?;
    write_file(&dir.join("model.mpk"), &weights)?;
    if let Some(optimizer) = optimizer {
        optimizer.save(&dir.join("optimizer"))?;
    }
    atomic_write(&dir.join("state.json"), &serde_json::to_vec_pretty(state)?)?;
    write_checksums(dir)
}

/// The file in a checkpoint folder that lists the SHA-256 of every other file.
const CHECKSUMS: &str = "checksums.json";

fn sha256_hex(path: &Path) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Write `checksums.json`: the SHA-256 of each file in `dir`.
fn write_checksums(dir: &Path) -> anyhow::Result<()> {
    let mut sums = std::collections::BTreeMap::new();
    for entry in
        std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("cannot list {}: {e}", dir.display()))?
    {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(name) = name.filter(|n| n != CHECKSUMS && path.is_file()) {
            sums.insert(name, sha256_hex(&path)?);
        }
    }
    atomic_write(&dir.join(CHECKSUMS), &serde_json::to_vec_pretty(&sums)?)?;
    Ok(())
}

/// Check every file of a checkpoint against its `checksums.json`, so flipped
/// bytes are found before anything loads them. Checkpoints written before
/// checksums existed have none and pass.
pub fn verify_checkpoint(dir: &Path) -> anyhow::Result<()> {
    let list = dir.join(CHECKSUMS);
    let text = match std::fs::read_to_string(&list) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => anyhow::bail!("cannot read {}: {e}", list.display()),
    };
    let sums: std::collections::BTreeMap<String, String> = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is damaged: {e}", list.display()))?;
    for (name, want) in &sums {
        let path = dir.join(name);
        if sha256_hex(&path)? != *want {
            anyhow::bail!(
                "{} is damaged: its checksum differs from the one saved with it; \
                 this checkpoint cannot be trusted (resume from another copy of the run, or start a new run)",
                path.display()
            );
        }
    }
    Ok(())
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
    verify_checkpoint(dir)?;
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
    verify_checkpoint(dir)?;
    read_model(dir, model, device)
}

/// The weights of a checkpoint already verified.
fn read_model<B: Backend>(
    dir: &Path,
    model: Network<B>,
    device: &B::Device,
) -> anyhow::Result<Network<B>> {
    let file = dir.join("model.mpk");
    let record =
        Recorder::<B>::load(&FileRecorder::new(), dir.join("model"), device).map_err(|e| {
            anyhow::anyhow!(
                "cannot load {}: {}; the file is damaged, or was saved for another model config",
                file.display(),
                recorder_error_text(&e)
            )
        })?;
    Ok(model.load_record(record))
}

/// burn's words for a record that does not load, without the note about
/// burn 0.14's format that it appends to every failed tensor (facebench never
/// wrote that format, so the note only misleads).
pub(crate) fn recorder_error_text(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let cut = text
        .find("The internal data format has changed")
        .unwrap_or(text.len());
    text[..cut].trim().to_string()
}

/// Load weights and optimizer state for resuming, from a checkpoint whose
/// state [`load_state`] has just read (and so verified).
pub fn load_training<B: AutodiffBackend>(
    dir: &Path,
    model: Network<B>,
    optimizer: AnyOptimizer<Network<B>, B>,
    device: &B::Device,
) -> anyhow::Result<(Network<B>, AnyOptimizer<Network<B>, B>)>
where
    Network<B>: AutodiffModule<B>,
{
    let model = read_model(dir, model, device)?;
    let optimizer = optimizer.load(&dir.join("optimizer"), device)?;
    Ok((model, optimizer))
}
