//! `facebench diff RUN_A RUN_B`: what changed between two runs, and what it
//! did face by face.

use std::path::Path;

use crate::eval::Flip;
use crate::files::{csv_quote, write_file};
use crate::store::{diff_runs, RunDiff, RunStore};

pub fn diff_command(store: &RunStore, a: &str, b: &str, csv: Option<&Path>) -> anyhow::Result<()> {
    let diff = diff_runs(&store.open(a)?, &store.open(b)?)?;
    print!("{}", diff_text(&diff));
    if let Some(path) = csv {
        write_file(path, faces_csv(&diff).as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The report `facebench diff` prints.
pub fn diff_text(d: &RunDiff) -> String {
    let e = &d.eval;
    let mut out = format!("A: {}\nB: {}\n", d.names.0, d.names.1);
    if d.config.is_empty() {
        out += "config: the same\n";
    } else {
        out += "config (A -> B):\n";
        for c in &d.config {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
            out += &format!("  {}: {} -> {}\n", c.key, show(&c.a), show(&c.b));
        }
    }
    if !d.same_train_files {
        out += "train files: different (their fingerprints differ)\n";
    }
    let (aa, ab) = e.accuracy;
    out += &format!(
        "accuracy: {:.2}% -> {:.2}% ({:+.2} points)\n",
        aa * 100.0,
        ab * 100.0,
        (ab - aa) * 100.0
    );
    let (fa, fb) = e.macro_f1;
    out += &format!("macro F1: {fa:.4} -> {fb:.4} ({:+.4})\n", fb - fa);
    out += &format!(
        "faces: {}; fixed (wrong in A, right in B): {}; broken (right in A, wrong in B): {}\n",
        e.faces.len(),
        e.flipped(Flip::Fixed).len(),
        e.flipped(Flip::Broken).len()
    );
    let mut classes: Vec<_> = e.per_class.iter().collect();
    classes.sort_by(|x, y| {
        let change = |c: &crate::eval::ClassDelta| (c.accuracy.1 - c.accuracy.0).abs();
        change(y).total_cmp(&change(x))
    });
    out += "per class, largest accuracy change first (accuracy A -> B, F1 A -> B):\n";
    let width = classes
        .iter()
        .map(|c| c.class.chars().count())
        .max()
        .unwrap_or(5);
    for c in classes {
        out += &format!(
            "  {:<width$}  {:.3} -> {:.3} ({:+.3})   F1 {:.3} -> {:.3} ({:+.3})\n",
            c.class,
            c.accuracy.0,
            c.accuracy.1,
            c.accuracy.1 - c.accuracy.0,
            c.f1.0,
            c.f1.1,
            c.f1.1 - c.f1.0
        );
    }
    out
}

/// One row per face: both predictions, the true class's probability in
/// each (empty below the top 5), and whether it flipped.
fn faces_csv(d: &RunDiff) -> String {
    let classes = &d.eval.classes;
    let probability = |p: Option<f32>| p.map_or(String::new(), |v| v.to_string());
    let mut out = String::from("path,true,predicted_a,predicted_b,p_true_a,p_true_b,flip\n");
    for f in &d.eval.faces {
        let flip = match f.flip() {
            Some(Flip::Fixed) => "fixed",
            Some(Flip::Broken) => "broken",
            None => "",
        };
        out += &format!(
            "{},{},{},{},{},{},{flip}\n",
            csv_quote(&f.path.to_string_lossy()),
            csv_quote(&classes[f.true_class]),
            csv_quote(&classes[f.predicted.0]),
            csv_quote(&classes[f.predicted.1]),
            probability(f.true_probability.0),
            probability(f.true_probability.1),
        );
    }
    out
}
