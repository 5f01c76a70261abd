//! The run's shared vocabulary: what a run is configured with
//! ([`RunConfig`] and its groups), where it runs ([`DeviceChoice`]) and what it
//! reports ([`TrainEvent`]). The engine produces these values, the store
//! writes and reads them, the CLI and the GUI show them; none of those
//! layers is needed to name them, so this folder imports none of them.

mod config;
mod config_diff;
mod device;
mod event_text;
mod events;
mod fields;
mod sink;
mod sweep;

pub use config::{
    ConfigProblem, DataConfig, EarlyStoppingConfig, FinetuneConfig, Monitor, OptimizerConfig,
    OptimizerKind, RunConfig, SchedulerConfig, SchedulerKind, TrainConfig,
};
pub use config_diff::ConfigChange;
pub use device::DeviceChoice;
pub use event_text::event_line;
pub use events::{CheckpointKind, DatasetSummary, EpochMetrics, FinishStatus, TrainEvent};
pub use fields::{Bounds, Field, FieldSpec};
pub use sink::EventSink;
pub use sweep::{default_sweep_name, expand_sweep, GridAxis, SweepTag};
