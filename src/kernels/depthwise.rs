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
    if let Some(wide) = Wide::new(g) {
        let kk = g.kh * g.kw;
        y.par_chunks_mut(g.out_plane()).enumerate().for_each_init(
            || (vec![0.0f32; wide.padded_len], vec![0.0f32; wide.span]),
            |(padded, acc), (i, out)| {
                let c = i % g.cin;
                wide.pad_into(g, &x[i * g.in_plane()..][..g.in_plane()], padded);
                acc.fill(bias.map_or(0.0, |b| b[c]));
                for (&off, &wv) in wide.offsets.iter().zip(&weight[c * kk..][..kk]) {
                    axpy(acc, wv, &padded[off..][..wide.span]);
                }
                wide.narrow_into(g, acc, out);
            },
        );
        return y;
    }
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
    if let Some(wide) = Wide::new(g) {
        let kk = g.kh * g.kw;
        dx.par_chunks_mut(g.in_plane()).enumerate().for_each_init(
            || (vec![0.0f32; wide.span], vec![0.0f32; wide.padded_len]),
            |(grad, padded), (i, plane)| {
                let c = i % g.cin;
                wide.widen_into(g, &dy[i * g.out_plane()..][..g.out_plane()], grad);
                padded.fill(0.0);
                for (&off, &wv) in wide.offsets.iter().zip(&weight[c * kk..][..kk]) {
                    axpy(&mut padded[off..][..wide.span], wv, grad);
                }
                wide.unpad_into(g, padded, plane);
            },
        );
        return dx;
    }
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
    if let Some(wide) = Wide::new(g) {
        dw.par_chunks_mut(kk).enumerate().for_each_init(
            || (vec![0.0f32; wide.padded_len], vec![0.0f32; wide.span]),
            |(padded, grad), (c, taps)| {
                for n in 0..g.batch {
                    let i = n * g.cin + c;
                    wide.pad_into(g, &x[i * g.in_plane()..][..g.in_plane()], padded);
                    wide.widen_into(g, &dy[i * g.out_plane()..][..g.out_plane()], grad);
                    for (tap, &off) in taps.iter_mut().zip(&wide.offsets) {
                        *tap += dot(grad, &padded[off..][..wide.span]);
                    }
                }
            },
        );
        return dw;
    }
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

/// A stride-1 depthwise convolution laid out "wide": each input plane copied
/// into a zero-padded plane `pitch` columns wide, and each output plane kept at
/// the same row pitch (its last `pitch - ow` columns unused). Then every kernel
/// tap reads the padded plane at one fixed offset, so a tap is one long vector
/// update over the whole plane instead of one short update per row (Xception's
/// middle flow has 6-column rows at 96 px).
struct Wide {
    pitch: usize,
    padded_len: usize,
    /// Wide output length: `(oh - 1) * pitch + ow`.
    span: usize,
    /// Where each tap's window starts in the padded plane, taps in weight order.
    offsets: Vec<usize>,
}

impl Wide {
    fn new(g: &ConvGeometry) -> Option<Wide> {
        // an empty input plane has no rows to copy: the row-by-row path
        if g.stride != [1, 1] || g.oh == 0 || g.ow == 0 || g.h == 0 || g.w == 0 {
            return None;
        }
        let pitch = g.w + 2 * g.pad[1];
        let rows = g.h + 2 * g.pad[0];
        // stride 1 with symmetric padding: the last tap's window ends at the
        // padded plane's last element
        if g.oh + (g.kh - 1) * g.dilation[0] != rows || g.ow + (g.kw - 1) * g.dilation[1] != pitch {
            return None;
        }
        let offsets = (0..g.kh * g.kw)
            .map(|k| (k / g.kw) * g.dilation[0] * pitch + (k % g.kw) * g.dilation[1])
            .collect();
        Some(Wide {
            pitch,
            padded_len: rows * pitch,
            span: (g.oh - 1) * pitch + g.ow,
            offsets,
        })
    }

    /// `plane` (`h x w`) into the middle of `padded`, zeros around it.
    fn pad_into(&self, g: &ConvGeometry, plane: &[f32], padded: &mut [f32]) {
        padded.fill(0.0);
        for (r, row) in plane.chunks_exact(g.w).enumerate() {
            let at = (r + g.pad[0]) * self.pitch + g.pad[1];
            padded[at..at + g.w].copy_from_slice(row);
        }
    }

    /// The inner `h x w` of `padded` into `plane`.
    fn unpad_into(&self, g: &ConvGeometry, padded: &[f32], plane: &mut [f32]) {
        for (r, row) in plane.chunks_exact_mut(g.w).enumerate() {
            let at = (r + g.pad[0]) * self.pitch + g.pad[1];
            row.copy_from_slice(&padded[at..at + g.w]);
        }
    }

    /// An output plane (`oh x ow`) at the wide pitch, its unused columns zero.
    fn widen_into(&self, g: &ConvGeometry, out: &[f32], wide: &mut [f32]) {
        for (r, row) in out.chunks_exact(g.ow).enumerate() {
            let at = r * self.pitch;
            wide[at..at + g.ow].copy_from_slice(row);
            let end = (at + self.pitch).min(self.span);
            wide[at + g.ow..end].fill(0.0);
        }
    }

    /// The used columns of a wide output plane into `out` (`oh x ow`).
    fn narrow_into(&self, g: &ConvGeometry, wide: &[f32], out: &mut [f32]) {
        for (r, row) in out.chunks_exact_mut(g.ow).enumerate() {
            row.copy_from_slice(&wide[r * self.pitch..][..g.ow]);
        }
    }
}

/// `acc += a * x`.
fn axpy(acc: &mut [f32], a: f32, x: &[f32]) {
    for (d, s) in acc.iter_mut().zip(x) {
        *d += a * s;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn depthwise(x: [usize; 4], pad: usize) -> ConvGeometry {
        let c = x[1];
        ConvGeometry::new(x, [c, 1, 3, 3], [1, 1], [pad; 2], [pad; 2], [1, 1], c).unwrap()
    }

    #[test]
    fn the_wide_layout_takes_stride_one_planes_with_rows() {
        let wide = Wide::new(&depthwise([1, 2, 6, 6], 1)).unwrap();
        assert_eq!(wide.pitch, 8);
        assert_eq!(wide.span, 5 * 8 + 6);
        // zero-width planes (padding alone gives outputs) take the row path
        assert!(Wide::new(&depthwise([1, 2, 6, 0], 2)).is_none());
        assert!(Wide::new(&depthwise([1, 2, 0, 6], 2)).is_none());
    }
}
