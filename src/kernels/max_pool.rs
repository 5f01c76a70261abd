//! 2-D max pooling on NCHW planes, with padding that never wins a max (both
//! PyTorch's padding and TensorFlow's "same" padding behave so): the forward,
//! and an autodiff operation whose backward sends each output's gradient to
//! the input that won its window.
//!
//! burn-flex pools through a generic 3-D routine that computes 64-bit winner
//! indices even for inference; Xception pads with `-inf` in a separate copy
//! first. Here the window is clipped instead, and the training op keeps one
//! `u32` per output.

use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, TensorMetadata};
use rayon::prelude::*;

use super::geometry::ConvGeometry;
use super::op_timer::timed;
use super::tracked_op::{tensor, values, AdTensor, TrackedOp};

/// A max pooling's sizes: the geometry of a depthwise convolution with the
/// window as its kernel (one plane in, one plane out, no dilation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry(ConvGeometry);

impl PoolGeometry {
    /// The geometry of pooling `x` (f32, 4-D) with padding `pad_start` before
    /// and `pad_end` after each axis; None when burn's path should decide
    /// (another dtype, an empty plane, a window larger than the padded input,
    /// a padding as wide as the window, which would leave a window with no
    /// input).
    pub fn of(
        x: &FlexTensor,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad_start: [usize; 2],
        pad_end: [usize; 2],
    ) -> Option<Self> {
        if x.dtype() != DType::F32 || kernel.contains(&0) {
            return None;
        }
        let dims: [usize; 4] = x.shape().as_slice().try_into().ok()?;
        // an empty plane has no window to pool
        if dims[2] == 0 || dims[3] == 0 {
            return None;
        }
        if (0..2).any(|a| pad_start[a] >= kernel[a] || pad_end[a] >= kernel[a]) {
            return None;
        }
        let channels = dims[1];
        let window = [channels, 1, kernel[0], kernel[1]];
        ConvGeometry::new(dims, window, stride, pad_start, pad_end, [1, 1], channels).map(Self)
    }

    fn out_shape(&self) -> Vec<usize> {
        vec![self.batch, self.cin, self.oh, self.ow]
    }

    fn in_shape(&self) -> Vec<usize> {
        vec![self.batch, self.cin, self.h, self.w]
    }

    /// The input positions `lo..hi` that window `o` covers along axis `a`.
    fn window(&self, o: usize, a: usize) -> (usize, usize) {
        let (size, kernel) = if a == 0 {
            (self.h, self.kh)
        } else {
            (self.w, self.kw)
        };
        let start = o * self.stride[a];
        let lo = start.saturating_sub(self.pad[a]);
        let hi = (start + kernel).saturating_sub(self.pad[a]).min(size);
        (lo, hi)
    }
}

impl std::ops::Deref for PoolGeometry {
    type Target = ConvGeometry;
    fn deref(&self) -> &ConvGeometry {
        &self.0
    }
}

/// Whether `v` replaces `best` as a window's maximum: larger, or the first NaN
/// (a NaN wins and stays, as in PyTorch).
#[inline(always)]
fn beats(v: f32, best: f32) -> bool {
    // `|` and `&`, not `||` and `&&`: no branches, so the row loop vectorises
    (v > best) | (v.is_nan() & !best.is_nan())
}

/// Scratch rows for one output row of a plane: the maximum of each input
/// column over the window's rows, and the row it came from.
struct ColumnMax {
    value: Vec<f32>,
    row: Vec<u32>,
}

impl ColumnMax {
    fn new(g: &PoolGeometry) -> Self {
        Self {
            value: vec![0.0; g.w],
            row: vec![0; g.w],
        }
    }
}

/// One plane: each window's maximum into `out` and, when given, the winner's
/// index in the plane into `winners`. Rows first (a vectorised element-wise
/// max over the window's rows), then each window's columns; a tie goes to the
/// first position in row-major order, as in burn's and PyTorch's loops.
fn pool_plane(
    g: &PoolGeometry,
    plane: &[f32],
    out: &mut [f32],
    mut winners: Option<&mut [u32]>,
    cols: &mut ColumnMax,
) {
    for oh in 0..g.oh {
        let (r_lo, r_hi) = g.window(oh, 0);
        cols.value.copy_from_slice(&plane[r_lo * g.w..][..g.w]);
        cols.row.fill(r_lo as u32);
        for r in r_lo + 1..r_hi {
            let row = &plane[r * g.w..][..g.w];
            for ((m, at), &v) in cols.value.iter_mut().zip(cols.row.iter_mut()).zip(row) {
                let take = beats(v, *m);
                *m = if take { v } else { *m };
                *at = if take { r as u32 } else { *at };
            }
        }
        for ow in 0..g.ow {
            let (c_lo, c_hi) = g.window(ow, 1);
            let mut at = c_lo;
            for c in c_lo + 1..c_hi {
                let (v, best) = (cols.value[c], cols.value[at]);
                if beats(v, best) || (v == best && cols.row[c] < cols.row[at]) {
                    at = c;
                }
            }
            out[oh * g.ow + ow] = cols.value[at];
            if let Some(w) = winners.as_deref_mut() {
                w[oh * g.ow + ow] = cols.row[at] * g.w as u32 + at as u32;
            }
        }
    }
}

/// The pooled values (and the winners, when `keep_winners`).
fn pool(g: &PoolGeometry, x: &[f32], keep_winners: bool) -> (Vec<f32>, Vec<u32>) {
    let mut out = vec![0.0f32; g.y_len()];
    let mut winners = vec![0u32; if keep_winners { out.len() } else { 0 }];
    let in_planes = x.par_chunks(g.in_plane());
    if keep_winners {
        out.par_chunks_mut(g.out_plane())
            .zip(winners.par_chunks_mut(g.out_plane()))
            .zip(in_planes)
            .for_each_init(
                || ColumnMax::new(g),
                |cols, ((o, w), p)| pool_plane(g, p, o, Some(w), cols),
            );
    } else {
        out.par_chunks_mut(g.out_plane())
            .zip(in_planes)
            .for_each_init(
                || ColumnMax::new(g),
                |cols, (o, p)| pool_plane(g, p, o, None, cols),
            );
    }
    (out, winners)
}

/// Each output gradient added to its window's winner.
fn backward(g: &PoolGeometry, dy: &[f32], winners: &[u32]) -> Vec<f32> {
    let mut dx = vec![0.0f32; g.x_len()];
    dx.par_chunks_mut(g.in_plane())
        .zip(
            dy.par_chunks(g.out_plane())
                .zip(winners.par_chunks(g.out_plane())),
        )
        .for_each(|(plane, (grad, won))| {
            for (&d, &at) in grad.iter().zip(won) {
                plane[at as usize] += d;
            }
        });
    dx
}

/// Max pooling of a plain flex tensor.
pub fn forward(x: &FlexTensor, g: &PoolGeometry) -> FlexTensor {
    let (out, _) = timed("max pool", || pool(g, &values(x), false));
    tensor(out, g.out_shape())
}

/// What the backward keeps: the winners and the sizes.
type PoolState = (Vec<u32>, PoolGeometry);

/// The backward: each output's gradient goes to its window's winner.
fn grads_of(dy: FlexTensor, (winners, g): PoolState, _: [bool; 1]) -> [Option<FlexTensor>; 1] {
    let dx = timed("max pool backward", || backward(&g, &values(&dy), &winners));
    [Some(tensor(dx, g.in_shape()))]
}

/// Max pooling as an autodiff operation.
pub fn forward_autodiff(x: AdTensor, g: PoolGeometry) -> AdTensor {
    // the winners are found only when the backward will need them
    match TrackedOp::new(grads_of)
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, winners) = timed("max pool", || pool(&g, &values(&x.primitive), true));
            prep.finish((winners, g), tensor(out, g.out_shape()))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(&x.primitive, &g)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn geometry(dims: [usize; 4]) -> Option<PoolGeometry> {
        let n: usize = dims.iter().product();
        let x = FlexTensor::from_data(TensorData::new(vec![0.0f32; n], dims));
        PoolGeometry::of(&x, [2, 2], [2, 2], [1, 1], [1, 1])
    }

    #[test]
    fn empty_planes_are_left_to_burn() {
        assert!(geometry([1, 1, 4, 4]).is_some());
        assert!(geometry([1, 1, 0, 4]).is_none());
        assert!(geometry([1, 1, 4, 0]).is_none());
    }
}
