//! A dataset named by a CSV file (fastai's `from_csv`): one row per face,
//! `path,label` or `path,label,split`, with or without a header row. Paths
//! are relative to the CSV's folder (or absolute); the split column says
//! `train`, `val` (or `valid`, `validation`) or `test`. Without a split
//! column the faces are split as an unsplit folder is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::scan::{classes_seen, probe_jobs, ProbeJob};
use super::split::{split_reporting, SplitConfig};
use super::splits::{PerSplit, Split};
use super::walk::{Entry, Walk};
use super::{Dataset, DatasetError, DatasetLayout, FileStamp, SkipReason, SkippedFile};

/// Whether `path` names a CSV dataset rather than a folder.
pub(crate) fn is_csv(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// One row of the CSV.
struct Row {
    line: u64,
    path: PathBuf,
    label: String,
    split: Option<String>,
}

/// The rows of `csv`, and whether it has a split column.
fn read_rows(csv: &Path) -> Result<(Vec<Row>, bool), DatasetError> {
    let bad = |line: u64, message: String| DatasetError::Csv {
        path: csv.to_path_buf(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_path(csv)
        .map_err(|e| bad(0, e.to_string()))?;
    let base = csv.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    let mut columns = None;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(i as u64 + 1, |p| p.line());
            bad(line, e.to_string())
        })?;
        let line = record.position().map_or(i as u64 + 1, |p| p.line());
        if i == 0 && is_header(&record) {
            columns = Some(record.len());
            continue;
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        let n = *columns.get_or_insert(record.len());
        if !(2..=3).contains(&n) {
            return Err(bad(
                line,
                format!("{n} columns where a row has 2 (path,label) or 3 (path,label,split)"),
            ));
        }
        let (path, label) = (&record[0], &record[1]);
        if path.is_empty() || label.is_empty() {
            return Err(bad(line, "a row without a path or a label".into()));
        }
        let path = Path::new(path);
        rows.push(Row {
            line,
            path: if path.is_absolute() {
                path.to_path_buf()
            } else {
                base.join(path)
            },
            label: label.to_string(),
            split: record.get(2).map(str::to_lowercase),
        });
    }
    if rows.is_empty() {
        return Err(bad(0, "no rows".into()));
    }
    Ok((rows, columns == Some(3)))
}

/// A first row naming the columns (`path,label`, `file,class`, ...).
fn is_header(record: &csv::StringRecord) -> bool {
    let is = |i: usize, names: &[&str]| {
        record
            .get(i)
            .is_some_and(|f| names.contains(&f.to_lowercase().as_str()))
    };
    is(0, &["path", "file", "filename", "fname", "image", "name"])
        && is(1, &["label", "class", "identity", "person", "name", "id"])
}

fn split_named(name: &str) -> Option<Split> {
    match name {
        "train" => Some(Split::Train),
        "val" | "valid" | "validation" => Some(Split::Val),
        "test" => Some(Split::Test),
        _ => None,
    }
}

impl Dataset {
    /// The dataset `csv` names. Classes are the labels, sorted.
    pub(crate) fn open_csv(
        csv: &Path,
        split: &SplitConfig,
        walk: &mut Walk,
        problems: &mut Vec<DatasetError>,
    ) -> Result<Dataset, DatasetError> {
        let (rows, has_split) = read_rows(csv)?;
        let classes: Vec<String> = rows
            .iter()
            .map(|r| r.label.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if classes.len() < 2 {
            return Err(DatasetError::OneClass {
                path: csv.to_path_buf(),
                class: classes.first().cloned().unwrap_or_default(),
            });
        }
        let class_of = |label: &str| classes.binary_search_by(|c| c.as_str().cmp(label)).ok();
        // rows grouped by split (all in train without a split column)
        let mut groups: PerSplit<Vec<&Row>> = PerSplit::default();
        for row in &rows {
            let which = match &row.split {
                None => Split::Train,
                Some(name) => match split_named(name) {
                    Some(s) => s,
                    None => {
                        problems.push(DatasetError::Csv {
                            path: csv.to_path_buf(),
                            line: row.line,
                            message: format!(
                                "split \"{name}\" is none of train, val, valid, validation, test"
                            ),
                        });
                        continue;
                    }
                },
            };
            groups[which].push(row);
        }
        let mut dataset = Dataset {
            root: csv.to_path_buf(),
            layout: DatasetLayout::Csv { has_split },
            classes: classes.clone(),
            images: Default::default(),
            skipped: Vec::new(),
            warnings: Vec::new(),
        };
        for which in Split::ALL {
            let rows = std::mem::take(&mut groups[which]);
            if rows.is_empty() {
                continue;
            }
            walk.next_split();
            let mut jobs = Vec::new();
            for row in rows {
                match walk.admit(row.path.clone(), None) {
                    Some(Entry::File(path)) => {
                        jobs.extend(class_of(&row.label).map(|class| ProbeJob {
                            class,
                            path,
                            stamp: FileStamp::UNKNOWN,
                        }))
                    }
                    Some(Entry::Dir(d)) => dataset.skipped.push(SkippedFile::new(
                        &d,
                        SkipReason::NotAnImage,
                        format!("a folder, named on line {} of {}", row.line, csv.display()),
                    )),
                    None => {}
                }
            }
            let (entries, skipped) = probe_jobs(jobs);
            dataset.skipped.extend(skipped);
            dataset.images[which] = entries;
        }
        let seen = classes_seen(dataset.images.all(), classes.len());
        for (c, label) in classes.iter().enumerate() {
            if !seen[c] {
                problems.push(DatasetError::EmptyLabel {
                    csv: csv.to_path_buf(),
                    label: label.clone(),
                });
            }
        }
        let train = std::mem::take(&mut dataset.images.train);
        let (val_fraction, test_fraction) = match has_split {
            false => (split.val_fraction, split.test_fraction),
            true if dataset.images.val.is_empty() => {
                dataset.warnings.push(format!(
                    "no val rows: {:.0}% of each class in train was set aside for validation",
                    split.val_fraction * 100.0
                ));
                (split.val_fraction, 0.0)
            }
            true => (0.0, 0.0),
        };
        let (carved, too_few) =
            split_reporting(train, &classes, val_fraction, test_fraction, split.seed);
        problems.extend(too_few);
        dataset.images.train = carved.train;
        dataset.images.val.extend(carved.val);
        dataset.images.test.extend(carved.test);
        dataset.warn_missing_classes();
        Ok(dataset)
    }
}
