//! Building blocks shared by the transfer-learning architectures: Keras-style
//! separable convolutions, TensorFlow "same" max pooling, convolution configs.

use burn::module::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::prelude::*;

use crate::kernels::conv2d_module;

use super::batch_norm::BatchNorm2d;

/// Keras' BatchNormalization momentum 0.99, written the PyTorch way (weight of
/// the new batch statistic).
pub const KERAS_BN_MOMENTUM: f64 = 0.01;

/// A batch norm with Keras' momentum and the given epsilon.
pub fn keras_batch_norm<B: Backend>(
    channels: usize,
    epsilon: f64,
    device: &B::Device,
) -> BatchNorm2d<B> {
    let mut b = BatchNorm2d::with_epsilon(channels, epsilon, device);
    b.momentum = KERAS_BN_MOMENTUM;
    b
}

/// A bias-free convolution with Keras' default glorot-uniform kernel init.
pub fn conv_config(cin: usize, cout: usize, k: usize, stride: usize, pad: usize) -> Conv2dConfig {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
}

/// Keras `SeparableConv2D(padding="same", use_bias=False)`: a 3x3 depthwise
/// convolution (one filter per channel) followed by a 1x1 pointwise one.
#[derive(Module, Debug)]
pub struct SeparableConv2d<B: Backend> {
    pub depthwise: Conv2d<B>,
    pub pointwise: Conv2d<B>,
}

impl<B: Backend> SeparableConv2d<B> {
    pub fn new(cin: usize, cout: usize, device: &B::Device) -> Self {
        Self {
            depthwise: conv_config(cin, cin, 3, 1, 1).with_groups(cin).init(device),
            pointwise: conv_config(cin, cout, 1, 1, 0).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        conv2d_module(&self.pointwise, conv2d_module(&self.depthwise, x))
    }
}

/// TensorFlow's "same" padding for one axis: (before, after).
pub fn tf_same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// `MaxPooling2D(kernel, strides, padding="same")` as TensorFlow computes it: the
/// extra padding row/column (when odd) goes after, and padding never wins a max.
pub fn max_pool_same<B: Backend>(x: Tensor<B, 4>, kernel: usize, stride: usize) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    let (top, bottom) = tf_same_padding(h, kernel, stride);
    let (left, right) = tf_same_padding(w, kernel, stride);
    crate::kernels::max_pool2d(
        x,
        [kernel, kernel],
        [stride, stride],
        [top, left],
        [bottom, right],
    )
}

/// Mean over the spatial axes: `[N, C, H, W]` to `[N, C]`.
pub fn global_avg_pool<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_same_padding_matches_tensorflow() {
        // 146 -> 73 needs one extra column, after (Xception's block2_pool)
        assert_eq!(tf_same_padding(146, 3, 2), (0, 1));
        assert_eq!(tf_same_padding(147, 3, 2), (1, 1));
        assert_eq!(tf_same_padding(10, 3, 1), (1, 1));
        assert_eq!(tf_same_padding(9, 1, 2), (0, 0));
    }
}
