//! Decoded images kept in memory at a working size.

use std::path::PathBuf;

use image::RgbImage;
use rayon::prelude::*;

use crate::data::{decode_working_size, ImageEntry, SkippedFile};

/// The decoded images of one split with their labels and source paths.
#[derive(Debug, Default)]
pub struct ImageBank {
    pub images: Vec<RgbImage>,
    pub labels: Vec<usize>,
    pub paths: Vec<PathBuf>,
}

impl ImageBank {
    /// Decode `entries` in parallel, shrinking each so its shorter side is at most
    /// `working_size`. Files that fail to decode are returned, not dropped silently.
    pub fn decode(entries: &[ImageEntry], working_size: u32) -> (ImageBank, Vec<SkippedFile>) {
        let decoded: Vec<_> = entries
            .par_iter()
            .map(|e| decode_working_size(&e.path, working_size).map(|img| (img, e)))
            .collect();
        let mut bank = ImageBank::default();
        let mut skipped = Vec::new();
        for d in decoded {
            match d {
                Ok((img, e)) => {
                    bank.images.push(img);
                    bank.labels.push(e.class);
                    bank.paths.push(e.path.clone());
                }
                Err(s) => skipped.push(s),
            }
        }
        (bank, skipped)
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Bytes of pixel data held.
    pub fn bytes(&self) -> usize {
        self.images.iter().map(|i| i.as_raw().len()).sum()
    }
}
