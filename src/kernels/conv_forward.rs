//! The forward pass of dense and grouped convolutions, with the layout
//! picked per layer by measurement: per image (pointwise layers without a
//! copy, and dense layers with large feature maps in chunks of output lines),
//! channels-last tiles (few output channels on small maps), or one patch
//! matrix of the whole batch (tiny maps, where per-image products would be
//! too narrow).

use rayon::prelude::*;

use super::conv_gemm::{
    grouped_matmul, is_pointwise, matmul, per_group, per_image_product, view, SERIAL,
};
use super::geometry::ConvGeometry;
use super::layout::{from_channel_major, im2col, im2col_lines, im2row_images, transpose_images};

/// Output positions per tile of the channels-last forward (whole images).
const TILE_ROWS: usize = 1024;

/// Pointwise forward: `y[n] = W @ x[n]`, images in parallel.
fn pointwise_forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
    let (p, cin, cout) = (g.out_plane(), g.cin, g.cout);
    let mut y = vec![0.0f32; g.y_len()];
    per_image_product(&mut y, x, view(w, cin, 1), cout, cin, p);
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

/// Forward through one patch matrix of the whole batch (one product per
/// group): wide products even where each image's feature map is tiny.
fn batched_forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
    let (rows, cols) = (g.rows(), g.columns());
    let mut col = vec![0.0f32; rows * cols];
    im2col(x, g, &mut col);
    let mut y_cm = vec![0.0f32; g.cout * cols];
    let (kg, cog) = (g.rows_per_group(), g.cout_per_group());
    let w = per_group(weight, cog * kg, kg, 1);
    let patches = per_group(&col, kg * cols, cols, 1);
    grouped_matmul(g.groups, (cog, cols, kg), &mut y_cm, w, patches);
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
fn image_lines_forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
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
                    view(w, k, 1),
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
