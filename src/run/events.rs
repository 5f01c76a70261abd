//! Everything a training run reports, as one typed enum. The same values go over
//! the channel to the CLI/GUI and, one JSON object a line, into `metrics.jsonl`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::RunConfig;
use crate::data::PerSplit;

/// What the run is training on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub root: PathBuf,
    pub classes: Vec<String>,
    /// Images per split.
    #[serde(flatten)]
    pub images: PerSplit<usize>,
    pub skipped: usize,
    pub fingerprint: String,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// Train and validation results of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    pub phase: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub lr: f64,
    pub seconds: f64,
    pub images_per_sec: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishStatus {
    /// Ran every epoch.
    Completed,
    /// Early stopping ended it.
    EarlyStopped,
    /// Stopped on request.
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    Started {
        run: String,
        run_dir: PathBuf,
        config: Box<RunConfig>,
        dataset: DatasetSummary,
        device: String,
        params: usize,
        /// Epochs already done (non-zero when resuming).
        start_epoch: usize,
        /// Batches of the next epoch already done (a run resumed mid-epoch).
        #[serde(default)]
        start_batch: usize,
        time: String,
    },
    /// A split's images are being decoded into the image cache (before
    /// `Started`, so not in `metrics.jsonl`); `done == total` when finished.
    Decoding {
        split: String,
        done: usize,
        total: usize,
        seconds: f64,
    },
    /// Pretrained weights were loaded into the base.
    WeightsLoaded {
        file: PathBuf,
        format: String,
        tensors: usize,
        values: usize,
    },
    Iteration {
        epoch: usize,
        /// Counts across the whole run, 1-based.
        iteration: usize,
        batch: usize,
        batches: usize,
        loss: f64,
        accuracy: f64,
        lr: f64,
        images_per_sec: f64,
    },
    Epoch(EpochMetrics),
    Checkpoint {
        /// Epochs completed when it was saved.
        epoch: usize,
        /// Batches of the next epoch in it, when saved in the middle of one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<usize>,
        kind: CheckpointKind,
        path: PathBuf,
    },
    LrChanged {
        epoch: usize,
        from: f64,
        to: f64,
        reason: String,
    },
    PhaseChanged {
        epoch: usize,
        phase: usize,
        description: String,
    },
    Paused {
        epoch: usize,
        iteration: usize,
    },
    Resumed {
        epoch: usize,
        iteration: usize,
    },
    EarlyStopped {
        epoch: usize,
        best_epoch: usize,
        best_val_accuracy: f64,
    },
    Evaluated {
        split: String,
        accuracy: f64,
        macro_f1: f64,
        macro_auc: Option<f64>,
        path: PathBuf,
    },
    Finished {
        status: FinishStatus,
        epochs_completed: usize,
        best_epoch: usize,
        best_val_accuracy: f64,
        test_accuracy: Option<f64>,
        seconds: f64,
    },
    Failed {
        error: String,
    },
}

impl TrainEvent {
    /// Events after which `metrics.jsonl` is flushed to disk.
    pub fn is_durable(&self) -> bool {
        !matches!(self, TrainEvent::Iteration { .. })
    }
}

/// Which of a run's two checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointKind {
    /// The newest state, for resuming.
    Last,
    /// The epoch with the best val accuracy.
    Best,
}

impl CheckpointKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckpointKind::Last => "last",
            CheckpointKind::Best => "best",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dataset_summary_keeps_its_split_counts_as_top_level_keys() {
        // the shape of run.json's `dataset` since before the counts were a PerSplit
        let written = r#"{"root":"faces","classes":["a","b"],"train":8,"val":2,"test":3,
            "skipped":1,"fingerprint":"f","mean":[0.5,0.5,0.5],"std":[0.2,0.2,0.2]}"#;
        let summary: DatasetSummary = serde_json::from_str(written).unwrap();
        assert_eq!(
            summary.images,
            PerSplit {
                train: 8,
                val: 2,
                test: 3
            }
        );
        let again = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            (again["train"].clone(), again["test"].clone()),
            (8.into(), 3.into())
        );
    }
}
