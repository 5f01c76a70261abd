//! The packed image cache: every face of a split decoded once, at the
//! working size, into one file on disk that training and evaluation read
//! from, image by image, instead of holding the split in memory.
//!
//! A cache file is written once, to a temporary name in the cache folder,
//! and renamed into place when complete; it is never modified afterwards.
//! Its name is a hash of what it was built from (every file's path, label,
//! size and modification time, and the working size), so a changed dataset
//! gets a new file and a stale one is never read. Layout:
//!
//! ```text
//! magic (16 bytes) | RGB8 pixels of image 0 | image 1 | ... | table | head (JSON)
//!   | table offset | head offset | head length (u64 LE each) | magic
//! ```
//!
//! The table has 24 bytes per decoded image: its offset (u64), width and
//! height (u32 each) and which entry it is (u64), little-endian; binary, so
//! that opening the cache of 460,000 faces reads 11 MB and parses nothing.
//! The head holds the key, the counts and the files that could not be
//! decoded (with why). Images keep the size the
//! in-memory decode gives them (shorter side at most the working size, the
//! aspect kept), so a run reads the same pixels either way. Reads are
//! positioned reads (`pread`), so the pixels live in the OS page cache, not
//! in the process: its memory stays flat as the dataset grows.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use image::RgbImage;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::{decode_working_size, ImageEntry, SkippedFile};
use crate::files::{u32_le, u64_le};

const MAGIC: &[u8; 16] = b"facebench-pack02";
/// Bytes per decoded image in the table.
const ROW: usize = 24;
/// Table rows read at once when a cache is opened.
const ROWS_PER_READ: usize = 4096;
/// The tail: three u64 and the magic.
const TAIL: u64 = 3 * 8 + 16;
const SUFFIX: &str = "fbpack";
/// Images decoded in parallel before they are written, in order: what the
/// build holds in memory at once.
const CHUNK: usize = 256;

/// How far a cache build has got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildProgress {
    pub done: usize,
    pub total: usize,
    pub seconds: f64,
}

impl BuildProgress {
    /// Seconds left at the rate so far (None before the first chunk).
    pub fn eta_seconds(&self) -> Option<f64> {
        (self.done > 0 && self.done < self.total)
            .then(|| self.seconds / self.done as f64 * (self.total - self.done) as f64)
    }
}

/// Where one decoded image is in the file, and its size.
#[derive(Debug, Clone, Copy)]
struct Record {
    offset: u64,
    width: u32,
    height: u32,
}

/// The head of a cache file: what it was built from, and what it left out.
#[derive(Debug, Serialize, Deserialize)]
struct Head {
    key: String,
    working_size: u32,
    /// Entries the cache was built from (decoded and skipped).
    entries: usize,
    /// Decoded images: rows of the table.
    images: usize,
    skipped: Vec<SkippedFile>,
}

/// One split's faces, decoded, in a cache file.
#[derive(Debug)]
pub struct PackedImages {
    file: File,
    path: PathBuf,
    records: Vec<Record>,
    positions: Vec<usize>,
    skipped: Vec<SkippedFile>,
    /// Whether this call decoded the images (false: an existing cache opened).
    pub built: bool,
}

impl PackedImages {
    /// The cache for `entries` at `working_size` in `folder`: opened when it
    /// exists and matches, else built (decoding every file, reporting
    /// `progress` after each chunk).
    pub fn open_or_build(
        folder: &Path,
        entries: &[ImageEntry],
        working_size: u32,
        progress: &mut dyn FnMut(BuildProgress),
    ) -> anyhow::Result<PackedImages> {
        let key = CacheSource::of(entries).key(working_size);
        let path = file_for_key(folder, &key);
        if path.is_file() {
            if let Ok(packed) = Self::open(&path, &key, entries.len()) {
                return Ok(packed);
            }
            // unreadable or not what it should be: built again, under the same name
        }
        std::fs::create_dir_all(folder).with_context(|| {
            format!("cannot create the image cache folder {}", folder.display())
        })?;
        build(folder, &path, &key, entries, working_size, progress)?;
        let mut packed = Self::open(&path, &key, entries.len())?;
        packed.built = true;
        Ok(packed)
    }

    fn open(path: &Path, key: &str, entries: usize) -> anyhow::Result<PackedImages> {
        let mut file =
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = file.metadata()?.len();
        anyhow::ensure!(
            len >= MAGIC.len() as u64 + TAIL,
            "{} is too short for an image cache",
            path.display()
        );
        let mut magic = [0u8; 16];
        file.read_exact(&mut magic)?;
        let mut tail = [0u8; TAIL as usize];
        file.seek(SeekFrom::End(-(TAIL as i64)))?;
        file.read_exact(&mut tail)?;
        let (table, head_at, head_len) = (u64_le(&tail, 0), u64_le(&tail, 8), u64_le(&tail, 16));
        anyhow::ensure!(
            &magic == MAGIC && &tail[24..] == MAGIC,
            "{} is not a complete facebench image cache",
            path.display()
        );
        anyhow::ensure!(
            head_at.checked_add(head_len) == Some(len - TAIL) && table <= head_at,
            "{}: the index is not where the file says",
            path.display()
        );
        let mut json = vec![0u8; head_len as usize];
        file.read_exact_at(&mut json, head_at)?;
        let head: Head = serde_json::from_slice(&json)
            .with_context(|| format!("{}: unreadable index", path.display()))?;
        anyhow::ensure!(
            head.key == key
                && head.entries == entries
                && head.images <= entries
                && (head.images * ROW) as u64 == head_at - table,
            "{} does not match the dataset it is named for",
            path.display()
        );
        let (records, positions) = read_table(&file, table, head.images)
            .with_context(|| format!("cannot read the table of {}", path.display()))?;
        anyhow::ensure!(
            records
                .iter()
                .all(|r| r.offset + 3 * r.width as u64 * r.height as u64 <= table)
                && positions.last().is_none_or(|&p| p < entries)
                && positions.windows(2).all(|w| w[0] < w[1]),
            "{} does not match the dataset it is named for",
            path.display()
        );
        Ok(PackedImages {
            file,
            path: path.to_path_buf(),
            records,
            positions,
            skipped: head.skipped,
            built: false,
        })
    }

    /// Decoded images.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Image `i` (the `i`-th decoded one), read from the file.
    pub fn read(&self, i: usize) -> anyhow::Result<RgbImage> {
        let r = self
            .records
            .get(i)
            .with_context(|| format!("image {i} is past the end of {}", self.path.display()))?;
        let mut pixels = vec![0u8; 3 * r.width as usize * r.height as usize];
        self.file
            .read_exact_at(&mut pixels, r.offset)
            .with_context(|| format!("cannot read image {i} of {}", self.path.display()))?;
        RgbImage::from_raw(r.width, r.height, pixels)
            .with_context(|| format!("image {i} of {} has a bad size", self.path.display()))
    }

    /// Which entry (of those it was built from) image `i` is.
    pub fn entry_of(&self, i: usize) -> usize {
        self.positions[i]
    }

    /// The files that could not be decoded.
    pub fn skipped(&self) -> &[SkippedFile] {
        &self.skipped
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The `images` rows of the table at `at`: each image's record and entry.
fn read_table(file: &File, at: u64, images: usize) -> anyhow::Result<(Vec<Record>, Vec<usize>)> {
    let mut records = Vec::with_capacity(images);
    let mut positions = Vec::with_capacity(images);
    let mut buf = vec![0u8; ROWS_PER_READ * ROW];
    let mut done = 0;
    while done < images {
        let rows = (images - done).min(ROWS_PER_READ);
        let bytes = &mut buf[..rows * ROW];
        file.read_exact_at(bytes, at + (done * ROW) as u64)?;
        for row in bytes.chunks_exact(ROW) {
            records.push(Record {
                offset: u64_le(row, 0),
                width: u32_le(row, 8),
                height: u32_le(row, 12),
            });
            positions.push(usize::try_from(u64_le(row, 16))?);
        }
        done += rows;
    }
    Ok((records, positions))
}

/// Decode `entries` chunk by chunk (in parallel within a chunk) into a
/// temporary file in `folder`, then rename it to `path`.
fn build(
    folder: &Path,
    path: &Path,
    key: &str,
    entries: &[ImageEntry],
    working_size: u32,
    progress: &mut dyn FnMut(BuildProgress),
) -> anyhow::Result<()> {
    let start = Instant::now();
    let temp = tempfile::Builder::new()
        .prefix(".building-")
        .suffix(&format!(".{SUFFIX}"))
        .tempfile_in(folder)
        .with_context(|| {
            format!(
                "cannot write in the image cache folder {}",
                folder.display()
            )
        })?;
    let mut out = BufWriter::with_capacity(1 << 20, temp.as_file());
    out.write_all(MAGIC)?;
    let mut offset = MAGIC.len() as u64;
    let (mut records, mut positions, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let total = entries.len();
    progress(BuildProgress {
        done: 0,
        total,
        seconds: 0.0,
    });
    for (c, chunk) in entries.chunks(CHUNK).enumerate() {
        let decoded: Vec<_> = chunk
            .par_iter()
            .map(|e| decode_working_size(&e.path, working_size))
            .collect();
        for (k, d) in decoded.into_iter().enumerate() {
            match d {
                Ok(img) => {
                    out.write_all(img.as_raw())?;
                    records.push(Record {
                        offset,
                        width: img.width(),
                        height: img.height(),
                    });
                    positions.push(c * CHUNK + k);
                    offset += img.as_raw().len() as u64;
                }
                Err(s) => skipped.push(s),
            }
        }
        progress(BuildProgress {
            done: (c * CHUNK + chunk.len()).min(total),
            total,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    let table = offset;
    for (r, &p) in records.iter().zip(&positions) {
        out.write_all(&r.offset.to_le_bytes())?;
        out.write_all(&r.width.to_le_bytes())?;
        out.write_all(&r.height.to_le_bytes())?;
        out.write_all(&(p as u64).to_le_bytes())?;
    }
    let head_at = table + (records.len() * ROW) as u64;
    let head = serde_json::to_vec(&Head {
        key: key.to_string(),
        working_size,
        entries: total,
        images: records.len(),
        skipped,
    })?;
    out.write_all(&head)?;
    out.write_all(&table.to_le_bytes())?;
    out.write_all(&head_at.to_le_bytes())?;
    out.write_all(&(head.len() as u64).to_le_bytes())?;
    out.write_all(MAGIC)?;
    out.flush()?;
    drop(out);
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("cannot move the finished image cache to {}", path.display()))?;
    Ok(())
}

fn file_for_key(folder: &Path, key: &str) -> PathBuf {
    folder.join(format!("{key}.{SUFFIX}"))
}

/// What a split's cache files are built from: a digest of each file's path,
/// label, size and modification time. The cache file at any working size
/// follows from it without going over the files again (the Dataset tab
/// tells whether the split is cached at the size now in the form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSource([u8; 32]);

impl CacheSource {
    pub fn of(entries: &[ImageEntry]) -> CacheSource {
        let mut hasher = Sha256::new();
        for (e, stamp) in entries.iter().zip(crate::data::file_stamps(entries)) {
            // the scan's paths are absolute when its root is
            let absolute = if e.path.is_absolute() {
                std::borrow::Cow::Borrowed(e.path.as_path())
            } else {
                std::borrow::Cow::Owned(
                    std::path::absolute(&e.path).unwrap_or_else(|_| e.path.clone()),
                )
            };
            hasher.update(absolute.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            hasher.update((e.class as u64).to_le_bytes());
            hasher.update(stamp.size.to_le_bytes());
            hasher.update(stamp.mtime_ns.to_le_bytes());
        }
        CacheSource(hasher.finalize().into())
    }

    /// The name of the cache file at `working_size`, in this format.
    fn key(&self, working_size: u32) -> String {
        let mut hasher = Sha256::new();
        hasher.update(MAGIC);
        hasher.update(working_size.to_le_bytes());
        hasher.update(self.0);
        crate::files::hex(&hasher.finalize()[..16])
    }

    /// The cache file at `working_size` in `folder` (which may not exist).
    pub fn file_in(&self, folder: &Path, working_size: u32) -> PathBuf {
        file_for_key(folder, &self.key(working_size))
    }
}

/// Where cache files go: `images/` in facebench's cache folder
/// (`$FACEBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/facebench`, else
/// `~/.cache/facebench`). None when `FACEBENCH_IMAGE_CACHE=off`: the splits
/// are then decoded into memory.
pub fn cache_folder() -> Option<PathBuf> {
    if std::env::var_os("FACEBENCH_IMAGE_CACHE").is_some_and(|v| v == "off") {
        return None;
    }
    Some(crate::data::cache_dir().join("images"))
}

/// The cache files in `folder` and their total size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheUsage {
    pub files: usize,
    pub bytes: u64,
}

/// How many cache files `folder` holds and their bytes (nothing when it does
/// not exist).
pub fn cache_usage(folder: &Path) -> CacheUsage {
    let mut usage = CacheUsage::default();
    for path in cache_files(folder) {
        usage.files += 1;
        usage.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    }
    usage
}

/// Delete every cache file in `folder` (and unfinished ones); other files
/// are left alone. Returns what was freed. A run that has a cache open
/// keeps reading it until it ends (the file is only unlinked).
pub fn clear_cache(folder: &Path) -> anyhow::Result<CacheUsage> {
    let mut freed = CacheUsage::default();
    for path in cache_files(folder) {
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(&path).with_context(|| format!("cannot delete {}", path.display()))?;
        freed.files += 1;
        freed.bytes += bytes;
    }
    Ok(freed)
}

fn cache_files(folder: &Path) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == SUFFIX))
        .collect()
}
