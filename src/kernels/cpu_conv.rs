//! The CPU convolution on burn-flex tensors: the forward pass for inference and
//! frozen layers, and an autodiff operation for training whose backward runs
//! the kernels of this folder instead of burn's generic one.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::Autodiff;
use burn::tensor::{DType, Shape, TensorData, TensorMetadata};

use super::conv_forward;
use super::conv_gemm::{self, Wanted};
use super::depthwise;
use super::geometry::ConvGeometry;
use super::op_timer::timed;

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

pub(super) type AdTensor =
    <Autodiff<Flex> as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive;

/// Backward of a convolution with bias: parents x, weight, bias.
#[derive(Debug)]
struct ConvWithBias;
/// Backward of a convolution without bias: parents x, weight.
#[derive(Debug)]
struct ConvNoBias;

/// What the backward keeps: the input, the weight, the geometry.
type ConvState = (FlexTensor, FlexTensor, ConvGeometry);

impl Backward<Flex, 3> for ConvWithBias {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, weight, g) = ops.state;
        let want = Wanted {
            x: node_x.is_some(),
            weight: node_w.is_some(),
            bias: node_b.is_some(),
        };
        let (dx, dw, db) = gradients(&x, &weight, &dy, &g, want);
        register(grads, node_x.map(|n| n.id), dx);
        register(grads, node_w.map(|n| n.id), dw);
        register(grads, node_b.map(|n| n.id), db);
    }
}

impl Backward<Flex, 2> for ConvNoBias {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, weight, g) = ops.state;
        let want = Wanted {
            x: node_x.is_some(),
            weight: node_w.is_some(),
            bias: false,
        };
        let (dx, dw, _) = gradients(&x, &weight, &dy, &g, want);
        register(grads, node_x.map(|n| n.id), dx);
        register(grads, node_w.map(|n| n.id), dw);
    }
}

pub(super) fn register(grads: &mut Gradients, node: Option<NodeId>, grad: Option<FlexTensor>) {
    if let (Some(id), Some(grad)) = (node, grad) {
        grads.register::<Flex>(id, grad);
    }
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
    let y = |x: &AdTensor, w: &AdTensor, b: Option<&AdTensor>| {
        forward(&x.primitive, &w.primitive, b.map(|b| &b.primitive), &g)
    };
    match bias {
        Some(bias) => match ConvWithBias
            .prepare::<burn::backend::autodiff::checkpoint::strategy::NoCheckpointing>([
                x.node.clone(),
                weight.node.clone(),
                bias.node.clone(),
            ])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = y(&x, &weight, Some(&bias));
                prep.finish((x.primitive, weight.primitive, g), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(y(&x, &weight, Some(&bias))),
        },
        None => match ConvNoBias
            .prepare::<burn::backend::autodiff::checkpoint::strategy::NoCheckpointing>([
                x.node.clone(),
                weight.node.clone(),
            ])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = y(&x, &weight, None);
                prep.finish((x.primitive, weight.primitive, g), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(y(&x, &weight, None)),
        },
    }
}
