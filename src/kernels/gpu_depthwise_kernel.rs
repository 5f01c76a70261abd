//! The weight gradient of a depthwise convolution as one cubecl kernel
//! launch per layer, for every cubecl backend (burn-wgpu, burn-cuda).
//!
//! `dW[c, 0, i, j] = sum over n, y, x of dY[n, c, y, x] * X[n, c, y*s + i*d - p, x*s + j*d - p]`
//!
//! Each cube owns one channel (and, for layers with few channels, one slice
//! of that channel's output positions, so the device stays busy). Its units
//! walk the positions in steps of the cube's width, read each output
//! gradient once and add its product with every kernel tap's input into
//! their own slot of shared memory; a tree reduction then sums the slots.
//! No atomics, so the result is the same on every run. When a layer is split
//! into slices, one sum over the slices follows (a second launch); Xception's
//! depthwise layers have 128 channels or more and are split only at the
//! entry flow's first layers.

use burn::tensor::Shape;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;
use cubecl::prelude::*;

/// Units per cube (a power of two; lowered to what the device allows).
const CUBE_WIDTH: u32 = 256;
/// The cubes a launch aims for: a layer with fewer channels than this is cut
/// into slices of its positions, so that each of a large GPU's
/// multiprocessors gets a few cubes.
const TARGET_CUBES: usize = 512;

/// The geometry of one depthwise weight gradient.
#[derive(Clone, Copy, Debug)]
pub(super) struct DepthwiseGeometry {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Padding before the first row and column (padding after them only
    /// decides the output size, which `dy` already has).
    pub pad: [usize; 2],
}

#[cube(launch)]
fn depthwise_weight_grad_kernel<F: Float>(
    x: &Tensor<F>,       // [N, C, H, W], any strides
    dy: &Tensor<F>,      // [N, C, OH, OW], any strides
    out: &mut Tensor<F>, // [slices, C, KH, KW]
    stride_h: u32,
    stride_w: u32,
    dilation_h: u32,
    dilation_w: u32,
    pad_h: u32,
    pad_w: u32,
    slices: u32,
    #[comptime] kh: u32,
    #[comptime] kw: u32,
    #[comptime] width: u32,
    #[define(F)] _dtype: StorageType,
) {
    let c = CUBE_POS_X as usize;
    let slice = CUBE_POS_Y as usize;
    let unit = UNIT_POS_X as usize;
    let width_n = comptime!(width as usize);
    let taps = comptime!((kh * kw) as usize);
    let kw_n = comptime!(kw as usize);

    let oh = dy.shape(2);
    let ow = dy.shape(3);
    let h = x.shape(2) as i32;
    let w = x.shape(3) as i32;
    let positions = dy.shape(0) * oh * ow;

    let mut partial = SharedMemory::<F>::new(comptime!((width * kh * kw) as usize));
    for t in 0..taps {
        partial[t * width_n + unit] = F::new(0.0);
    }

    let step = slices as usize * width_n;
    let mut p = slice * width_n + unit;
    while p < positions {
        let ox = p % ow;
        let rest = p / ow;
        let oy = rest % oh;
        let n = rest / oh;
        let g = dy[n * dy.stride(0) + c * dy.stride(1) + oy * dy.stride(2) + ox * dy.stride(3)];
        let x_base = n * x.stride(0) + c * x.stride(1);
        for i in 0..kh {
            let iy = (oy as u32 * stride_h + i * dilation_h) as i32 - pad_h as i32;
            if iy >= 0 && iy < h {
                let row = x_base + iy as usize * x.stride(2);
                for j in 0..kw {
                    let ix = (ox as u32 * stride_w + j * dilation_w) as i32 - pad_w as i32;
                    if ix >= 0 && ix < w {
                        let t = (i * kw + j) as usize;
                        partial[t * width_n + unit] += g * x[row + ix as usize * x.stride(3)];
                    }
                }
            }
        }
        p += step;
    }

    // a runtime value (CUBE_DIM_X == width): a comptime one cannot change
    let mut half = CUBE_DIM_X as usize / 2;
    while half > 0 {
        sync_cube();
        if unit < half {
            for t in 0..taps {
                let a = partial[t * width_n + unit + half];
                partial[t * width_n + unit] += a;
            }
        }
        half /= 2;
    }
    sync_cube();

    let mut t = unit;
    while t < taps {
        let i = t / kw_n;
        let j = t % kw_n;
        out[slice * out.stride(0) + c * out.stride(1) + i * out.stride(2) + j * out.stride(3)] =
            partial[t * width_n];
        t += width_n;
    }
}

/// The weight gradient `[C, 1, KH, KW]` of a depthwise convolution of `x`
/// `[N, C, H, W]` whose output gradient is `dy` `[N, C, OH, OW]`, as
/// `[slices, C, KH, KW]`: sum the first dimension (one slice for layers of
/// [`TARGET_CUBES`] channels or more, and then the sum is a reshape).
pub(super) fn depthwise_weight_grad_slices<R: CubeRuntime>(
    x: CubeTensor<R>,
    dy: CubeTensor<R>,
    geometry: DepthwiseGeometry,
) -> CubeTensor<R> {
    let [n, c, _, _] = x.meta.shape().dims::<4>();
    let [_, _, oh, ow] = dy.meta.shape().dims::<4>();
    let [kh, kw] = geometry.kernel;
    let client = x.client.clone();
    let max_width = client.properties().hardware.max_cube_dim.0.max(1);
    let mut width = CUBE_WIDTH;
    while width > max_width {
        width /= 2;
    }
    let positions = n * oh * ow;
    let slices = TARGET_CUBES
        .div_ceil(c.max(1))
        .min(positions.div_ceil(width as usize * 4))
        .max(1);
    let out = empty_device_dtype::<R>(
        client.clone(),
        x.device.clone(),
        Shape::new([slices, c, kh, kw]),
        x.dtype,
    );
    let dtype = x.dtype;
    depthwise_weight_grad_kernel::launch::<R>(
        &client,
        CubeCount::Static(c as u32, slices as u32, 1),
        CubeDim::new_1d(width),
        x.into_tensor_arg(),
        dy.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        geometry.stride[0] as u32,
        geometry.stride[1] as u32,
        geometry.dilation[0] as u32,
        geometry.dilation[1] as u32,
        geometry.pad[0] as u32,
        geometry.pad[1] as u32,
        slices as u32,
        kh as u32,
        kw as u32,
        width,
        dtype.into(),
    );
    out
}

/// The GPU backends whose float tensors are cubecl tensors: the depthwise
/// weight gradient runs there as [`depthwise_weight_grad_slices`].
pub(super) trait CubeDepthwise: burn::tensor::backend::Backend {
    /// `[slices, C, KH, KW]`, as [`depthwise_weight_grad_slices`].
    fn depthwise_weight_grad_slices(
        x: Self::FloatTensorPrimitive,
        dy: Self::FloatTensorPrimitive,
        geometry: DepthwiseGeometry,
    ) -> Self::FloatTensorPrimitive;
}

impl<R, F, I, BT> CubeDepthwise for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn depthwise_weight_grad_slices(
        x: Self::FloatTensorPrimitive,
        dy: Self::FloatTensorPrimitive,
        geometry: DepthwiseGeometry,
    ) -> Self::FloatTensorPrimitive {
        depthwise_weight_grad_slices::<R>(x, dy, geometry)
    }
}
