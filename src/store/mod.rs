//! The run store: one folder per run under `runs/`, written atomically and
//! append-only so a crash never loses what came before it.

mod embeddings;
mod explain_cache;
mod metrics_log;
mod queue;
mod run_diff;
mod run_dir;
mod run_lock;

pub use embeddings::{EmbeddedFace, EmbeddingMap};
pub use explain_cache::{checkpoint_stamp, CachedMap, ExplainCache};
pub use metrics_log::{read_events, MetricsLog, ResumePoint};
pub use queue::{ItemState, QueueFile, QueueItem, QueueScope, RunQueue};
pub use run_diff::{diff_runs, RunDiff};
pub use run_dir::{RunDir, RunRecord, RunStatus, RunStore, RunSummary, TestScores};
pub use run_lock::{lock_holder, lock_run, RunLock, LOCK_FILE};
