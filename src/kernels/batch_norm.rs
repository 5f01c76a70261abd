//! Batch normalisation over NCHW planes in one pass per direction, parallel
//! over channels or planes: the training form (batch statistics) and the
//! per-channel affine form (running statistics: inference and frozen layers).
//!
//! Written as tensor operations, one training-mode batch norm is about ten
//! passes over the activation forward and as many backward, each keeping an
//! intermediate alive for autodiff; here the forward keeps only the input and
//! two numbers per channel, and the backward is two passes.

use rayon::prelude::*;

use super::relu::masked;

/// `[N, C, H*W]` sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planes {
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
}

impl Planes {
    fn count(&self) -> usize {
        self.batch * self.plane
    }

    /// The `plane`-long slices of channel `c`, one per image.
    fn channel<'a>(&self, t: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (plane, channels) = (self.plane, self.channels);
        (0..self.batch).map(move |n| &t[(n * channels + c) * plane..][..plane])
    }
}

/// Batch statistics per channel: mean and biased variance (two passes, so the
/// variance does not lose precision to a large mean).
pub fn statistics(x: &[f32], p: Planes) -> (Vec<f32>, Vec<f32>) {
    let count = p.count().max(1) as f64;
    (0..p.channels)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = p
                .channel(x, c)
                .map(|s| s.iter().map(|&v| v as f64).sum::<f64>())
                .sum();
            let mean = sum / count;
            let sq: f64 = p
                .channel(x, c)
                .map(|s| s.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>())
                .sum();
            (mean as f32, (sq / count) as f32)
        })
        .unzip()
}

/// `y = x * scale[c] + shift[c]`.
pub fn affine(x: &[f32], scale: &[f32], shift: &[f32], p: Planes) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(p.plane)
        .zip(x.par_chunks(p.plane))
        .enumerate()
        .for_each(|(i, (dst, src))| {
            let c = i % p.channels;
            affine_plane(src, scale[c], shift[c], dst);
        });
    y
}

#[inline(never)]
fn affine_plane(src: &[f32], a: f32, b: f32, dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s * a + b;
    }
}

/// Per channel: `Σ dy` and `Σ dy * (x - center[c])` (center 0 when None),
/// `dy` masked by `relu_out > 0` when given (a fused ReLU's gradient).
fn reduce_grads(
    x: &[f32],
    dy: &[f32],
    center: Option<&[f32]>,
    relu_out: Option<&[f32]>,
    p: Planes,
) -> (Vec<f32>, Vec<f32>) {
    (0..p.channels)
        .into_par_iter()
        .map(|c| {
            let (mut sum, mut dot) = (0.0f64, 0.0f64);
            let mu = center.map_or(0.0, |m| m[c]);
            let mut outs = relu_out.map(|o| p.channel(o, c));
            for (xs, ds) in p.channel(x, c).zip(p.channel(dy, c)) {
                let (s, d) = match outs.as_mut().and_then(Iterator::next) {
                    Some(os) => sum_and_dot_masked(xs, ds, os, mu),
                    None => sum_and_dot(xs, ds, mu),
                };
                sum += s as f64;
                dot += d as f64;
            }
            (sum as f32, dot as f32)
        })
        .unzip()
}

/// [`sum_and_dot`] of `d` where `o > 0` (0 elsewhere).
#[inline(never)]
fn sum_and_dot_masked(x: &[f32], d: &[f32], o: &[f32], mu: f32) -> (f32, f32) {
    // equal lengths up front, so the loop needs no bounds checks and vectorises
    let n = x.len();
    let (d, o) = (&d[..n], &o[..n]);
    let (mut s, mut t) = ([0.0f32; 8], [0.0f32; 8]);
    let chunks = n / 8;
    for i in 0..chunks {
        for l in 0..8 {
            let j = i * 8 + l;
            let dj = masked(d[j], o[j]);
            s[l] += dj;
            t[l] += (x[j] - mu) * dj;
        }
    }
    let (mut s1, mut t1): (f32, f32) = (s.iter().sum(), t.iter().sum());
    for j in chunks * 8..n {
        let dj = masked(d[j], o[j]);
        s1 += dj;
        t1 += (x[j] - mu) * dj;
    }
    (s1, t1)
}

/// `(Σ d, Σ (x - mu) * d)` of one plane in 8 lanes, so it vectorises.
#[inline(never)]
fn sum_and_dot(x: &[f32], d: &[f32], mu: f32) -> (f32, f32) {
    let (mut s, mut t) = ([0.0f32; 8], [0.0f32; 8]);
    let chunks = x.len() / 8;
    for i in 0..chunks {
        for l in 0..8 {
            s[l] += d[i * 8 + l];
            t[l] += (x[i * 8 + l] - mu) * d[i * 8 + l];
        }
    }
    let (mut s1, mut t1): (f32, f32) = (s.iter().sum(), t.iter().sum());
    for i in chunks * 8..x.len() {
        s1 += d[i];
        t1 += (x[i] - mu) * d[i];
    }
    (s1, t1)
}

/// Gradients of [`affine`]: `dx = dy * scale`, `dscale = Σ dy * x`,
/// `dshift = Σ dy`, each only when asked for.
pub fn affine_backward(
    x: &[f32],
    dy: &[f32],
    scale: &[f32],
    p: Planes,
    want_x: bool,
    want_params: bool,
) -> (Option<Vec<f32>>, Option<(Vec<f32>, Vec<f32>)>) {
    let dx = want_x.then(|| affine(dy, scale, &vec![0.0; p.channels], p));
    let params = want_params.then(|| {
        let (sum, dot) = reduce_grads(x, dy, None, None, p);
        (dot, sum)
    });
    (dx, params)
}

/// What the training form's backward needs, kept from its forward.
#[derive(Debug, Clone)]
pub struct Saved {
    pub mean: Vec<f32>,
    pub inv_std: Vec<f32>,
}

/// Training form: normalise with the batch statistics, then scale and shift.
/// Returns the output, what the backward needs, and the biased variance.
pub fn train_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    p: Planes,
) -> (Vec<f32>, Saved, Vec<f32>) {
    let (mean, var) = statistics(x, p);
    let inv_std: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect();
    let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
    let shift: Vec<f32> = (0..p.channels)
        .map(|c| beta[c] - mean[c] * scale[c])
        .collect();
    let y = affine(x, &scale, &shift, p);
    (y, Saved { mean, inv_std }, var)
}

/// Gradients of the training form: with `x̂ = (x - mean) * inv_std`,
/// `dβ = Σ dy`, `dγ = Σ dy x̂`, and
/// `dx = γ inv_std (dy - dβ / M - x̂ dγ / M)` over the `M = N*H*W` values of a
/// channel. With `relu_out` (a ReLU fused after the batch norm, its output)
/// `dy` is first masked by `relu_out > 0`.
pub fn train_backward(
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    saved: &Saved,
    p: Planes,
    want_x: bool,
    relu_out: Option<&[f32]>,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (sum, dot) = reduce_grads(x, dy, Some(&saved.mean), relu_out, p);
    // Σ dy x̂ = inv_std Σ dy (x - mean)
    let dgamma: Vec<f32> = (0..p.channels).map(|c| saved.inv_std[c] * dot[c]).collect();
    let dbeta = sum;
    let dx = want_x.then(|| {
        let m = p.count().max(1) as f32;
        // dx = a * dy + b * x + k per channel
        let coef: Vec<(f32, f32, f32)> = (0..p.channels)
            .map(|c| {
                let (s, mu) = (saved.inv_std[c], saved.mean[c]);
                let a = gamma[c] * s;
                let b = -a * s * dgamma[c] / m;
                let k = -a * dbeta[c] / m - b * mu;
                (a, b, k)
            })
            .collect();
        let mut dx = vec![0.0f32; x.len()];
        dx.par_chunks_mut(p.plane).enumerate().for_each(|(i, dst)| {
            let c = i % p.channels;
            let src_x = &x[i * p.plane..][..p.plane];
            let src_dy = &dy[i * p.plane..][..p.plane];
            match relu_out {
                Some(o) => {
                    combine_plane_masked(src_dy, src_x, &o[i * p.plane..][..p.plane], coef[c], dst)
                }
                None => combine_plane(src_dy, src_x, coef[c], dst),
            }
        });
        dx
    });
    (dx, dgamma, dbeta)
}

/// [`combine_plane`] with `dy` masked by `o > 0`.
#[inline(never)]
fn combine_plane_masked(
    dy: &[f32],
    x: &[f32],
    o: &[f32],
    (a, b, k): (f32, f32, f32),
    dst: &mut [f32],
) {
    let n = dst.len();
    let (dy, x, o) = (&dy[..n], &x[..n], &o[..n]);
    for i in 0..n {
        dst[i] = a * masked(dy[i], o[i]) + b * x[i] + k;
    }
}

#[inline(never)]
fn combine_plane(dy: &[f32], x: &[f32], (a, b, k): (f32, f32, f32), dst: &mut [f32]) {
    for ((d, g), v) in dst.iter_mut().zip(dy).zip(x) {
        *d = a * g + b * v + k;
    }
}
