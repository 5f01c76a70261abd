use std::path::PathBuf;

/// Errors that make a dataset unusable. Each message names the path and the fix.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("dataset folder {0} does not exist; pass the folder that holds one sub-folder per person (or train/ val/ test/)")]
    Missing(PathBuf),
    #[error("{0} is not a folder; pass the folder that holds one sub-folder per person (or train/ val/ test/)")]
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
}
