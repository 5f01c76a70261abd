//! Convolutions as matrix products: the gemm plumbing every convolution
//! kernel uses (operand views, per-image and per-group products), and the
//! backward passes of dense and grouped convolutions. The forward passes,
//! which pick a layout per layer, are in `conv_forward`.
//!
//! With `col = im2col(x)` (`[Cin*KH*KW, N*OH*OW]`) and `dy` in channel-major
//! order (`[Cout, N*OH*OW]`), per group:
//!
//! - forward: `y = W @ col`
//! - weight gradient: `dW = dy @ colᵀ` (the reduction runs over the whole batch's
//!   positions, so the product is well shaped even for small feature maps)
//! - input gradient: `dx = col2im(Wᵀ @ dy)`
//! - bias gradient: the row sums of `dy`
//!
//! burn's generic backward instead runs a convolution with batch and channels
//! swapped (skinny matrices) and, for groups, one convolution per group.

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use super::layout::{col2im, im2col, to_channel_major};

/// A matrix operand: its elements and their (row, column) strides.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    data: &'a [f32],
    strides: (usize, usize),
}

pub(super) fn view(data: &[f32], row_stride: usize, col_stride: usize) -> View<'_> {
    View {
        data,
        strides: (row_stride, col_stride),
    }
}

/// How a product runs: added to `dst` or written over it; on rayon's pool
/// (when large) or on the calling thread (the caller parallelises).
#[derive(Clone, Copy)]
pub(super) struct Mode {
    accumulate: bool,
    pool: bool,
}

pub(super) const POOLED: Mode = Mode {
    accumulate: false,
    pool: true,
};
pub(super) const SERIAL: Mode = Mode {
    accumulate: false,
    pool: false,
};

/// `dst[m x n] (+)= lhs[m x k] @ rhs[k x n]`, every operand given by its
/// (row, column) strides.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_strides: (usize, usize),
    lhs: View,
    rhs: View,
    mode: Mode,
) {
    if m == 0 || n == 0 {
        return;
    }
    // every index the product touches lies inside the slices
    let last = |rows: usize, cols: usize, (rs, cs): (usize, usize)| {
        (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs
    };
    assert!(last(m, n, dst_strides) < dst.len(), "matmul: dst too small");
    if k > 0 {
        assert!(
            last(m, k, lhs.strides) < lhs.data.len(),
            "matmul: lhs too small"
        );
        assert!(
            last(k, n, rhs.strides) < rhs.data.len(),
            "matmul: rhs too small"
        );
    }
    let threads = rayon::current_num_threads();
    let (lhs_strides, rhs_strides) = (lhs.strides, rhs.strides);
    let raw = |m: usize, n: usize, dst_at: usize, lhs_at: usize, rhs_at: usize| {
        // SAFETY: called only with sub-blocks of the operands checked above,
        // and (in parallel) with disjoint blocks of dst.
        unsafe {
            gemm_raw(
                m,
                n,
                k,
                dst_at as *mut f32,
                dst_strides,
                lhs_at as *const f32,
                lhs_strides,
                rhs_at as *const f32,
                rhs_strides,
                mode.accumulate,
            )
        }
    };
    let (dst_addr, lhs_addr, rhs_addr) = (
        dst.as_mut_ptr() as usize,
        lhs.data.as_ptr() as usize,
        rhs.data.as_ptr() as usize,
    );
    if !mode.pool || threads < 2 || m * n * k < 64 * 64 * 64 {
        raw(m, n, dst_addr, lhs_addr, rhs_addr);
        return;
    }
    // One serial product per thread on a block of the output: columns when the
    // output is wide (each thread packs only its part of rhs), rows otherwise.
    // Never gemm's own rayon mode: its per-thread packing buffers are not safe
    // when two products share the pool at once (a worker waiting inside one
    // product can run a block of the other: corrupted input gradients, seen
    // in tests/kernel_parity.rs and training.rs when tests ran in parallel).
    let by_columns = n >= m;
    let len = if by_columns { n } else { m };
    let block = len.div_ceil(threads).next_multiple_of(16).min(len);
    let f = std::mem::size_of::<f32>();
    (0..len.div_ceil(block)).into_par_iter().for_each(|b| {
        let (start, size) = (b * block, block.min(len - b * block));
        if by_columns {
            raw(
                m,
                size,
                dst_addr + start * dst_strides.1 * f,
                lhs_addr,
                rhs_addr + start * rhs.strides.1 * f,
            );
        } else {
            raw(
                size,
                n,
                dst_addr + start * dst_strides.0 * f,
                lhs_addr + start * lhs.strides.0 * f,
                rhs_addr,
            );
        }
    });
}

/// One single-threaded gemm call on raw operands (row-major `dst`).
///
/// # Safety
/// Every element the product reads or writes must be valid, and `dst` must
/// not overlap `lhs` or `rhs`.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_strides: (usize, usize),
    lhs: *const f32,
    lhs_strides: (usize, usize),
    rhs: *const f32,
    rhs_strides: (usize, usize),
    accumulate: bool,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_strides.1 as isize,
        dst_strides.0 as isize,
        accumulate,
        lhs,
        lhs_strides.1 as isize,
        lhs_strides.0 as isize,
        rhs,
        rhs_strides.1 as isize,
        rhs_strides.0 as isize,
        1.0f32,
        1.0f32,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// Feature maps at least this large (positions per image) take the per-image
/// path of a pointwise convolution; smaller ones are batched into one product.
const PER_IMAGE_MIN_PLANE: usize = 64;

/// An unpadded stride-1 1x1 convolution without groups: each image's
/// `[Cin, H*W]` plane is its own patch matrix, so no copy is needed.
pub(super) fn is_pointwise(g: &ConvGeometry) -> bool {
    g.kh == 1
        && g.kw == 1
        && g.stride == [1, 1]
        && g.pad == [0, 0]
        && g.groups == 1
        && (g.oh, g.ow) == (g.h, g.w)
        && g.out_plane() >= PER_IMAGE_MIN_PLANE
}

/// `out[n] = a @ inp[n]` for every image `n`, images in parallel: `a` is
/// `[rows, inner]`, each image of `inp` `[inner, plane]` and of `out`
/// `[rows, plane]`.
pub(super) fn per_image_product(
    out: &mut [f32],
    inp: &[f32],
    a: View,
    rows: usize,
    inner: usize,
    plane: usize,
) {
    out.par_chunks_mut(rows * plane)
        .zip(inp.par_chunks(inner * plane))
        .for_each(|(on, xn)| {
            matmul(
                rows,
                plane,
                inner,
                on,
                (plane, 1),
                a,
                view(xn, plane, 1),
                SERIAL,
            );
        });
}

/// Pointwise gradients: `dx[n] = Wᵀ @ dy[n]`, `dW = Σn dy[n] @ x[n]ᵀ` (partial
/// sums per thread, then added).
fn pointwise_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    want: Wanted,
) -> ConvGrads {
    let (p, cin, cout) = (g.out_plane(), g.cin, g.cout);
    let mut out = ConvGrads::default();
    if want.bias {
        out.bias = Some(bias_grad(dy, g));
    }
    if want.weight {
        let parts = rayon::current_num_threads().clamp(1, g.batch.max(1));
        let per_part = g.batch.div_ceil(parts);
        let partial: Vec<Vec<f32>> = (0..parts)
            .into_par_iter()
            .map(|part| {
                let mut dw = vec![0.0f32; cout * cin];
                let images = (part * per_part)..((part + 1) * per_part).min(g.batch);
                for (i, n) in images.enumerate() {
                    let dyn_ = &dy[n * cout * p..][..cout * p];
                    let xn = &x[n * cin * p..][..cin * p];
                    let mode = Mode {
                        accumulate: i > 0,
                        pool: false,
                    };
                    matmul(
                        cout,
                        cin,
                        p,
                        &mut dw,
                        (cin, 1),
                        view(dyn_, p, 1),
                        view(xn, 1, p),
                        mode,
                    );
                }
                dw
            })
            .collect();
        let mut dw = vec![0.0f32; cout * cin];
        for part in partial {
            dw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        out.weight = Some(dw);
    }
    if want.x {
        let mut dx = vec![0.0f32; g.x_len()];
        per_image_product(&mut dx, dy, view(w, 1, cin), cin, cout, p);
        out.x = Some(dx);
    }
    out
}

/// An operand of one product per group: group `g`'s block starts at
/// `g * step`, with (row, column) strides.
#[derive(Clone, Copy)]
pub(super) struct PerGroup<'a> {
    data: &'a [f32],
    step: usize,
    strides: (usize, usize),
}

impl<'a> PerGroup<'a> {
    /// Group `group`'s block.
    fn block(self, group: usize) -> View<'a> {
        view(
            &self.data[group * self.step..],
            self.strides.0,
            self.strides.1,
        )
    }
}

pub(super) fn per_group(
    data: &[f32],
    step: usize,
    row_stride: usize,
    col_stride: usize,
) -> PerGroup<'_> {
    PerGroup {
        data,
        step,
        strides: (row_stride, col_stride),
    }
}

/// For every group, `dst_g [m x n] = lhs_g [m x k] @ rhs_g [k x n]` on rayon's
/// pool; `dst` holds the groups' row-major products one after another.
pub(super) fn grouped_matmul(
    groups: usize,
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    lhs: PerGroup,
    rhs: PerGroup,
) {
    for group in 0..groups {
        matmul(
            m,
            n,
            k,
            &mut dst[group * m * n..],
            (n, 1),
            lhs.block(group),
            rhs.block(group),
            POOLED,
        );
    }
}

/// Sum of `dy` (NCHW) over batch and positions, per channel.
pub fn bias_grad(dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let mut out = vec![0.0f32; g.cout];
    for (i, plane) in dy.chunks(g.out_plane()).enumerate() {
        out[i % g.cout] += plane.iter().sum::<f32>();
    }
    out
}

/// The gradients a backward pass asked for.
#[derive(Default)]
pub struct ConvGrads {
    pub x: Option<Vec<f32>>,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

/// Which gradients to compute.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub x: bool,
    pub weight: bool,
    pub bias: bool,
}

/// Gradients of the convolution's inputs from `dy` (NCHW).
pub fn backward(x: &[f32], w: &[f32], dy: &[f32], g: &ConvGeometry, want: Wanted) -> ConvGrads {
    if is_pointwise(g) {
        return pointwise_backward(x, w, dy, g, want);
    }
    let (rows, cols) = (g.rows(), g.columns());
    let (kg, cog) = (g.rows_per_group(), g.cout_per_group());
    let dy_cm = to_channel_major(dy, g.batch, g.cout, g.out_plane());
    let mut out = ConvGrads::default();
    if want.bias {
        out.bias = Some(dy_cm.par_chunks(cols).map(|r| r.iter().sum()).collect());
    }
    // one buffer serves as col (weight gradient) and then as dcol (input gradient)
    let mut buf = Vec::new();
    if want.weight {
        buf = vec![0.0f32; rows * cols];
        im2col(x, g, &mut buf);
        let mut dw = vec![0.0f32; g.weight_len()];
        let dy_g = per_group(&dy_cm, cog * cols, cols, 1);
        let patches_t = per_group(&buf, kg * cols, 1, cols);
        grouped_matmul(g.groups, (cog, kg, cols), &mut dw, dy_g, patches_t);
        out.weight = Some(dw);
    }
    if want.x {
        if buf.len() != rows * cols {
            buf = vec![0.0f32; rows * cols];
        }
        let w_t = per_group(w, cog * kg, 1, kg);
        let dy_g = per_group(&dy_cm, cog * cols, cols, 1);
        grouped_matmul(g.groups, (kg, cols, cog), &mut buf, w_t, dy_g);
        let mut dx = vec![0.0f32; g.x_len()];
        col2im(&buf, g, &mut dx);
        out.x = Some(dx);
    }
    out
}
