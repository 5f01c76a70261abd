//! The decoded images of one split, at a working size: in memory, or in the
//! packed cache on disk (read image by image as batches need them).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use image::RgbImage;
use rayon::prelude::*;

use super::packed::{BuildProgress, PackedImages};
use crate::data::{decode_working_size, ImageEntry, SkippedFile};

/// The decoded images of one split with their labels and source paths.
#[derive(Debug, Default)]
pub struct ImageBank {
    store: Store,
    pub labels: Vec<usize>,
    pub paths: Vec<PathBuf>,
}

#[derive(Debug)]
enum Store {
    Memory(Vec<RgbImage>),
    Packed(PackedImages),
}

impl Default for Store {
    fn default() -> Self {
        Store::Memory(Vec::new())
    }
}

impl ImageBank {
    /// A bank of images already in memory.
    pub fn in_memory(images: Vec<RgbImage>, labels: Vec<usize>, paths: Vec<PathBuf>) -> Self {
        ImageBank {
            store: Store::Memory(images),
            labels,
            paths,
        }
    }

    /// Decode `entries` in parallel into memory, shrinking each so its shorter
    /// side is at most `working_size`. Files that fail to decode are returned,
    /// not dropped silently. The bank keeps the entries' paths (moved, not
    /// copied: at hundreds of thousands of faces they are most of what a
    /// split takes in memory).
    pub fn decode(entries: Vec<ImageEntry>, working_size: u32) -> (ImageBank, Vec<SkippedFile>) {
        let decoded: Vec<_> = entries
            .into_par_iter()
            .map(|e| decode_working_size(&e.path, working_size).map(|img| (img, e)))
            .collect();
        let (mut images, mut labels, mut paths) = (Vec::new(), Vec::new(), Vec::new());
        let mut skipped = Vec::new();
        for d in decoded {
            match d {
                Ok((img, e)) => {
                    images.push(img);
                    labels.push(e.class);
                    paths.push(e.path);
                }
                Err(s) => skipped.push(s),
            }
        }
        (ImageBank::in_memory(images, labels, paths), skipped)
    }

    /// The same images as [`ImageBank::decode`], through the packed cache in
    /// `folder`: built on the first call for these files and this working
    /// size (reporting `progress`), opened at once on later ones.
    pub fn cached(
        folder: &Path,
        entries: Vec<ImageEntry>,
        working_size: u32,
        progress: &mut dyn FnMut(BuildProgress),
    ) -> anyhow::Result<(ImageBank, Vec<SkippedFile>)> {
        let packed = PackedImages::open_or_build(folder, &entries, working_size, progress)?;
        Ok(Self::packed(packed, entries))
    }

    /// The bank of a cache file opened for `entries` (those it was built
    /// from), and the files it could not decode. The bank keeps the
    /// entries' paths, moved.
    pub fn packed(
        packed: PackedImages,
        mut entries: Vec<ImageEntry>,
    ) -> (ImageBank, Vec<SkippedFile>) {
        let mut labels = Vec::with_capacity(packed.len());
        let mut paths = Vec::with_capacity(packed.len());
        for i in 0..packed.len() {
            // positions are in range and increasing (checked on open)
            let e = &mut entries[packed.entry_of(i)];
            labels.push(e.class);
            paths.push(std::mem::take(&mut e.path));
        }
        drop(entries);
        let skipped = packed.skipped().to_vec();
        (
            ImageBank {
                store: Store::Packed(packed),
                labels,
                paths,
            },
            skipped,
        )
    }

    /// Image `i`: borrowed from memory, or read from the cache file.
    pub fn image(&self, i: usize) -> anyhow::Result<Cow<'_, RgbImage>> {
        match &self.store {
            Store::Memory(images) => images
                .get(i)
                .map(Cow::Borrowed)
                .ok_or_else(|| anyhow::anyhow!("image {i} is past the end of the bank")),
            Store::Packed(packed) => packed.read(i).map(Cow::Owned),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes of pixel data held in memory (none for a cached bank).
    pub fn bytes(&self) -> usize {
        match &self.store {
            Store::Memory(images) => images.iter().map(|i| i.as_raw().len()).sum(),
            Store::Packed(_) => 0,
        }
    }

    /// The cache file this bank reads, if it is cached.
    pub fn cache_file(&self) -> Option<&Path> {
        match &self.store {
            Store::Memory(_) => None,
            Store::Packed(p) => Some(p.path()),
        }
    }

    /// Whether opening this bank decoded its images into a new cache file.
    pub fn built_cache(&self) -> bool {
        matches!(&self.store, Store::Packed(p) if p.built)
    }
}
