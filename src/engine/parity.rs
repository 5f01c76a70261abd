//! Does a device compute what the CPU computes? Every layer family the three
//! networks use, at the shapes of their first layers (smaller spatially),
//! forward and backward on the device and on the CPU (burn-flex with
//! facebench's kernels) from the same seeded inputs. `facebench doctor` runs
//! it so a user learns in seconds whether the kernels their GPU compiles give
//! the CPU's numbers; the wgpu tests run it on lavapipe.

use burn::module::{Param, RunningState};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::{Rng, SeedableRng};

use super::device::{OnBackend, ResolvedDevice};
use crate::kernels::{add_relu, cat_channels, conv2d, max_pool2d, ConvSpec};
use crate::model::BatchNorm2d;

/// Largest accepted relative error: max |device - cpu| / max |cpu|, over the
/// output and every gradient of a check.
pub const PARITY_TOLERANCE: f64 = 1e-4;

/// One layer family's result.
#[derive(Debug, Clone)]
pub struct ParityCheck {
    pub name: &'static str,
    /// The worst relative error over the output and the gradients.
    pub max_rel: f64,
    /// Output and gradients compared.
    pub tensors: usize,
}

impl ParityCheck {
    pub fn passed(&self) -> bool {
        self.max_rel <= PARITY_TOLERANCE
    }
}

/// The layer families, in the order they are checked.
#[derive(Debug, Clone, Copy)]
enum Layer {
    /// ResNet's stem: 7x7, stride 2, padding 3, with bias.
    StemConv,
    /// Xception's entry: 3x3, stride 2, no padding.
    StridedValidConv,
    /// A ResNet bottleneck's 3x3.
    DenseConv,
    /// Xception's separable convolution, depthwise half.
    Depthwise,
    /// ... and its pointwise half (also ResNet's and DenseNet's 1x1s).
    Pointwise,
    /// Xception's 3x3 stride-2 pooling with TensorFlow's asymmetric "same" pad.
    MaxPoolSame,
    BatchNormTrain,
    BatchNormEval,
    /// DenseNet's dense-block concatenation.
    Concat,
    /// ResNet's residual sum with its ReLU.
    ResidualAddRelu,
}

const LAYERS: [Layer; 10] = [
    Layer::StemConv,
    Layer::StridedValidConv,
    Layer::DenseConv,
    Layer::Depthwise,
    Layer::Pointwise,
    Layer::MaxPoolSame,
    Layer::BatchNormTrain,
    Layer::BatchNormEval,
    Layer::Concat,
    Layer::ResidualAddRelu,
];

impl Layer {
    fn name(self) -> &'static str {
        match self {
            Layer::StemConv => "conv 7x7 stride 2 pad 3 + bias (ResNet/DenseNet stem)",
            Layer::StridedValidConv => "conv 3x3 stride 2 valid (Xception entry)",
            Layer::DenseConv => "conv 3x3 pad 1 (ResNet bottleneck)",
            Layer::Depthwise => "depthwise conv 3x3 (Xception separable)",
            Layer::Pointwise => "pointwise conv 1x1",
            Layer::MaxPoolSame => "max pool 3x3 stride 2, TF 'same' asymmetric pad",
            Layer::BatchNormTrain => "batch norm + ReLU, train mode",
            Layer::BatchNormEval => "batch norm, eval mode (frozen)",
            Layer::Concat => "channel concatenation (DenseNet)",
            Layer::ResidualAddRelu => "residual add + ReLU (ResNet)",
        }
    }

    /// The output and the gradients of every input (and, in train-mode
    /// batch norm, the updated running statistics), as host vectors.
    fn run<B: AutodiffBackend>(self, device: &B::Device) -> Vec<Vec<f32>> {
        let seed = self as u64 * 100;
        let input =
            |shape: [usize; 4], k: u64| seeded::<B, 4>(shape, seed + k, device).require_grad();
        let conv = |x: [usize; 4], w: [usize; 4], bias: bool, spec: ConvSpec| {
            let (x, w) = (input(x, 1), input(w, 2));
            let b = bias.then(|| seeded::<B, 1>([w.dims()[0]], seed + 3, device).require_grad());
            let (y, grads) =
                y_and_grads(conv2d(x.clone(), w.clone(), b.clone(), spec), seed, device);
            let mut out = vec![y, grad(&x, &grads), grad(&w, &grads)];
            out.extend(b.map(|b| grad(&b, &grads)));
            out
        };
        let spec = |stride: usize, pad: usize, groups: usize| ConvSpec {
            stride: [stride; 2],
            pad_start: [pad; 2],
            pad_end: [pad; 2],
            dilation: [1; 2],
            groups,
        };
        let two_inputs =
            |a: Tensor<B, 4>,
             b: Tensor<B, 4>,
             op: fn(Tensor<B, 4>, Tensor<B, 4>) -> Tensor<B, 4>| {
                let (y, grads) = y_and_grads(op(a.clone(), b.clone()), seed, device);
                vec![y, grad(&a, &grads), grad(&b, &grads)]
            };
        match self {
            Layer::StemConv => conv([2, 3, 24, 24], [8, 3, 7, 7], true, spec(2, 3, 1)),
            Layer::StridedValidConv => conv([2, 3, 23, 23], [8, 3, 3, 3], false, spec(2, 0, 1)),
            Layer::DenseConv => conv([2, 16, 10, 10], [16, 16, 3, 3], false, spec(1, 1, 1)),
            Layer::Depthwise => conv([2, 24, 10, 10], [24, 1, 3, 3], false, spec(1, 1, 24)),
            Layer::Pointwise => conv([2, 24, 10, 10], [32, 24, 1, 1], false, spec(1, 0, 1)),
            Layer::MaxPoolSame => {
                let x = input([2, 8, 10, 10], 1);
                let (y, grads) = y_and_grads(
                    max_pool2d(x.clone(), [3, 3], [2, 2], [0, 0], [1, 1]),
                    seed,
                    device,
                );
                vec![y, grad(&x, &grads)]
            }
            Layer::BatchNormTrain | Layer::BatchNormEval => {
                let train = matches!(self, Layer::BatchNormTrain);
                let (x, c) = (input([4, 12, 6, 6], 1), 12);
                let bn = BatchNorm2d {
                    gamma: Param::from_tensor(
                        seeded::<B, 1>([c], seed + 4, device).add_scalar(1.5),
                    )
                    .set_require_grad(train),
                    beta: Param::from_tensor(seeded::<B, 1>([c], seed + 5, device))
                        .set_require_grad(train),
                    running_mean: RunningState::new(seeded::<B, 1>([c], seed + 6, device)),
                    running_var: RunningState::new(
                        seeded::<B, 1>([c], seed + 7, device).abs().add_scalar(0.5),
                    ),
                    momentum: 0.1,
                    epsilon: 1e-3,
                };
                let y = if train {
                    bn.forward_relu(x.clone())
                } else {
                    bn.forward(x.clone())
                };
                let (y, grads) = y_and_grads(y, seed, device);
                let mut out = vec![y, grad(&x, &grads)];
                if train {
                    out.push(grad(&bn.gamma.val(), &grads));
                    out.push(grad(&bn.beta.val(), &grads));
                    out.push(host(bn.running_mean.value().inner()));
                    out.push(host(bn.running_var.value().inner()));
                }
                out
            }
            Layer::Concat => {
                two_inputs(input([2, 8, 5, 5], 1), input([2, 4, 5, 5], 2), cat_channels)
            }
            Layer::ResidualAddRelu => {
                two_inputs(input([2, 8, 5, 5], 1), input([2, 8, 5, 5], 2), add_relu)
            }
        }
    }
}

/// A tensor of `shape` with values in [-1, 1) drawn from `seed`, the same on
/// every backend.
fn seeded<B: Backend, const D: usize>(
    shape: [usize; D],
    seed: u64,
    device: &B::Device,
) -> Tensor<B, D> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap_or_default()
}

/// `y` on the host and the gradients of `sum(y * r)` for a seeded `r` (so
/// every output element gets its own weight in the backward pass).
fn y_and_grads<B: AutodiffBackend, const D: usize>(
    y: Tensor<B, D>,
    seed: u64,
    device: &B::Device,
) -> (Vec<f32>, B::Gradients) {
    let r = seeded::<B, D>(y.dims(), seed + 50, device);
    let grads = (y.clone() * r).sum().backward();
    (host(y.inner()), grads)
}

fn grad<B: AutodiffBackend, const D: usize>(t: &Tensor<B, D>, grads: &B::Gradients) -> Vec<f32> {
    t.grad(grads).map(host).unwrap_or_default()
}

/// Every layer family as one job for [`ResolvedDevice::dispatch`].
struct AllLayers;

impl OnBackend for AllLayers {
    type Output = Vec<Vec<Vec<f32>>>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        LAYERS.iter().map(|layer| layer.run::<B>(&device)).collect()
    }
}

/// Max |a - b| / max |b|, or infinity when the lengths differ (a missing
/// gradient).
fn relative_error(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let scale = b
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs() as f64))
        .max(1e-12);
    let diff = a.iter().zip(b).fold(0.0f64, |m, (x, y)| {
        let d = (*x as f64 - *y as f64).abs();
        if d.is_nan() {
            f64::INFINITY
        } else {
            m.max(d)
        }
    });
    diff / scale
}

/// Every layer family on `device` against the CPU.
pub fn layer_parity(device: ResolvedDevice) -> Vec<ParityCheck> {
    let reference = ResolvedDevice::Cpu.dispatch(AllLayers);
    let measured = device.dispatch(AllLayers);
    LAYERS
        .iter()
        .zip(reference.iter().zip(&measured))
        .map(|(layer, (cpu, dev))| ParityCheck {
            name: layer.name(),
            max_rel: cpu.iter().zip(dev).map(|(c, d)| relative_error(d, c)).fold(
                if cpu.len() == dev.len() {
                    0.0
                } else {
                    f64::INFINITY
                },
                f64::max,
            ),
            tensors: cpu.len(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_agrees_with_itself_and_every_check_compares_gradients() {
        let checks = layer_parity(ResolvedDevice::Cpu);
        assert_eq!(checks.len(), LAYERS.len());
        for c in &checks {
            assert!(c.passed() && c.max_rel == 0.0, "{c:?}");
            assert!(c.tensors >= 2, "{c:?}: output and at least one gradient");
        }
    }

    #[test]
    fn relative_error_catches_a_difference_a_nan_and_a_missing_gradient() {
        assert_eq!(relative_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((relative_error(&[1.0, 2.5], &[1.0, 2.0]) - 0.25).abs() < 1e-12);
        assert!(relative_error(&[f32::NAN, 2.0], &[1.0, 2.0]).is_infinite());
        assert!(relative_error(&[], &[1.0]).is_infinite());
    }
}
