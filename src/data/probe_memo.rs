//! Image headers remembered between scans, so that opening a dataset a
//! second time costs one `stat` per file instead of reading every file.
//!
//! A scan probes each file (reads it and parses its header) to learn its
//! size and whether it is an image at all. The first scan of a file list
//! writes what it learned to `probe/<hash of the paths>.bin` in facebench's
//! cache folder; a later scan of the same list takes a file's width and
//! height from there when the file's size and modification time are still
//! those recorded, and probes it again otherwise. Files that were skipped
//! are always probed again (they are few, and their reason should be
//! current).
//!
//! The file is binary, 24 bytes a file, and is looked up where it lies in
//! memory (no parse): `MAGIC`, the file count (u64 LE), then per file its
//! size (u64), time in ns (u64), width and height (u32 each; width 0 for a
//! file that was skipped), all little-endian.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::stats::cache_dir;
use super::FileStamp;

const MAGIC: &[u8; 8] = b"fbprobe1";
const HEAD: usize = MAGIC.len() + 8;
const RECORD: usize = 24;

/// What a file was when it was probed, and its image size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Probed {
    pub stamp: FileStamp,
    pub width: u32,
    pub height: u32,
}

impl Probed {
    /// The record of a file that was skipped (or could not be read).
    pub const NONE: Probed = Probed {
        stamp: FileStamp::UNKNOWN,
        width: 0,
        height: 0,
    };

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.stamp.size.to_le_bytes());
        out.extend_from_slice(&self.stamp.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.width.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
    }

    fn decode(b: &[u8]) -> Probed {
        use crate::files::{u32_le, u64_le};
        Probed {
            stamp: FileStamp {
                size: u64_le(b, 0),
                mtime_ns: u64_le(b, 8),
            },
            width: u32_le(b, 16),
            height: u32_le(b, 20),
        }
    }
}

/// The remembered headers of one list of files, in its order.
pub(super) struct ProbeMemo {
    file: PathBuf,
    count: usize,
    /// The memo file's bytes (empty when there was none, or it did not fit).
    bytes: Vec<u8>,
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
        let file = cache_dir().join("probe").join(format!("{key}.bin"));
        let bytes = std::fs::read(&file)
            .ok()
            .filter(|b| {
                b.len() == HEAD + count * RECORD
                    && b.starts_with(MAGIC)
                    && b[MAGIC.len()..HEAD] == (count as u64).to_le_bytes()
            })
            .unwrap_or_default();
        ProbeMemo { file, count, bytes }
    }

    fn record(&self, i: usize) -> Option<Probed> {
        let at = HEAD + i * RECORD;
        self.bytes.get(at..at + RECORD).map(Probed::decode)
    }

    /// The width and height of file `i` when it has not changed since it was
    /// probed (`stamp` is its size and time now).
    pub fn lookup(&self, i: usize, stamp: FileStamp) -> Option<(u32, u32)> {
        let p = self.record(i)?;
        (p.width > 0 && stamp != FileStamp::UNKNOWN && p.stamp == stamp)
            .then_some((p.width, p.height))
    }

    /// Remember `now` (one record per file, [`Probed::NONE`] for skipped
    /// ones) when it differs from what was loaded. A memo that cannot be
    /// written costs the next scan its speed, nothing else.
    pub fn store(self, now: &[Probed]) {
        let same = now.len() == self.count
            && now
                .iter()
                .enumerate()
                .all(|(i, p)| self.record(i) == Some(*p));
        if same {
            return;
        }
        let mut bytes = Vec::with_capacity(HEAD + now.len() * RECORD);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(now.len() as u64).to_le_bytes());
        for p in now {
            p.encode(&mut bytes);
        }
        if let Some(dir) = self.file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::files::atomic_write(&self.file, &bytes);
    }
}
