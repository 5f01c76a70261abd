//! Batches built on a background thread (items in parallel with rayon) and handed
//! over through a bounded channel.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{AugmentConfig, AugmentDraw, ImageBank};

/// What turns a stored image into model input.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub input_size: usize,
    /// `None` for evaluation: the whole image, resized.
    pub augment: Option<AugmentConfig>,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub seed: u64,
}

impl Pipeline {
    /// The parameters for item `position` of `epoch`: depends only on the seed,
    /// the epoch and the position, never on thread timing.
    pub fn draw(&self, image: &image::RgbImage, epoch: usize, position: usize) -> AugmentDraw {
        match &self.augment {
            Some(aug) => {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    self.seed
                        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ (position as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9),
                );
                aug.draw(image.width(), image.height(), &mut rng)
            }
            None => AugmentDraw::identity(image.width(), image.height()),
        }
    }

    /// Render one stored image as model input (CHW, normalised).
    pub fn render(&self, image: &image::RgbImage, draw: &AugmentDraw) -> Vec<f32> {
        let mut out = vec![0f32; 3 * self.input_size * self.input_size];
        draw.render(image, self.input_size, self.mean, self.std, &mut out);
        out
    }
}

/// One batch: `images` is N x 3 x S x S, row-major.
#[derive(Debug, Clone)]
pub struct Batch {
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
    /// Index of each item in the bank.
    pub indices: Vec<usize>,
    pub input_size: usize,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// An iterator of batches produced ahead of time on a background thread. Dropping
/// it stops the producer. An image that cannot be read (a cache file gone
/// bad under a run) comes out as an error, and the stream ends after it.
pub struct BatchStream {
    rx: Option<Receiver<anyhow::Result<Batch>>>,
    handle: Option<JoinHandle<()>>,
    batches: usize,
}

/// One pass's worth of batching: the images, how each becomes model input,
/// and how many go in a batch and are prepared ahead.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    pub bank: Arc<ImageBank>,
    pub pipeline: Arc<Pipeline>,
    pub batch_size: usize,
    pub prefetch: usize,
    /// Leave out a shuffled epoch's short last batch (training on a GPU,
    /// which compiles its kernels for the shapes they meet).
    pub drop_last: bool,
}

impl BatchPlan {
    /// Every image once, in bank order, without shuffling (evaluation).
    pub fn in_order(&self) -> BatchStream {
        self.epoch(0, false)
    }

    /// Batches of one epoch. With `shuffle`, the order is a seeded permutation of
    /// the bank for that epoch; a final batch of a single image joins the one
    /// before it when training (batch norm needs two).
    pub fn epoch(&self, epoch: usize, shuffle: bool) -> BatchStream {
        self.epoch_from(epoch, shuffle, 0)
    }

    /// The same batches as [`BatchPlan::epoch`], without the first
    /// `first_batch` of them: a run resumed in the middle of an epoch gets
    /// exactly the batches (order and augmentation) it had not trained on yet.
    pub fn epoch_from(&self, epoch: usize, shuffle: bool, first_batch: usize) -> BatchStream {
        let (bank, pipeline) = (self.bank.clone(), self.pipeline.clone());
        let (batch_size, prefetch) = (self.batch_size, self.prefetch);
        let mut order: Vec<usize> = (0..bank.len()).collect();
        if shuffle {
            let mut rng =
                ChaCha8Rng::seed_from_u64(pipeline.seed.wrapping_add(epoch as u64 * 7919));
            order.shuffle(&mut rng);
        }
        let batch_size = batch_size.max(1);
        let mut chunks: Vec<Vec<usize>> = order.chunks(batch_size).map(|c| c.to_vec()).collect();
        if shuffle
            && self.drop_last
            && chunks.len() > 1
            && chunks.last().is_some_and(|c| c.len() < batch_size)
        {
            chunks.pop();
        }
        // batch norm needs two images in a training batch: a last batch of one
        // joins the batch before it, so no image is left out of the epoch
        if shuffle && chunks.len() > 1 && chunks.last().is_some_and(|c| c.len() == 1) {
            if let Some(single) = chunks.pop() {
                if let Some(previous) = chunks.last_mut() {
                    previous.extend(single);
                }
            }
        }
        let batches = chunks.len();
        let (tx, rx) = bounded(prefetch.max(1));
        let handle = std::thread::Builder::new()
            .name("facebench-batcher".into())
            .spawn(move || {
                // augmentation draws depend on the position in the epoch
                let mut position: usize = chunks.iter().take(first_batch).map(Vec::len).sum();
                for chunk in chunks.into_iter().skip(first_batch) {
                    let start = position;
                    position += chunk.len();
                    let size = pipeline.input_size;
                    let items: anyhow::Result<Vec<Vec<f32>>> = chunk
                        .par_iter()
                        .enumerate()
                        .map(|(k, &i)| {
                            let img = bank.image(i)?;
                            let draw = pipeline.draw(&img, epoch, start + k);
                            Ok(pipeline.render(&img, &draw))
                        })
                        .collect();
                    let items = match items {
                        Ok(items) => items,
                        Err(e) => {
                            // the consumer gets the error, and the epoch ends there
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let mut images = Vec::with_capacity(items.len() * 3 * size * size);
                    for item in items {
                        images.extend_from_slice(&item);
                    }
                    let batch = Batch {
                        images,
                        labels: chunk.iter().map(|&i| bank.labels[i] as i64).collect(),
                        indices: chunk,
                        input_size: size,
                    };
                    if tx.send(Ok(batch)).is_err() {
                        return;
                    }
                }
            })
            .ok();
        BatchStream {
            rx: Some(rx),
            handle,
            batches,
        }
    }
}

impl BatchStream {
    /// Number of batches this epoch, including any skipped by `epoch_from`.
    pub fn batches(&self) -> usize {
        self.batches
    }
}

impl Iterator for BatchStream {
    type Item = anyhow::Result<Batch>;
    fn next(&mut self) -> Option<anyhow::Result<Batch>> {
        self.rx.as_ref()?.recv().ok()
    }
}

impl Drop for BatchStream {
    fn drop(&mut self) {
        self.rx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
