//! Model definitions and the architecture registry.

mod batch_norm;
mod cam_layer;
mod densenet;
mod embedding;
mod freeze;
mod keras_layers;
mod layers;
mod params;
mod resnet;
mod transfer;
mod xception;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use batch_norm::BatchNorm2d;
pub use cam_layer::CamLayer;
pub use densenet::{DenseNet, DENSENET121_FEATURES, DENSENET_BN_EPSILON, DENSENET_MIN_INPUT};
pub use freeze::{set_trainable, FreezePlan};
pub use keras_layers::{
    densenet_torch_prefix, keras_layer_names, keras_layers, xception_timm_prefix, KerasLayer,
    SlotKind,
};
pub use params::{layer_table, trainable_params, LayerRow};
pub use resnet::{Bottleneck, ResNet, ResNetConfig};
pub use transfer::{
    DenseNetNet, HeadConfig, PretrainedBase, ReferenceHead, TransferNet, XceptionNet,
    HEAD_BN_EPSILON,
};
pub use xception::{Xception, XCEPTION_BN_EPSILON, XCEPTION_FEATURES, XCEPTION_MIN_INPUT};

/// The architectures the engine can train. The GUI lists exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// ResNet with bottleneck blocks, trained from scratch.
    Resnet,
    /// Xception (Keras layout) with the reference head, fine-tuned from ImageNet.
    Xception,
    /// DenseNet-121 with the reference head, fine-tuned from ImageNet.
    Densenet121,
}

impl Architecture {
    pub const ALL: [Architecture; 3] = [
        Architecture::Resnet,
        Architecture::Xception,
        Architecture::Densenet121,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Architecture::Resnet => "resnet",
            Architecture::Xception => "xception",
            Architecture::Densenet121 => "densenet121",
        }
    }

    /// The batch-norm epsilon of the network's base (its convolutional
    /// part; the reference head uses [`HEAD_BN_EPSILON`]).
    pub fn batch_norm_epsilon(self) -> f64 {
        match self {
            Architecture::Resnet => 1e-5,
            Architecture::Xception => XCEPTION_BN_EPSILON,
            Architecture::Densenet121 => DENSENET_BN_EPSILON,
        }
    }

    /// A pretrained base with the reference head, trained in two phases.
    pub fn is_transfer(self) -> bool {
        !matches!(self, Architecture::Resnet)
    }

    /// Smallest input side the network accepts.
    pub fn min_input(self) -> usize {
        match self {
            Architecture::Resnet => 32,
            Architecture::Xception => XCEPTION_MIN_INPUT,
            Architecture::Densenet121 => DENSENET_MIN_INPUT,
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "resnet" | "resnet50" | "resnet-50" => Ok(Architecture::Resnet),
            "xception" => Ok(Architecture::Xception),
            "densenet121" | "densenet-121" | "densenet" => Ok(Architecture::Densenet121),
            other => Err(format!(
                "unknown architecture '{other}'; available: {}",
                Self::ALL.map(|a| a.name()).join(", ")
            )),
        }
    }
}

/// Everything that decides the shape of the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub architecture: Architecture,
    /// Bottleneck blocks per stage: [3, 4, 6, 3] is ResNet-50.
    pub depths: [usize; 4],
    /// Planes of the first stage (64 in ResNet-50); later stages double it.
    pub base_planes: usize,
    /// The classification head on a pretrained base (Xception, DenseNet-121).
    pub head: HeadConfig,
    /// ImageNet weights for the base (.h5, .pth or .safetensors, optionally
    /// gzipped). A bare file name is also looked up in `$FACEBENCH_WEIGHTS_DIR`
    /// and the cache's `weights/` folder. None: random initialisation.
    pub weights: Option<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            architecture: Architecture::Resnet,
            depths: [3, 4, 6, 3],
            base_planes: 64,
            head: HeadConfig::default(),
            weights: None,
        }
    }
}

impl ModelConfig {
    pub fn init<B: Backend>(&self, num_classes: usize, device: &B::Device) -> Network<B> {
        match self.architecture {
            Architecture::Resnet => Network::Resnet(
                ResNetConfig {
                    depths: self.depths,
                    base_planes: self.base_planes,
                    num_classes,
                }
                .init(device),
            ),
            Architecture::Xception => Network::Xception(XceptionNet::new(
                Xception::new(device),
                &self.head,
                num_classes,
                device,
            )),
            Architecture::Densenet121 => Network::Densenet121(DenseNetNet::new(
                DenseNet::densenet121(device),
                &self.head,
                num_classes,
                device,
            )),
        }
    }

    /// A short human name, e.g. "ResNet-50" or "ResNet [1,1,1,1] x16".
    pub fn display_name(&self) -> String {
        match self.architecture {
            Architecture::Resnet => {
                let known = match self.depths {
                    [3, 4, 6, 3] => Some("ResNet-50"),
                    [3, 4, 23, 3] => Some("ResNet-101"),
                    [3, 8, 36, 3] => Some("ResNet-152"),
                    [9, 9, 9, 9] => Some("ResNet [9,9,9,9]"),
                    _ => None,
                };
                let name = known.map(str::to_string).unwrap_or_else(|| {
                    let d = self.depths;
                    format!("ResNet [{},{},{},{}]", d[0], d[1], d[2], d[3])
                });
                if self.base_planes == 64 {
                    name
                } else {
                    format!("{name} x{}", self.base_planes)
                }
            }
            Architecture::Xception => "Xception".into(),
            Architecture::Densenet121 => "DenseNet-121".into(),
        }
    }
}

/// Any network the engine trains: one forward from images (N x 3 x H x W) to
/// logits (N x classes).
#[derive(Module, Debug)]
pub enum Network<B: Backend> {
    Resnet(ResNet<B>),
    Xception(XceptionNet<B>),
    Densenet121(DenseNetNet<B>),
}

impl<B: Backend> Network<B> {
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Network::Resnet(m) => m.forward(images),
            Network::Xception(m) => m.forward(images),
            Network::Densenet121(m) => m.forward(images),
        }
    }

    /// Regularisation added to the loss (the head's L2), if any.
    pub fn penalty(&self) -> Option<Tensor<B, 1>> {
        match self {
            Network::Resnet(_) => None,
            Network::Xception(m) => m.head.penalty(),
            Network::Densenet121(m) => m.head.penalty(),
        }
    }
}
