//! The training engine: the training thread, checkpoints, schedules and the
//! backend a device resolves to. What it is configured with and what it
//! reports are the run's vocabulary, in [`crate::run`].

mod checkpoint;
mod checkpoint_writer;
mod control;
mod device;
mod embed;
mod evaluate;
mod explain;
mod export;
mod lr_find;
mod optimizer;
mod parity;
mod phases;
mod predict;
mod prepare;
mod queue_worker;
mod recorder_error;
mod reporter;
mod schedule;
mod step;
mod trained_run;
mod trainer;
mod training_loop;

pub use checkpoint::{
    encode_checkpoint, find_checkpoint, load_model, write_checkpoint, EncodedCheckpoint,
    TrainerState,
};
pub use control::TrainControl;
#[cfg(feature = "wgpu")]
pub use device::{wgpu_adapters, AdapterKind, WgpuAdapter};
pub use device::{CudaGpu, CudaProbe, DeviceMemory, OnBackend, ResolvedDevice};
pub use embed::{embed_run, EmbedRequest};
pub use evaluate::{evaluate_run, predict};
pub use explain::{explain_run, grad_cam, CamTarget, ExplainRequest, Explanation, FaceMap};
pub use export::{
    export_run, torch_tensors, ExportFormat, ExportReport, ExportRequest, ExportSidecar,
    Preprocessing,
};
pub use lr_find::{find_lr, suggestions, LrFindEnd, LrFindRequest, LrFindResult, LrPoint};
pub use optimizer::AnyOptimizer;
pub use parity::{layer_parity, ParityCheck, PARITY_TOLERANCE};
pub use predict::{predict_run, FacePrediction, PredictRequest};
pub use prepare::{prepare_data, Decode, PreparedData};
pub use queue_worker::{run_queue, QueueEvent};
pub use schedule::{EarlyStopping, LrSchedule};
pub use trained_run::{explained_checkpoint, TrainedRun};
pub use trainer::{start_training, train_blocking, TrainHandle, TrainRequest};
