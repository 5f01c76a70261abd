//! DenseNet-121 (Huang et al. 2017) without its classifier: growth 32, blocks
//! 6-12-24-16, BN-ReLU-conv ordering, 4x bottleneck, compression 0.5. The same
//! network as torchvision's `densenet121().features` and Keras' `DenseNet121`
//! (which pads explicitly where torchvision pads in the op: same result).

use burn::nn::conv::Conv2d;
use burn::prelude::*;

use crate::kernels::{cat_channels, conv2d_module};
use burn::tensor::module::avg_pool2d;

use super::batch_norm::BatchNorm2d;
use super::layers::{conv_config, keras_batch_norm};

/// Keras' DenseNet epsilon (torchvision's 1e-5 differs by 1e-8: no measurable change).
pub const DENSENET_BN_EPSILON: f64 = 1.001e-5;
pub const DENSENET_GROWTH: usize = 32;
pub const DENSENET121_BLOCKS: [usize; 4] = [6, 12, 24, 16];
/// Channels of the last feature map.
pub const DENSENET121_FEATURES: usize = 1024;
pub const DENSENET_MIN_INPUT: usize = 32;

fn bn<B: Backend>(channels: usize, device: &B::Device) -> BatchNorm2d<B> {
    keras_batch_norm(channels, DENSENET_BN_EPSILON, device)
}

/// BN-ReLU-conv1x1 (4 x growth) - BN-ReLU-conv3x3 (growth); its output is
/// concatenated to its input.
#[derive(Module, Debug)]
pub struct DenseLayer<B: Backend> {
    pub norm1: BatchNorm2d<B>,
    pub conv1: Conv2d<B>,
    pub norm2: BatchNorm2d<B>,
    pub conv2: Conv2d<B>,
}

impl<B: Backend> DenseLayer<B> {
    fn new(cin: usize, device: &B::Device) -> Self {
        let mid = 4 * DENSENET_GROWTH;
        Self {
            norm1: bn(cin, device),
            conv1: conv_config(cin, mid, 1, 1, 0).init(device),
            norm2: bn(mid, device),
            conv2: conv_config(mid, DENSENET_GROWTH, 3, 1, 1).init(device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = conv2d_module(&self.conv1, self.norm1.forward_relu(x));
        conv2d_module(&self.conv2, self.norm2.forward_relu(y))
    }
}

#[derive(Module, Debug)]
pub struct DenseBlock<B: Backend> {
    pub layers: Vec<DenseLayer<B>>,
}

impl<B: Backend> DenseBlock<B> {
    /// Each layer sees every earlier feature map, concatenated; the
    /// concatenation grows by one layer's output at a time (the same values
    /// as concatenating the whole list each time, as torchvision does, and the
    /// same copies).
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.layers.iter().fold(x, |features, layer| {
            let new = layer.forward(features.clone());
            cat_channels(features, new)
        })
    }
}

/// BN-ReLU-conv1x1 halving the channels, then 2x2 average pooling.
#[derive(Module, Debug)]
pub struct Transition<B: Backend> {
    pub norm: BatchNorm2d<B>,
    pub conv: Conv2d<B>,
}

impl<B: Backend> Transition<B> {
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = conv2d_module(&self.conv, self.norm.forward_relu(x));
        avg_pool2d(x, [2, 2], [2, 2], [0, 0], true, false)
    }
}

/// The DenseNet-121 base: images `[N, 3, H, W]` to features `[N, 1024, h, w]`
/// (after the final BN and ReLU).
#[derive(Module, Debug)]
pub struct DenseNet<B: Backend> {
    pub conv0: Conv2d<B>,
    pub norm0: BatchNorm2d<B>,
    pub blocks: Vec<DenseBlock<B>>,
    pub transitions: Vec<Transition<B>>,
    pub norm5: BatchNorm2d<B>,
}

impl<B: Backend> DenseNet<B> {
    pub fn densenet121(device: &B::Device) -> Self {
        let mut channels = 64;
        let mut blocks = Vec::new();
        let mut transitions = Vec::new();
        for (i, &n) in DENSENET121_BLOCKS.iter().enumerate() {
            let layers = (0..n)
                .map(|l| DenseLayer::new(channels + l * DENSENET_GROWTH, device))
                .collect();
            blocks.push(DenseBlock { layers });
            channels += n * DENSENET_GROWTH;
            if i + 1 < DENSENET121_BLOCKS.len() {
                transitions.push(Transition {
                    norm: bn(channels, device),
                    conv: conv_config(channels, channels / 2, 1, 1, 0).init(device),
                });
                channels /= 2;
            }
        }
        Self {
            conv0: conv_config(3, 64, 7, 2, 3).init(device),
            norm0: bn(64, device),
            blocks,
            transitions,
            norm5: bn(channels, device),
        }
    }

    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = self.norm0.forward_relu(conv2d_module(&self.conv0, images));
        // after a ReLU, zero padding (Keras) and -inf padding (torchvision) agree
        let mut x = crate::kernels::max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1]);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if let Some(t) = self.transitions.get(i) {
                x = t.forward(x);
            }
        }
        self.norm5.forward_relu(x)
    }
}
