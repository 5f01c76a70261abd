//! From decoded images to normalised, augmented batches: decode once into memory
//! at a working size, then build batches on a background thread with a bounded
//! prefetch so the model never waits on the CPU-side work.

mod augment;
mod bank;
mod batcher;
mod normalize;

pub use augment::{AugmentConfig, AugmentDraw};
pub use bank::ImageBank;
pub use batcher::{Batch, BatchPlan, BatchStream, Pipeline};
pub use normalize::Normalization;
