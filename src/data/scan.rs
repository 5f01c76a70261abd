//! Scanning an ImageFolder tree into a [`Dataset`].

use super::walk::{Entry, Walk};
use std::collections::{BTreeSet, HashMap};
use std::fs::FileType;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::decode::{probe_file, ImageLimits, SkipReason, SkippedFile};
use super::entry::{FileStamp, ImageEntry};
use super::probe_memo::{ProbeMemo, Probed};
use super::split::{split_reporting, SplitConfig};
use super::splits::{PerSplit, Split};
use super::DatasetError;

/// How the folder on disk was organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetLayout {
    /// `train/` (and maybe `val/`, `test/`) each holding class folders.
    PreSplit { has_val: bool, has_test: bool },
    /// Class folders directly under the root, split by facebench.
    Unsplit,
    /// A CSV of `path,label[,split]` rows; without a split column, split by
    /// facebench.
    Csv { has_split: bool },
}

impl DatasetLayout {
    /// The layout in words, for reports.
    pub fn describe(self) -> String {
        match self {
            DatasetLayout::Unsplit => "class folders, split by facebench".to_string(),
            DatasetLayout::PreSplit { has_val, has_test } => format!(
                "pre-split: train/{}{}",
                if has_val {
                    " val/"
                } else {
                    " (val carved from train)"
                },
                if has_test { " test/" } else { "" }
            ),
            DatasetLayout::Csv { has_split: true } => {
                "a CSV of paths and labels, split by its split column".to_string()
            }
            DatasetLayout::Csv { has_split: false } => {
                "a CSV of paths and labels, split by facebench".to_string()
            }
        }
    }
}

/// A scanned dataset: class names (sorted folder names; the index is the label
/// everywhere), the three splits, and every file that was left out with its reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dataset {
    pub root: PathBuf,
    pub layout: DatasetLayout,
    pub classes: Vec<String>,
    #[serde(flatten)]
    pub images: PerSplit<Vec<ImageEntry>>,
    pub skipped: Vec<SkippedFile>,
    /// Problems that do not stop training, e.g. a class with no test images.
    pub warnings: Vec<String>,
}

/// The entries of the folder at `path`, sorted by name, each with its type
/// when the listing gives it (Linux's does, for most file systems: no
/// `stat` per file).
fn read_dir_sorted(path: &Path) -> Result<Vec<(PathBuf, Option<FileType>)>, DatasetError> {
    let unreadable = |source| DatasetError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let mut named = Vec::new();
    for entry in std::fs::read_dir(path).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        named.push((entry.file_name(), entry.file_type().ok()));
    }
    // by name, which orders entries of one folder as their paths (at a
    // fraction of comparing paths component by component)
    named.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(named
        .into_iter()
        .map(|(name, kind)| (path.join(name), kind))
        .collect())
}

/// One file to probe: its class, where it is, and its stamp when the walk
/// read it ([`FileStamp::UNKNOWN`] when not: it is read when probed).
pub(super) struct ProbeJob {
    pub class: usize,
    pub path: PathBuf,
    pub stamp: FileStamp,
}

/// All files below `dir`, recursively, sorted, each real file once, as
/// jobs of `class`, with their stamps.
fn files_below(
    dir: &Path,
    class: usize,
    walk: &mut Walk,
    out: &mut Vec<ProbeJob>,
) -> Result<(), DatasetError> {
    let mut here = Vec::new();
    for entry in walk.admit_listing(dir, read_dir_sorted(dir)?) {
        match entry {
            Entry::Dir(d) => files_below(&d, class, walk, out)?,
            Entry::File(path) => {
                here.push(out.len());
                out.push(ProbeJob {
                    class,
                    path,
                    stamp: FileStamp::UNKNOWN,
                });
            }
        }
    }
    stamp_in_folder(dir, out, &here);
    Ok(())
}

/// Read the stamps of the jobs at `indices` of `jobs`, files directly in
/// `dir`, in parallel and relative to the open folder. A folder that cannot
/// be opened leaves them unknown (read again, by path, when probed).
fn stamp_in_folder(dir: &Path, jobs: &mut [ProbeJob], indices: &[usize]) {
    use rustix::fs::{open, Mode, OFlags};
    let Ok(fd) = open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    let stamps: Vec<Option<FileStamp>> = indices
        .par_iter()
        .map(|&i| {
            let name = jobs[i].path.file_name()?;
            FileStamp::read_at(std::os::fd::AsFd::as_fd(&fd), name)
        })
        .collect();
    for (&i, stamp) in indices.iter().zip(stamps) {
        jobs[i].stamp = stamp.unwrap_or(FileStamp::UNKNOWN);
    }
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Class folders and stray files directly under `dir`.
fn class_folders(
    dir: &Path,
    walk: &mut Walk,
) -> Result<(Vec<(String, PathBuf)>, Vec<PathBuf>), DatasetError> {
    let mut classes = Vec::new();
    let mut stray = Vec::new();
    for entry in walk.admit_listing(dir, read_dir_sorted(dir)?) {
        match entry {
            Entry::Dir(d) => classes.push((folder_name(&d), d)),
            Entry::File(f) => stray.push(f),
        }
    }
    Ok((classes, stray))
}

/// Probe every file of every class folder in parallel; returns usable entries
/// (class indices looked up in `class_names`) and skipped files, and adds a
/// problem for each class folder left without a usable image.
fn probe_classes(
    folders: &[(String, PathBuf)],
    class_names: &[String],
    walk: &mut Walk,
    problems: &mut Vec<DatasetError>,
) -> Result<(Vec<ImageEntry>, Vec<SkippedFile>), DatasetError> {
    let index: HashMap<&str, usize> = class_names
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut jobs = Vec::new();
    for (name, dir) in folders {
        // the class list is built from these folders, so every name is in it
        let Some(&class) = index.get(name.as_str()) else {
            continue;
        };
        files_below(dir, class, walk, &mut jobs)?;
    }
    let (entries, skipped) = probe_jobs(jobs);
    let seen = classes_seen(&entries, class_names.len());
    for (name, dir) in folders {
        if !index.get(name.as_str()).is_some_and(|&c| seen[c]) {
            problems.push(DatasetError::EmptyClass(dir.clone()));
        }
    }
    Ok((entries, skipped))
}

/// For each of `classes` classes, whether `entries` hold an image of it: one
/// pass over the images, whatever the class count (a search per class was
/// classes x images, 10^8 steps at 10,000 identities).
pub(super) fn classes_seen<'a>(
    entries: impl IntoIterator<Item = &'a ImageEntry>,
    classes: usize,
) -> Vec<bool> {
    let mut seen = vec![false; classes];
    for e in entries {
        seen[e.class] = true;
    }
    seen
}

/// Probe each job in parallel: the usable entries, and the files left out
/// with their reasons. Each file's size and time are read once for the
/// whole of opening a dataset (by the walk, else here), and the entry keeps
/// them for the fingerprints and the image cache's name; a file probed by
/// an earlier scan and not changed since costs nothing more
/// (`probe_memo.rs`).
pub(super) fn probe_jobs(jobs: Vec<ProbeJob>) -> (Vec<ImageEntry>, Vec<SkippedFile>) {
    let memo = ProbeMemo::load(jobs.iter().map(|j| j.path.as_path()));
    let limits = ImageLimits::from_env();
    let (probed, records): (Vec<_>, Vec<_>) = jobs
        .into_par_iter()
        .enumerate()
        .map(|(i, job)| {
            let stamp = job.stamp.known_or_read(&job.path);
            let size = match memo.lookup(i, stamp) {
                Some((w, h)) => limits.check(&job.path, w, h).map(|()| (w, h)),
                None => probe_file(&job.path),
            };
            let record = match size {
                Ok((width, height)) if stamp != FileStamp::UNKNOWN => Probed {
                    stamp,
                    width,
                    height,
                },
                _ => Probed::NONE,
            };
            let entry = size.map(|(width, height)| ImageEntry {
                path: job.path,
                class: job.class,
                width,
                height,
                stamp,
            });
            (entry, record)
        })
        .unzip();
    memo.store(&records);
    drop(records);
    let mut entries = Vec::with_capacity(probed.len());
    let mut skipped = Vec::new();
    for p in probed {
        match p {
            Ok(e) => entries.push(e),
            Err(s) => skipped.push(s),
        }
    }
    (entries, skipped)
}

/// "3 files (weights.h5, notes.txt, a.jpg)": the first few names of `paths`.
fn describe_files(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 4;
    let names: Vec<String> = paths.iter().take(SHOWN).map(|p| folder_name(p)).collect();
    let more = if paths.len() > SHOWN { ", …" } else { "" };
    format!(
        "{} file{} ({}{more})",
        paths.len(),
        if paths.len() == 1 { "" } else { "s" },
        names.join(", ")
    )
}

fn stray_files(paths: Vec<PathBuf>) -> Vec<SkippedFile> {
    paths
        .into_iter()
        .map(|path| SkippedFile {
            path,
            reason: SkipReason::NotAnImage,
            detail: "not inside a class folder; ignored".into(),
        })
        .collect()
}

impl Dataset {
    /// Scan `root`. A root holding `train/` is read as pre-split (a missing `val/`
    /// is carved from `train/` with `split.val_fraction`); otherwise its
    /// sub-folders are the classes and it is split with `split`. Every problem
    /// that stops training is in the error (`DatasetError::Several` when
    /// there are more than one).
    pub fn open(root: &Path, split: &SplitConfig) -> Result<Dataset, DatasetError> {
        let (dataset, problems) = Self::scan(root, split)?;
        match DatasetError::all(problems) {
            Some(e) => Err(e),
            None => Ok(dataset),
        }
    }

    /// [`Dataset::open`] that goes on past the problems it can list (empty
    /// class folders, classes missing from train/, classes too small to
    /// split) and returns them beside what it read, for a report that shows
    /// all of them; what leaves nothing to read is still an error.
    pub fn scan(
        root: &Path,
        split: &SplitConfig,
    ) -> Result<(Dataset, Vec<DatasetError>), DatasetError> {
        split.validate()?;
        if !root.exists() {
            return Err(DatasetError::Missing(root.to_path_buf()));
        }
        if super::csv_dataset::is_csv(root) {
            if root.to_str().is_none() {
                return Err(DatasetError::NameNotUtf8(root.to_path_buf()));
            }
            let mut walk = Walk::new(root.parent().unwrap_or(root));
            let mut problems = Vec::new();
            let mut dataset = Self::open_csv(root, split, &mut walk, &mut problems)?;
            dataset.skipped.append(&mut walk.skipped);
            return Ok((dataset, problems));
        }
        if !root.is_dir() {
            return Err(DatasetError::NotADirectory(root.to_path_buf()));
        }
        if root.to_str().is_none() {
            return Err(DatasetError::NameNotUtf8(root.to_path_buf()));
        }
        let mut walk = Walk::new(root);
        let (top, stray) = class_folders(root, &mut walk)?;
        if top.is_empty() {
            return Err(if stray.is_empty() {
                DatasetError::EmptyRoot(root.to_path_buf())
            } else {
                DatasetError::NoClassFolders {
                    path: root.to_path_buf(),
                    found: describe_files(&stray),
                }
            });
        }
        let is_split = top.iter().any(|(n, _)| n == "train");
        let mut problems = Vec::new();
        let mut dataset = if is_split {
            Self::open_presplit(root, top, stray, split, &mut walk, &mut problems)?
        } else {
            Self::open_unsplit(root, top, stray, split, &mut walk, &mut problems)?
        };
        dataset.skipped.append(&mut walk.skipped);
        if dataset.classes.len() < 2 {
            return Err(DatasetError::OneClass {
                path: root.to_path_buf(),
                class: dataset.classes.first().cloned().unwrap_or_default(),
            });
        }
        Ok((dataset, problems))
    }

    fn open_unsplit(
        root: &Path,
        folders: Vec<(String, PathBuf)>,
        stray: Vec<PathBuf>,
        split: &SplitConfig,
        walk: &mut Walk,
        problems: &mut Vec<DatasetError>,
    ) -> Result<Dataset, DatasetError> {
        let classes: Vec<String> = folders.iter().map(|(n, _)| n.clone()).collect();
        if classes.len() == 1 {
            return Err(DatasetError::OneClass {
                path: root.to_path_buf(),
                class: classes[0].clone(),
            });
        }
        let (entries, mut skipped) = probe_classes(&folders, &classes, walk, problems)?;
        skipped.extend(stray_files(stray));
        let (images, too_few) = split_reporting(
            entries,
            &classes,
            split.val_fraction,
            split.test_fraction,
            split.seed,
        );
        problems.extend(too_few);
        let mut dataset = Dataset {
            root: root.to_path_buf(),
            layout: DatasetLayout::Unsplit,
            classes,
            images,
            skipped,
            warnings: Vec::new(),
        };
        dataset.warn_missing_classes();
        Ok(dataset)
    }

    fn open_presplit(
        root: &Path,
        top: Vec<(String, PathBuf)>,
        mut stray: Vec<PathBuf>,
        split: &SplitConfig,
        walk: &mut Walk,
        problems: &mut Vec<DatasetError>,
    ) -> Result<Dataset, DatasetError> {
        let mut split_dirs: Vec<(Split, Vec<(String, PathBuf)>)> = Vec::new();
        let mut warnings = Vec::new();
        for (name, path) in top {
            let which = match name.as_str() {
                "train" => Split::Train,
                "val" | "valid" | "validation" => Split::Val,
                "test" => Split::Test,
                _ => {
                    warnings.push(format!(
                        "folder {} is not train/, val/ or test/ and was ignored",
                        path.display()
                    ));
                    continue;
                }
            };
            let (folders, more_stray) = class_folders(&path, walk)?;
            stray.extend(more_stray);
            split_dirs.push((which, folders));
        }
        let mut all: BTreeSet<String> = BTreeSet::new();
        for (_, folders) in &split_dirs {
            all.extend(folders.iter().map(|(n, _)| n.clone()));
        }
        let classes: Vec<String> = all.into_iter().collect();
        let train_names: BTreeSet<&String> = split_dirs
            .iter()
            .filter(|(s, _)| *s == Split::Train)
            .flat_map(|(_, f)| f.iter().map(|(n, _)| n))
            .collect();
        for (which, folders) in &split_dirs {
            let extra: Vec<&str> = folders
                .iter()
                .filter(|(n, _)| !train_names.contains(n))
                .map(|(n, _)| n.as_str())
                .collect();
            if !extra.is_empty() {
                problems.push(DatasetError::ClassMismatch {
                    root: root.to_path_buf(),
                    split: which.name().into(),
                    other: "train".into(),
                    classes: extra.join(", "),
                });
            }
        }
        if classes.is_empty() {
            return Err(DatasetError::EmptyRoot(root.join("train")));
        }
        let mut dataset = Dataset {
            root: root.to_path_buf(),
            layout: DatasetLayout::PreSplit {
                has_val: split_dirs.iter().any(|(s, _)| *s == Split::Val),
                has_test: split_dirs.iter().any(|(s, _)| *s == Split::Test),
            },
            classes,
            images: PerSplit::default(),
            skipped: stray_files(stray),
            warnings,
        };
        for (which, folders) in split_dirs {
            walk.next_split();
            let (entries, skipped) = probe_classes(&folders, &dataset.classes, walk, problems)?;
            dataset.skipped.extend(skipped);
            dataset.images[which].extend(entries);
        }
        if let Some(first) = walk.shared.first() {
            dataset.warnings.push(format!(
                "{} file(s) are in more than one split through links to the same file (the first: {}): evaluation then sees faces that training saw",
                walk.shared.len(),
                first.display()
            ));
        }
        if let DatasetLayout::PreSplit { has_val: false, .. } = dataset.layout {
            let train = std::mem::take(&mut dataset.images.train);
            let (carved, too_few) =
                split_reporting(train, &dataset.classes, split.val_fraction, 0.0, split.seed);
            problems.extend(too_few);
            dataset.images.train = carved.train;
            dataset.images.val = carved.val;
            dataset.warnings.push(format!(
                "no val/ folder: {:.0}% of each class in train/ was set aside for validation",
                split.val_fraction * 100.0
            ));
        }
        dataset.warn_missing_classes();
        Ok(dataset)
    }

    pub(super) fn warn_missing_classes(&mut self) {
        for split in Split::ALL {
            let entries = &self.images[split];
            if entries.is_empty() {
                if split == Split::Test {
                    self.warnings
                        .push("no test split: evaluation will use the val split".into());
                }
                continue;
            }
            let seen = classes_seen(entries, self.classes.len());
            let missing: Vec<&str> = super::natural_order(&self.classes)
                .into_iter()
                .filter(|&c| !seen[c])
                .map(|c| self.classes[c].as_str())
                .collect();
            if !missing.is_empty() {
                self.warnings.push(format!(
                    "{} split has no images of: {}",
                    split.name(),
                    missing.join(", ")
                ));
            }
        }
    }

    /// The split used for final evaluation: test, or val when there is no test.
    pub fn eval_split(&self) -> Split {
        if self.images.test.is_empty() {
            Split::Val
        } else {
            Split::Test
        }
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    pub fn num_images(&self) -> usize {
        Split::ALL.iter().map(|&s| self.images[s].len()).sum()
    }

    /// Drop files found unusable during a full decode, recording why.
    pub fn remove_unusable(&mut self, bad: Vec<SkippedFile>) {
        if bad.is_empty() {
            return;
        }
        let paths: BTreeSet<&PathBuf> = bad.iter().map(|s| &s.path).collect();
        for split in Split::ALL {
            self.images[split].retain(|e| !paths.contains(&e.path));
        }
        self.skipped.extend(bad);
    }
}
