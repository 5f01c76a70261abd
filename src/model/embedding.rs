//! The penultimate features of each network: what its classifier reads,
//! for the embedding map.

use burn::prelude::*;

use super::Network;

impl<B: Backend> Network<B> {
    /// One feature vector per image: ResNet's pooled last stage (the input
    /// of its classifier), the reference head's last hidden layer (after its
    /// ReLU) for Xception and DenseNet-121.
    pub fn embedding(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Network::Resnet(m) => m.pooled(m.activations_after(images, 4)),
            Network::Xception(m) => m.head.penultimate(m.base.forward(images)),
            Network::Densenet121(m) => m.head.penultimate(m.base.forward(images)),
        }
    }
}
