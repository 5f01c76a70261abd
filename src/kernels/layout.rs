//! Moving convolution data between layouts, in parallel over rows:
//! im2col (input -> `[Cin*KH*KW, N*OH*OW]` patch matrix), col2im (its
//! transpose, accumulating), and NCHW <-> channel-major `[C, N*H*W]`.
//!
//! The patch matrix puts every image's output positions side by side, so one
//! gemm covers the whole batch: the matrices stay wide even where the feature
//! maps are 2x2 (ResNet-50's last stage at 64 px), which per-image gemms are not.

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
    let (ki, kj) = (k / g.kw, k % g.kw);
    let (r_lo, r_hi) = g.valid_rows(ki);
    let (c_lo, c_hi) = g.valid_cols(kj);
    let col_off = kj * g.dilation[1];
    for n in 0..g.batch {
        let plane = &x[(n * g.cin + c) * g.in_plane()..][..g.in_plane()];
        let out = &mut dst[n * g.out_plane()..][..g.out_plane()];
        for oh in 0..g.oh {
            let line = &mut out[oh * g.ow..][..g.ow];
            if oh < r_lo || oh >= r_hi || c_lo >= c_hi {
                line.fill(0.0);
                continue;
            }
            let ih = oh * g.stride[0] + ki * g.dilation[0] - g.pad[0];
            let src = &plane[ih * g.w..][..g.w];
            line[..c_lo].fill(0.0);
            line[c_hi..].fill(0.0);
            let first = c_lo * g.stride[1] + col_off - g.pad[1];
            if g.stride[1] == 1 {
                line[c_lo..c_hi].copy_from_slice(&src[first..first + (c_hi - c_lo)]);
            } else {
                for (i, v) in line[c_lo..c_hi].iter_mut().enumerate() {
                    *v = src[first + i * g.stride[1]];
                }
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
