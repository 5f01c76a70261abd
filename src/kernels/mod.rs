//! Compute kernels that replace burn's where burn is slow on the CPU.
//!
//! The models call [`conv2d`] (or [`conv2d_module`]) for every convolution.
//! On the CPU backend (burn-flex, with or without autodiff) it runs this
//! folder's kernels: a batched im2col + gemm convolution for dense and grouped
//! layers and a direct kernel for depthwise ones, forward and backward, the
//! backward registered as burn autodiff operation (burn's "backend extension"
//! pattern). Every other backend (burn-cuda) takes burn's own `conv2d`
//! unchanged. `FACEBENCH_CONV=burn` sends the CPU to burn's path as well, for
//! comparisons.

mod conv_gemm;
mod cpu_conv;
mod depthwise;
mod geometry;
mod layout;

use std::any::Any;
use std::cell::RefCell;
use std::sync::OnceLock;

use burn::backend::flex::Flex;
use burn::backend::Autodiff;
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use burn::tensor::ops::{ConvOptions, PaddedConvOptions};
use burn::tensor::TensorPrimitive;

pub use cpu_conv::ConvSpec;
pub use geometry::ConvGeometry;

/// Which implementation CPU convolutions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvPath {
    /// This folder's kernels (the default).
    Fast,
    /// burn's own conv2d and its generic backward.
    Burn,
}

/// The process-wide choice: `FACEBENCH_CONV=burn` picks burn's path.
pub fn conv_path() -> ConvPath {
    static PATH: OnceLock<ConvPath> = OnceLock::new();
    *PATH.get_or_init(|| match std::env::var("FACEBENCH_CONV") {
        Ok(v) if v.eq_ignore_ascii_case("burn") => ConvPath::Burn,
        _ => ConvPath::Fast,
    })
}

/// `value` as a `T` when it is one (the backends are concrete types, so this
/// is how generic model code reaches the CPU kernels). Tensors clone cheaply
/// (shared storage).
fn cast<A: 'static, T: Clone + 'static>(value: &A) -> Option<T> {
    (value as &dyn Any).downcast_ref::<T>().cloned()
}

/// One convolution seen by [`trace_convolutions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvCall {
    pub spec: ConvSpec,
    pub x: [usize; 4],
    pub weight: [usize; 4],
    /// Whether this folder's CPU kernels ran it (false: burn's conv2d).
    pub fast: bool,
}

thread_local! {
    static TRACE: RefCell<Option<Vec<ConvCall>>> = const { RefCell::new(None) };
}

/// Every convolution `f` runs on this thread, in order (what the
/// gradient-parity tests check the models with).
pub fn trace_convolutions<R>(f: impl FnOnce() -> R) -> (R, Vec<ConvCall>) {
    TRACE.with(|t| *t.borrow_mut() = Some(Vec::new()));
    let out = f();
    let seen = TRACE.with(|t| t.borrow_mut().take()).unwrap_or_default();
    (out, seen)
}

/// `conv2d` with padding given at both ends: this folder's kernels on the CPU
/// backend, burn's `conv2d` elsewhere.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    spec: ConvSpec,
) -> Tensor<B, 4> {
    let (x_dims, weight_dims) = (x.dims(), weight.dims());
    let trace = |fast| {
        TRACE.with(|t| {
            if let Some(seen) = t.borrow_mut().as_mut() {
                seen.push(ConvCall {
                    spec,
                    x: x_dims,
                    weight: weight_dims,
                    fast,
                });
            }
        })
    };
    if conv_path() == ConvPath::Fast {
        if let Some(y) = try_cpu(&x, &weight, bias.as_ref(), spec) {
            trace(true);
            return y;
        }
    }
    trace(false);
    burn_conv2d(x, weight, bias, spec)
}

/// The CPU kernels when `B` is burn-flex (plain or autodiff) and the tensors
/// are f32; None otherwise.
fn try_cpu<B: Backend>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: Option<&Tensor<B, 1>>,
    spec: ConvSpec,
) -> Option<Tensor<B, 4>> {
    type Ad = Autodiff<Flex>;
    if let (Some(x), Some(w)) = (cast::<_, Tensor<Ad, 4>>(x), cast::<_, Tensor<Ad, 4>>(weight)) {
        let b = match bias {
            Some(b) => Some(float(cast::<_, Tensor<Ad, 1>>(b)?)),
            None => None,
        };
        let (xp, wp) = (float(x), float(w));
        let g = spec.geometry(&xp.primitive, &wp.primitive)?;
        let y = cpu_conv::forward_autodiff(xp, wp, b, g);
        return cast(&Tensor::<Ad, 4>::from_primitive(TensorPrimitive::Float(y)));
    }
    if let (Some(x), Some(w)) = (cast::<_, Tensor<Flex, 4>>(x), cast::<_, Tensor<Flex, 4>>(weight)) {
        let b = match bias {
            Some(b) => Some(float(cast::<_, Tensor<Flex, 1>>(b)?)),
            None => None,
        };
        let (xp, wp) = (float(x), float(w));
        let g = spec.geometry(&xp, &wp)?;
        let y = cpu_conv::forward(&xp, &wp, b.as_ref(), &g);
        return cast(&Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(y)));
    }
    None
}

fn float<C: Backend, const D: usize>(t: Tensor<C, D>) -> C::FloatTensorPrimitive {
    t.into_primitive().tensor()
}

/// burn's own convolution (asymmetric padding through burn's padded options).
pub fn burn_conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    spec: ConvSpec,
) -> Tensor<B, 4> {
    let options = if spec.pad_start == spec.pad_end {
        PaddedConvOptions::from(ConvOptions::new(spec.stride, spec.pad_start, spec.dilation, spec.groups))
    } else {
        PaddedConvOptions::asymmetric(spec.stride, spec.pad_start, spec.pad_end, spec.dilation, spec.groups)
    };
    burn::tensor::module::conv2d(x, weight, bias, options)
}

/// `conv.forward(x)` through [`conv2d`]. `Same` padding (unused by the
/// models here) goes to burn's module as it is.
pub fn conv2d_module<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let (pad_start, pad_end) = match conv.padding {
        PaddingConfig2d::Valid => ([0, 0], [0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ([top, left], [bottom, right]),
        PaddingConfig2d::Same => return conv.forward(x),
    };
    let spec = ConvSpec {
        stride: conv.stride,
        pad_start,
        pad_end,
        dilation: conv.dilation,
        groups: conv.groups,
    };
    conv2d(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()), spec)
}
