//! The options that name runs, shared by every command that reads or writes
//! them: `--runs` (the run store) and a run's name or path.

use std::path::PathBuf;

use crate::store::{RunDir, RunStore};

/// `--runs`: the folder holding the runs.
#[derive(Debug, Clone, clap::Args)]
pub struct RunsFolder {
    /// Folder holding the runs (and queue.json).
    #[arg(long = "runs", value_name = "DIR", default_value = "runs")]
    pub path: PathBuf,
}

impl RunsFolder {
    pub fn store(&self) -> RunStore {
        RunStore::new(&self.path)
    }
}

/// One run of the store: its name under `--runs`, or its path.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArg {
    /// Run name (under --runs) or path.
    pub run: String,
    #[command(flatten)]
    pub runs: RunsFolder,
}

impl RunArg {
    pub fn open(&self) -> anyhow::Result<RunDir> {
        self.runs.store().open(&self.run)
    }
}
