//! Plot decimation: at most a few points per pixel column, keeping each column's
//! minimum and maximum so spikes never disappear (a min/max envelope).

/// Points of `(x, y)` (x ascending) to draw across `columns` pixel columns of
/// the x-range `[x_min, x_max]`. Each column keeps its first, min, max and last
/// point in x order; a point just outside each end is kept so lines reach the
/// edges. With fewer points than about 4 per column, everything in range is kept.
pub fn min_max_envelope(
    xs: &[f64],
    ys: &[f64],
    x_min: f64,
    x_max: f64,
    columns: usize,
) -> Vec<[f64; 2]> {
    debug_assert_eq!(xs.len(), ys.len());
    if xs.is_empty() || columns == 0 || x_max <= x_min {
        return Vec::new();
    }
    let start = xs.partition_point(|&x| x < x_min).saturating_sub(1);
    let end = (xs.partition_point(|&x| x <= x_max) + 1).min(xs.len());
    if end <= start {
        return Vec::new();
    }
    if end - start <= columns * 4 {
        return (start..end).map(|i| [xs[i], ys[i]]).collect();
    }
    let width = (x_max - x_min) / columns as f64;
    let mut out = Vec::with_capacity(columns * 4 + 2);
    let mut i = start;
    while i < end {
        let col = ((xs[i] - x_min) / width).floor();
        let col_end = x_min + (col + 1.0) * width;
        let first = i;
        let (mut lo, mut hi) = (i, i);
        let mut last = i;
        while i < end && (xs[i] < col_end || i == first) {
            if ys[i] < ys[lo] {
                lo = i;
            }
            if ys[i] > ys[hi] {
                hi = i;
            }
            last = i;
            i += 1;
        }
        let mut keep = [first, lo, hi, last];
        keep.sort_unstable();
        let mut prev = usize::MAX;
        for k in keep {
            if k != prev {
                out.push([xs[k], ys[k]]);
                prev = k;
            }
        }
    }
    out
}

/// Exponential moving average with weight `smoothing` in [0, 1) on the past
/// (0 = raw), bias-corrected like TensorBoard's so the start is not pulled to 0.
pub fn ema(ys: &[f64], smoothing: f64) -> Vec<f64> {
    let s = smoothing.clamp(0.0, 0.999);
    let mut out = Vec::with_capacity(ys.len());
    let mut acc = 0.0;
    let mut weight = 0.0;
    for &y in ys {
        acc = acc * s + (1.0 - s) * y;
        weight = weight * s + (1.0 - s);
        out.push(acc / weight);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_spikes_and_bounds_the_count() {
        let n = 1_000_000;
        let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut ys: Vec<f64> = (0..n).map(|i| (i as f64 * 0.001).sin()).collect();
        ys[777_777] = 50.0;
        ys[123_456] = -50.0;
        let pts = min_max_envelope(&xs, &ys, 0.0, n as f64, 800);
        assert!(pts.len() <= 800 * 4 + 8, "{} points", pts.len());
        assert!(pts.iter().any(|p| p[1] == 50.0) && pts.iter().any(|p| p[1] == -50.0));
        assert!(
            pts.windows(2).all(|w| w[0][0] <= w[1][0]),
            "x stays ordered"
        );
        assert_eq!(pts.first().unwrap()[0], 0.0);
        assert_eq!(pts.last().unwrap()[0], (n - 1) as f64);
    }

    #[test]
    fn zoomed_in_views_keep_every_point() {
        let xs: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let ys = xs.clone();
        let pts = min_max_envelope(&xs, &ys, 10.0, 20.0, 500);
        assert_eq!(pts.len(), 13, "10..=20 plus one neighbour each side");
    }

    #[test]
    fn ema_smooths_and_zero_is_raw() {
        let ys = [1.0, 3.0, 1.0, 3.0];
        assert_eq!(ema(&ys, 0.0), ys.to_vec());
        let s = ema(&ys, 0.9);
        assert_eq!(s[0], 1.0, "bias-corrected start");
        assert!(s[3] > 1.0 && s[3] < 3.0);
    }
}
