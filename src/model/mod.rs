//! Model definitions and the architecture registry.

mod batch_norm;
mod params;
mod resnet;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use batch_norm::BatchNorm2d;
pub use params::{layer_table, trainable_params, LayerRow};
pub use resnet::{Bottleneck, ResNet, ResNetConfig};

/// The architectures the engine can train. The GUI lists exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// ResNet with bottleneck blocks, trained from scratch.
    Resnet,
}

impl Architecture {
    pub const ALL: [Architecture; 1] = [Architecture::Resnet];

    pub fn name(self) -> &'static str {
        match self {
            Architecture::Resnet => "resnet",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "resnet" | "resnet50" | "resnet-50" => Ok(Architecture::Resnet),
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
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            architecture: Architecture::Resnet,
            depths: [3, 4, 6, 3],
            base_planes: 64,
        }
    }
}

impl ModelConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.depths.iter().any(|&d| d == 0 || d > 64) {
            out.push(format!(
                "depths {:?}: each stage needs 1 to 64 blocks",
                self.depths
            ));
        }
        if !(4..=256).contains(&self.base_planes) {
            out.push(format!(
                "base_planes {} must be in 4..=256",
                self.base_planes
            ));
        }
        out
    }

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
        }
    }
}

/// Any network the engine trains: one forward from images (N x 3 x H x W) to
/// logits (N x classes).
#[derive(Module, Debug)]
pub enum Network<B: Backend> {
    Resnet(ResNet<B>),
}

impl<B: Backend> Network<B> {
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Network::Resnet(m) => m.forward(images),
        }
    }
}
