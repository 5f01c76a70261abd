//! Batch normalisation on burn-flex tensors as autodiff operations whose
//! backward runs [`super::batch_norm`]'s kernels.

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, TensorMetadata};

use super::batch_norm::{self, Planes, Saved};
use super::op_timer::timed;
use super::relu::{relu_grad, relu_in_place};
use super::tracked_op::{tensor, values, AdTensor, TrackedOp};

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

/// What the fixed-statistics backward keeps: x only when the parameters want
/// gradients (their sums need it; a frozen layer's do not), the scale, the
/// planes, and with a fused ReLU its output.
type AffineState = (Option<FlexTensor>, FlexTensor, Planes, Option<FlexTensor>);

/// The fixed-statistics backward: parents x, scale, shift.
fn affine_grads(
    dy: FlexTensor,
    (x, scale, p, relu_out): AffineState,
    [x_wanted, ..]: [bool; 3],
) -> [Option<FlexTensor>; 3] {
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
            x_wanted,
            xv.is_some(),
        )
    });
    let [dscale, dshift] = match params {
        Some((dscale, dshift)) => [dscale, dshift].map(|v| Some(per_channel(v, p))),
        None => [None, None],
    };
    [dx.map(|v| tensor(v, shape)), dscale, dshift]
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
    TrackedOp::new(affine_grads).record([&x, &scale, &shift], out, |out| {
        let kept_x = want_params.then(|| x.primitive.clone());
        (
            kept_x,
            scale.primitive.clone(),
            p,
            relu.then(|| out.clone()),
        )
    })
}

/// What the training form's backward keeps: x, gamma, the statistics, the
/// planes, and with a fused ReLU its output (whose storage the next layer
/// keeps anyway), so the batch norm's own output is never kept: one
/// activation less per BN-ReLU pair than a separate ReLU, which keeps its
/// input.
type TrainState = (FlexTensor, FlexTensor, Saved, Planes, Option<FlexTensor>);

/// The batch-statistics backward: parents x, gamma, beta.
fn train_grads(
    dy: FlexTensor,
    (x, gamma, saved, p, relu_out): TrainState,
    [x_wanted, ..]: [bool; 3],
) -> [Option<FlexTensor>; 3] {
    let (dx, dgamma, dbeta) = timed("batch norm backward, batch statistics", || {
        let out = relu_out.as_ref().map(values);
        batch_norm::train_backward(
            &values(&x),
            &values(&dy),
            &values(&gamma),
            &saved,
            p,
            x_wanted,
            out.as_deref(),
        )
    });
    [
        dx.map(|v| tensor(v, shape_of(&x))),
        Some(per_channel(dgamma, p)),
        Some(per_channel(dbeta, p)),
    ]
}

/// A per-channel parameter's gradient (scale and shift, or gamma and beta).
fn per_channel(values: Vec<f32>, p: Planes) -> FlexTensor {
    tensor(values, vec![p.channels])
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
    let out = TrackedOp::new(train_grads).record([&x, &gamma, &beta], y, |y| {
        let relu_out = relu.then(|| y.clone());
        (
            x.primitive.clone(),
            gamma.primitive.clone(),
            saved,
            p,
            relu_out,
        )
    });
    (out, mean, var)
}
