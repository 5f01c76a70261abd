//! Walking a dataset folder safely: every real folder and file is visited at
//! most once, symbolic links never lead out of the dataset folder, and names
//! that are not UTF-8 (which run files cannot record) are refused up front.
//! Whatever is left out is reported with its reason.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::decode::{SkipReason, SkippedFile};

/// What a directory entry is, once the walk has looked at it.
pub(crate) enum Entry {
    Dir(PathBuf),
    File(PathBuf),
}

/// The state of one scan of one dataset folder.
pub(crate) struct Walk {
    root: PathBuf,
    /// Real (canonical) paths already visited.
    seen: HashSet<PathBuf>,
    /// Entries left out, with their reasons.
    pub skipped: Vec<SkippedFile>,
}

impl Walk {
    pub fn new(root: &Path) -> Self {
        let real = crate::files::canonical(root);
        let mut seen = HashSet::new();
        seen.insert(real.clone());
        Self {
            root: real,
            seen,
            skipped: Vec::new(),
        }
    }

    fn skip(&mut self, path: &Path, reason: SkipReason, detail: String) -> Option<Entry> {
        self.skipped.push(SkippedFile::new(path, reason, detail));
        None
    }

    /// Look at `path` (an entry of a folder being walked): `None` when it is
    /// left out, which is then recorded in `skipped`.
    pub fn admit(&mut self, path: &Path) -> Option<Entry> {
        if path.to_str().is_none() {
            return self.skip(
                path,
                SkipReason::NameNotUtf8,
                "the name is not valid UTF-8, which run files cannot record; rename it".into(),
            );
        }
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let real = match std::fs::canonicalize(path) {
            Ok(r) => r,
            Err(e) if is_link => {
                return self.skip(
                    path,
                    SkipReason::Unreadable,
                    format!("a broken link: its target cannot be opened ({e})"),
                )
            }
            Err(_) => path.to_path_buf(),
        };
        if is_link && !real.starts_with(&self.root) {
            return self.skip(
                path,
                SkipReason::Link,
                format!(
                    "a link to {}, outside the dataset folder {}; only links inside it are followed",
                    real.display(),
                    self.root.display()
                ),
            );
        }
        if !self.seen.insert(real.clone()) {
            let what = if real.is_dir() {
                "a link loop: it leads back to a folder already scanned"
            } else {
                "the same file as one already scanned"
            };
            return self.skip(
                path,
                SkipReason::Link,
                format!("{what} ({}); counted once", real.display()),
            );
        }
        Some(if real.is_dir() {
            Entry::Dir(path.to_path_buf())
        } else {
            Entry::File(path.to_path_buf())
        })
    }
}
