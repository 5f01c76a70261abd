//! Stratified, seeded train/val/test splitting.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::entry::ImageEntry;
use super::splits::PerSplit;
use super::DatasetError;

/// How a folder without `train/ val/ test/` is split, and how a missing `val/` is
/// carved from `train/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Fraction of each class that goes to validation.
    pub val_fraction: f64,
    /// Fraction of each class that goes to test (unsplit folders only).
    pub test_fraction: f64,
    /// Seed of the shuffle; the same seed always gives the same split.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            val_fraction: 0.1,
            test_fraction: 0.1,
            seed: 42,
        }
    }
}

impl SplitConfig {
    pub fn validate(&self) -> Result<(), DatasetError> {
        let ok = |f: f64| (0.0..1.0).contains(&f);
        if !ok(self.val_fraction) || !ok(self.test_fraction) {
            return Err(DatasetError::BadSplit(format!(
                "val_fraction {} and test_fraction {} must each be in [0, 1)",
                self.val_fraction, self.test_fraction
            )));
        }
        if self.val_fraction + self.test_fraction >= 1.0 {
            return Err(DatasetError::BadSplit(format!(
                "val_fraction {} + test_fraction {} leaves nothing to train on; keep their sum below 1",
                self.val_fraction, self.test_fraction
            )));
        }
        Ok(())
    }
}

/// How many of `n` items a fraction takes: rounded, but at least one whenever the
/// fraction is non-zero and the class has three or more items.
fn share(n: usize, fraction: f64) -> usize {
    if fraction <= 0.0 {
        return 0;
    }
    let k = (n as f64 * fraction).round() as usize;
    if n >= 3 {
        k.max(1)
    } else {
        k
    }
}

/// Split entries per class so every class keeps its proportions. Within a class the
/// files are sorted by path and shuffled with a generator seeded by `seed` and the
/// class index, so the split does not depend on directory listing order. Every
/// class too small to split is named (one error for all of them).
pub fn stratified_split(
    entries: Vec<ImageEntry>,
    class_names: &[String],
    val_fraction: f64,
    test_fraction: f64,
    seed: u64,
) -> Result<PerSplit<Vec<ImageEntry>>, DatasetError> {
    let (images, problems) =
        split_reporting(entries, class_names, val_fraction, test_fraction, seed);
    match DatasetError::all(problems) {
        Some(e) => Err(e),
        None => Ok(images),
    }
}

/// [`stratified_split`] that goes on past classes too small to split (their
/// images stay in train) and returns one `TooFewImages` for each.
pub(crate) fn split_reporting(
    entries: Vec<ImageEntry>,
    class_names: &[String],
    val_fraction: f64,
    test_fraction: f64,
    seed: u64,
) -> (PerSplit<Vec<ImageEntry>>, Vec<DatasetError>) {
    let mut per_class: Vec<Vec<ImageEntry>> = vec![Vec::new(); class_names.len()];
    for entry in entries {
        per_class[entry.class].push(entry);
    }
    let (mut train, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
    let mut problems = Vec::new();
    for (class, mut items) in per_class.into_iter().enumerate() {
        items.sort_by(|a, b| a.path.cmp(&b.path));
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed ^ (class as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        items.shuffle(&mut rng);
        let n = items.len();
        let n_test = share(n, test_fraction);
        let n_val = share(n, val_fraction);
        if n_test + n_val >= n && n > 0 {
            problems.push(DatasetError::TooFewImages {
                class: class_names[class].clone(),
                count: n,
            });
            train.extend(items);
            continue;
        }
        let rest = items.split_off(n_test);
        test.extend(items);
        let mut rest = rest;
        let train_part = rest.split_off(n_val);
        val.extend(rest);
        train.extend(train_part);
    }
    (PerSplit { train, val, test }, problems)
}
