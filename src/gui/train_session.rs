//! A training run started from this window: the engine's handle and what
//! its events have drawn so far.

use std::path::PathBuf;

use super::live_run::LiveRun;
use crate::engine::TrainHandle;

/// A training run started from this window.
pub struct TrainSession {
    pub handle: TrainHandle,
    pub live: LiveRun,
    pub run_dir: Option<PathBuf>,
}
