//! Input normalisation modes, each reduced to a per-channel mean and std on [0, 1].

use serde::{Deserialize, Serialize};

use crate::data::ChannelStats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// The train split's own per-channel mean/std (the reference ResNet run).
    DatasetMeanStd,
    /// Keras "tf" mode: scale to [-1, 1] (Xception).
    KerasTf,
    /// Keras/torchvision "torch" mode: ImageNet mean/std (DenseNet).
    TorchImagenet,
}

impl Normalization {
    /// The mean and std to subtract and divide by. `DatasetMeanStd` needs the
    /// dataset's statistics.
    pub fn mean_std(self, stats: Option<&ChannelStats>) -> ([f32; 3], [f32; 3]) {
        match self {
            Normalization::DatasetMeanStd => match stats {
                Some(s) => (s.mean, s.std),
                None => ([0.5; 3], [0.5; 3]),
            },
            Normalization::KerasTf => ([0.5; 3], [0.5; 3]),
            Normalization::TorchImagenet => ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        }
    }
}
