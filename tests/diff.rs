//! `facebench diff`: two runs on the same test faces are compared (config,
//! metric deltas, flipped faces, a CSV), and runs on other faces are refused
//! with the counts.

mod common;

use std::path::{Path, PathBuf};

use facebench::engine::{train_blocking, TrainRequest};
use facebench::eval::Flip;
use facebench::store::{diff_runs, RunDir};

fn train(data: &Path, runs: &Path, lr: f64) -> PathBuf {
    let mut config = common::tiny_config(1);
    config.optimizer.lr = lr;
    train_blocking(
        TrainRequest {
            config,
            data_root: data.to_path_buf(),
            runs_root: runs.to_path_buf(),
            resume: None,
        },
        |_| {},
    )
    .unwrap()
}

#[test]
fn two_runs_on_the_same_faces_are_compared_and_others_refused() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 20, 48);
    let runs = tmp.path().join("runs");
    let a = train(&data, &runs, 3e-3);
    let b = train(&data, &runs, 1e-2);
    let diff = diff_runs(&RunDir::new(&a), &RunDir::new(&b)).unwrap();
    let (fixed, broken) = (
        diff.eval.flipped(Flip::Fixed).len(),
        diff.eval.flipped(Flip::Broken).len(),
    );
    let n = diff.eval.faces.len() as f64;
    let moved = (diff.eval.accuracy.1 - diff.eval.accuracy.0) * n;
    assert!(
        (moved - (fixed as f64 - broken as f64)).abs() < 1e-6,
        "the accuracy moves by the flips: {moved} vs {fixed} - {broken}"
    );

    let csv = tmp.path().join("faces.csv");
    let (ok, text) = common::facebench(
        &[
            "diff",
            &a.to_string_lossy(),
            &b.to_string_lossy(),
            "--csv",
            &csv.to_string_lossy(),
        ],
        tmp.path(),
    );
    assert!(ok, "{text}");
    assert!(text.contains("optimizer.lr: 0.003 -> 0.01"), "{text}");
    assert!(
        text.contains(&format!(
            "fixed (wrong in A, right in B): {fixed}; broken (right in A, wrong in B): {broken}"
        )),
        "{text}"
    );
    assert!(text.contains("accuracy: "), "{text}");
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        rows.lines().count(),
        diff.eval.faces.len() + 1,
        "a row per face"
    );
    assert_eq!(
        rows.lines().filter(|l| l.ends_with(",fixed")).count(),
        fixed
    );

    // a run on other faces (another demo set, same class names)
    let other = common::demo_dataset(&tmp.path().join("elsewhere"), 4, 20, 48);
    let c = train(&other, &runs, 3e-3);
    let (ok, text) = common::facebench(
        &["diff", &a.to_string_lossy(), &c.to_string_lossy()],
        tmp.path(),
    );
    assert!(!ok);
    assert!(text.contains("evaluated on different faces"), "{text}");
    assert!(text.contains("0 in common"), "{text}");
}
