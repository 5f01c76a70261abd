//! Walking a dataset folder safely. Symbolic links are followed wherever
//! they lead (a split made of links into one folder of originals is how
//! researchers split without copying, and torchvision's ImageFolder follows
//! them too); files are only ever read. Each real folder is entered at most
//! once, so a link loop cannot multiply images, and each real file counts at
//! most once per split. Names that are not UTF-8 (which run files cannot
//! record) are refused up front. Whatever is left out is reported with its
//! reason.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::decode::{SkipReason, SkippedFile};

/// What a directory entry is, once the walk has looked at it.
pub(crate) enum Entry {
    Dir(PathBuf),
    File(PathBuf),
}

/// The state of one scan of one dataset folder.
pub(crate) struct Walk {
    /// Real (canonical) folders already entered.
    dirs: HashSet<PathBuf>,
    /// Real files already counted in the split being walked.
    files: HashSet<PathBuf>,
    /// The split each real file was first counted in (0, 1, 2, ... as
    /// `next_split` is called), to find files shared by two splits.
    first_split: HashMap<PathBuf, usize>,
    split: usize,
    /// Files met in a second split (the path in the later split).
    pub shared: Vec<PathBuf>,
    /// Entries left out, with their reasons.
    pub skipped: Vec<SkippedFile>,
    /// The last folder whose entries were admitted and its real path: a
    /// file that is not a link is that path plus its name, with no
    /// `realpath` (one per file was most of a large dataset's scan).
    parent: Option<(PathBuf, PathBuf)>,
}

impl Walk {
    pub fn new(root: &Path) -> Self {
        let mut dirs = HashSet::new();
        dirs.insert(crate::files::canonical(root));
        Self {
            dirs,
            files: HashSet::new(),
            first_split: HashMap::new(),
            split: 0,
            shared: Vec::new(),
            skipped: Vec::new(),
            parent: None,
        }
    }

    /// The real path of `path`, which its `lstat` said is not a link: its
    /// folder's real path (resolved once per folder) and its name.
    fn real_of_plain(&mut self, path: &Path) -> Option<PathBuf> {
        let (parent, name) = (path.parent()?, path.file_name()?);
        match &self.parent {
            Some((p, real)) if p == parent => Some(real.join(name)),
            _ => {
                let real = std::fs::canonicalize(parent).ok()?;
                let joined = real.join(name);
                self.parent = Some((parent.to_path_buf(), real));
                Some(joined)
            }
        }
    }

    /// The files walked from here on belong to another split: a file seen
    /// in an earlier split counts again (and is noted in `shared`).
    pub fn next_split(&mut self) {
        self.files.clear();
        self.split += 1;
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
        let meta = std::fs::symlink_metadata(path);
        let is_link = meta.as_ref().is_ok_and(|m| m.file_type().is_symlink());
        let plain = meta.as_ref().ok().filter(|_| !is_link);
        let real = match plain.and_then(|_| self.real_of_plain(path)) {
            Some(real) => real,
            None => match std::fs::canonicalize(path) {
                Ok(r) => r,
                Err(e) if is_link => {
                    return self.skip(
                        path,
                        SkipReason::Unreadable,
                        format!("a broken link: its target cannot be opened ({e})"),
                    )
                }
                Err(_) => path.to_path_buf(),
            },
        };
        let is_dir = match plain {
            Some(m) => m.is_dir(),
            None => real.is_dir(),
        };
        if is_dir {
            if !self.dirs.insert(real.clone()) {
                return self.skip(
                    path,
                    SkipReason::Link,
                    format!(
                        "a link loop, or a second way into a folder already scanned ({}); its images are counted once",
                        real.display()
                    ),
                );
            }
            return Some(Entry::Dir(path.to_path_buf()));
        }
        if !self.files.insert(real.clone()) {
            return self.skip(
                path,
                SkipReason::Link,
                format!(
                    "the same file as one already scanned in this split ({}); counted once",
                    real.display()
                ),
            );
        }
        let first = *self.first_split.entry(real).or_insert(self.split);
        if first != self.split {
            self.shared.push(path.to_path_buf());
        }
        Some(Entry::File(path.to_path_buf()))
    }
}
