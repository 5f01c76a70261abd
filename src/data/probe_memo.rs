//! Image headers remembered between scans, so that opening a dataset a
//! second time costs one `stat` per file instead of reading every file.
//!
//! A scan probes each file (reads it and parses its header) to learn its
//! size and whether it is an image at all. The first scan of a file list
//! writes what it learned to `probe/<hash of the paths>.json` in facebench's
//! cache folder; a later scan of the same list takes a file's width and
//! height from there when the file's size and modification time are still
//! those recorded, and probes it again otherwise. Files that were skipped
//! are always probed again (they are few, and their reason should be
//! current).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::stats::cache_dir;

/// What a file was when it was probed, and its image size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Probed {
    pub size: u64,
    pub mtime_ns: u64,
    pub width: u32,
    pub height: u32,
}

/// The remembered headers of one list of files, in its order.
pub(super) struct ProbeMemo {
    file: PathBuf,
    known: Vec<Option<Probed>>,
}

/// A file's size and modification time (nanoseconds), or None when it
/// cannot be read.
pub(super) fn stamp(path: &Path) -> Option<(u64, u64)> {
    super::stats::file_stamp(path).map(|(size, mtime)| (size, mtime as u64))
}

impl ProbeMemo {
    /// The memo of `paths` (empty when none was written or it does not fit).
    pub fn load<'a>(paths: impl ExactSizeIterator<Item = &'a Path>) -> ProbeMemo {
        let count = paths.len();
        let mut hasher = Sha256::new();
        for p in paths {
            hasher.update(p.as_os_str().as_encoded_bytes());
            hasher.update([0]);
        }
        let key = crate::files::hex(&hasher.finalize()[..16]);
        let file = cache_dir().join("probe").join(format!("{key}.json"));
        let known = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Vec<Option<Probed>>>(&bytes).ok())
            .filter(|k| k.len() == count)
            .unwrap_or_else(|| vec![None; count]);
        ProbeMemo { file, known }
    }

    /// The width and height of file `i` when it has not changed since it was
    /// probed (`stamp` is its size and time now).
    pub fn lookup(&self, i: usize, stamp: Option<(u64, u64)>) -> Option<(u32, u32)> {
        let p = self.known.get(i)?.as_ref()?;
        (Some((p.size, p.mtime_ns)) == stamp).then_some((p.width, p.height))
    }

    /// Remember `now` (one record per file, None for skipped ones) when it
    /// differs from what was loaded. A memo that cannot be written costs the
    /// next scan its speed, nothing else.
    pub fn store(self, now: Vec<Option<Probed>>) {
        if now == self.known {
            return;
        }
        if let Ok(bytes) = serde_json::to_vec(&now) {
            if let Some(dir) = self.file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = crate::files::atomic_write(&self.file, &bytes);
        }
    }
}
