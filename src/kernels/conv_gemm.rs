//! Convolution forward and backward as matrix products, for dense and
//! grouped convolutions. The forward picks per layer: per image (pointwise
//! layers, and dense layers with large feature maps, in chunks of output
//! lines), channels-last tiles (few output channels on small maps) or one
//! patch matrix of the whole batch; the backward passes below use the whole
//! batch's patch matrix:
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
use super::layout::{
    col2im, from_channel_major, im2col, im2col_lines, im2row_images, to_channel_major,
    transpose_images,
};

/// Output positions per tile of the channels-last forward (whole images).
const TILE_ROWS: usize = 1024;

/// A matrix operand: its elements and their (row, column) strides.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    strides: (usize, usize),
}

fn view(data: &[f32], row_stride: usize, col_stride: usize) -> View<'_> {
    View {
        data,
        strides: (row_stride, col_stride),
    }
}

/// How a product runs: added to `dst` or written over it; on rayon's pool
/// (when large) or on the calling thread (the caller parallelises).
#[derive(Clone, Copy)]
struct Mode {
    accumulate: bool,
    pool: bool,
}

const POOLED: Mode = Mode {
    accumulate: false,
    pool: true,
};
const SERIAL: Mode = Mode {
    accumulate: false,
    pool: false,
};

/// `dst[m x n] (+)= lhs[m x k] @ rhs[k x n]`, every operand given by its
/// (row, column) strides.
#[allow(clippy::too_many_arguments)]
fn matmul(
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
fn is_pointwise(g: &ConvGeometry) -> bool {
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
fn per_image_product(
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

/// Pointwise forward: `y[n] = W @ x[n]`, images in parallel.
fn pointwise_forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    let (p, cin, cout) = (g.out_plane(), g.cin, g.cout);
    let mut y = vec![0.0f32; g.y_len()];
    per_image_product(&mut y, x, view(weight, cin, 1), cout, cin, p);
    if let Some(b) = bias {
        y.par_chunks_mut(cout * p).for_each(|yn| add_bias(yn, b, p));
    }
    y
}

/// Adds `bias[c]` to every plane of channel `c` of whole NCHW images
/// (`plane` values a plane), on the calling thread.
fn add_bias(y: &mut [f32], bias: &[f32], plane: usize) {
    for (i, row) in y.chunks_mut(plane).enumerate() {
        let bv = bias[i % bias.len()];
        row.iter_mut().for_each(|v| *v += bv);
    }
}

/// Pointwise gradients: `dx[n] = Wᵀ @ dy[n]`, `dW = Σn dy[n] @ x[n]ᵀ` (partial
/// sums per thread, then added).
fn pointwise_backward(
    x: &[f32],
    weight: &[f32],
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
        per_image_product(&mut dx, dy, view(weight, 1, cin), cin, cout, p);
        out.x = Some(dx);
    }
    out
}

/// `y` (NCHW) of the convolution of `x` (NCHW) with `weight`, plus `bias`.
pub fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
    if is_pointwise(g) {
        return pointwise_forward(x, weight, bias, g);
    }
    if prefers_image_lines(g) {
        return image_lines_forward(x, weight, bias, g);
    }
    if prefers_channels_last(g) {
        return channels_last_forward(x, weight, bias, g);
    }
    batched_forward(x, weight, bias, g)
}

/// An operand of one product per group: group `g`'s block starts at
/// `g * step`, with (row, column) strides.
#[derive(Clone, Copy)]
struct PerGroup<'a> {
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

fn per_group(data: &[f32], step: usize, row_stride: usize, col_stride: usize) -> PerGroup<'_> {
    PerGroup {
        data,
        step,
        strides: (row_stride, col_stride),
    }
}

/// For every group, `dst_g [m x n] = lhs_g [m x k] @ rhs_g [k x n]` on rayon's
/// pool; `dst` is `(data, step between groups, row stride)`.
fn grouped_matmul(
    groups: usize,
    (m, n, k): (usize, usize, usize),
    (dst, dst_step, dst_row_stride): (&mut [f32], usize, usize),
    lhs: PerGroup,
    rhs: PerGroup,
) {
    for group in 0..groups {
        matmul(
            m,
            n,
            k,
            &mut dst[group * dst_step..],
            (dst_row_stride, 1),
            lhs.block(group),
            rhs.block(group),
            POOLED,
        );
    }
}

/// Forward through one patch matrix of the whole batch (one product per
/// group): wide products even where each image's feature map is tiny.
fn batched_forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
    let (rows, cols) = (g.rows(), g.columns());
    let mut col = vec![0.0f32; rows * cols];
    im2col(x, g, &mut col);
    let mut y_cm = vec![0.0f32; g.cout * cols];
    let (kg, cog) = (g.rows_per_group(), g.cout_per_group());
    let (w, patches) = (
        per_group(weight, cog * kg, kg, 1),
        per_group(&col, kg * cols, cols, 1),
    );
    grouped_matmul(
        g.groups,
        (cog, cols, kg),
        (&mut y_cm, cog * cols, cols),
        w,
        patches,
    );
    drop(col);
    from_channel_major(&y_cm, g.batch, g.cout, g.out_plane(), bias)
}

/// Dense layers with feature maps of at least this many positions take
/// [`image_lines_forward`].
const LINES_MIN_PLANE: usize = 128;

/// Whether [`image_lines_forward`] runs this layer: a dense convolution with
/// feature maps large enough for per-image products, and at least one image
/// per thread. Measured against the whole-batch patch matrix and the
/// channels-last tiles on ResNet-50's and DenseNet-121's shapes (2 threads,
/// batch 16, docs/performance.md): 1.2-2.9x faster on every shape with at
/// least 14x14 outputs (ResNet-50's 7x7 stem at 224 px: 16 -> 45 GFLOP/s,
/// 64->64 3x3 at 56x56: 47 -> 87); mixed below that, so smaller maps keep
/// the batched products.
fn prefers_image_lines(g: &ConvGeometry) -> bool {
    g.groups == 1 && g.out_plane() >= LINES_MIN_PLANE && g.batch >= rayon::current_num_threads()
}

/// Few output channels (DenseNet's 32-channel 3x3 convolutions, ResNet's
/// first stage), long patches and enough input channels for each tap to be a
/// real copy, on feature maps too small for [`image_lines_forward`]:
/// where the channels-last forward measured faster. With many output
/// channels the channel-major product is as fast and needs no transposes.
fn prefers_channels_last(g: &ConvGeometry) -> bool {
    // small patches (K < 256) do not pay for the two transposes
    g.groups == 1 && g.cout <= 64 && g.cin >= 8 && g.rows() >= 256
}

/// Dense forward through channels-last data: the input transposed to NHWC,
/// one patch row per output position (taps in (ki, kj, c) order, each a
/// contiguous copy), and the product written channels-last, then transposed
/// back. gemm runs these products 1.5-2.5x faster than the channel-major
/// patch matrix when there are few output channels (measured on the shapes
/// of DenseNet-121 and ResNet-50, docs/performance.md).
fn channels_last_forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    let k = g.rows();
    let unit = g.kh == 1
        && g.kw == 1
        && g.stride == [1, 1]
        && g.pad == [0, 0]
        && (g.oh, g.ow) == (g.h, g.w);
    // weight (co, c, ki, kj) -> (co, ki, kj, c), the patches' order
    let taps = g.kh * g.kw;
    let mut w_last = vec![0.0f32; weight.len()];
    for (co, dst) in w_last.chunks_mut(k).enumerate() {
        for c in 0..g.cin {
            for t in 0..taps {
                dst[t * g.cin + c] = weight[(co * g.cin + c) * taps + t];
            }
        }
    }
    // Tiles of whole images, each thread one tile at a time with its own
    // buffers (the tile's input channels-last, its patches, its output
    // channels-last), written into `y` by a transpose. Patches of the whole
    // batch (42 MB for DenseNet's first block at 96 px) leave every cache,
    // and gemm ran 1.5-3x slower on them than on tiles of about a thousand
    // rows; whole-batch transposed copies also raised the step's peak memory.
    let (plane, in_plane) = (g.out_plane(), g.in_plane());
    // at least one tile per thread
    let per_thread = g.batch.div_ceil(rayon::current_num_threads()).max(1);
    let images = (TILE_ROWS / plane.max(1)).clamp(1, per_thread);
    let mut y = vec![0.0f32; g.y_len()];
    y.par_chunks_mut(images * g.cout * plane)
        .enumerate()
        .for_each_init(TileBuffers::default, |bufs, (tile, y_tile)| {
            let first = tile * images;
            let count = y_tile.len() / (g.cout * plane);
            let rows = count * plane;
            let x_tile = &x[first * g.cin * in_plane..][..count * g.cin * in_plane];
            bufs.x_nhwc.resize(x_tile.len(), 0.0);
            transpose_images(x_tile, g.cin, in_plane, &mut bufs.x_nhwc);
            if !unit {
                bufs.patches.resize(rows * k, 0.0);
                let local = ConvGeometry { batch: count, ..*g };
                im2row_images(&bufs.x_nhwc, &local, 0, &mut bufs.patches);
            }
            let patches = if unit { &bufs.x_nhwc } else { &bufs.patches };
            bufs.y_nhwc.resize(rows * g.cout, 0.0);
            matmul(
                g.cout,
                rows,
                k,
                &mut bufs.y_nhwc,
                (1, g.cout),
                view(&w_last, k, 1),
                view(patches, 1, k),
                SERIAL,
            );
            transpose_images(&bufs.y_nhwc, plane, g.cout, y_tile);
            if let Some(b) = bias {
                add_bias(y_tile, b, plane);
            }
        });
    y
}

/// Dense forward image by image, in chunks of whole output lines (about
/// [`TILE_ROWS`] positions): each chunk's patch matrix (`[K, lines*OW]`) is
/// built on the thread that multiplies it, while it is in cache, and the
/// product is written straight into the image's NCHW output (no transposes).
fn image_lines_forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    let (k, plane, in_len) = (g.rows(), g.out_plane(), g.cin * g.in_plane());
    let lines_per_chunk = (TILE_ROWS / g.ow.max(1)).clamp(1, g.oh.max(1));
    let mut y = vec![0.0f32; g.y_len()];
    y.par_chunks_mut(g.cout * plane)
        .zip(x.par_chunks(in_len))
        .for_each_init(Vec::new, |col, (yn, xn)| {
            for start in (0..g.oh).step_by(lines_per_chunk) {
                let lines = start..(start + lines_per_chunk).min(g.oh);
                let width = lines.len() * g.ow;
                col.resize(k * width, 0.0);
                im2col_lines(xn, g, lines, col);
                matmul(
                    g.cout,
                    width,
                    k,
                    &mut yn[start * g.ow..],
                    (plane, 1),
                    view(weight, k, 1),
                    view(col, width, 1),
                    SERIAL,
                );
            }
            if let Some(b) = bias {
                add_bias(yn, b, plane);
            }
        });
    y
}

/// One thread's buffers in [`channels_last_forward`].
#[derive(Default)]
struct TileBuffers {
    x_nhwc: Vec<f32>,
    patches: Vec<f32>,
    y_nhwc: Vec<f32>,
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
pub fn backward(
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    want: Wanted,
) -> ConvGrads {
    if is_pointwise(g) {
        return pointwise_backward(x, weight, dy, g, want);
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
        let (dy_g, patches_t) = (
            per_group(&dy_cm, cog * cols, cols, 1),
            per_group(&buf, kg * cols, 1, cols),
        );
        grouped_matmul(
            g.groups,
            (cog, kg, cols),
            (&mut dw, cog * kg, kg),
            dy_g,
            patches_t,
        );
        out.weight = Some(dw);
    }
    if want.x {
        if buf.len() != rows * cols {
            buf = vec![0.0f32; rows * cols];
        }
        let (w_t, dy_g) = (
            per_group(weight, cog * kg, 1, kg),
            per_group(&dy_cm, cog * cols, cols, 1),
        );
        grouped_matmul(
            g.groups,
            (kg, cols, cog),
            (&mut buf, kg * cols, cols),
            w_t,
            dy_g,
        );
        let mut dx = vec![0.0f32; g.x_len()];
        col2im(&buf, g, &mut dx);
        out.x = Some(dx);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// The per-image line chunks equal the whole-batch product, including
    /// layers whose output spans several chunks (over `TILE_ROWS` positions),
    /// strides, asymmetric padding and a bias.
    #[test]
    fn image_lines_match_the_batched_product() {
        let cases = [
            // x dims, weight dims, stride, pad start, pad end
            ([2, 3, 80, 80], [8, 3, 7, 7], 2, 3, 3),
            ([3, 5, 34, 34], [6, 5, 3, 3], 1, 1, 1),
            ([2, 4, 33, 35], [5, 4, 3, 3], 2, 0, 1),
            ([2, 6, 40, 40], [7, 6, 1, 1], 2, 0, 0),
        ];
        for (i, (xd, wd, stride, pad_start, pad_end)) in cases.into_iter().enumerate() {
            let g = ConvGeometry::new(xd, wd, [stride; 2], [pad_start; 2], [pad_end; 2], [1, 1], 1)
                .expect("valid geometry");
            let x = pseudo_random(xd.iter().product(), 1 + i as u32);
            let w = pseudo_random(wd.iter().product(), 100 + i as u32);
            let b = pseudo_random(wd[0], 200 + i as u32);
            let lines = image_lines_forward(&x, &w, Some(&b), &g);
            let batched = batched_forward(&x, &w, Some(&b), &g);
            assert_eq!(lines.len(), batched.len());
            for (j, (a, e)) in lines.iter().zip(&batched).enumerate() {
                assert!(
                    (a - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "case {i}, output {j}: {a} vs {e}"
                );
            }
        }
    }
}
