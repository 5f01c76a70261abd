//! The training engine: configuration, the training thread, checkpoints,
//! schedules, device choice and the events it streams.

mod checkpoint;
mod checkpoint_writer;
mod config;
mod control;
mod device;
mod evaluate;
mod events;
mod optimizer;
mod phases;
mod prepare;
mod schedule;
mod trainer;
mod training_loop;

pub use checkpoint::{
    encode_checkpoint, find_checkpoint, load_model, write_checkpoint, CheckpointKind,
    EncodedCheckpoint, TrainerState,
};
pub use config::{
    ConfigProblem, DataConfig, EarlyStoppingConfig, FinetuneConfig, Monitor, OptimizerConfig,
    OptimizerKind, RunConfig, SchedulerConfig, SchedulerKind, TrainConfig,
};
pub use control::TrainControl;
pub use device::{cuda_driver_available, DeviceChoice, OnBackend, ResolvedDevice};
pub use evaluate::{evaluate_run, predict};
pub use events::{DatasetSummary, EpochMetrics, FinishStatus, TrainEvent};
pub use optimizer::AnyOptimizer;
pub use prepare::{prepare_data, PreparedData};
pub use schedule::{EarlyStopping, LrSchedule};
pub use trainer::{start_training, train_blocking, TrainHandle, TrainRequest};
