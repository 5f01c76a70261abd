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
use super::recorder_error::recorder_error_text;
use super::schedule::{EarlyStopping, LrSchedule};
use crate::files::write_file;
use crate::model::{ModelConfig, Network};
use crate::run::CheckpointKind;
use crate::store::RunDir;

type FileRecorder = NamedMpkFileRecorder<FullPrecisionSettings>;

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

/// The folder of a `kind` checkpoint in a run's checkpoint folder, or with a
/// `suffix` (".tmp", ".old") one of its siblings during a save.
fn kind_dir(checkpoints: &Path, kind: CheckpointKind, suffix: &str) -> PathBuf {
    checkpoints.join(format!("{}{suffix}", kind.name()))
}

/// A checkpoint encoded in memory (weights, optimizer state, trainer state),
/// ready for [`write_checkpoint`]: encoding reads the tensors, so it runs on
/// the training thread; writing, syncing and checksumming can run elsewhere
/// (see `checkpoint_writer.rs`).
pub struct EncodedCheckpoint {
    pub kind: CheckpointKind,
    /// File name and contents, in the order they are written.
    pub(super) files: Vec<(&'static str, Vec<u8>)>,
}

/// Encode a checkpoint of `kind`; `optimizer` is saved with it when given.
pub fn encode_checkpoint<B: AutodiffBackend>(
    kind: CheckpointKind,
    model: &Network<B>,
    optimizer: Option<&AnyOptimizer<Network<B>, B>>,
    state: &TrainerState,
) -> anyhow::Result<EncodedCheckpoint> {
    let weights = Recorder::<B>::record(
        &NamedMpkBytesRecorder::<FullPrecisionSettings>::default(),
        model.clone().into_record(),
        (),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot encode the model for the {} checkpoint: {e}",
            kind.name()
        )
    })?;
    let mut files = vec![("model.mpk", weights)];
    if let Some(optimizer) = optimizer {
        files.push(("optimizer.mpk", optimizer.encode()?));
    }
    files.push(("state.json", serde_json::to_vec_pretty(state)?));
    Ok(EncodedCheckpoint { kind, files })
}

/// Write an encoded checkpoint into `checkpoints` (a run's checkpoint
/// folder): into a fresh folder, then swapped in by rename. Returns its
/// folder. On an error (a full disk, say) the previous checkpoint is kept.
pub fn write_checkpoint(checkpoints: &Path, c: &EncodedCheckpoint) -> anyhow::Result<PathBuf> {
    let name = c.kind.name();
    let final_dir = kind_dir(checkpoints, c.kind, "");
    let tmp = kind_dir(checkpoints, c.kind, ".tmp");
    let old = kind_dir(checkpoints, c.kind, ".old");
    let _ = std::fs::remove_dir_all(&tmp);
    if let Err(e) = write_checkpoint_files(&tmp, c) {
        // a partial checkpoint never stays behind
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.context(format!(
            "cannot save the {name} checkpoint into {}; the previous one is kept",
            final_dir.display()
        )));
    }
    let _ = std::fs::remove_dir_all(&old);
    let rename = |from: &Path, to: &Path| {
        std::fs::rename(from, to).map_err(|e| {
            anyhow::anyhow!("cannot rename {} to {}: {e}", from.display(), to.display())
        })
    };
    if final_dir.exists() {
        rename(&final_dir, &old)?;
    }
    rename(&tmp, &final_dir)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(final_dir)
}

/// The files of one checkpoint, each written and synced, then their
/// checksums (from the bytes in memory), into the folder `dir`.
fn write_checkpoint_files(dir: &Path, c: &EncodedCheckpoint) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let mut sums = std::collections::BTreeMap::new();
    for (name, bytes) in &c.files {
        write_file(&dir.join(name), bytes)?;
        sums.insert(*name, sha256_of(bytes));
    }
    write_file(&dir.join(CHECKSUMS), &serde_json::to_vec_pretty(&sums)?)
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

/// The SHA-256 of `bytes`, in hex.
fn sha256_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes))
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
    let checkpoints = run.checkpoints_dir();
    [
        kind_dir(&checkpoints, kind, ""),
        kind_dir(&checkpoints, kind, ".old"),
    ]
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

/// The network `config` describes, for `classes` classes, with the weights
/// of `checkpoint`.
pub fn load_network<B: Backend>(
    config: &ModelConfig,
    classes: usize,
    checkpoint: &Path,
    device: &B::Device,
) -> anyhow::Result<Network<B>> {
    load_model(checkpoint, config.init::<B>(classes, device), device)
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
