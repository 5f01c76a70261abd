//! Accuracy, per-class precision / recall / F1, macro and weighted averages, the
//! confusion matrix and ROC/AUC, computed as scikit-learn computes them
//! (zero_division=0, one-vs-rest ROC, macro AUC = mean of per-class AUCs).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::confusion::Confusion;
use super::roc::{labelled_curve, macro_curve, RocCurve, MANY_CLASSES};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
    pub auc: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Averages {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// One evaluated image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub path: PathBuf,
    pub true_class: usize,
    pub predicted: usize,
    /// Up to five (class, probability), most likely first.
    pub top5: Vec<(usize, f32)>,
    /// Cross-entropy of this image.
    pub loss: f64,
}

/// `eval.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub split: String,
    pub checkpoint: String,
    pub classes: Vec<String>,
    pub images: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub macro_avg: Averages,
    pub weighted_avg: Averages,
    pub per_class: Vec<ClassMetrics>,
    /// Images per (true, predicted) class, non-zero cells only.
    pub confusion: Confusion,
    pub roc: Vec<RocCurve>,
    pub roc_micro: Option<RocCurve>,
    pub roc_macro: Option<RocCurve>,
    pub auc_micro: Option<f64>,
    /// Mean of the defined per-class AUCs (scikit-learn's average="macro").
    pub auc_macro: Option<f64>,
    pub images_per_sec: f64,
    pub predictions: Vec<Prediction>,
}

/// The classes from most to least likely (ties to the lower class).
pub fn ranked(probabilities: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| {
        probabilities[b]
            .total_cmp(&probabilities[a])
            .then(a.cmp(&b))
    });
    order
}

/// The most likely class (ties to the lower class; 0 for no classes).
pub fn top_class(probabilities: &[f32]) -> usize {
    (0..probabilities.len())
        .max_by(|&a, &b| {
            probabilities[a]
                .total_cmp(&probabilities[b])
                .then(b.cmp(&a))
        })
        .unwrap_or(0)
}

/// Precision, recall and F1 of a class with `hits` right of `support` images
/// and `predicted` predictions (0 where undefined, as zero_division=0).
fn precision_recall_f1(hits: usize, support: usize, predicted: usize) -> (f64, f64, f64) {
    let ratio = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { 0.0 };
    let (precision, recall) = (ratio(hits, predicted), ratio(hits, support));
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    (precision, recall, f1)
}

/// Metrics from true labels and per-image class probabilities (`probs[i][c]`).
/// `paths` names each image (may be empty paths in tests).
pub fn classification_report(
    classes: &[String],
    y_true: &[usize],
    probs: &[Vec<f32>],
    paths: &[PathBuf],
) -> EvalReport {
    let k = classes.len();
    let n = y_true.len();
    let mut confusion = Confusion::new(k);
    // per class: images (support), predictions, correct ones
    let (mut images_of, mut predicted_as, mut hits) =
        (vec![0usize; k], vec![0usize; k], vec![0usize; k]);
    let mut predictions = Vec::with_capacity(n);
    let mut total_loss = 0.0;
    for i in 0..n {
        let p = &probs[i];
        let ranked = ranked(p);
        let predicted = ranked[0];
        confusion.add(y_true[i], predicted);
        images_of[y_true[i]] += 1;
        predicted_as[predicted] += 1;
        if predicted == y_true[i] {
            hits[predicted] += 1;
        }
        let loss = -(p[y_true[i]].max(1e-12) as f64).ln();
        total_loss += loss;
        predictions.push(Prediction {
            path: paths.get(i).cloned().unwrap_or_default(),
            true_class: y_true[i],
            predicted,
            top5: ranked.iter().take(5).map(|&c| (c, p[c])).collect(),
            loss,
        });
    }
    let correct: usize = hits.iter().sum();
    let mut per_class = Vec::with_capacity(k);
    let mut roc = Vec::with_capacity(k);
    for c in 0..k {
        let support = images_of[c];
        let (precision, recall, f1) = precision_recall_f1(hits[c], support, predicted_as[c]);
        let positive: Vec<bool> = y_true.iter().map(|&t| t == c).collect();
        let scores: Vec<f64> = probs.iter().map(|p| p[c] as f64).collect();
        let curve = labelled_curve(&classes[c], &positive, &scores);
        per_class.push(ClassMetrics {
            class: classes[c].clone(),
            precision,
            recall,
            f1,
            support,
            auc: curve.auc,
        });
        roc.push(curve);
    }
    let mean = |f: fn(&ClassMetrics) -> f64| per_class.iter().map(f).sum::<f64>() / k.max(1) as f64;
    let weighted = |f: fn(&ClassMetrics) -> f64| {
        per_class
            .iter()
            .map(|m| f(m) * m.support as f64)
            .sum::<f64>()
            / n.max(1) as f64
    };
    let macro_avg = Averages {
        precision: mean(|m| m.precision),
        recall: mean(|m| m.recall),
        f1: mean(|m| m.f1),
    };
    let weighted_avg = Averages {
        precision: weighted(|m| m.precision),
        recall: weighted(|m| m.recall),
        f1: weighted(|m| m.f1),
    };
    let flat_pos: Vec<bool> = y_true
        .iter()
        .flat_map(|&t| (0..k).map(move |c| c == t))
        .collect();
    let flat_scores: Vec<f64> = probs
        .iter()
        .flat_map(|p| p.iter().map(|&v| v as f64))
        .collect();
    let micro = labelled_curve("micro", &flat_pos, &flat_scores);
    // areas and the macro curve from the full curves; the stored points thinned
    let roc_macro = macro_curve(&roc).map(RocCurve::thinned);
    let per_class_curve = if k > MANY_CLASSES {
        RocCurve::thinned_for_many
    } else {
        RocCurve::thinned
    };
    let roc: Vec<RocCurve> = roc.into_iter().map(per_class_curve).collect();
    let micro = micro.thinned();
    let defined: Vec<f64> = per_class.iter().filter_map(|m| m.auc).collect();
    let auc_macro =
        (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);
    EvalReport {
        split: String::new(),
        checkpoint: String::new(),
        classes: classes.to_vec(),
        images: n,
        loss: total_loss / n.max(1) as f64,
        accuracy: correct as f64 / n.max(1) as f64,
        macro_avg,
        weighted_avg,
        per_class,
        confusion,
        roc_macro,
        auc_micro: micro.auc,
        roc_micro: Some(micro),
        auc_macro,
        roc,
        images_per_sec: 0.0,
        predictions,
    }
}

impl EvalReport {
    /// Every index and length that the views rely on, checked once when the
    /// file is loaded: a damaged or foreign `eval.json` is an error here, never
    /// a panic in a view. Returns what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let k = self.classes.len();
        if k == 0 {
            return Err("it lists no classes".into());
        }
        if self.per_class.len() != k {
            return Err(format!(
                "it has {} per-class rows for {k} classes",
                self.per_class.len()
            ));
        }
        if self.confusion.classes() != k {
            return Err(format!(
                "its confusion matrix is {0} x {0}, not {k} x {k}",
                self.confusion.classes()
            ));
        }
        if let Some((t, p)) = self.confusion.out_of_range() {
            return Err(format!(
                "its confusion matrix has a cell ({t}, {p}) outside 0..{k}"
            ));
        }
        if !self.roc.is_empty() && self.roc.len() != k {
            return Err(format!(
                "it has {} ROC curves for {k} classes",
                self.roc.len()
            ));
        }
        let curves = self
            .roc
            .iter()
            .chain(&self.roc_micro)
            .chain(&self.roc_macro);
        if let Some(c) = curves.into_iter().find(|c| c.fpr.len() != c.tpr.len()) {
            return Err(format!(
                "ROC curve {} has {} FPR and {} TPR values",
                c.label,
                c.fpr.len(),
                c.tpr.len()
            ));
        }
        for (i, p) in self.predictions.iter().enumerate() {
            let bad_top = p.top5.iter().any(|&(c, _)| c >= k);
            if p.true_class >= k || p.predicted >= k || bad_top {
                return Err(format!(
                    "prediction {} ({}) names a class index outside 0..{k}",
                    i + 1,
                    p.path.display()
                ));
            }
        }
        Ok(())
    }
}
