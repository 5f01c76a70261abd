//! Depthwise convolution (one filter per channel, Xception's separable
//! convolutions) computed directly on NCHW planes: forward, input gradient and
//! weight gradient, each parallel over planes or channels. The inner loops run
//! over the valid output columns only, so they have no padding checks and, at
//! stride 1, are plain vector updates.
//!
//! burn's generic weight gradient runs one convolution per group here: 728
//! small convolutions for each of Xception's middle-flow layers.

use rayon::prelude::*;

use super::geometry::ConvGeometry;

/// Calls `f(oh, ih, lo, hi, first)` for every output row `oh` of kernel tap
/// (ki, kj) that reads input row `ih`, where output columns `lo..hi` read input
/// columns `first, first + stride, ...`.
fn for_each_tap_row(
    g: &ConvGeometry,
    ki: usize,
    kj: usize,
    mut f: impl FnMut(usize, usize, usize, usize, usize),
) {
    let (r_lo, r_hi) = g.valid_rows(ki);
    let (c_lo, c_hi) = g.valid_cols(kj);
    if c_lo >= c_hi {
        return;
    }
    let first = c_lo * g.stride[1] + kj * g.dilation[1] - g.pad[1];
    for oh in r_lo..r_hi {
        let ih = oh * g.stride[0] + ki * g.dilation[0] - g.pad[0];
        f(oh, ih, c_lo, c_hi, first);
    }
}

pub fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
    let mut y = vec![0.0f32; g.y_len()];
    y.par_chunks_mut(g.out_plane())
        .enumerate()
        .for_each(|(i, out)| {
            let c = i % g.cin;
            out.fill(bias.map_or(0.0, |b| b[c]));
            forward_plane(
                &x[i * g.in_plane()..][..g.in_plane()],
                &weight[c * g.kh * g.kw..],
                g,
                out,
            );
        });
    y
}

/// One output plane: `out += conv(plane, taps)`.
#[inline(never)]
fn forward_plane(plane: &[f32], taps: &[f32], g: &ConvGeometry, out: &mut [f32]) {
    for (k, &wv) in taps[..g.kh * g.kw].iter().enumerate() {
        for_each_tap_row(g, k / g.kw, k % g.kw, |oh, ih, lo, hi, first| {
            let dst = &mut out[oh * g.ow + lo..oh * g.ow + hi];
            let src = &plane[ih * g.w..][..g.w];
            if g.stride[1] == 1 {
                for (d, s) in dst.iter_mut().zip(&src[first..first + (hi - lo)]) {
                    *d += wv * s;
                }
            } else {
                for (j, d) in dst.iter_mut().enumerate() {
                    *d += wv * src[first + j * g.stride[1]];
                }
            }
        });
    }
}

pub fn backward_x(weight: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let mut dx = vec![0.0f32; g.x_len()];
    dx.par_chunks_mut(g.in_plane())
        .enumerate()
        .for_each(|(i, plane)| {
            let c = i % g.cin;
            let grad = &dy[i * g.out_plane()..][..g.out_plane()];
            backward_x_plane(grad, &weight[c * g.kh * g.kw..], g, plane);
        });
    dx
}

/// One input plane's gradient: every output gradient times its taps, added
/// back where it was read from.
#[inline(never)]
fn backward_x_plane(grad: &[f32], taps: &[f32], g: &ConvGeometry, plane: &mut [f32]) {
    for (k, &wv) in taps[..g.kh * g.kw].iter().enumerate() {
        for_each_tap_row(g, k / g.kw, k % g.kw, |oh, ih, lo, hi, first| {
            let src = &grad[oh * g.ow + lo..oh * g.ow + hi];
            let dst = &mut plane[ih * g.w..][..g.w];
            if g.stride[1] == 1 {
                for (d, s) in dst[first..first + (hi - lo)].iter_mut().zip(src) {
                    *d += wv * s;
                }
            } else {
                for (j, s) in src.iter().enumerate() {
                    dst[first + j * g.stride[1]] += wv * s;
                }
            }
        });
    }
}

pub fn backward_weight(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let kk = g.kh * g.kw;
    let mut dw = vec![0.0f32; g.cout * kk];
    dw.par_chunks_mut(kk).enumerate().for_each(|(c, taps)| {
        for n in 0..g.batch {
            let i = n * g.cin + c;
            let plane = &x[i * g.in_plane()..][..g.in_plane()];
            let grad = &dy[i * g.out_plane()..][..g.out_plane()];
            backward_weight_plane(plane, grad, g, taps);
        }
    });
    dw
}

/// One plane's contribution to its channel's tap gradients.
#[inline(never)]
fn backward_weight_plane(plane: &[f32], grad: &[f32], g: &ConvGeometry, taps: &mut [f32]) {
    for (k, tap) in taps.iter_mut().enumerate() {
        let mut acc = 0.0f32;
        for_each_tap_row(g, k / g.kw, k % g.kw, |oh, ih, lo, hi, first| {
            let d = &grad[oh * g.ow + lo..oh * g.ow + hi];
            let src = &plane[ih * g.w..][..g.w];
            if g.stride[1] == 1 {
                acc += dot(d, &src[first..first + (hi - lo)]);
            } else {
                for (j, dv) in d.iter().enumerate() {
                    acc += dv * src[first + j * g.stride[1]];
                }
            }
        });
        *tap += acc;
    }
}

/// A dot product in 8 independent lanes, so it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = a.len() / 8;
    for i in 0..chunks {
        for l in 0..8 {
            lanes[l] += a[i * 8 + l] * b[i * 8 + l];
        }
    }
    let mut acc: f32 = lanes.iter().sum();
    for i in chunks * 8..a.len() {
        acc += a[i] * b[i];
    }
    acc
}
