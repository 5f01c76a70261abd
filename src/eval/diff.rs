//! Two evaluations of the same test faces side by side: the metric deltas,
//! the per-class deltas, both confusion matrices, and the faces whose
//! prediction changed from right to wrong or back.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Confusion, EvalReport};

/// A class's accuracy (its recall) and F1 in A and in B.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDelta {
    pub class: String,
    pub accuracy: (f64, f64),
    pub f1: (f64, f64),
}

/// How one face fared in A and in B.
#[derive(Debug, Clone, PartialEq)]
pub struct FacePair {
    pub path: PathBuf,
    pub true_class: usize,
    pub predicted: (usize, usize),
    /// The probability of the true class, when it was in the top 5.
    pub true_probability: (Option<f32>, Option<f32>),
}

/// Right in one run and wrong in the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flip {
    /// Wrong in A, right in B.
    Fixed,
    /// Right in A, wrong in B.
    Broken,
}

impl FacePair {
    pub fn flip(&self) -> Option<Flip> {
        let right = (
            self.predicted.0 == self.true_class,
            self.predicted.1 == self.true_class,
        );
        match right {
            (false, true) => Some(Flip::Fixed),
            (true, false) => Some(Flip::Broken),
            _ => None,
        }
    }

    /// How much more probable B made the true class than A did (a class
    /// below the top 5 counts as 0).
    pub fn confidence_change(&self) -> f32 {
        self.true_probability.1.unwrap_or(0.0) - self.true_probability.0.unwrap_or(0.0)
    }
}

/// The difference between two evaluations of the same faces.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalDiff {
    pub classes: Vec<String>,
    pub accuracy: (f64, f64),
    pub macro_f1: (f64, f64),
    pub per_class: Vec<ClassDelta>,
    pub confusion: (Confusion, Confusion),
    /// Every face, in A's order.
    pub faces: Vec<FacePair>,
}

impl EvalDiff {
    /// `B - A` per (true, predicted) cell, as a grid (for views of few
    /// classes: it has classes squared cells).
    pub fn confusion_delta(&self) -> Vec<Vec<i64>> {
        let (a, b) = &self.confusion;
        let k = a.classes();
        let mut delta = vec![vec![0i64; k]; k];
        for (t, p, n) in b.cells() {
            delta[t][p] += n as i64;
        }
        for (t, p, n) in a.cells() {
            delta[t][p] -= n as i64;
        }
        delta
    }

    /// The faces that flipped, the largest confidence change first.
    pub fn flipped(&self, kind: Flip) -> Vec<&FacePair> {
        let mut faces: Vec<&FacePair> = self
            .faces
            .iter()
            .filter(|f| f.flip() == Some(kind))
            .collect();
        faces.sort_by(|x, y| {
            let (cx, cy) = (x.confidence_change().abs(), y.confidence_change().abs());
            cy.total_cmp(&cx).then_with(|| x.path.cmp(&y.path))
        });
        faces
    }

    /// The faces of cell (true `t`, predicted `p`): those B put there and A
    /// did not, then those A put there and B did not.
    pub fn cell_changes(&self, t: usize, p: usize) -> (Vec<&FacePair>, Vec<&FacePair>) {
        let in_cell = |pred: usize, f: &FacePair| f.true_class == t && pred == p;
        let entered = self
            .faces
            .iter()
            .filter(|f| in_cell(f.predicted.1, f) && !in_cell(f.predicted.0, f))
            .collect();
        let left = self
            .faces
            .iter()
            .filter(|f| in_cell(f.predicted.0, f) && !in_cell(f.predicted.1, f))
            .collect();
        (entered, left)
    }
}

/// Compare `a` and `b`, which must list the same classes and have scored
/// the same faces; the error says what differs.
pub fn diff_evaluations(a: &EvalReport, b: &EvalReport) -> Result<EvalDiff, String> {
    if a.classes != b.classes {
        return Err(format!(
            "the runs have different classes (A: {}, B: {}); a diff needs runs on the same dataset",
            a.classes.len(),
            b.classes.len()
        ));
    }
    let in_b: HashMap<&PathBuf, usize> = b
        .predictions
        .iter()
        .enumerate()
        .map(|(i, p)| (&p.path, i))
        .collect();
    let common = a
        .predictions
        .iter()
        .filter(|p| in_b.contains_key(&p.path))
        .count();
    if common != a.predictions.len() || common != b.predictions.len() {
        return Err(format!(
            "the runs were evaluated on different faces (A: {}, B: {}, {common} in common); \
             evaluate both on the same test split (`facebench eval RUN --data DIR`)",
            a.predictions.len(),
            b.predictions.len()
        ));
    }
    let probability =
        |p: &super::Prediction| p.top5.iter().find(|t| t.0 == p.true_class).map(|t| t.1);
    let mut faces = Vec::with_capacity(common);
    for pa in &a.predictions {
        let pb = &b.predictions[in_b[&pa.path]];
        if pa.true_class != pb.true_class {
            return Err(format!(
                "{} is labelled {} in A and {} in B",
                pa.path.display(),
                a.classes[pa.true_class],
                a.classes[pb.true_class]
            ));
        }
        faces.push(FacePair {
            path: pa.path.clone(),
            true_class: pa.true_class,
            predicted: (pa.predicted, pb.predicted),
            true_probability: (probability(pa), probability(pb)),
        });
    }
    let per_class = a
        .per_class
        .iter()
        .zip(&b.per_class)
        .map(|(ca, cb)| ClassDelta {
            class: ca.class.clone(),
            accuracy: (ca.recall, cb.recall),
            f1: (ca.f1, cb.f1),
        })
        .collect();
    Ok(EvalDiff {
        classes: a.classes.clone(),
        accuracy: (a.accuracy, b.accuracy),
        macro_f1: (a.macro_avg.f1, b.macro_avg.f1),
        per_class,
        confusion: (a.confusion.clone(), b.confusion.clone()),
        faces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::classification_report;

    fn report(labels: &[usize], predicted: &[usize]) -> EvalReport {
        let classes = vec!["ann".to_string(), "bob".into(), "cy".into()];
        let probs: Vec<Vec<f32>> = predicted
            .iter()
            .map(|&p| (0..3).map(|c| if c == p { 0.8 } else { 0.1 }).collect())
            .collect();
        let paths: Vec<PathBuf> = (0..labels.len())
            .map(|i| format!("{i}.png").into())
            .collect();
        classification_report(&classes, labels, &probs, &paths)
    }

    #[test]
    fn flips_deltas_and_cells_follow_the_predictions() {
        let labels = [0, 0, 1, 1, 2, 2];
        let a = report(&labels, &[0, 1, 1, 1, 2, 0]);
        let b = report(&labels, &[0, 0, 1, 2, 2, 2]);
        let d = diff_evaluations(&a, &b).unwrap();
        assert_eq!(d.accuracy, (4.0 / 6.0, 5.0 / 6.0));
        let fixed: Vec<_> = d
            .flipped(Flip::Fixed)
            .iter()
            .map(|f| f.path.clone())
            .collect();
        let broken: Vec<_> = d
            .flipped(Flip::Broken)
            .iter()
            .map(|f| f.path.clone())
            .collect();
        assert_eq!(fixed, [PathBuf::from("1.png"), PathBuf::from("5.png")]);
        assert_eq!(broken, [PathBuf::from("3.png")]);
        // B - A: bob -> cy gained one, ann -> bob and cy -> ann lost one
        let delta = d.confusion_delta();
        assert_eq!(delta[1][2], 1);
        assert_eq!(delta[0][1], -1);
        assert_eq!(delta[2][0], -1);
        assert_eq!(delta.iter().flatten().sum::<i64>(), 0);
        let (entered, left) = d.cell_changes(1, 2);
        assert_eq!(entered.len(), 1);
        assert!(left.is_empty());
        assert_eq!(d.per_class[2].accuracy, (0.5, 1.0));
        assert!((d.faces[1].confidence_change() - 0.7).abs() < 1e-6);
    }

    #[test]
    fn runs_on_other_faces_or_classes_are_refused_with_counts() {
        let a = report(&[0, 1, 2], &[0, 1, 2]);
        let b = report(&[0, 1], &[0, 1]);
        let err = diff_evaluations(&a, &b).unwrap_err();
        assert!(err.contains("A: 3, B: 2, 2 in common"), "{err}");
        let mut c = a.clone();
        c.classes[2] = "dee".into();
        let err = diff_evaluations(&a, &c).unwrap_err();
        assert!(err.contains("different classes"), "{err}");
    }
}
