//! Xception (Chollet 2017) in the Keras Applications layout, without its top:
//! entry flow (blocks 1-4), middle flow (blocks 5-12), exit flow (13-14).
//! Batch norms use Keras' epsilon 1e-3. Any input of at least 71 px works.

use burn::nn::conv::Conv2d;
use burn::nn::Relu;
use burn::prelude::*;

use crate::kernels::conv2d_module;

use super::batch_norm::BatchNorm2d;
use super::layers::{conv_config, keras_batch_norm, max_pool_same, SeparableConv2d};

pub const XCEPTION_BN_EPSILON: f64 = 1e-3;
/// Smallest input side the network accepts (Keras' own limit).
pub const XCEPTION_MIN_INPUT: usize = 71;
/// Channels of the last feature map.
pub const XCEPTION_FEATURES: usize = 2048;

fn bn<B: Backend>(channels: usize, device: &B::Device) -> BatchNorm2d<B> {
    keras_batch_norm(channels, XCEPTION_BN_EPSILON, device)
}

/// An entry/exit block: two separable convs and a strided max pool, plus a 1x1
/// strided convolution on the shortcut (Keras names it `conv2d_N`).
#[derive(Module, Debug)]
pub struct DownBlock<B: Backend> {
    pub shortcut: Conv2d<B>,
    pub shortcut_bn: BatchNorm2d<B>,
    pub sepconv1: SeparableConv2d<B>,
    pub sepconv1_bn: BatchNorm2d<B>,
    pub sepconv2: SeparableConv2d<B>,
    pub sepconv2_bn: BatchNorm2d<B>,
    /// Block 2 starts without a ReLU (its input just went through one).
    pub relu_first: bool,
    relu: Relu,
}

impl<B: Backend> DownBlock<B> {
    fn new(cin: usize, mid: usize, cout: usize, relu_first: bool, device: &B::Device) -> Self {
        Self {
            shortcut: conv_config(cin, cout, 1, 2, 0).init(device),
            shortcut_bn: bn(cout, device),
            sepconv1: SeparableConv2d::new(cin, mid, device),
            sepconv1_bn: bn(mid, device),
            sepconv2: SeparableConv2d::new(mid, cout, device),
            sepconv2_bn: bn(cout, device),
            relu_first,
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let residual = self
            .shortcut_bn
            .forward(conv2d_module(&self.shortcut, x.clone()));
        let x = if self.relu_first {
            self.relu.forward(x)
        } else {
            x
        };
        let x = self.sepconv1_bn.forward_relu(self.sepconv1.forward(x));
        let x = self.sepconv2_bn.forward(self.sepconv2.forward(x));
        max_pool_same(x, 3, 2) + residual
    }
}

/// A middle-flow block: three ReLU-separable conv-BN steps and an identity
/// shortcut, 728 channels throughout.
#[derive(Module, Debug)]
pub struct MiddleBlock<B: Backend> {
    pub sepconvs: Vec<SeparableConv2d<B>>,
    pub bns: Vec<BatchNorm2d<B>>,
    relu: Relu,
}

impl<B: Backend> MiddleBlock<B> {
    fn new(device: &B::Device) -> Self {
        Self {
            sepconvs: (0..3)
                .map(|_| SeparableConv2d::new(728, 728, device))
                .collect(),
            bns: (0..3).map(|_| bn(728, device)).collect(),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        // relu -> sepconv -> bn, three times: each ReLU but the first is
        // fused into the batch norm before it
        let mut out = self.relu.forward(x.clone());
        let last = self.bns.len().saturating_sub(1);
        for (i, (conv, bn)) in self.sepconvs.iter().zip(&self.bns).enumerate() {
            let y = conv.forward(out);
            out = if i < last {
                bn.forward_relu(y)
            } else {
                bn.forward(y)
            };
        }
        out + x
    }
}

/// The Xception base: images `[N, 3, H, W]` to features `[N, 2048, h, w]`.
#[derive(Module, Debug)]
pub struct Xception<B: Backend> {
    pub block1_conv1: Conv2d<B>,
    pub block1_conv1_bn: BatchNorm2d<B>,
    pub block1_conv2: Conv2d<B>,
    pub block1_conv2_bn: BatchNorm2d<B>,
    /// Blocks 2, 3 and 4.
    pub entry: Vec<DownBlock<B>>,
    /// Blocks 5 to 12.
    pub middle: Vec<MiddleBlock<B>>,
    /// Block 13.
    pub exit: DownBlock<B>,
    pub block14_sepconv1: SeparableConv2d<B>,
    pub block14_sepconv1_bn: BatchNorm2d<B>,
    pub block14_sepconv2: SeparableConv2d<B>,
    pub block14_sepconv2_bn: BatchNorm2d<B>,
}

impl<B: Backend> Xception<B> {
    pub fn new(device: &B::Device) -> Self {
        Self {
            block1_conv1: conv_config(3, 32, 3, 2, 0).init(device),
            block1_conv1_bn: bn(32, device),
            block1_conv2: conv_config(32, 64, 3, 1, 0).init(device),
            block1_conv2_bn: bn(64, device),
            entry: vec![
                DownBlock::new(64, 128, 128, false, device),
                DownBlock::new(128, 256, 256, true, device),
                DownBlock::new(256, 728, 728, true, device),
            ],
            middle: (0..8).map(|_| MiddleBlock::new(device)).collect(),
            exit: DownBlock::new(728, 728, 1024, true, device),
            block14_sepconv1: SeparableConv2d::new(1024, 1536, device),
            block14_sepconv1_bn: bn(1536, device),
            block14_sepconv2: SeparableConv2d::new(1536, XCEPTION_FEATURES, device),
            block14_sepconv2_bn: bn(XCEPTION_FEATURES, device),
        }
    }

    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        self.after_sepconv1(self.to_sepconv1(images))
    }

    /// The output of `block14_sepconv1_act` for `images`.
    pub fn to_sepconv1(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = self
            .block1_conv1_bn
            .forward_relu(conv2d_module(&self.block1_conv1, images));
        let mut x = self
            .block1_conv2_bn
            .forward_relu(conv2d_module(&self.block1_conv2, x));
        for block in &self.entry {
            x = block.forward(x);
        }
        for block in &self.middle {
            x = block.forward(x);
        }
        let x = self.exit.forward(x);
        self.block14_sepconv1_bn
            .forward_relu(self.block14_sepconv1.forward(x))
    }

    /// The last feature map (`block14_sepconv2_act`) from the output of
    /// `block14_sepconv1_act`.
    pub fn after_sepconv1(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.block14_sepconv2_bn
            .forward_relu(self.block14_sepconv2.forward(x))
    }
}
