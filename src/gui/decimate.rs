//! Plot decimation: at most a few points per pixel column, keeping each column's
//! minimum and maximum so spikes never disappear (a min/max envelope).
//!
//! A live run grows by one point per iteration, so the Training tab keeps its
//! envelopes and its smoothed loss incrementally ([`Envelope`],
//! [`SmoothedSeries`]): each new point costs O(log n) once, and a frame costs
//! O(pixel columns) however long the run is. [`min_max_envelope`] and [`ema`]
//! are the from-scratch versions.

/// The x-range a plot shows, `[x_min, x_max]`, and how many pixel columns it
/// spans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelColumns {
    pub x_min: f64,
    pub x_max: f64,
    pub columns: usize,
}

impl PixelColumns {
    /// The indices of `xs` (ascending) to consider: those in range plus one
    /// past each end, so lines reach the edges. `None` when nothing shows.
    fn index_range(&self, xs: &[f64]) -> Option<(usize, usize)> {
        if xs.is_empty() || self.columns == 0 || !(self.x_max > self.x_min) {
            return None;
        }
        let start = xs.partition_point(|&x| x < self.x_min).saturating_sub(1);
        let end = (xs.partition_point(|&x| x <= self.x_max) + 1).min(xs.len());
        (end > start).then_some((start, end))
    }
}

/// Append the points at `keep` (first, min, max, last of a bucket) in x
/// order, each once.
fn push_bucket(out: &mut Vec<[f64; 2]>, mut keep: [usize; 4], xs: &[f64], ys: &[f64]) {
    keep.sort_unstable();
    let mut prev = usize::MAX;
    for k in keep {
        if k != prev {
            out.push([xs[k], ys[k]]);
            prev = k;
        }
    }
}

/// Points of `(x, y)` (x ascending) to draw across the pixel columns of
/// `view`. Each column keeps its first, min, max and last point in x order; a
/// point just outside each end is kept so lines reach the edges. With fewer
/// points than about 4 per column, everything in range is kept.
pub fn min_max_envelope(xs: &[f64], ys: &[f64], view: PixelColumns) -> Vec<[f64; 2]> {
    debug_assert_eq!(xs.len(), ys.len());
    let Some((start, end)) = view.index_range(xs) else {
        return Vec::new();
    };
    let columns = view.columns;
    if end - start <= columns * 4 {
        return (start..end).map(|i| [xs[i], ys[i]]).collect();
    }
    let width = (view.x_max - view.x_min) / columns as f64;
    let mut out = Vec::with_capacity(columns * 4 + 2);
    let mut i = start;
    while i < end {
        let col = ((xs[i] - view.x_min) / width).floor();
        let col_end = view.x_min + (col + 1.0) * width;
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
        push_bucket(&mut out, [first, lo, hi, last], xs, ys);
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
        let (a, w, v) = ema_step(acc, weight, s, y);
        acc = a;
        weight = w;
        out.push(v);
    }
    out
}

/// The smallest buckets hold `2^FIRST_LEVEL` points.
const FIRST_LEVEL: u32 = 3;

/// First, min, max and last point (indices into the series) of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    first: u32,
    lo: u32,
    hi: u32,
    last: u32,
}

/// A min/max pyramid over a growing series: level `k` cuts the points into
/// buckets of `2^(k + 3)` consecutive points and keeps each bucket's first, min,
/// max and last point. Appending a point updates one bucket per level; drawing
/// reads the level with about one bucket per pixel column, so a frame never
/// walks the whole series.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Envelope {
    levels: Vec<Vec<Bucket>>,
    len: usize,
}

impl Envelope {
    /// The envelope of a whole series at once.
    pub fn of(ys: &[f64]) -> Self {
        let mut e = Self::default();
        e.extend(ys);
        e
    }

    /// Points taken in so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Take in the points of `ys` past those already seen (`ys` is the whole
    /// series so far). A series that got shorter starts over.
    pub fn extend(&mut self, ys: &[f64]) {
        if ys.len() < self.len || ys.len() > u32::MAX as usize {
            *self = Self::default();
            if ys.len() > u32::MAX as usize {
                return;
            }
        }
        for i in self.len..ys.len() {
            self.push_index(ys, i);
        }
        self.len = ys.len();
    }

    fn push_index(&mut self, ys: &[f64], i: usize) {
        for k in 0.. {
            let shift = k as u32 + FIRST_LEVEL;
            if k == self.levels.len() {
                // a level appears once its first bucket is full; it starts
                // with every point so far
                if (1usize << shift) > i + 1 {
                    return;
                }
                let mut level = Vec::new();
                for j in 0..i {
                    Self::update(&mut level, ys, j, shift);
                }
                self.levels.push(level);
            }
            Self::update(&mut self.levels[k], ys, i, shift);
        }
    }

    fn update(level: &mut Vec<Bucket>, ys: &[f64], i: usize, shift: u32) {
        let j = i >> shift;
        let iu = i as u32;
        if j == level.len() {
            level.push(Bucket {
                first: iu,
                lo: iu,
                hi: iu,
                last: iu,
            });
            return;
        }
        let b = &mut level[j];
        if ys[i] < ys[b.lo as usize] {
            b.lo = iu;
        }
        if ys[i] > ys[b.hi as usize] {
            b.hi = iu;
        }
        b.last = iu;
    }

    /// Points of `(xs, ys)` (the series this envelope was fed, x ascending) to
    /// draw across the pixel columns of `view`: every point when there are
    /// fewer than about 4 per column, otherwise each bucket's first, min, max
    /// and last point, with about one bucket per column. One point (or bucket)
    /// past each end is kept so lines reach the edges.
    pub fn points(&self, xs: &[f64], ys: &[f64], view: PixelColumns) -> Vec<[f64; 2]> {
        let n = self.len.min(xs.len()).min(ys.len());
        let xs = &xs[..n];
        let Some((start, end)) = view.index_range(xs) else {
            return Vec::new();
        };
        let count = end - start;
        if count <= view.columns * 4 || self.levels.is_empty() {
            return (start..end).map(|i| [xs[i], ys[i]]).collect();
        }
        // the coarsest level whose buckets hold at most count / columns points
        let per_column = (count / view.columns).max(1);
        let mut k = 0;
        while k + 1 < self.levels.len() && (1usize << (k + 1 + FIRST_LEVEL as usize)) <= per_column
        {
            k += 1;
        }
        let shift = k as u32 + FIRST_LEVEL;
        let level = &self.levels[k];
        let last_bucket = ((end - 1) >> shift).min(level.len().saturating_sub(1));
        let mut out = Vec::with_capacity((last_bucket + 1 - (start >> shift)) * 4);
        for b in &level[(start >> shift)..=last_bucket] {
            let keep = [b.first, b.lo, b.hi, b.last].map(|i| i as usize);
            push_bucket(&mut out, keep, xs, ys);
        }
        out
    }
}

/// A series that grows point by point, with its envelope and its range kept
/// up to date as points arrive (never rebuilt by a frame).
#[derive(Debug, Default, Clone)]
pub struct GrowingSeries {
    values: Vec<f64>,
    envelope: Envelope,
    range: Option<(f64, f64)>,
}

impl GrowingSeries {
    pub fn push(&mut self, y: f64) {
        self.values.push(y);
        self.envelope.extend(&self.values);
        self.range = Some(match self.range {
            Some((lo, hi)) => (lo.min(y), hi.max(y)),
            None => (y, y),
        });
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The smallest and largest value so far.
    pub fn range(&self) -> Option<(f64, f64)> {
        self.range
    }
}

/// The EMA of a growing series for one smoothing weight, with its envelope:
/// new points extend it, a new weight (or a shorter series) recomputes it.
/// Equal, value for value, to [`ema`] of the whole series.
#[derive(Debug, Default, Clone)]
pub struct SmoothedSeries {
    smoothing: f64,
    acc: f64,
    weight: f64,
    values: Vec<f64>,
    envelope: Envelope,
}

impl SmoothedSeries {
    /// Bring the smoothed values up to date with `ys` (the whole raw series).
    pub fn sync(&mut self, ys: &[f64], smoothing: f64) {
        let s = smoothing.clamp(0.0, 0.999);
        if s != self.smoothing || ys.len() < self.values.len() {
            *self = Self {
                smoothing: s,
                ..Self::default()
            };
        }
        for &y in &ys[self.values.len()..] {
            let (acc, weight, v) = ema_step(self.acc, self.weight, s, y);
            self.acc = acc;
            self.weight = weight;
            self.values.push(v);
        }
        self.envelope.extend(&self.values);
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
}

/// One step of the bias-corrected EMA: the new accumulator, weight and value.
fn ema_step(acc: f64, weight: f64, s: f64, y: f64) -> (f64, f64, f64) {
    let acc = acc * s + (1.0 - s) * y;
    let weight = weight * s + (1.0 - s);
    (acc, weight, acc / weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(x_min: f64, x_max: f64, columns: usize) -> PixelColumns {
        PixelColumns {
            x_min,
            x_max,
            columns,
        }
    }

    /// A slow sine over `n` samples with a +50 and a -50 spike.
    fn spiky(n: usize) -> (Vec<f64>, Vec<f64>) {
        let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut ys: Vec<f64> = (0..n).map(|i| (i as f64 * 0.001).sin()).collect();
        ys[777_777] = 50.0;
        ys[123_456] = -50.0;
        (xs, ys)
    }

    /// The ±50 spikes survive, x stays ordered, and the first and last of the
    /// `n` samples are kept.
    fn assert_spikes_order_and_ends(pts: &[[f64; 2]], n: usize) {
        assert!(pts.iter().any(|p| p[1] == 50.0) && pts.iter().any(|p| p[1] == -50.0));
        assert!(
            pts.windows(2).all(|w| w[0][0] <= w[1][0]),
            "x stays ordered"
        );
        assert_eq!(pts.first().unwrap()[0], 0.0);
        assert_eq!(pts.last().unwrap()[0], (n - 1) as f64);
    }

    #[test]
    fn keeps_spikes_and_bounds_the_count() {
        let n = 1_000_000;
        let (xs, ys) = spiky(n);
        let pts = min_max_envelope(&xs, &ys, window(0.0, n as f64, 800));
        assert!(pts.len() <= 800 * 4 + 8, "{} points", pts.len());
        assert_spikes_order_and_ends(&pts, n);
    }

    #[test]
    fn zoomed_in_views_keep_every_point() {
        let xs: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let ys = xs.clone();
        let pts = min_max_envelope(&xs, &ys, window(10.0, 20.0, 500));
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

    /// Each bucket of the chosen level, recomputed by brute force.
    fn brute_force(xs: &[f64], ys: &[f64], size: usize) -> Vec<[f64; 2]> {
        let mut out = Vec::new();
        for start in (0..ys.len()).step_by(size) {
            let end = (start + size).min(ys.len());
            let (mut lo, mut hi) = (start, start);
            for i in start..end {
                if ys[i] < ys[lo] {
                    lo = i;
                }
                if ys[i] > ys[hi] {
                    hi = i;
                }
            }
            let mut keep = vec![start, lo, hi, end - 1];
            keep.sort_unstable();
            keep.dedup();
            out.extend(keep.into_iter().map(|i| [xs[i], ys[i]]));
        }
        out
    }

    fn noisy(n: usize) -> (Vec<f64>, Vec<f64>) {
        let xs: Vec<f64> = (0..n).map(|i| (i + 1) as f64).collect();
        let ys: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64;
                3.0 * (-t / 4000.0).exp() + 0.3 * (t * 0.37).sin() * (t * 0.011).cos()
            })
            .collect();
        (xs, ys)
    }

    #[test]
    fn envelope_grown_in_chunks_equals_one_built_at_once() {
        let (xs, ys) = noisy(20_011);
        let whole = Envelope::of(&ys);
        let mut grown = Envelope::default();
        let mut n = 0;
        for chunk in [1, 2, 5, 7, 100, 1, 3000, 4093, 8192, 1] {
            n = (n + chunk).min(ys.len());
            grown.extend(&ys[..n]);
            assert_eq!(grown, Envelope::of(&ys[..n]), "after {n} points");
        }
        grown.extend(&ys);
        assert_eq!(grown, whole);
        for (lo, hi, cols) in [
            (0.0, 20_011.0, 800),
            (1000.0, 9000.0, 300),
            (50.0, 90.0, 500),
        ] {
            assert_eq!(
                grown.points(&xs, &ys, window(lo, hi, cols)),
                whole.points(&xs, &ys, window(lo, hi, cols))
            );
        }
    }

    #[test]
    fn envelope_points_are_each_buckets_first_min_max_last() {
        let (xs, ys) = noisy(16_384);
        let env = Envelope::of(&ys);
        let pts = env.points(&xs, &ys, window(0.0, 20_000.0, 1000));
        // 16,384 points over 1000 columns: 16 per column, buckets of 16
        assert_eq!(pts, brute_force(&xs, &ys, 16));
        // zoomed in far enough, every point is drawn
        assert_eq!(env.points(&xs, &ys, window(100.0, 200.0, 800)).len(), 103);
    }

    #[test]
    fn envelope_keeps_spikes_and_bounds_the_count_at_a_million_points() {
        let n = 1_000_000;
        let (xs, ys) = spiky(n);
        let mut env = Envelope::default();
        for end in (0..=n).step_by(99_999).chain([n]) {
            env.extend(&ys[..end]);
        }
        let pts = env.points(&xs, &ys, window(0.0, n as f64, 800));
        assert!(pts.len() <= 800 * 8 + 8, "{} points", pts.len());
        assert_spikes_order_and_ends(&pts, n);
    }

    #[test]
    fn smoothed_series_grown_in_chunks_equals_ema_from_scratch() {
        let (_, ys) = noisy(5_000);
        let mut s = SmoothedSeries::default();
        let mut n = 0;
        for chunk in [1, 1, 2, 10, 333, 1000, 3653] {
            n += chunk;
            s.sync(&ys[..n], 0.9);
            assert_eq!(
                s.values(),
                ema(&ys[..n], 0.9).as_slice(),
                "after {n} points"
            );
            assert_eq!(s.envelope(), &Envelope::of(s.values()));
        }
        // a new weight recomputes everything
        s.sync(&ys, 0.5);
        assert_eq!(s.values(), ema(&ys, 0.5).as_slice());
        assert_eq!(s.envelope(), &Envelope::of(&ema(&ys, 0.5)));
        // and a shorter series (a new run) starts over
        s.sync(&ys[..10], 0.5);
        assert_eq!(s.values(), ema(&ys[..10], 0.5).as_slice());
    }

    #[test]
    fn a_growing_series_keeps_its_envelope_and_range_with_its_points() {
        let ys = [3.0, -1.0, 7.5, 2.0, 2.0, 0.5, 9.0, -4.0, 1.0, 6.0];
        let mut series = GrowingSeries::default();
        assert_eq!(series.range(), None);
        for y in ys {
            series.push(y);
        }
        assert_eq!(series.values(), ys.as_slice());
        assert_eq!(series.envelope(), &Envelope::of(&ys));
        assert_eq!(series.range(), Some((-4.0, 9.0)));
    }
}
