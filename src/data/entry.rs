//! One usable image of a dataset.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

/// One usable image: where it is, its class index, its size from the
/// header, and what the file was (size and time) when the scan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    pub path: PathBuf,
    pub class: usize,
    pub width: u32,
    pub height: u32,
    /// The file's size and time as the scan read them (one `stat` per file
    /// for the whole of opening a dataset: the header memo, the
    /// fingerprints and the image cache's key all use it).
    /// [`FileStamp::UNKNOWN`] for an entry that did not come from a scan;
    /// it is then read when needed.
    #[serde(skip)]
    pub stamp: FileStamp,
}

/// A file's size in bytes and modification time in nanoseconds since 1970:
/// what says whether it changed since it was last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: u64,
}

impl FileStamp {
    /// Not read yet (no image file is empty, so no real stamp is this).
    pub const UNKNOWN: FileStamp = FileStamp {
        size: 0,
        mtime_ns: 0,
    };

    /// The stamp of a file's metadata (of its target, for `stat`'s).
    pub fn of(meta: &Metadata) -> FileStamp {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        FileStamp {
            size: meta.len(),
            mtime_ns,
        }
    }

    /// The stamp of the file at `path` (following links), or None when it
    /// cannot be read.
    pub fn read(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path).ok().map(|m| FileStamp::of(&m))
    }

    /// This stamp when it was read, else the file's at `path` now
    /// ([`FileStamp::UNKNOWN`] when it cannot be read).
    pub fn known_or_read(self, path: &Path) -> FileStamp {
        if self != FileStamp::UNKNOWN {
            return self;
        }
        FileStamp::read(path).unwrap_or(FileStamp::UNKNOWN)
    }

    /// The stamp of the file `name` in the open folder `dir` (following
    /// links), as [`FileStamp::read`] of its path gives it: `fstatat`, which
    /// looks up one name where a path's `stat` looks up each of its folders
    /// again (most of the cost of stamping 460,000 faces).
    pub fn read_at(dir: BorrowedFd<'_>, name: &OsStr) -> Option<FileStamp> {
        let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::empty()).ok()?;
        let (secs, nanos) = (st.st_mtime as i64, st.st_mtime_nsec as u64);
        // before 1970 std gives no time, taken as 0 here as in `of`
        let mtime_ns = u64::try_from(secs).map_or(0, |s| s * 1_000_000_000 + nanos);
        Some(FileStamp {
            size: st.st_size as u64,
            mtime_ns,
        })
    }
}

impl ImageEntry {
    /// The file's stamp: the scan's, else read now ([`FileStamp::UNKNOWN`]
    /// when the file cannot be read).
    pub fn stamp_now(&self) -> FileStamp {
        self.stamp.known_or_read(&self.path)
    }
}
