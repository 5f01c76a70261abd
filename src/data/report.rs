//! The dataset report: images per class per split, sizes, statistics and every
//! skipped file with its reason.

use std::fmt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::splits::PerSplit;
use super::{
    channel_stats, decode_rgb8, ChannelStats, Dataset, DatasetError, DatasetLayout, SkippedFile,
    Split, SplitConfig,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCounts {
    pub class: String,
    #[serde(flatten)]
    pub images: PerSplit<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SizeRange {
    pub min_width: u32,
    pub min_height: u32,
    pub max_width: u32,
    pub max_height: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetReport {
    pub root: PathBuf,
    pub layout: DatasetLayout,
    pub classes: Vec<ClassCounts>,
    pub totals: PerSplit<usize>,
    pub sizes: Option<SizeRange>,
    /// Mean and std of the train split.
    pub stats: ChannelStats,
    pub skipped: Vec<SkippedFile>,
    pub warnings: Vec<String>,
    /// What stops training on this dataset, every one of them (empty class
    /// folders, classes missing from train/, classes too small to split).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl DatasetReport {
    /// Scan `dir`, fully decode every file (a header alone does not show a
    /// damaged body) and measure the train split. Also returns the dataset
    /// (without the files the decode rejected). Problems that stop training
    /// are listed in the report (`problems`), every one of them, not
    /// returned as an error.
    pub fn scan(dir: &Path, split: &SplitConfig) -> Result<(Self, Dataset), DatasetError> {
        let (mut dataset, problems) = Dataset::scan(dir, split)?;
        let all: Vec<PathBuf> = dataset.images.all().map(|e| e.path.clone()).collect();
        let bad: Vec<_> = all
            .par_iter()
            .filter_map(|p| decode_rgb8(p).err())
            .collect();
        dataset.remove_unusable(bad);
        let (stats, _) = channel_stats(&dataset.images.train);
        let mut report = DatasetReport::new(&dataset, stats);
        report.problems = problems.iter().map(ToString::to_string).collect();
        Ok((report, dataset))
    }

    pub fn new(dataset: &Dataset, stats: ChannelStats) -> Self {
        let mut classes: Vec<ClassCounts> = dataset
            .classes
            .iter()
            .map(|c| ClassCounts {
                class: c.clone(),
                images: PerSplit::default(),
            })
            .collect();
        let mut sizes: Option<SizeRange> = None;
        for split in Split::ALL {
            for e in &dataset.images[split] {
                classes[e.class].images[split] += 1;
                let s = sizes.get_or_insert(SizeRange {
                    min_width: e.width,
                    min_height: e.height,
                    max_width: e.width,
                    max_height: e.height,
                });
                s.min_width = s.min_width.min(e.width);
                s.min_height = s.min_height.min(e.height);
                s.max_width = s.max_width.max(e.width);
                s.max_height = s.max_height.max(e.height);
            }
        }
        Self {
            root: dataset.root.clone(),
            layout: dataset.layout,
            classes,
            totals: dataset.images.map(Vec::len),
            sizes,
            stats,
            skipped: dataset.skipped.clone(),
            warnings: dataset.warnings.clone(),
            problems: Vec::new(),
        }
    }
}

impl fmt::Display for DatasetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layout = self.layout.describe();
        writeln!(f, "dataset  {}", self.root.display())?;
        writeln!(f, "layout   {layout}")?;
        writeln!(
            f,
            "classes  {}   images: train {}  val {}  test {}",
            self.classes.len(),
            self.totals.train,
            self.totals.val,
            self.totals.test
        )?;
        if let Some(s) = self.sizes {
            writeln!(
                f,
                "sizes    {}x{} .. {}x{} (w x h)",
                s.min_width, s.min_height, s.max_width, s.max_height
            )?;
        }
        let st = &self.stats;
        writeln!(
            f,
            "mean     [{:.4}, {:.4}, {:.4}]  std [{:.4}, {:.4}, {:.4}]  (train, {} images)",
            st.mean[0], st.mean[1], st.mean[2], st.std[0], st.std[1], st.std[2], st.images
        )?;
        let width = self
            .classes
            .iter()
            .map(|c| c.class.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            f,
            "\n{:<width$}  {:>6} {:>6} {:>6}",
            "class", "train", "val", "test"
        )?;
        // shown in natural order (s2 before s10); the label order is unchanged
        let mut shown: Vec<&ClassCounts> = self.classes.iter().collect();
        shown.sort_by(|a, b| super::natural_cmp(&a.class, &b.class));
        for c in shown {
            writeln!(
                f,
                "{:<width$}  {:>6} {:>6} {:>6}",
                c.class, c.images.train, c.images.val, c.images.test
            )?;
        }
        if !self.problems.is_empty() {
            writeln!(
                f,
                "\nproblems ({}; training refuses this dataset until each is fixed)",
                self.problems.len()
            )?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
        }
        if !self.warnings.is_empty() {
            writeln!(f, "\nwarnings")?;
            for w in &self.warnings {
                writeln!(f, "  - {w}")?;
            }
        }
        writeln!(f, "\nskipped  {} file(s)", self.skipped.len())?;
        for s in &self.skipped {
            writeln!(
                f,
                "  {}: {} ({})",
                s.path.display(),
                s.reason.describe(),
                s.detail
            )?;
        }
        Ok(())
    }
}
