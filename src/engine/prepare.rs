//! Everything before the first batch that does not depend on the backend: scan
//! the folder, measure it, decode the splits into the image cache (or, with
//! no cache folder, into memory).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::data::{
    channel_stats, file_list_fingerprint, relocatable_fingerprint, ChannelStats, Dataset,
    FileStamp, ImageEntry, Split,
};
use crate::loader::{
    cache_folder, BatchPlan, BuildProgress, ImageBank, Normalization, PackedImages, Pipeline,
};

use crate::run::DatasetSummary;
use crate::run::RunConfig;
use crate::store::RunRecord;

/// Batches prepared ahead when scoring a finished model.
pub const EVAL_PREFETCH: usize = 4;

pub struct PreparedData {
    /// The dataset in numbers: its classes, images per split (those that
    /// decoded, for the splits decoded), the train files' fingerprint (by
    /// their paths inside the dataset folder, sizes and times) and the
    /// normalisation. The entries themselves are in the banks: the scan's
    /// list is not kept beside them (at hundreds of thousands of faces it
    /// was a third of the process's memory).
    pub dataset: DatasetSummary,
    /// The fingerprint by absolute paths, as runs of earlier versions recorded it.
    pub legacy_fingerprint: String,
    pub stats: Option<ChannelStats>,
    pub train: Arc<ImageBank>,
    pub val: Arc<ImageBank>,
    pub eval: Arc<ImageBank>,
    pub eval_split: Split,
}

/// Which splits [`prepare_data`] decodes into memory; the others stay empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// Train, val and the evaluation split: training a run.
    All,
    /// Only the split used for evaluation: scoring a finished model.
    Evaluation,
    /// Only the train split: the learning-rate finder.
    Training,
}

/// Open and decode the splits of the dataset that `decode` names, for
/// `config`, through the image cache ([`cache_folder`]); `progress` hears
/// how far each split's cache has been built (nothing when it existed).
pub fn prepare_data(
    root: &Path,
    config: &RunConfig,
    decode: Decode,
    progress: &mut dyn FnMut(Split, BuildProgress),
) -> anyhow::Result<PreparedData> {
    let mut dataset = Dataset::open(root, &config.data.split)?;
    // two hashes of every train path, side by side (at 460,000 faces each
    // is a tenth of a second or two)
    let (fingerprint, legacy_fingerprint) = rayon::join(
        || relocatable_fingerprint(root, &dataset.images.train),
        || file_list_fingerprint(&dataset.images.train),
    );
    let stats = (config.data.normalization == Normalization::DatasetMeanStd)
        .then(|| channel_stats(&dataset.images.train).0);
    let (mean, std) = config.data.normalization.mean_std(stats.as_ref());
    let working = config.data.input_size as u32;
    let eval_split = dataset.eval_split();
    let mut bad = Vec::new();
    // each bank takes its split's entries (and their paths) from the dataset
    let mut images = std::mem::take(&mut dataset.images);
    let mut counts = images.map(Vec::len);
    let mut bank = |wanted: bool, split: Split| {
        if !wanted {
            return Arc::new(ImageBank::default());
        }
        let entries = std::mem::take(&mut images[split]);
        let (bank, unusable) = decode_split(entries, working, &mut |p| progress(split, p));
        bad.extend(unusable);
        counts[split] = bank.len();
        Arc::new(bank)
    };
    let train = bank(decode != Decode::Evaluation, Split::Train);
    let val = bank(decode == Decode::All, Split::Val);
    let eval = match decode {
        Decode::All if eval_split == Split::Val => val.clone(),
        Decode::Training => Arc::new(ImageBank::default()),
        _ => bank(true, eval_split),
    };
    drop(images);
    if decode != Decode::Evaluation {
        anyhow::ensure!(
            !train.is_empty(),
            "no train image of {} could be decoded; see `facebench data-report {}`",
            root.display(),
            root.display()
        );
    }
    if decode == Decode::All {
        anyhow::ensure!(
            !val.is_empty(),
            "{} has no validation images; add a val/ folder or raise data.split.val_fraction",
            root.display()
        );
    }
    if decode != Decode::Training {
        anyhow::ensure!(
            !eval.is_empty(),
            "{} has no images to evaluate on in its {} split",
            root.display(),
            eval_split.name()
        );
    }
    Ok(PreparedData {
        dataset: DatasetSummary {
            root: dataset.root,
            classes: dataset.classes,
            images: counts,
            skipped: dataset.skipped.len() + bad.len(),
            fingerprint,
            mean,
            std,
        },
        legacy_fingerprint,
        stats,
        train,
        val,
        eval,
        eval_split,
    })
}

/// One split's images through the cache when there is a cache folder, else
/// (or when the cache cannot be written) into memory.
fn decode_split(
    entries: Vec<ImageEntry>,
    working: u32,
    progress: &mut dyn FnMut(BuildProgress),
) -> (ImageBank, Vec<crate::data::SkippedFile>) {
    if let Some(folder) = cache_folder() {
        match PackedImages::open_or_build(&folder, &entries, working, progress) {
            Ok(packed) => return ImageBank::packed(packed, entries),
            Err(e) => eprintln!(
                "warning: the image cache in {} cannot be used ({e:#}); decoding into memory \
                 instead (set FACEBENCH_CACHE_DIR to a writable folder, or FACEBENCH_IMAGE_CACHE=off)",
                folder.display()
            ),
        }
    }
    ImageBank::decode(entries, working)
}

impl PreparedData {
    pub fn summary(&self) -> DatasetSummary {
        self.dataset.clone()
    }

    /// The pipeline for training (`augment`) or evaluation.
    pub fn pipeline(&self, config: &RunConfig, augment: bool) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            input_size: config.data.input_size,
            augment: augment.then(|| config.data.augment.clone()),
            mean: self.dataset.mean,
            std: self.dataset.std,
            seed: config.train.seed,
        })
    }

    /// Batches of `bank` at the config's batch size and prefetch, augmented
    /// when `augment` (the train split).
    pub fn plan(&self, bank: &Arc<ImageBank>, config: &RunConfig, augment: bool) -> BatchPlan {
        BatchPlan {
            bank: bank.clone(),
            pipeline: self.pipeline(config, augment),
            batch_size: config.train.batch_size,
            prefetch: config.data.prefetch_batches,
            drop_last: false,
        }
    }
}

/// How a finished run's faces become model input at evaluation: its input
/// size and seed, no augmentation, and the mean/std it was trained with
/// (even if the dataset's cached statistics were recomputed since).
pub fn recorded_pipeline(record: &RunRecord) -> Arc<Pipeline> {
    Arc::new(Pipeline {
        input_size: record.config.data.input_size,
        augment: None,
        mean: record.dataset.mean,
        std: record.dataset.std,
        seed: record.config.train.seed,
    })
}

/// The faces at `paths`, decoded and normalised as the run's evaluation did
/// (its input size and recorded mean/std), in batches of `batch_size`.
pub fn faces_plan(
    record: &RunRecord,
    paths: &[PathBuf],
    batch_size: usize,
) -> anyhow::Result<BatchPlan> {
    anyhow::ensure!(!paths.is_empty(), "no image given");
    let entries: Vec<ImageEntry> = paths
        .iter()
        .map(|path| ImageEntry {
            path: path.clone(),
            class: 0,
            width: 0,
            height: 0,
            stamp: FileStamp::UNKNOWN,
        })
        .collect();
    let (bank, skipped) = ImageBank::decode(entries, record.config.data.input_size as u32);
    if let Some(bad) = skipped.first() {
        anyhow::bail!(
            "cannot read {} as an image ({}); pass JPEG or PNG faces",
            bad.path.display(),
            bad.detail
        );
    }
    Ok(BatchPlan {
        bank: Arc::new(bank),
        pipeline: recorded_pipeline(record),
        batch_size: batch_size.max(1),
        prefetch: EVAL_PREFETCH,
        drop_last: false,
    })
}
