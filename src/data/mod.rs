//! Datasets in the ImageFolder layout: scanning, splitting, decoding, statistics,
//! reports, and the built-in synthetic demo dataset.

mod csv_dataset;
mod decode;
pub mod demo;
mod entry;
mod error;
mod face_files;
mod natural;
mod probe_memo;
mod report;
mod scan;
mod split;
mod splits;
mod stats;
mod walk;

pub use decode::{
    decode_rgb8, decode_working_size, probe_file, ImageLimits, SkipReason, SkippedFile,
};
pub use entry::{FileStamp, ImageEntry};
pub use error::DatasetError;
pub use face_files::face_files;
pub use natural::{natural_cmp, natural_order};
pub use report::{ClassCounts, DatasetReport, SizeRange};
pub use scan::{Dataset, DatasetLayout};
pub use split::{stratified_split, SplitConfig};
pub use splits::{PerSplit, Split};
pub use stats::{
    cache_dir, channel_stats, file_list_fingerprint, file_stamps, relocatable_fingerprint,
    ChannelStats, StatsSource,
};
