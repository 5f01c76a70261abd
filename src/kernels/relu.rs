//! The ReLU pieces the fused operations share: applying it in place, and its
//! gradient as a branch-free mask (so the loops that use it vectorise).

use rayon::prelude::*;

const CHUNK: usize = 1 << 14;

/// `d` where `o > 0`, else 0, without a branch (a bit mask).
#[inline(always)]
pub fn masked(d: f32, o: f32) -> f32 {
    f32::from_bits(d.to_bits() & ((o > 0.0) as u32).wrapping_neg())
}

/// `max(v, 0)` in place.
pub fn relu_in_place(y: &mut [f32]) {
    y.par_chunks_mut(CHUNK).for_each(|chunk| {
        chunk
            .iter_mut()
            .for_each(|v| *v = if *v > 0.0 { *v } else { 0.0 })
    });
}

/// `dy` where the ReLU's output `out` is positive, 0 elsewhere.
pub fn relu_grad(dy: &[f32], out: &[f32]) -> Vec<f32> {
    let mut g = vec![0.0f32; dy.len()];
    g.par_chunks_mut(CHUNK)
        .zip(dy.par_chunks(CHUNK).zip(out.par_chunks(CHUNK)))
        .for_each(|(g, (d, o))| {
            let n = g.len();
            let (d, o) = (&d[..n], &o[..n]);
            for i in 0..n {
                g[i] = masked(d[i], o[i]);
            }
        });
    g
}
