//! Walking a dataset folder safely. Symbolic links are followed wherever
//! they lead (a split made of links into one folder of originals is how
//! researchers split without copying, and torchvision's ImageFolder follows
//! them too); files are only ever read. Each real folder is entered at most
//! once, so a link loop cannot multiply images, and each real file counts at
//! most once per split. Names that are not UTF-8 (which run files cannot
//! record) are refused up front. Whatever is left out is reported with its
//! reason.

use std::collections::{HashMap, HashSet};
use std::fs::FileType;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::decode::{SkipReason, SkippedFile};

/// What a directory entry is, once the walk has looked at it.
pub(crate) enum Entry {
    Dir(PathBuf),
    File(PathBuf),
}

/// A 128-bit digest of a real path: what the walk remembers of each file
/// (16 bytes where the path itself took over 100, times every file of a
/// dataset). Digests are only compared within one walk. Two paths share one
/// with a chance of about n^2 / 2^129, nil for any dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RealFile(u64, u64);

impl RealFile {
    /// Of a real path (canonical: equal paths are equal bytes).
    fn of(path: &Path) -> RealFile {
        let bytes = path.as_os_str().as_encoded_bytes();
        let half = |salt: u8| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            h.write_u8(salt);
            h.write(bytes);
            h.finish()
        };
        RealFile(half(1), half(2))
    }
}

/// The state of one scan of one dataset folder.
pub(crate) struct Walk {
    /// Real (canonical) folders already entered.
    dirs: HashSet<PathBuf>,
    /// Each real file met so far: the first split it was counted in and the
    /// latest (splits are 0, 1, 2, ... as `next_split` is called), to count
    /// a file once per split and find files shared by two splits.
    files: HashMap<RealFile, (u8, u8)>,
    split: u8,
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
            files: HashMap::new(),
            split: 0,
            shared: Vec::new(),
            skipped: Vec::new(),
            parent: None,
        }
    }

    /// The real path of the folder `dir` (resolved once for its entries,
    /// and remembered for the next call).
    fn real_folder(&mut self, dir: &Path) -> Option<PathBuf> {
        match &self.parent {
            Some((p, real)) if p == dir => Some(real.clone()),
            _ => {
                let real = std::fs::canonicalize(dir).ok()?;
                self.parent = Some((dir.to_path_buf(), real.clone()));
                Some(real)
            }
        }
    }

    /// The files walked from here on belong to another split: a file seen
    /// in an earlier split counts again (and is noted in `shared`).
    pub fn next_split(&mut self) {
        self.split = self.split.saturating_add(1);
    }

    fn skip(&mut self, path: &Path, reason: SkipReason, detail: String) -> Option<Entry> {
        self.skipped.push(SkippedFile::new(path, reason, detail));
        None
    }

    /// Look at `path` (named on its own, as a CSV row names a face, of
    /// type `kind` when known): `None` when it is left out, which is then
    /// recorded in `skipped`.
    pub fn admit(&mut self, path: PathBuf, kind: Option<FileType>) -> Option<Entry> {
        let folder = path.parent().and_then(|p| self.real_folder(p));
        let looked = look(&path, kind, folder.as_deref());
        self.settle(path, looked)
    }

    /// Look at the entries of the folder `dir` (its listing: each path with
    /// its type when the listing gave it) in parallel, then admit them in
    /// order: the entries kept, as [`Walk::admit`] would give them one by
    /// one. The parallel part is what costs (a file that is not a link
    /// costs no system call; the real path, digest and checks are per file);
    /// what is left in order is a lookup per entry.
    pub fn admit_listing(
        &mut self,
        dir: &Path,
        listing: Vec<(PathBuf, Option<FileType>)>,
    ) -> Vec<Entry> {
        let folder = self.real_folder(dir);
        let looked: Vec<Looked> = listing
            .par_iter()
            .map(|(path, kind)| look(path, *kind, folder.as_deref()))
            .collect();
        listing
            .into_iter()
            .zip(looked)
            .filter_map(|((path, _), looked)| self.settle(path, looked))
            .collect()
    }

    /// Admit `path`, looked at: count it against what the walk has met.
    fn settle(&mut self, path: PathBuf, looked: Looked) -> Option<Entry> {
        let (real_dir, file) = match looked {
            Looked::NotUtf8 => {
                return self.skip(
                    &path,
                    SkipReason::NameNotUtf8,
                    "the name is not valid UTF-8, which run files cannot record; rename it".into(),
                )
            }
            Looked::BrokenLink(e) => {
                return self.skip(
                    &path,
                    SkipReason::Unreadable,
                    format!("a broken link: its target cannot be opened ({e})"),
                )
            }
            Looked::Dir(real) => (Some(real), None),
            Looked::File(digest) => (None, Some(digest)),
        };
        if let Some(real) = real_dir {
            if !self.dirs.insert(real.clone()) {
                return self.skip(
                    &path,
                    SkipReason::Link,
                    format!(
                        "a link loop, or a second way into a folder already scanned ({}); its images are counted once",
                        real.display()
                    ),
                );
            }
            return Some(Entry::Dir(path));
        }
        let split = self.split;
        let (first, latest) = self
            .files
            .entry(file?)
            .or_insert((split, split.wrapping_sub(1)));
        let (first, again) = (*first, *latest == split);
        *latest = split;
        if again {
            let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            return self.skip(
                &path,
                SkipReason::Link,
                format!(
                    "the same file as one already scanned in this split ({}); counted once",
                    real.display()
                ),
            );
        }
        if first != split {
            self.shared.push(path.clone());
        }
        Some(Entry::File(path))
    }
}

/// What one folder entry is, as far as can be told without the walk's
/// state.
enum Looked {
    NotUtf8,
    BrokenLink(String),
    /// A folder, by its real path.
    Dir(PathBuf),
    /// A file, by the digest of its real path.
    File(RealFile),
}

/// Look at `path`, of type `kind` when its folder's listing said (else it
/// is read here), in the folder whose real path is `folder` (when known: a
/// file that is not a link is then that path and its name, with no
/// `realpath`, which one per file was most of a large dataset's scan).
fn look(path: &Path, kind: Option<FileType>, folder: Option<&Path>) -> Looked {
    if path.to_str().is_none() {
        return Looked::NotUtf8;
    }
    let kind = kind.or_else(|| std::fs::symlink_metadata(path).ok().map(|m| m.file_type()));
    let is_link = kind.is_some_and(|k| k.is_symlink());
    let plain = kind.filter(|_| !is_link);
    let joined = match (plain, folder, path.file_name()) {
        (Some(_), Some(folder), Some(name)) => Some(folder.join(name)),
        _ => None,
    };
    let real = match joined {
        Some(real) => real,
        None => match std::fs::canonicalize(path) {
            Ok(r) => r,
            Err(e) if is_link => return Looked::BrokenLink(e.to_string()),
            Err(_) => path.to_path_buf(),
        },
    };
    let is_dir = match plain {
        Some(k) => k.is_dir(),
        None => real.is_dir(),
    };
    if is_dir {
        Looked::Dir(real)
    } else {
        Looked::File(RealFile::of(&real))
    }
}
