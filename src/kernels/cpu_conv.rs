//! The CPU convolution on burn-flex tensors: the forward pass for inference and
//! frozen layers, and an autodiff operation for training whose backward runs
//! the kernels of this folder instead of burn's generic one.

use burn::backend::flex::FlexTensor;
use burn::tensor::ops::{ConvOptions, PaddedConvOptions};
use burn::tensor::{DType, TensorMetadata};

use super::conv_forward;
use super::conv_gemm::{self, Wanted};
use super::depthwise;
use super::geometry::ConvGeometry;
use super::op_timer::timed;
use super::tracked_op::{tensor, values, AdTensor, TrackedOp};

/// What a convolution needs besides its tensors: stride, padding at both ends,
/// dilation, groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    pub stride: [usize; 2],
    pub pad_start: [usize; 2],
    pub pad_end: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl ConvSpec {
    /// This convolution as burn's options (asymmetric padding through its
    /// padded form), for burn's own `conv2d`.
    pub fn burn_options(&self) -> PaddedConvOptions<2> {
        if self.pad_start == self.pad_end {
            PaddedConvOptions::from(ConvOptions::new(
                self.stride,
                self.pad_start,
                self.dilation,
                self.groups,
            ))
        } else {
            PaddedConvOptions::asymmetric(
                self.stride,
                self.pad_start,
                self.pad_end,
                self.dilation,
                self.groups,
            )
        }
    }

    /// The geometry of this convolution on these tensors, when the fast path
    /// handles them (f32, 4-D).
    pub fn geometry(&self, x: &FlexTensor, weight: &FlexTensor) -> Option<ConvGeometry> {
        if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
            return None;
        }
        let dims = |t: &FlexTensor| -> Option<[usize; 4]> { t.shape().as_slice().try_into().ok() };
        ConvGeometry::new(
            dims(x)?,
            dims(weight)?,
            self.stride,
            self.pad_start,
            self.pad_end,
            self.dilation,
            self.groups,
        )
    }
}

/// Forward convolution on flex tensors.
pub fn forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    g: &ConvGeometry,
) -> FlexTensor {
    let (xv, wv) = (values(x), values(weight));
    let bv = bias.map(values);
    let y = if g.is_depthwise() {
        timed("conv forward, depthwise", || {
            depthwise::forward(&xv, &wv, bv.as_deref(), g)
        })
    } else if g.kh * g.kw == 1 {
        timed("conv forward, 1x1", || {
            conv_forward::forward(&xv, &wv, bv.as_deref(), g)
        })
    } else {
        timed("conv forward, KxK", || {
            conv_forward::forward(&xv, &wv, bv.as_deref(), g)
        })
    };
    tensor(y, vec![g.batch, g.cout, g.oh, g.ow])
}

/// The gradients of x, weight and bias that `want` asks for.
fn gradients(
    x: &FlexTensor,
    weight: &FlexTensor,
    dy: &FlexTensor,
    g: &ConvGeometry,
    want: Wanted,
) -> (Option<FlexTensor>, Option<FlexTensor>, Option<FlexTensor>) {
    let (xv, wv, dyv) = (values(x), values(weight), values(dy));
    let name = if g.is_depthwise() {
        "conv backward, depthwise"
    } else if g.kh * g.kw == 1 {
        "conv backward, 1x1"
    } else {
        "conv backward, KxK"
    };
    let grads = timed(name, || {
        if g.is_depthwise() {
            conv_gemm::ConvGrads {
                x: want.x.then(|| depthwise::backward_x(&wv, &dyv, g)),
                weight: want
                    .weight
                    .then(|| depthwise::backward_weight(&xv, &dyv, g)),
                bias: want.bias.then(|| conv_gemm::bias_grad(&dyv, g)),
            }
        } else {
            conv_gemm::backward(&xv, &wv, &dyv, g, want)
        }
    });
    (
        grads.x.map(|v| tensor(v, vec![g.batch, g.cin, g.h, g.w])),
        grads
            .weight
            .map(|v| tensor(v, vec![g.cout, g.cin_per_group(), g.kh, g.kw])),
        grads.bias.map(|v| tensor(v, vec![g.cout])),
    )
}

/// What the backward keeps: the input, the weight, the geometry.
type ConvState = (FlexTensor, FlexTensor, ConvGeometry);

/// Backward of a convolution with bias: parents x, weight, bias.
fn grads_with_bias(
    dy: FlexTensor,
    (x, weight, g): ConvState,
    [x_wanted, weight_wanted, bias_wanted]: [bool; 3],
) -> [Option<FlexTensor>; 3] {
    let want = Wanted {
        x: x_wanted,
        weight: weight_wanted,
        bias: bias_wanted,
    };
    let (dx, dw, db) = gradients(&x, &weight, &dy, &g, want);
    [dx, dw, db]
}

/// Backward of a convolution without bias: parents x, weight.
fn grads_without_bias(
    dy: FlexTensor,
    state: ConvState,
    [x_wanted, weight_wanted]: [bool; 2],
) -> [Option<FlexTensor>; 2] {
    let [dx, dw, _] = grads_with_bias(dy, state, [x_wanted, weight_wanted, false]);
    [dx, dw]
}

/// The convolution as a tracked autodiff operation on `Autodiff<Flex>`; its
/// backward pass runs this folder's kernels. Untracked inputs (a frozen layer,
/// inference) get the forward only.
pub fn forward_autodiff(
    x: AdTensor,
    weight: AdTensor,
    bias: Option<AdTensor>,
    g: ConvGeometry,
) -> AdTensor {
    let out = forward(
        &x.primitive,
        &weight.primitive,
        bias.as_ref().map(|b| &b.primitive),
        &g,
    );
    let kept = |_: &FlexTensor| (x.primitive.clone(), weight.primitive.clone(), g);
    match &bias {
        Some(bias) => TrackedOp::new(grads_with_bias).record([&x, &weight, bias], out, kept),
        None => TrackedOp::new(grads_without_bias).record([&x, &weight], out, kept),
    }
}
