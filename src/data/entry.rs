//! One usable image of a dataset.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One usable image: where it is, its class index, and its size from the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    pub path: PathBuf,
    pub class: usize,
    pub width: u32,
    pub height: u32,
}
