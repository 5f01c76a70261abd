//! The layers whose activations Grad-CAM weighs, and the network split at
//! them: activations from images, then logits from the activations.

use std::fmt;

use burn::prelude::*;

use super::{Architecture, Network};

/// A layer Grad-CAM can explain: each architecture's last convolutional
/// block, and for ResNet and Xception the one before it (a finer map).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CamLayer {
    /// The last bottleneck stage's output (`layer4`).
    ResnetLayer4,
    /// The third stage's output (`layer3`), at twice the resolution.
    ResnetLayer3,
    /// Xception's last feature map (Keras `block14_sepconv2_act`).
    XceptionSepconv2Act,
    /// The separable convolution before it (Keras `block14_sepconv1_act`).
    XceptionSepconv1Act,
    /// DenseNet-121's final norm-ReLU (torchvision `norm5` + ReLU).
    DensenetNorm5Relu,
}

impl CamLayer {
    /// The layers of `arch`, the default first.
    pub fn of(arch: Architecture) -> &'static [CamLayer] {
        match arch {
            Architecture::Resnet => &[CamLayer::ResnetLayer4, CamLayer::ResnetLayer3],
            Architecture::Xception => {
                &[CamLayer::XceptionSepconv2Act, CamLayer::XceptionSepconv1Act]
            }
            Architecture::Densenet121 => &[CamLayer::DensenetNorm5Relu],
        }
    }

    /// The name users type (`--layer`) and see.
    pub fn name(self) -> &'static str {
        match self {
            CamLayer::ResnetLayer4 => "layer4",
            CamLayer::ResnetLayer3 => "layer3",
            CamLayer::XceptionSepconv2Act => "block14_sepconv2_act",
            CamLayer::XceptionSepconv1Act => "block14_sepconv1_act",
            CamLayer::DensenetNorm5Relu => "norm5_relu",
        }
    }

    /// The layer of `arch` named `name`, or the default layer for `None`.
    pub fn parse(arch: Architecture, name: Option<&str>) -> Result<CamLayer, String> {
        let layers = CamLayer::of(arch);
        let Some(name) = name else {
            return Ok(layers[0]);
        };
        layers
            .iter()
            .copied()
            .find(|l| l.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = layers.iter().map(|l| l.name()).collect();
                format!(
                    "{name:?} is not a layer Grad-CAM can explain in a {} network; use one of: {}",
                    arch.name(),
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for CamLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<B: Backend> Network<B> {
    /// The activations of `layer` for `images`; `None` when the layer is not
    /// one of this network's.
    pub fn activations(&self, images: Tensor<B, 4>, layer: CamLayer) -> Option<Tensor<B, 4>> {
        Some(match (self, layer) {
            (Network::Resnet(m), CamLayer::ResnetLayer4) => m.activations_after(images, 4),
            (Network::Resnet(m), CamLayer::ResnetLayer3) => m.activations_after(images, 3),
            (Network::Xception(m), CamLayer::XceptionSepconv2Act) => m.base.forward(images),
            (Network::Xception(m), CamLayer::XceptionSepconv1Act) => m.base.to_sepconv1(images),
            (Network::Densenet121(m), CamLayer::DensenetNorm5Relu) => m.base.forward(images),
            _ => return None,
        })
    }

    /// The logits from the activations of `layer` (what
    /// [`Network::activations`] returned); `None` when the layer is not one
    /// of this network's.
    pub fn logits_from(&self, layer: CamLayer, x: Tensor<B, 4>) -> Option<Tensor<B, 2>> {
        Some(match (self, layer) {
            (Network::Resnet(m), CamLayer::ResnetLayer4) => m.logits_after(4, x),
            (Network::Resnet(m), CamLayer::ResnetLayer3) => m.logits_after(3, x),
            (Network::Xception(m), CamLayer::XceptionSepconv2Act) => m.head.forward(x),
            (Network::Xception(m), CamLayer::XceptionSepconv1Act) => {
                m.head.forward(m.base.after_sepconv1(x))
            }
            (Network::Densenet121(m), CamLayer::DensenetNorm5Relu) => m.head.forward(x),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_architecture_has_a_default_layer_and_bad_names_are_named() {
        for arch in [
            Architecture::Resnet,
            Architecture::Xception,
            Architecture::Densenet121,
        ] {
            let default = CamLayer::parse(arch, None).unwrap();
            assert_eq!(default, CamLayer::of(arch)[0]);
            assert_eq!(CamLayer::parse(arch, Some(default.name())), Ok(default));
        }
        let err = CamLayer::parse(Architecture::Resnet, Some("layer9")).unwrap_err();
        assert!(err.contains("layer4, layer3"), "{err}");
    }
}
