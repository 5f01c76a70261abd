//! ROC curves and AUC, matching scikit-learn's `roc_curve` (with
//! `drop_intermediate=True`) and `auc`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    /// A class name, or "micro" / "macro".
    pub label: String,
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    /// `None` when the curve is undefined (no positives or no negatives).
    pub auc: Option<f64>,
}

/// `(fpr, tpr)` for binary labels and scores; `None` without both classes.
pub fn roc_curve(positive: &[bool], scores: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    assert_eq!(positive.len(), scores.len());
    let n = scores.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    // cumulative true/false positives at the last index of each distinct score
    let (mut tps, mut fps) = (Vec::new(), Vec::new());
    let mut tp = 0.0;
    for (k, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1.0;
        }
        let last_of_group = k + 1 == n || scores[order[k + 1]] != scores[i];
        if last_of_group {
            tps.push(tp);
            fps.push((k + 1) as f64 - tp);
        }
    }
    // drop collinear points as scikit-learn's drop_intermediate does
    let m = tps.len();
    let keep: Vec<usize> = (0..m)
        .filter(|&i| {
            i == 0
                || i + 1 == m
                || (fps[i + 1] - 2.0 * fps[i] + fps[i - 1]) != 0.0
                || (tps[i + 1] - 2.0 * tps[i] + tps[i - 1]) != 0.0
        })
        .collect();
    let mut fpr = vec![0.0];
    let mut tpr = vec![0.0];
    let (p, f) = (*tps.last()?, *fps.last()?);
    if p == 0.0 || f == 0.0 {
        return None;
    }
    for i in keep {
        fpr.push(fps[i] / f);
        tpr.push(tps[i] / p);
    }
    Some((fpr, tpr))
}

/// Area under a curve by the trapezoidal rule (x increasing).
pub fn auc(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| (xs[1] - xs[0]) * (ys[0] + ys[1]) / 2.0)
        .sum()
}

/// The most points a stored curve keeps (see [`thinned`]): more than a plot
/// can show, and few enough that `eval.json` grows with the number of
/// classes, not with classes times images.
pub const CURVE_POINTS: usize = 1000;

/// `(fpr, tpr)` with at most about `2 * max` points, for drawing: a point is
/// kept when it lies at least `1 / max` (in FPR plus TPR) past the last one
/// kept, and the last point always is. A ROC curve rises and moves right
/// only, so its length in FPR plus TPR is at most 2, and the thinned curve
/// stays within `1 / max` of the full one. Areas are computed before.
pub fn thinned(fpr: Vec<f64>, tpr: Vec<f64>, max: usize) -> (Vec<f64>, Vec<f64>) {
    if fpr.len() <= max {
        return (fpr, tpr);
    }
    let step = 1.0 / max as f64;
    let (mut x, mut y) = (vec![fpr[0]], vec![tpr[0]]);
    for i in 1..fpr.len() {
        let (lx, ly) = (x[x.len() - 1], y[y.len() - 1]);
        let last = i + 1 == fpr.len();
        if last || (fpr[i] - lx) + (tpr[i] - ly) >= step {
            x.push(fpr[i]);
            y.push(tpr[i]);
        }
    }
    (x, y)
}

/// Past this many classes, each class's own curve is stored coarser (see
/// [`RocCurve::thinned_for_many`]), so that eval.json stays near 1 KB a class.
pub const MANY_CLASSES: usize = 300;

impl RocCurve {
    /// This curve with its points thinned for storage (its AUC unchanged).
    pub fn thinned(self) -> RocCurve {
        let (fpr, tpr) = thinned(self.fpr, self.tpr, CURVE_POINTS);
        RocCurve { fpr, tpr, ..self }
    }

    /// A class's curve when there are more than [`MANY_CLASSES`]: 64 steps
    /// and coordinates to 4 decimals, finer than a plot of it shows (its AUC,
    /// computed before, unchanged). Ties in an unsure model's scores leave
    /// hundreds of corners in every class's curve, which at 10,000 classes
    /// were 91 MB of eval.json.
    pub fn thinned_for_many(self) -> RocCurve {
        let (fpr, tpr) = thinned(self.fpr, self.tpr, 64);
        let round = |v: Vec<f64>| v.into_iter().map(|x| (x * 1e4).round() / 1e4).collect();
        RocCurve {
            fpr: round(fpr),
            tpr: round(tpr),
            ..self
        }
    }
}

/// A curve from labels and scores, with its area.
pub fn labelled_curve(label: &str, positive: &[bool], scores: &[f64]) -> RocCurve {
    match roc_curve(positive, scores) {
        Some((fpr, tpr)) => RocCurve {
            label: label.into(),
            auc: Some(auc(&fpr, &tpr)),
            fpr,
            tpr,
        },
        None => RocCurve {
            label: label.into(),
            fpr: Vec::new(),
            tpr: Vec::new(),
            auc: None,
        },
    }
}

/// The macro-average curve: every class's TPR interpolated on the union of all
/// FPR points, then averaged (as in scikit-learn's multiclass ROC example).
pub fn macro_curve(curves: &[RocCurve]) -> Option<RocCurve> {
    let defined: Vec<&RocCurve> = curves.iter().filter(|c| c.auc.is_some()).collect();
    if defined.is_empty() {
        return None;
    }
    let mut grid: Vec<f64> = defined.iter().flat_map(|c| c.fpr.iter().copied()).collect();
    grid.sort_by(f64::total_cmp);
    grid.dedup();
    let mean: Vec<f64> = grid
        .iter()
        .map(|&x| {
            defined
                .iter()
                .map(|c| interp(x, &c.fpr, &c.tpr))
                .sum::<f64>()
                / defined.len() as f64
        })
        .collect();
    Some(RocCurve {
        label: "macro".into(),
        auc: Some(auc(&grid, &mean)),
        fpr: grid,
        tpr: mean,
    })
}

/// numpy.interp: linear interpolation in increasing `xs`. Where several points
/// share an x (a vertical step, as every ROC curve has at FPR 0), the value at
/// that x is the last of them, as numpy returns: `np.interp(0, [0,0,1],
/// [0,1,1])` is 1.0.
fn interp(x: f64, xs: &[f64], ys: &[f64]) -> f64 {
    // the number of points at or left of x: x lies in [xs[j-1], xs[j])
    let j = xs.partition_point(|&v| v <= x);
    if j == 0 {
        return ys[0];
    }
    if j == xs.len() {
        return ys[ys.len() - 1];
    }
    let (x0, x1, y0, y1) = (xs[j - 1], xs[j], ys[j - 1], ys[j]);
    // x0 <= x < x1, so x1 > x0
    y0 + (y1 - y0) * (x - x0) / (x1 - x0)
}

#[cfg(test)]
mod tests {
    use super::{interp, thinned};

    #[test]
    fn a_long_curve_is_thinned_to_within_one_step_of_itself() {
        // a staircase of 20,000 steps with uneven treads and risers
        let (mut fpr, mut tpr) = (vec![0.0], vec![0.0]);
        let n = 20_000;
        for i in 1..=n {
            let f = (i as f64 / n as f64).powf(1.5);
            tpr.push(((i as f64 / n as f64) * 3.0).min(1.0).powf(0.5));
            fpr.push(*fpr.last().unwrap());
            fpr.push(f);
            tpr.push(*tpr.last().unwrap());
        }
        let (x, y) = thinned(fpr.clone(), tpr.clone(), 1000);
        assert!(x.len() <= 2001, "{} points", x.len());
        assert_eq!((x[0], y[0]), (0.0, 0.0));
        assert_eq!((x[x.len() - 1], y[y.len() - 1]), (1.0, 1.0));
        assert!(x.windows(2).all(|w| w[0] <= w[1]) && y.windows(2).all(|w| w[0] <= w[1]));
        // every full point is within 1/1000 (in FPR plus TPR) of a kept one
        let mut j = 0;
        for (&fx, &fy) in fpr.iter().zip(&tpr) {
            while j + 1 < x.len() && x[j + 1] + y[j + 1] <= fx + fy {
                j += 1;
            }
            let d = (fx - x[j]).abs() + (fy - y[j]).abs();
            assert!(
                d < 1e-3 + 1e-12,
                "({fx}, {fy}) is {d} from the thinned curve"
            );
        }
        // a short curve is kept whole
        let short = (vec![0.0, 0.0, 1.0], vec![0.0, 1.0, 1.0]);
        assert_eq!(thinned(short.0.clone(), short.1.clone(), 1000), short);
    }

    #[test]
    fn interp_takes_the_last_value_at_a_repeated_x() {
        assert_eq!(interp(0.0, &[0.0, 0.0, 1.0], &[0.0, 1.0, 1.0]), 1.0);
        assert_eq!(
            interp(0.5, &[0.0, 0.5, 0.5, 1.0], &[0.0, 0.2, 0.8, 1.0]),
            0.8
        );
        assert_eq!(interp(1.0, &[0.0, 1.0, 1.0], &[0.0, 0.5, 1.0]), 1.0);
        assert_eq!(interp(0.25, &[0.0, 0.5], &[0.0, 1.0]), 0.5);
        assert_eq!(interp(-1.0, &[0.0, 0.5], &[0.3, 1.0]), 0.3);
        assert_eq!(interp(2.0, &[0.0, 0.5], &[0.3, 1.0]), 1.0);
    }
}
