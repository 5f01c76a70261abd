//! `relu(a + b)` (a residual connection's sum and its ReLU) as one autodiff
//! operation that keeps only its output for the backward: a separate add and
//! ReLU keep the sum too (burn's ReLU keeps its input), one activation per
//! ResNet block more than PyTorch's in-place `out += identity; relu_(out)`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{DType, TensorMetadata};
use rayon::prelude::*;

use super::cpu_conv::{register, tensor, values, AdTensor};
use super::op_timer::timed;
use super::relu::relu_grad;

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

#[derive(Debug)]
struct AddReluBackward;

impl Backward<Flex, 2> for AddReluBackward {
    /// The output (shared with the layers that read it).
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_a, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let out = ops.state;
        let g = timed("residual add + relu backward", || {
            relu_grad(&values(&dy), &values(&out))
        });
        let g = tensor(g, out.shape().as_slice().to_vec());
        register(grads, node_a.map(|n| n.id), Some(g.clone()));
        register(grads, node_b.map(|n| n.id), Some(g));
    }
}

/// `relu(a + b)` on plain flex tensors.
pub fn forward(a: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    let out = timed("residual add + relu", || add_relu(&values(a), &values(b)));
    tensor(out, a.shape().as_slice().to_vec())
}

/// `relu(a + b)` as an autodiff operation.
pub fn forward_autodiff(a: AdTensor, b: AdTensor) -> AdTensor {
    let out = forward(&a.primitive, &b.primitive);
    match AddReluBackward
        .prepare::<NoCheckpointing>([a.node.clone(), b.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(out.clone(), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}
