//! Pretrained bases with the reference work's classification head:
//! global average pool -> BN -> Dense(d1, L2) -> BN -> ReLU -> Dropout ->
//! Dense(d2) -> BN -> ReLU -> Dropout -> Dense(classes).

use burn::module::Initializer;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::batch_norm::BatchNorm2d;
use super::densenet::{DenseNet, DENSENET121_FEATURES};
use super::layers::{global_avg_pool, keras_batch_norm};
use super::xception::{Xception, XCEPTION_FEATURES};

/// Batch-norm epsilon of the reference head (Keras' default).
pub const HEAD_BN_EPSILON: f64 = 1e-3;

/// Sizes of the reference head. Dropout is 0.3 for Xception and 0.5 for
/// DenseNet-121 in the reference runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadConfig {
    pub dense1: usize,
    pub dense2: usize,
    pub dropout: f64,
    /// L2 penalty on the first dense kernel, added to the loss as Keras does.
    pub l2: f64,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            dense1: 1024,
            dense2: 512,
            dropout: 0.3,
            l2: 1e-4,
        }
    }
}

impl HeadConfig {
    pub fn init<B: Backend>(
        &self,
        features: usize,
        classes: usize,
        device: &B::Device,
    ) -> ReferenceHead<B> {
        // Keras defaults: glorot-uniform kernels, zero biases, BN epsilon 1e-3
        let dense = |i: usize, o: usize| {
            LinearConfig::new(i, o)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device)
        };
        let bn = |c: usize| keras_batch_norm(c, HEAD_BN_EPSILON, device);
        ReferenceHead {
            bn0: bn(features),
            dense1: dense(features, self.dense1),
            bn1: bn(self.dense1),
            dense2: dense(self.dense1, self.dense2),
            bn2: bn(self.dense2),
            out: dense(self.dense2, classes),
            dropout: DropoutConfig::new(self.dropout).init(),
            relu: Relu::new(),
            l2: self.l2,
        }
    }
}

#[derive(Module, Debug)]
pub struct ReferenceHead<B: Backend> {
    pub bn0: BatchNorm2d<B>,
    pub dense1: Linear<B>,
    pub bn1: BatchNorm2d<B>,
    pub dense2: Linear<B>,
    pub bn2: BatchNorm2d<B>,
    pub out: Linear<B>,
    dropout: Dropout,
    relu: Relu,
    pub l2: f64,
}

fn bn_1d<B: Backend>(bn: &BatchNorm2d<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let [n, c] = x.dims();
    bn.forward(x.reshape([n, c, 1, 1])).reshape([n, c])
}

impl<B: Backend> ReferenceHead<B> {
    /// Feature map `[N, C, h, w]` to logits `[N, classes]`.
    pub fn forward(&self, features: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = self.dropout.forward(self.penultimate(features));
        self.out.forward(x)
    }

    /// The last hidden layer (after its ReLU, before the last dropout):
    /// `[N, dense2]`.
    pub fn penultimate(&self, features: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = bn_1d(&self.bn0, global_avg_pool(features));
        let x = bn_1d(&self.bn1, self.dense1.forward(x));
        let x = self.dropout.forward(self.relu.forward(x));
        let x = bn_1d(&self.bn2, self.dense2.forward(x));
        self.relu.forward(x)
    }

    /// `l2 * sum(w^2)` over the first dense kernel (Keras' kernel_regularizer).
    pub fn penalty(&self) -> Option<Tensor<B, 1>> {
        (self.l2 > 0.0).then(|| self.dense1.weight.val().square().sum().mul_scalar(self.l2))
    }
}

/// An ImageNet-pretrained feature extractor that the reference head sits on.
pub trait PretrainedBase<B: Backend>: Module<B> {
    /// Channels of its last feature map.
    const FEATURES: usize;
    /// Images `[N, 3, H, W]` to the last feature map `[N, FEATURES, h, w]`.
    fn features(&self, images: Tensor<B, 4>) -> Tensor<B, 4>;
}

impl<B: Backend> PretrainedBase<B> for Xception<B> {
    const FEATURES: usize = XCEPTION_FEATURES;
    fn features(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward(images)
    }
}

impl<B: Backend> PretrainedBase<B> for DenseNet<B> {
    const FEATURES: usize = DENSENET121_FEATURES;
    fn features(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward(images)
    }
}

/// A pretrained base plus the reference head.
#[derive(Module, Debug)]
pub struct TransferNet<B: Backend, Base: Module<B>> {
    pub base: Base,
    pub head: ReferenceHead<B>,
}

/// Xception base plus the reference head.
pub type XceptionNet<B> = TransferNet<B, Xception<B>>;
/// DenseNet-121 base plus the reference head.
pub type DenseNetNet<B> = TransferNet<B, DenseNet<B>>;

impl<B: Backend, Base: PretrainedBase<B>> TransferNet<B, Base> {
    /// `base` (fresh, or with its ImageNet weights) under a new head.
    pub fn new(base: Base, head: &HeadConfig, classes: usize, device: &B::Device) -> Self {
        Self {
            base,
            head: head.init(Base::FEATURES, classes, device),
        }
    }

    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.head.forward(self.base.features(images))
    }
}
