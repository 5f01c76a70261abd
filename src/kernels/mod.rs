//! Compute kernels that replace burn's where burn is slow on the CPU.
//!
//! The models call [`conv2d`] (or [`conv2d_module`]) for every convolution.
//! On the CPU backend (burn-flex, with or without autodiff) it runs this
//! folder's kernels: a batched im2col + gemm convolution for dense and grouped
//! layers and a direct kernel for depthwise ones, forward and backward, the
//! backward registered as burn autodiff operation (burn's "backend extension"
//! pattern). On the GPU backends (burn-wgpu, burn-cuda) a depthwise layer's
//! weight gradient is this folder's (`gpu_depthwise.rs`: one cubecl kernel
//! launch per layer, where burn 0.21 launches two or more kernels per
//! channel), and 1x1 convolutions run as matrix products; everything else
//! there is burn's own. Batch norm likewise ([`batch_norm_train`], [`channel_affine`]),
//! the channel concatenation of DenseNet blocks ([`cat_channels`]) and the
//! residual sum with its ReLU ([`add_relu`]), and max pooling ([`max_pool2d`]).
//! `FACEBENCH_KERNELS=burn` sends every backend to burn's operations, for
//! comparisons.

mod batch_norm;
mod channel_cat;
mod conv_forward;
mod conv_gemm;
mod cpu_add_relu;
mod cpu_batch_norm;
mod cpu_conv;
mod depthwise;
mod geometry;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gpu_depthwise;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gpu_depthwise_kernel;
mod layout;
mod max_pool;
mod op_timer;
mod relu;
mod tracked_op;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

use burn::backend::flex::Flex;
use burn::backend::Autodiff;
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;

pub use cpu_conv::ConvSpec;
pub use geometry::ConvGeometry;
pub use op_timer::{op_times_enabled, take_op_times};

/// Which implementation the CPU backend's convolutions and batch norms use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuKernels {
    /// This folder's kernels (the default).
    Facebench,
    /// burn's own operations and generic backward passes.
    Burn,
}

/// The process-wide choice: `FACEBENCH_KERNELS=burn` picks burn's path.
pub fn cpu_kernels() -> CpuKernels {
    static CHOICE: OnceLock<CpuKernels> = OnceLock::new();
    *CHOICE.get_or_init(|| match std::env::var("FACEBENCH_KERNELS") {
        Ok(v) if v.eq_ignore_ascii_case("burn") => CpuKernels::Burn,
        _ => CpuKernels::Facebench,
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
    static FAST_BATCH_NORMS: Cell<usize> = const { Cell::new(0) };
    static FAST_CHANNEL_CATS: Cell<usize> = const { Cell::new(0) };
    static FAST_MAX_POOLS: Cell<usize> = const { Cell::new(0) };
}

/// How many depthwise convolutions (in this process) took the GPU backends'
/// depthwise op with facebench's weight gradient.
pub fn gpu_depthwise_calls() -> usize {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    {
        gpu_depthwise::CALLS.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
    {
        0
    }
}

/// How many max poolings this thread has run through the CPU kernels.
pub fn fast_max_pools() -> usize {
    FAST_MAX_POOLS.with(Cell::get)
}

/// How many channel concatenations this thread has run through the CPU
/// kernels.
pub fn fast_channel_cats() -> usize {
    FAST_CHANNEL_CATS.with(Cell::get)
}

/// How many batch norms this thread has run through the CPU kernels (the
/// parity tests check that the kernels, not the fallback, ran).
pub fn fast_batch_norms() -> usize {
    FAST_BATCH_NORMS.with(Cell::get)
}

fn count_fast_batch_norm() {
    FAST_BATCH_NORMS.with(|c| c.set(c.get() + 1));
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
    if cpu_kernels() == CpuKernels::Facebench {
        if let Some(y) = try_cpu(&x, &weight, bias.as_ref(), spec) {
            trace(true);
            return y;
        }
    }
    trace(false);
    if cpu_kernels() == CpuKernels::Facebench {
        if let Some(y) = try_gpu_depthwise(&x, &weight, bias.as_ref(), spec) {
            return y;
        }
        if on_gpu::<B>() {
            if let Some(y) = pointwise_as_matmul(&x, &weight, bias.as_ref(), spec) {
                return y;
            }
        }
    }
    burn::tensor::module::conv2d(x, weight, bias, spec.burn_options())
}

/// Whether `B` is one of the GPU backends (with or without autodiff); asked
/// on every convolution, so no allocation.
fn on_gpu<B: Backend>() -> bool {
    use std::any::TypeId;
    let is = |ids: [TypeId; 2]| ids.contains(&TypeId::of::<B>());
    #[cfg(feature = "wgpu")]
    if is([
        TypeId::of::<burn::backend::Wgpu>(),
        TypeId::of::<Autodiff<burn::backend::Wgpu>>(),
    ]) {
        return true;
    }
    #[cfg(feature = "cuda")]
    if is([
        TypeId::of::<burn::backend::Cuda>(),
        TypeId::of::<Autodiff<burn::backend::Cuda>>(),
    ]) {
        return true;
    }
    let _ = is;
    false
}

/// A 1x1 convolution (stride 1, no padding, one group) as one matrix
/// product, `W[Co, Ci] x X[Ci, N*H*W]`, on the GPU backends. Built without
/// autotune (see Cargo.toml), burn-cubecl convolves directly, which is slow
/// for the pointwise layers that hold most of Xception's and ResNet's
/// multiply-adds; its matmul (cubek's `Auto`) uses tensor cores where the
/// device has them. Autodiff differentiates the product as it is.
fn pointwise_as_matmul<B: Backend>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: Option<&Tensor<B, 1>>,
    spec: ConvSpec,
) -> Option<Tensor<B, 4>> {
    let [n, ci, h, w] = x.dims();
    let [co, per_group, kh, kw] = weight.dims();
    let handled = (kh, kw) == (1, 1)
        && spec.groups == 1
        && per_group == ci
        && spec.stride == [1, 1]
        && spec.pad_start == [0, 0]
        && spec.pad_end == [0, 0];
    if !handled {
        return None;
    }
    POINTWISE_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let columns = x.clone().swap_dims(0, 1).reshape([ci, n * h * w]);
    let y = weight.clone().reshape([co, ci]).matmul(columns);
    let y = y.reshape([co, n, h, w]).swap_dims(0, 1);
    Some(match bias {
        Some(b) => y + b.clone().reshape([1, co, 1, 1]),
        None => y,
    })
}

/// How many convolutions [`pointwise_as_matmul`] took (the wgpu tests check
/// that it, not burn's convolution, ran).
static POINTWISE_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The number of 1x1 convolutions the GPU backends ran as matrix products.
pub fn gpu_pointwise_calls() -> usize {
    POINTWISE_CALLS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Depthwise convolution with facebench's weight gradient on the GPU
/// backends' autodiff (see `gpu_depthwise.rs`); None elsewhere.
#[allow(unused_variables)]
fn try_gpu_depthwise<B: Backend>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: Option<&Tensor<B, 1>>,
    spec: ConvSpec,
) -> Option<Tensor<B, 4>> {
    #[cfg(feature = "wgpu")]
    if let Some(y) = gpu_depthwise::try_depthwise::<B, burn::backend::Wgpu>(x, weight, bias, spec) {
        return Some(y);
    }
    #[cfg(feature = "cuda")]
    if let Some(y) = gpu_depthwise::try_depthwise::<B, burn::backend::Cuda>(x, weight, bias, spec) {
        return Some(y);
    }
    None
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
    if let Some((xp, wp, b)) = operands_on::<Ad, B>(x, weight, bias) {
        let g = spec.geometry(&xp.primitive, &wp.primitive)?;
        let y = cpu_conv::forward_autodiff(xp, wp, b, g);
        return cast(&Tensor::<Ad, 4>::from_primitive(TensorPrimitive::Float(y)));
    }
    if let Some((xp, wp, b)) = operands_on::<Flex, B>(x, weight, bias) {
        let g = spec.geometry(&xp, &wp)?;
        let y = cpu_conv::forward(&xp, &wp, b.as_ref(), &g);
        return cast(&Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(
            y,
        )));
    }
    None
}

/// A convolution's input, weight and bias as primitives of backend `C`, when
/// they are `C`'s tensors (and `B` is `C`).
#[allow(clippy::type_complexity)]
fn operands_on<C: Backend, B: Backend>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: Option<&Tensor<B, 1>>,
) -> Option<(
    C::FloatTensorPrimitive,
    C::FloatTensorPrimitive,
    Option<C::FloatTensorPrimitive>,
)> {
    let x = float(cast::<_, Tensor<C, 4>>(x)?);
    let w = float(cast::<_, Tensor<C, 4>>(weight)?);
    let b = match bias {
        Some(b) => Some(float(cast::<_, Tensor<C, 1>>(b)?)),
        None => None,
    };
    Some((x, w, b))
}

fn float<C: Backend, const D: usize>(t: Tensor<C, D>) -> C::FloatTensorPrimitive {
    t.into_primitive().tensor()
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
    conv2d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        spec,
    )
}

/// The inputs as `Autodiff<Flex>` tensors when `B` is that backend.
fn ad_inputs<B: Backend>(
    x: &Tensor<B, 4>,
    params: &[&Tensor<B, 1>],
) -> Option<(AdPrimitive, Vec<AdPrimitive>)> {
    let x = float(cast::<_, Tensor<Autodiff<Flex>, 4>>(x)?);
    let params = params
        .iter()
        .map(|p| cast::<_, Tensor<Autodiff<Flex>, 1>>(*p).map(float))
        .collect::<Option<Vec<_>>>()?;
    Some((x, params))
}

type AdPrimitive = <Autodiff<Flex> as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive;

/// Training-mode batch norm of `x` (`[N, C, H, W]`) with the batch
/// statistics, followed by a ReLU when `relu`: `(output, batch mean, biased
/// batch variance)`, the statistics detached. None when `B` is not the CPU
/// autodiff backend (the caller then composes it from tensor operations).
pub fn batch_norm_train<B: Backend>(
    x: &Tensor<B, 4>,
    gamma: &Tensor<B, 1>,
    beta: &Tensor<B, 1>,
    epsilon: f64,
    relu: bool,
) -> Option<(Tensor<B, 4>, Tensor<B, 1>, Tensor<B, 1>)> {
    if cpu_kernels() != CpuKernels::Facebench {
        return None;
    }
    let (xp, params) = ad_inputs(x, &[gamma, beta])?;
    let [gamma, beta]: [AdPrimitive; 2] = params.try_into().ok()?;
    let p = cpu_batch_norm::planes(&xp.primitive, &[&gamma.primitive, &beta.primitive])?;
    let (y, mean, var) = cpu_batch_norm::train_autodiff(xp, gamma, beta, epsilon, relu, p);
    count_fast_batch_norm();
    let detached = |t| {
        Tensor::<Autodiff<Flex>, 1>::from_inner(Tensor::from_primitive(TensorPrimitive::Float(t)))
    };
    Some((
        cast(&Tensor::<Autodiff<Flex>, 4>::from_primitive(
            TensorPrimitive::Float(y),
        ))?,
        cast(&detached(mean))?,
        cast(&detached(var))?,
    ))
}

/// `x * scale[c] + shift[c]` over `[N, C, H, W]` (a batch norm with fixed
/// statistics), followed by a ReLU when `relu`, on the CPU backend with or
/// without autodiff; None elsewhere.
pub fn channel_affine<B: Backend>(
    x: &Tensor<B, 4>,
    scale: &Tensor<B, 1>,
    shift: &Tensor<B, 1>,
    relu: bool,
) -> Option<Tensor<B, 4>> {
    if cpu_kernels() != CpuKernels::Facebench {
        return None;
    }
    if let Some((xp, params)) = ad_inputs(x, &[scale, shift]) {
        let [scale, shift]: [AdPrimitive; 2] = params.try_into().ok()?;
        let p = cpu_batch_norm::planes(&xp.primitive, &[&scale.primitive, &shift.primitive])?;
        let y = cpu_batch_norm::affine_autodiff(xp, scale, shift, relu, p);
        count_fast_batch_norm();
        return cast(&Tensor::<Autodiff<Flex>, 4>::from_primitive(
            TensorPrimitive::Float(y),
        ));
    }
    let x = float(cast::<_, Tensor<Flex, 4>>(x)?);
    let scale = float(cast::<_, Tensor<Flex, 1>>(scale)?);
    let shift = float(cast::<_, Tensor<Flex, 1>>(shift)?);
    let p = cpu_batch_norm::planes(&x, &[&scale, &shift])?;
    let y = cpu_batch_norm::affine(&x, &scale, &shift, relu, p);
    count_fast_batch_norm();
    cast(&Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(
        y,
    )))
}

/// `[a; b]` along the channels of two `[N, C, H, W]` tensors: on the CPU
/// backend an operation whose backward hands each input a contiguous
/// gradient (see `channel_cat.rs`), `Tensor::cat` elsewhere.
pub fn cat_channels<B: Backend>(a: Tensor<B, 4>, b: Tensor<B, 4>) -> Tensor<B, 4> {
    if cpu_kernels() == CpuKernels::Facebench {
        if let Some(out) = try_cpu_cat(&a, &b) {
            FAST_CHANNEL_CATS.with(|c| c.set(c.get() + 1));
            return out;
        }
    }
    Tensor::cat(vec![a, b], 1)
}

fn try_cpu_cat<B: Backend>(a: &Tensor<B, 4>, b: &Tensor<B, 4>) -> Option<Tensor<B, 4>> {
    type Ad = Autodiff<Flex>;
    if let (Some(a), Some(b)) = (cast::<_, Tensor<Ad, 4>>(a), cast::<_, Tensor<Ad, 4>>(b)) {
        let (a, b) = (float(a), float(b));
        let s = channel_cat::CatShape::of(&a.primitive, &b.primitive)?;
        let out = channel_cat::forward_autodiff(a, b, s);
        return cast(&Tensor::<Ad, 4>::from_primitive(TensorPrimitive::Float(
            out,
        )));
    }
    let (a, b) = (
        float(cast::<_, Tensor<Flex, 4>>(a)?),
        float(cast::<_, Tensor<Flex, 4>>(b)?),
    );
    let s = channel_cat::CatShape::of(&a, &b)?;
    cast(&Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(
        channel_cat::forward(&a, &b, s),
    )))
}

/// `relu(a + b)`: on the CPU autodiff backend one operation that keeps only
/// its output for the backward (see `cpu_add_relu.rs`); composed elsewhere.
pub fn add_relu<B: Backend>(a: Tensor<B, 4>, b: Tensor<B, 4>) -> Tensor<B, 4> {
    if cpu_kernels() == CpuKernels::Facebench {
        type Ad = Autodiff<Flex>;
        if let (Some(ta), Some(tb)) = (cast::<_, Tensor<Ad, 4>>(&a), cast::<_, Tensor<Ad, 4>>(&b)) {
            let (pa, pb) = (float(ta), float(tb));
            if cpu_add_relu::fits(&pa.primitive, &pb.primitive) {
                let out = cpu_add_relu::forward_autodiff(pa, pb);
                if let Some(out) = cast(&Tensor::<Ad, 4>::from_primitive(TensorPrimitive::Float(
                    out,
                ))) {
                    return out;
                }
            }
        }
    }
    burn::tensor::activation::relu(a + b)
}

/// Max pooling of `[N, C, H, W]` with `pad_start` / `pad_end` rows and columns
/// of padding that never win a max (PyTorch's padding, TensorFlow's "same"):
/// on the CPU backend this folder's kernel (see `max_pool.rs`), burn's
/// `max_pool2d` after a `-inf` pad elsewhere.
pub fn max_pool2d<B: Backend>(
    x: Tensor<B, 4>,
    kernel: [usize; 2],
    stride: [usize; 2],
    pad_start: [usize; 2],
    pad_end: [usize; 2],
) -> Tensor<B, 4> {
    if cpu_kernels() == CpuKernels::Facebench {
        if let Some(out) = try_cpu_max_pool(&x, kernel, stride, pad_start, pad_end) {
            FAST_MAX_POOLS.with(|c| c.set(c.get() + 1));
            return out;
        }
    }
    if pad_start == pad_end {
        return burn::tensor::module::max_pool2d(x, kernel, stride, pad_start, [1, 1], false);
    }
    let pads = (pad_start[1], pad_end[1], pad_start[0], pad_end[0]);
    let x = x.pad(
        pads,
        burn::tensor::ops::PadMode::Constant(f32::NEG_INFINITY),
    );
    burn::tensor::module::max_pool2d(x, kernel, stride, [0, 0], [1, 1], false)
}

fn try_cpu_max_pool<B: Backend>(
    x: &Tensor<B, 4>,
    kernel: [usize; 2],
    stride: [usize; 2],
    pad_start: [usize; 2],
    pad_end: [usize; 2],
) -> Option<Tensor<B, 4>> {
    type Ad = Autodiff<Flex>;
    let geometry = |t: &burn::backend::flex::FlexTensor| {
        max_pool::PoolGeometry::of(t, kernel, stride, pad_start, pad_end)
    };
    if let Some(x) = cast::<_, Tensor<Ad, 4>>(x) {
        let x = float(x);
        let g = geometry(&x.primitive)?;
        return cast(&Tensor::<Ad, 4>::from_primitive(TensorPrimitive::Float(
            max_pool::forward_autodiff(x, g),
        )));
    }
    let x = float(cast::<_, Tensor<Flex, 4>>(x)?);
    let g = geometry(&x)?;
    cast(&Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(
        max_pool::forward(&x, &g),
    )))
}
