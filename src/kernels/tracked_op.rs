//! The bridge between this folder's CPU kernels and burn's autodiff: flex
//! tensors to and from plain f32 values, and [`TrackedOp`], one kernel call
//! recorded on the autodiff graph with the function that computes its
//! parents' gradients.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::Autodiff;
use burn::tensor::{Shape, TensorData, TensorMetadata};

pub(super) type AdTensor =
    <Autodiff<Flex> as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive;

/// The tensor's f32 values in row-major order (copied only when it is a view).
pub(super) fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    let n = t.shape().num_elements();
    if t.is_contiguous() && t.layout().start_offset() == 0 {
        std::borrow::Cow::Borrowed(&t.storage::<f32>()[..n])
    } else {
        std::borrow::Cow::Owned(t.to_contiguous().storage::<f32>()[..n].to_vec())
    }
}

pub(super) fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, Shape::from(shape)))
}

/// The parents' gradients from the output's gradient, the state kept by the
/// forward, and which parents want one (None leaves a parent out).
pub(super) type GradsOf<S, const N: usize> =
    fn(FlexTensor, S, [bool; N]) -> [Option<FlexTensor>; N];

/// A kernel call with `N` parents on the autodiff graph; its backward is
/// `grads_of`, run on the state `S` that the forward kept.
#[derive(Debug)]
pub(super) struct TrackedOp<S, const N: usize> {
    grads_of: GradsOf<S, N>,
}

impl<S, const N: usize> TrackedOp<S, N>
where
    S: Clone + Send + std::fmt::Debug + 'static,
{
    pub const fn new(grads_of: GradsOf<S, N>) -> Self {
        Self { grads_of }
    }

    /// `out` as this op's output on `parents`, keeping `state(&out)` for the
    /// backward when a parent tracks a gradient (untracked inputs, such as a
    /// frozen layer or inference, keep nothing).
    pub fn record(
        self,
        parents: [&AdTensor; N],
        out: FlexTensor,
        state: impl FnOnce(&FlexTensor) -> S,
    ) -> AdTensor {
        match self
            .prepare::<NoCheckpointing>(parents.map(|p| p.node.clone()))
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state(&out), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

impl<S, const N: usize> Backward<Flex, N> for TrackedOp<S, N>
where
    S: Clone + Send + std::fmt::Debug + 'static,
{
    type State = S;

    fn backward(self, ops: Ops<S, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let wanted = ops.parents.each_ref().map(Option::is_some);
        let parent_grads = (self.grads_of)(dy, ops.state, wanted);
        for (parent, grad) in ops.parents.into_iter().zip(parent_grads) {
            if let (Some(parent), Some(grad)) = (parent, grad) {
                grads.register::<Flex>(parent.id, grad);
            }
        }
    }
}
