//! Batch normalisation over `[N, C, H, W]`, written so every per-channel
//! operation broadcasts over a `[N, C, 1]` view. burn 0.21's own `BatchNorm`
//! broadcasts `[1, C, 1, 1]` against 4-D tensors, which burn-flex executes about
//! 20-40x slower on the CPU (measured in docs/performance.md); the maths here is
//! the same (PyTorch's: biased variance to normalise, unbiased for the running
//! estimate, momentum 0.1 on the new value).

use burn::module::{Param, RunningState};
use burn::prelude::*;
use burn::tensor::activation;

use crate::kernels;

#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
    pub momentum: f64,
    pub epsilon: f64,
}

impl<B: Backend> BatchNorm2d<B> {
    /// PyTorch's defaults: epsilon 1e-5, momentum 0.1.
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self::with_epsilon(channels, 1e-5, device)
    }

    pub fn with_epsilon(channels: usize, epsilon: f64, device: &B::Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: 0.1,
            epsilon,
        }
    }

    /// Batch statistics when the backend records gradients and the layer is
    /// trainable, running statistics otherwise (inference or frozen).
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_then(x, false)
    }

    /// `relu(self.forward(x))`; on the CPU kernels' training path one
    /// operation that keeps only the ReLU's output for its backward (a
    /// separate ReLU keeps the batch norm's output too: one activation more
    /// per pair, in ResNet, Xception and DenseNet alike).
    pub fn forward_relu(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_then(x, true)
    }

    fn forward_then(&self, x: Tensor<B, 4>, relu: bool) -> Tensor<B, 4> {
        // a frozen BN (its parameters not trainable) normalises with its running
        // statistics, as Keras does for layers with trainable=False
        let training = B::ad_enabled(&x.device()) && self.gamma.val().is_require_grad();
        let [n, _, h, w] = x.dims();
        if training {
            let (gamma, beta) = (self.gamma.val(), self.beta.val());
            if let Some((y, mean, var)) =
                kernels::batch_norm_train(&x, &gamma, &beta, self.epsilon, relu)
            {
                let count = (n * h * w) as f64;
                self.update_running(mean, var.mul_scalar(count / (count - 1.0).max(1.0)));
                return y;
            }
        } else {
            let (scale, shift) = self.frozen_affine();
            if let Some(y) = kernels::channel_affine(&x, &scale, &shift, relu) {
                return y;
            }
        }
        let y = self.forward_composed(x);
        if relu {
            activation::relu(y)
        } else {
            y
        }
    }

    /// Per-channel scale and shift of the running statistics.
    fn frozen_affine(&self) -> (Tensor<B, 1>, Tensor<B, 1>) {
        let mean = self.running_mean.value();
        let var = self.running_var.value();
        let scale = self.gamma.val() / var.add_scalar(self.epsilon).sqrt();
        let shift = self.beta.val() - mean * scale.clone();
        (scale, shift)
    }

    /// The same maths composed from tensor operations (any backend; the CPU
    /// kernels are checked against it).
    pub fn forward_composed(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [n, c, h, w] = x.dims();
        let x3 = x.reshape([n, c, h * w]);
        let per_item = |t: Tensor<B, 3>| t.repeat_dim(0, n);
        let training = B::ad_enabled(&x3.device()) && self.gamma.val().is_require_grad();
        let y = if training {
            let count = (n * h * w) as f64;
            let mean = x3.clone().mean_dim(2).mean_dim(0); // [1, C, 1]
            let centred = x3 - per_item(mean.clone());
            let var = centred.clone().square().mean_dim(2).mean_dim(0);
            let unbiased = var
                .clone()
                .detach()
                .mul_scalar(count / (count - 1.0).max(1.0));
            self.update_running(mean.detach().reshape([c]), unbiased.reshape([c]));
            let scale = self.gamma.val().reshape([1, c, 1]) / var.add_scalar(self.epsilon).sqrt();
            centred * per_item(scale) + per_item(self.beta.val().reshape([1, c, 1]))
        } else {
            let (scale, shift) = self.frozen_affine();
            x3 * per_item(scale.reshape([1, c, 1])) + per_item(shift.reshape([1, c, 1]))
        };
        y.reshape([n, c, h, w])
    }

    fn update_running(&self, mean: Tensor<B, 1>, var: Tensor<B, 1>) {
        let m = self.momentum;
        let rm = self.running_mean.value_sync().mul_scalar(1.0 - m) + mean.mul_scalar(m);
        let rv = self.running_var.value_sync().mul_scalar(1.0 - m) + var.mul_scalar(m);
        self.running_mean.update(rm.detach());
        self.running_var.update(rv.detach());
    }
}
