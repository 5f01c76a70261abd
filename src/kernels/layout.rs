//! Moving convolution data between layouts, in parallel over rows:
//! im2col (input -> `[Cin*KH*KW, N*OH*OW]` patch matrix), col2im (its
//! transpose, accumulating), and NCHW <-> channel-major `[C, N*H*W]`.
//!
//! The patch matrix puts every image's output positions side by side, so one
//! gemm covers the whole batch: the matrices stay wide even where the feature
//! maps are 2x2 (ResNet-50's last stage at 64 px), which per-image gemms are not.

use std::ops::Range;

use rayon::prelude::*;

use super::geometry::ConvGeometry;

/// `col[(c, ki, kj), (n, oh, ow)] = x[n, c, oh*s - p + ki*d, ow*s - p + kj*d]`,
/// zero where that falls in the padding. `col` has `g.rows() * g.columns()`
/// elements and is fully overwritten.
pub fn im2col(x: &[f32], g: &ConvGeometry, col: &mut [f32]) {
    col.par_chunks_mut(g.columns())
        .enumerate()
        .for_each(|(row, dst)| im2col_row(x, g, row, dst));
}

/// One row `(c, ki, kj)` of the patch matrix, every image.
#[inline(never)]
fn im2col_row(x: &[f32], g: &ConvGeometry, row: usize, dst: &mut [f32]) {
    let kk = g.kh * g.kw;
    let (c, k) = (row / kk, row % kk);
    for n in 0..g.batch {
        let plane = &x[(n * g.cin + c) * g.in_plane()..][..g.in_plane()];
        let out = &mut dst[n * g.out_plane()..][..g.out_plane()];
        patch_lines(plane, g, (k / g.kw, k % g.kw), 0..g.oh, out);
    }
}

/// The patch matrix of one image's output lines `lines`:
/// `[Cin*KH*KW, lines.len()*OW]`, row `(c, ki, kj)` as in [`im2col`]. `x` is
/// the image (`[Cin, H, W]`); `col` is fully overwritten.
pub fn im2col_lines(x: &[f32], g: &ConvGeometry, lines: Range<usize>, col: &mut [f32]) {
    let kk = g.kh * g.kw;
    let width = lines.len() * g.ow;
    for (row, dst) in col.chunks_exact_mut(width).enumerate() {
        let (c, k) = (row / kk, row % kk);
        let plane = &x[c * g.in_plane()..][..g.in_plane()];
        patch_lines(plane, g, (k / g.kw, k % g.kw), lines.clone(), dst);
    }
}

/// Tap `(ki, kj)` of one input plane for output lines `lines`, one line of
/// `OW` values after another into `out` (zero where the tap falls in the
/// padding).
#[inline]
fn patch_lines(
    plane: &[f32],
    g: &ConvGeometry,
    (ki, kj): (usize, usize),
    lines: Range<usize>,
    out: &mut [f32],
) {
    let (r_lo, r_hi) = g.valid_rows(ki);
    let (c_lo, c_hi) = g.valid_cols(kj);
    let first = (c_lo * g.stride[1] + kj * g.dilation[1]).wrapping_sub(g.pad[1]);
    for (oh, line) in lines.zip(out.chunks_exact_mut(g.ow)) {
        if oh < r_lo || oh >= r_hi || c_lo >= c_hi {
            line.fill(0.0);
            continue;
        }
        let ih = oh * g.stride[0] + ki * g.dilation[0] - g.pad[0];
        let src = &plane[ih * g.w..][..g.w];
        line[..c_lo].fill(0.0);
        line[c_hi..].fill(0.0);
        if g.stride[1] == 1 {
            line[c_lo..c_hi].copy_from_slice(&src[first..first + (c_hi - c_lo)]);
        } else {
            for (i, v) in line[c_lo..c_hi].iter_mut().enumerate() {
                *v = src[first + i * g.stride[1]];
            }
        }
    }
}

/// The adjoint of [`im2col`]: every patch entry is added back to the input
/// position it was read from. `dx` (`N*Cin*H*W`) is fully overwritten.
pub fn col2im(col: &[f32], g: &ConvGeometry, dx: &mut [f32]) {
    dx.par_chunks_mut(g.in_plane())
        .enumerate()
        .for_each(|(plane_index, plane)| col2im_plane(col, g, plane_index, plane));
}

/// One input plane `(n, c)` of [`col2im`].
#[inline(never)]
fn col2im_plane(col: &[f32], g: &ConvGeometry, plane_index: usize, plane: &mut [f32]) {
    let columns = g.columns();
    let kk = g.kh * g.kw;
    let (n, c) = (plane_index / g.cin, plane_index % g.cin);
    plane.fill(0.0);
    for k in 0..kk {
        let (ki, kj) = (k / g.kw, k % g.kw);
        let (r_lo, r_hi) = g.valid_rows(ki);
        let (c_lo, c_hi) = g.valid_cols(kj);
        if c_lo >= c_hi {
            continue;
        }
        let src = &col[(c * kk + k) * columns + n * g.out_plane()..][..g.out_plane()];
        let first = c_lo * g.stride[1] + kj * g.dilation[1] - g.pad[1];
        for oh in r_lo..r_hi {
            let ih = oh * g.stride[0] + ki * g.dilation[0] - g.pad[0];
            let line = &src[oh * g.ow + c_lo..oh * g.ow + c_hi];
            let dst = &mut plane[ih * g.w..][..g.w];
            if g.stride[1] == 1 {
                for (d, s) in dst[first..first + line.len()].iter_mut().zip(line) {
                    *d += s;
                }
            } else {
                for (i, s) in line.iter().enumerate() {
                    dst[first + i * g.stride[1]] += s;
                }
            }
        }
    }
}

/// `[N, C, P]` to `[C, N*P]`.
pub fn to_channel_major(x: &[f32], batch: usize, channels: usize, plane: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(batch * plane)
        .enumerate()
        .for_each(|(c, row)| {
            for n in 0..batch {
                row[n * plane..][..plane]
                    .copy_from_slice(&x[(n * channels + c) * plane..][..plane]);
            }
        });
    out
}

/// `[C, N*P]` to `[N, C, P]`, adding `bias[c]` when given.
pub fn from_channel_major(
    x: &[f32],
    batch: usize,
    channels: usize,
    plane: usize,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(plane).enumerate().for_each(|(i, dst)| {
        let (n, c) = (i / channels, i % channels);
        let src = &x[(c * batch + n) * plane..][..plane];
        match bias {
            Some(b) => {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = s + b[c];
                }
            }
            None => dst.copy_from_slice(src),
        }
    });
    out
}

/// Transpose each row-major `[rows, cols]` matrix of `src` into `dst`, on
/// the calling thread: NCHW -> NHWC is `rows = C, cols = H*W`, NHWC -> NCHW
/// the reverse.
pub fn transpose_images(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    if rows * cols == 0 {
        return;
    }
    for (d, s) in dst
        .chunks_exact_mut(rows * cols)
        .zip(src.chunks_exact(rows * cols))
    {
        transpose_tiles(s, rows, cols, d);
    }
}

/// `dst[c][r] = src[r][c]` for one `[rows, cols]` matrix.
#[inline(never)]
fn transpose_tiles(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                let line = &src[r * cols..][..cols];
                for c in c0..(c0 + TILE).min(cols) {
                    dst[c * rows + r] = line[c];
                }
            }
        }
    }
}

/// The patch matrix with one row per output position, `[N*OH*OW, KH*KW*C]`,
/// from a channels-last input: row `(n, oh, ow)` holds, for each tap (ki, kj),
/// the `C` channel values read there (zeros in the padding). Each tap is one
/// contiguous copy. `rows` (a whole number of images, from
/// image `first` on) is fully overwritten, on the calling thread (the caller
/// parallelises over image groups).
pub fn im2row_images(x_nhwc: &[f32], g: &ConvGeometry, first: usize, rows: &mut [f32]) {
    let k = g.rows();
    for (line, dst) in rows.chunks_mut(g.ow * k).enumerate() {
        im2row_line(x_nhwc, g, first + line / g.oh, line % g.oh, dst);
    }
}

/// The rows of output line `oh` of image `n`.
#[inline(never)]
fn im2row_line(x: &[f32], g: &ConvGeometry, n: usize, oh: usize, dst: &mut [f32]) {
    let c = g.cin;
    let k = g.rows();
    for ow in 0..g.ow {
        let row = &mut dst[ow * k..][..k];
        for ki in 0..g.kh {
            let ih = (oh * g.stride[0] + ki * g.dilation[0]) as isize - g.pad[0] as isize;
            let taps = &mut row[ki * g.kw * c..][..g.kw * c];
            if ih < 0 || ih as usize >= g.h {
                taps.fill(0.0);
                continue;
            }
            for kj in 0..g.kw {
                let iw = (ow * g.stride[1] + kj * g.dilation[1]) as isize - g.pad[1] as isize;
                let tap = &mut taps[kj * c..][..c];
                if iw < 0 || iw as usize >= g.w {
                    tap.fill(0.0);
                } else {
                    tap.copy_from_slice(
                        &x[((n * g.h + ih as usize) * g.w + iw as usize) * c..][..c],
                    );
                }
            }
        }
    }
}
