use std::path::PathBuf;

/// Errors that make a dataset unusable. Each message names the path and the fix.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("dataset folder {0} does not exist; pass the folder that holds one sub-folder per person (or train/ val/ test/), or a CSV of path,label rows")]
    Missing(PathBuf),
    #[error("{0} is neither a folder nor a .csv file; pass the folder that holds one sub-folder per person (or train/ val/ test/), or a CSV of path,label rows")]
    NotADirectory(PathBuf),
    #[error("cannot read folder {path}: {source}; check that it exists and that you may read it")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("dataset folder {0} is empty: it needs one sub-folder per person, each holding that person's photos")]
    EmptyRoot(PathBuf),
    #[error("dataset folder {path} has no class sub-folders, only {found}: a dataset folder holds one sub-folder per person with that person's photos (e.g. {path}/alice/1.jpg), or train/ val/ test/ each holding such folders; pick the folder above the person folders")]
    NoClassFolders { path: PathBuf, found: String },
    #[error("class folder {0} holds no readable images: add photos to it or remove the folder")]
    EmptyClass(PathBuf),
    #[error("label {label} in {csv} has no readable images: fix its rows' paths or remove them")]
    EmptyLabel { csv: PathBuf, label: String },
    #[error("{path}, line {line}: {message}; a dataset CSV has rows of path,label or path,label,split (split: train, val or test), paths relative to the CSV's folder")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("dataset {path} has only one class ({class}): a classifier needs at least two people, one sub-folder each")]
    OneClass { path: PathBuf, class: String },
    #[error("split folder {split} in {root} has classes that {other} lacks: {classes}; every split must use the same class folders")]
    ClassMismatch {
        root: PathBuf,
        split: String,
        other: String,
        classes: String,
    },
    #[error("class {class} has {count} image(s), too few to split into train/val/test; add images or lower val/test fractions")]
    TooFewImages { class: String, count: usize },
    #[error("the path of dataset folder {0} is not valid UTF-8, which run files cannot record; rename or move it")]
    NameNotUtf8(PathBuf),
    #[error("bad split fractions: {0}")]
    BadSplit(String),
    #[error("the dataset has {} problems; fix each of them:{}", .0.len(), list(.0))]
    Several(Vec<DatasetError>),
}

fn list(problems: &[DatasetError]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}

impl DatasetError {
    /// `None` for no problems, the problem itself for one, `Several` for more.
    pub fn all(mut problems: Vec<DatasetError>) -> Option<DatasetError> {
        match problems.len() {
            0 => None,
            1 => problems.pop(),
            _ => Some(DatasetError::Several(problems)),
        }
    }

    /// Each problem this error stands for (itself, or each of `Several`).
    pub fn problems(&self) -> Vec<String> {
        match self {
            DatasetError::Several(all) => all.iter().map(ToString::to_string).collect(),
            one => vec![one.to_string()],
        }
    }
}
