//! Batch normalisation on burn-flex tensors as autodiff operations whose
//! backward runs [`super::batch_norm`]'s kernels.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{DType, TensorMetadata};

use super::batch_norm::{self, Planes, Saved};
use super::cpu_conv::{register, tensor, values, AdTensor};
use super::op_timer::timed;
use super::relu::{relu_grad, relu_in_place};

/// The planes of an f32 `[N, C, H, W]` tensor with `[C]` parameters.
pub fn planes(x: &FlexTensor, params: &[&FlexTensor]) -> Option<Planes> {
    let dims: [usize; 4] = x.shape().as_slice().try_into().ok()?;
    let [batch, channels, h, w] = dims;
    let fits = |t: &&FlexTensor| t.dtype() == DType::F32 && t.shape().as_slice() == [channels];
    (x.dtype() == DType::F32 && params.iter().all(fits)).then_some(Planes {
        batch,
        channels,
        plane: h * w,
    })
}

fn shape_of(x: &FlexTensor) -> Vec<usize> {
    x.shape().as_slice().to_vec()
}

/// `x * scale[c] + shift[c]` on plain flex tensors (inference), then a ReLU
/// in the same buffer when `relu`.
pub fn affine(
    x: &FlexTensor,
    scale: &FlexTensor,
    shift: &FlexTensor,
    relu: bool,
    p: Planes,
) -> FlexTensor {
    let y = timed("batch norm forward, fixed statistics", || {
        let mut y = batch_norm::affine(&values(x), &values(scale), &values(shift), p);
        if relu {
            relu_in_place(&mut y);
        }
        y
    });
    tensor(y, shape_of(x))
}

#[derive(Debug)]
struct AffineBackward;

/// What the fixed-statistics backward keeps: x only when the parameters want
/// gradients (their sums need it; a frozen layer's do not), the scale, the
/// planes, and with a fused ReLU its output.
type AffineState = (Option<FlexTensor>, FlexTensor, Planes, Option<FlexTensor>);

impl Backward<Flex, 3> for AffineBackward {
    type State = AffineState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_scale, node_shift] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, scale, p, relu_out) = ops.state;
        let shape = shape_of(&dy);
        let (dx, params) = timed("batch norm backward, fixed statistics", || {
            let dy = values(&dy);
            let dy = match &relu_out {
                Some(out) => std::borrow::Cow::Owned(relu_grad(&dy, &values(out))),
                None => dy,
            };
            let xv = x.as_ref().map(values);
            batch_norm::affine_backward(
                xv.as_deref().unwrap_or(&[]),
                &dy,
                &values(&scale),
                p,
                node_x.is_some(),
                xv.is_some(),
            )
        });
        register(grads, node_x.map(|n| n.id), dx.map(|v| tensor(v, shape)));
        if let Some((dscale, dshift)) = params {
            let nodes = [node_scale, node_shift].map(|n| n.map(|n| n.id));
            register_per_channel(grads, nodes, [dscale, dshift], p);
        }
    }
}

/// `x * scale[c] + shift[c]` (then a ReLU when `relu`) as an autodiff
/// operation (frozen batch norms).
pub fn affine_autodiff(
    x: AdTensor,
    scale: AdTensor,
    shift: AdTensor,
    relu: bool,
    p: Planes,
) -> AdTensor {
    let out = affine(&x.primitive, &scale.primitive, &shift.primitive, relu, p);
    let want_params = !scale.node.requirement.is_none() || !shift.node.requirement.is_none();
    match AffineBackward
        .prepare::<NoCheckpointing>([x.node.clone(), scale.node.clone(), shift.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let kept_x = want_params.then_some(x.primitive);
            let relu_out = relu.then(|| out.clone());
            prep.finish((kept_x, scale.primitive, p, relu_out), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

#[derive(Debug)]
struct TrainBackward;

/// What the training form's backward keeps: x, gamma, the statistics, the
/// planes, and with a fused ReLU its output (whose storage the next layer
/// keeps anyway), so the batch norm's own output is never kept: one
/// activation less per BN-ReLU pair than a separate ReLU, which keeps its
/// input.
type TrainState = (FlexTensor, FlexTensor, Saved, Planes, Option<FlexTensor>);

impl Backward<Flex, 3> for TrainBackward {
    type State = TrainState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, gamma, saved, p, relu_out) = ops.state;
        let (dx, dgamma, dbeta) = timed("batch norm backward, batch statistics", || {
            let out = relu_out.as_ref().map(values);
            batch_norm::train_backward(
                &values(&x),
                &values(&dy),
                &values(&gamma),
                &saved,
                p,
                node_x.is_some(),
                out.as_deref(),
            )
        });
        register(
            grads,
            node_x.map(|n| n.id),
            dx.map(|v| tensor(v, shape_of(&x))),
        );
        let nodes = [node_gamma, node_beta].map(|n| n.map(|n| n.id));
        register_per_channel(grads, nodes, [dgamma, dbeta], p);
    }
}

/// Register the gradients of a batch norm's two per-channel parameters
/// (scale and shift, or gamma and beta) for the nodes that track them.
fn register_per_channel(
    grads: &mut Gradients,
    nodes: [Option<NodeId>; 2],
    values: [Vec<f32>; 2],
    p: Planes,
) {
    for (node, v) in nodes.into_iter().zip(values) {
        register(grads, node, Some(tensor(v, vec![p.channels])));
    }
}

/// Training-mode batch norm (then a ReLU when `relu`) as an autodiff
/// operation: the output, and the batch mean and biased variance (for the
/// running statistics).
pub fn train_autodiff(
    x: AdTensor,
    gamma: AdTensor,
    beta: AdTensor,
    epsilon: f64,
    relu: bool,
    p: Planes,
) -> (AdTensor, FlexTensor, FlexTensor) {
    let (y, saved, var) = timed("batch norm forward, batch statistics", || {
        let (mut y, saved, var) = batch_norm::train_forward(
            &values(&x.primitive),
            &values(&gamma.primitive),
            &values(&beta.primitive),
            epsilon,
            p,
        );
        if relu {
            relu_in_place(&mut y);
        }
        (y, saved, var)
    });
    let mean = tensor(saved.mean.clone(), vec![p.channels]);
    let var = tensor(var, vec![p.channels]);
    let y = tensor(y, shape_of(&x.primitive));
    let out = match TrainBackward
        .prepare::<NoCheckpointing>([x.node.clone(), gamma.node.clone(), beta.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let relu_out = relu.then(|| y.clone());
            prep.finish((x.primitive, gamma.primitive, saved, p, relu_out), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    (out, mean, var)
}
