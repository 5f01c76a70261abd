//! Per-channel mean/std of the train split, cached by a fingerprint of the file list.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::decode::decode_rgb8;
use super::{FileStamp, ImageEntry};
use crate::files::atomic_write;

/// Mean and standard deviation of each RGB channel, on the [0, 1] scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStats {
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub images: usize,
    pub fingerprint: String,
}

/// Whether statistics were computed now or read from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatsSource {
    Computed,
    Cached,
}

/// Where facebench keeps caches: `$FACEBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/facebench`,
/// else `~/.cache/facebench`, else the system temp folder.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FACEBENCH_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("facebench");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache").join("facebench");
    }
    std::env::temp_dir().join("facebench-cache")
}

/// SHA-256 over each file's path, size and modification time, in order. Any added,
/// removed, renamed or rewritten file changes it.
pub fn file_list_fingerprint(entries: &[ImageEntry]) -> String {
    fingerprint_of(entries, |p| p)
}

/// As [`file_list_fingerprint`], with each path taken relative to the dataset
/// folder `root`: the same files moved to another folder (with `mv`, which
/// keeps their times) give the same fingerprint, so a run can resume on them.
pub fn relocatable_fingerprint(root: &Path, entries: &[ImageEntry]) -> String {
    // a CSV dataset's paths are relative to the CSV's folder
    let base = if root.is_file() {
        root.parent().unwrap_or(root)
    } else {
        root
    };
    fingerprint_of(entries, |p| p.strip_prefix(base).unwrap_or(p))
}

/// The stamp of every entry (the scan's; read now for an entry without
/// one, in parallel: a dataset can hold hundreds of thousands of files), in
/// order.
pub fn file_stamps(entries: &[ImageEntry]) -> Vec<FileStamp> {
    entries.par_iter().map(ImageEntry::stamp_now).collect()
}

fn fingerprint_of(entries: &[ImageEntry], name: impl Fn(&Path) -> &Path) -> String {
    let mut hasher = Sha256::new();
    for (e, stamp) in entries.iter().zip(file_stamps(entries)) {
        hasher.update(name(&e.path).to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(stamp.size.to_le_bytes());
        // 16 bytes, as when times were kept as u128: fingerprints recorded
        // by earlier runs stay equal
        hasher.update((stamp.mtime_ns as u128).to_le_bytes());
    }
    crate::files::hex(&hasher.finalize())
}

#[derive(Default, Clone, Copy)]
struct Sums {
    sum: [f64; 3],
    sum_sq: [f64; 3],
    pixels: u64,
    images: usize,
}

impl Sums {
    fn merge(mut self, o: Sums) -> Sums {
        for c in 0..3 {
            self.sum[c] += o.sum[c];
            self.sum_sq[c] += o.sum_sq[c];
        }
        self.pixels += o.pixels;
        self.images += o.images;
        self
    }
}

/// Mean/std over every pixel of the given (train) images. Read from the cache when
/// the same file list was measured before; otherwise decoded in parallel, computed
/// and cached. Files that fail to decode are left out (the loader reports them).
pub fn channel_stats(entries: &[ImageEntry]) -> (ChannelStats, StatsSource) {
    let fingerprint = file_list_fingerprint(entries);
    let cache_file = cache_dir()
        .join("stats")
        .join(format!("{fingerprint}.json"));
    if let Ok(text) = std::fs::read_to_string(&cache_file) {
        if let Ok(stats) = serde_json::from_str::<ChannelStats>(&text) {
            if stats.fingerprint == fingerprint {
                return (stats, StatsSource::Cached);
            }
        }
    }
    let sums = entries
        .par_iter()
        .filter_map(|e| decode_rgb8(&e.path).ok())
        .map(|img| {
            let mut s = Sums {
                images: 1,
                ..Sums::default()
            };
            for p in img.pixels() {
                for c in 0..3 {
                    let v = p.0[c] as f64 / 255.0;
                    s.sum[c] += v;
                    s.sum_sq[c] += v * v;
                }
            }
            s.pixels = img.width() as u64 * img.height() as u64;
            s
        })
        .reduce(Sums::default, Sums::merge);
    let n = sums.pixels.max(1) as f64;
    let mut mean = [0f32; 3];
    let mut std = [0f32; 3];
    for c in 0..3 {
        let m = sums.sum[c] / n;
        mean[c] = m as f32;
        std[c] = ((sums.sum_sq[c] / n - m * m).max(0.0).sqrt() as f32).max(1e-6);
    }
    let stats = ChannelStats {
        mean,
        std,
        images: sums.images,
        fingerprint,
    };
    // A cache that cannot be written costs only time on the next open.
    if let Ok(json) = serde_json::to_vec_pretty(&stats) {
        let _ = atomic_write(&cache_file, &json);
    }
    (stats, StatsSource::Computed)
}
