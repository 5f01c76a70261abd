//! Depthwise convolution on the GPU backends (burn-wgpu, burn-cuda), with a
//! weight gradient whose launches do not grow with the channel count.
//!
//! burn-cubecl 0.21 computes the weight gradient of a grouped convolution
//! one group at a time, two launches or more per group
//! (`kernel/conv/backward_weight/fallback.rs`; burn #4598, fixed upstream
//! after 0.21): a depthwise layer of Xception's middle flow (728 channels) is
//! over 1,400 launches, and one phase-2 backward pass over 46,000. Here the
//! forward and the input gradient stay burn's, and the weight gradient is
//! one cubecl kernel launch per layer, whatever its channel count
//! (`gpu_depthwise_kernel.rs`). Stride 1, dilation 1 and the same padding
//! on both sides (every depthwise layer of Xception); other shapes go to
//! burn.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use burn::tensor::TensorPrimitive;

use super::gpu_depthwise_kernel::{CubeDepthwise, DepthwiseGeometry};
use super::{cast, ConvSpec};

type FloatOf<G> = <G as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive;

/// How many depthwise convolutions took this op (the parity test checks that
/// it, not burn's grouped convolution, ran).
pub(super) static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `x` convolved depthwise with `weight` when `B` is `Autodiff<G>` and the
/// shape is one this op handles; None otherwise (burn's conv2d runs).
pub(super) fn try_depthwise<B: Backend, G: CubeDepthwise>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: Option<&Tensor<B, 1>>,
    spec: ConvSpec,
) -> Option<Tensor<B, 4>> {
    let [_, channels, _, _] = x.dims();
    let [out_channels, per_group, kh, kw] = weight.dims();
    let handled = spec.groups == channels
        && out_channels == channels
        && per_group == 1
        && spec.stride == [1, 1]
        && spec.dilation == [1, 1]
        && spec.pad_start == spec.pad_end
        && spec.pad_start[0] < kh
        && spec.pad_start[1] < kw;
    if !handled {
        return None;
    }
    let xa = cast::<_, Tensor<Autodiff<G>, 4>>(x)?;
    let wa = cast::<_, Tensor<Autodiff<G>, 4>>(weight)?;
    CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let y = Tensor::<Autodiff<G>, 4>::from_primitive(TensorPrimitive::Float(depthwise(
        xa.into_primitive().tensor(),
        wa.into_primitive().tensor(),
        spec,
    )));
    let y = match bias {
        Some(b) => {
            let b = cast::<_, Tensor<Autodiff<G>, 1>>(b)?;
            y + b.reshape([1, channels, 1, 1])
        }
        None => y,
    };
    cast(&y)
}

fn options(spec: ConvSpec) -> ConvOptions<2> {
    ConvOptions::new(spec.stride, spec.pad_start, spec.dilation, spec.groups)
}

/// The forward on `G`, recorded on the autodiff graph with [`DepthwiseBackward`].
fn depthwise<G: CubeDepthwise>(
    x: FloatOf<Autodiff<G>>,
    w: FloatOf<Autodiff<G>>,
    spec: ConvSpec,
) -> FloatOf<Autodiff<G>> {
    let out = G::conv2d(
        x.primitive.clone(),
        w.primitive.clone(),
        None,
        options(spec),
    );
    match DepthwiseBackward
        .prepare::<NoCheckpointing>([x.node.clone(), w.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((x.primitive, w.primitive, spec), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

#[derive(Debug)]
struct DepthwiseBackward;

impl<G: CubeDepthwise> Backward<G, 2> for DepthwiseBackward {
    type State = (FloatOf<G>, FloatOf<G>, ConvSpec);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<G>(&ops.node);
        let (x, w, spec) = ops.state;
        let [x_parent, w_parent] = ops.parents;
        if let Some(parent) = w_parent {
            let dw = weight_grad::<G>(x.clone(), dy.clone(), w.clone(), spec);
            grads.register::<G>(parent.id, dw);
        }
        if let Some(parent) = x_parent {
            grads.register::<G>(parent.id, G::conv2d_x_backward(x, w, dy, options(spec)));
        }
    }
}

/// The weight gradient `[C, 1, KH, KW]`: one kernel launch, and a sum over
/// slices for layers with few channels.
pub(super) fn weight_grad<G: CubeDepthwise>(
    x: FloatOf<G>,
    dy: FloatOf<G>,
    w: FloatOf<G>,
    spec: ConvSpec,
) -> FloatOf<G> {
    let [_, _, kh, kw] = Tensor::<G, 4>::from_primitive(TensorPrimitive::Float(w)).dims();
    let geometry = DepthwiseGeometry {
        kernel: [kh, kw],
        stride: spec.stride,
        dilation: spec.dilation,
        pad: spec.pad_start,
    };
    let slices = Tensor::<G, 4>::from_primitive(TensorPrimitive::Float(
        G::depthwise_weight_grad_slices(x, dy, geometry),
    ));
    let [count, c, kh, kw] = slices.dims();
    let summed = if count == 1 {
        slices
    } else {
        slices.sum_dim(0)
    };
    summed.reshape([c, 1, kh, kw]).into_primitive().tensor()
}
