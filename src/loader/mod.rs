//! From decoded images to normalised, augmented batches: decode once at a
//! working size (into the packed cache on disk, or into memory), then build
//! batches on a background thread with a bounded prefetch so the model never
//! waits on the CPU-side work.

mod augment;
mod bank;
mod batcher;
mod normalize;
mod packed;

pub use augment::{AugmentConfig, AugmentDraw};
pub use bank::ImageBank;
pub use batcher::{Batch, BatchPlan, BatchStream, Pipeline};
pub use normalize::Normalization;
pub use packed::{
    cache_folder, cache_usage, clear_cache, BuildProgress, CacheSource, CacheUsage, PackedImages,
};
