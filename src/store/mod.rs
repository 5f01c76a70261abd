//! The run store: one folder per run under `runs/`, written atomically and
//! append-only so a crash never loses what came before it.

mod atomic;
mod metrics_log;
mod run_dir;

pub use atomic::atomic_write;
pub use metrics_log::{read_events, MetricsLog};
pub use run_dir::{RunDir, RunRecord, RunStore, RunSummary};
