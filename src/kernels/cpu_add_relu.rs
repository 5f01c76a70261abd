//! `relu(a + b)` (a residual connection's sum and its ReLU) as one autodiff
//! operation that keeps only its output for the backward: a separate add and
//! ReLU keep the sum too (burn's ReLU keeps its input), one activation per
//! ResNet block more than PyTorch's in-place `out += identity; relu_(out)`.

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, TensorMetadata};
use rayon::prelude::*;

use super::op_timer::timed;
use super::relu::relu_grad;
use super::tracked_op::{tensor, values, AdTensor, TrackedOp};

const CHUNK: usize = 1 << 14;

/// Whether `a` and `b` are f32 tensors of one shape.
pub fn fits(a: &FlexTensor, b: &FlexTensor) -> bool {
    a.dtype() == DType::F32 && b.dtype() == DType::F32 && a.shape() == b.shape()
}

/// `max(a + b, 0)`.
pub fn add_relu(a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; a.len()];
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(o, (a, b))| {
            for ((o, a), b) in o.iter_mut().zip(a).zip(b) {
                let s = a + b;
                *o = if s > 0.0 { s } else { 0.0 };
            }
        });
    out
}

/// The backward: both parents get the output's gradient where the output is
/// positive. The state is the output (shared with the layers that read it).
fn grads_of(dy: FlexTensor, out: FlexTensor, _: [bool; 2]) -> [Option<FlexTensor>; 2] {
    let g = timed("residual add + relu backward", || {
        relu_grad(&values(&dy), &values(&out))
    });
    let g = tensor(g, out.shape().as_slice().to_vec());
    [Some(g.clone()), Some(g)]
}

/// `relu(a + b)` on plain flex tensors.
pub fn forward(a: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    let out = timed("residual add + relu", || add_relu(&values(a), &values(b)));
    tensor(out, a.shape().as_slice().to_vec())
}

/// `relu(a + b)` as an autodiff operation.
pub fn forward_autodiff(a: AdTensor, b: AdTensor) -> AdTensor {
    let out = forward(&a.primitive, &b.primitive);
    TrackedOp::new(grads_of).record([&a, &b], out, FlexTensor::clone)
}
