//! `facebench predict`: any faces scored with a run's best checkpoint,
//! preprocessed exactly as at evaluation, so a run's own test faces get
//! exactly eval.json's predictions.

mod common;

use std::process::Command;

use facebench::engine::{predict_run, PredictRequest};
use facebench::run::DeviceChoice;
use facebench::store::RunDir;

#[test]
fn predicting_the_test_faces_reproduces_eval_json_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let run = common::train_tiny(tmp.path(), 3);
    let eval = RunDir::new(&run).read_eval().unwrap().expect("evaluated");
    let images: Vec<_> = eval.predictions.iter().map(|p| p.path.clone()).collect();
    let predictions = predict_run(&PredictRequest {
        run: run.clone(),
        images,
        device: DeviceChoice::Cpu,
        progress: None,
    })
    .unwrap();
    assert_eq!(predictions.len(), eval.predictions.len());
    for (ours, theirs) in predictions.iter().zip(&eval.predictions) {
        assert_eq!(ours.image, theirs.path);
        // the same probabilities, bit for bit, in the same order
        assert_eq!(ours.top(5), theirs.top5, "{}", theirs.path.display());
        assert_eq!(ours.top(1)[0].0, theirs.predicted);
    }
    // alone (a batch of one), the same class; the matrix products block
    // differently, so the last bits may differ
    let one = predict_run(&PredictRequest {
        run: run.clone(),
        images: vec![eval.predictions[3].path.clone()],
        device: DeviceChoice::Cpu,
        progress: None,
    })
    .unwrap();
    let theirs = &eval.predictions[3];
    assert_eq!(one[0].top(1)[0].0, theirs.predicted);
    for ((c, p), (tc, tp)) in one[0].top(5).into_iter().zip(theirs.top5.iter().copied()) {
        assert!(c == tc || (p - tp).abs() < 1e-5, "{c} {p} vs {tc} {tp}");
        assert!((p - tp).abs() < 1e-5, "{p} vs {tp}");
    }
}

#[test]
fn the_cli_lists_the_top_classes_of_a_folder_and_writes_a_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let run = common::train_tiny(tmp.path(), 1);
    let classes = RunDir::new(&run).read_record().unwrap().dataset.classes;
    let folder = tmp.path().join("demo");
    let faces = walk_count(&folder);
    assert!(faces > 0);
    let csv = tmp.path().join("predictions.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_facebench"))
        .arg("predict")
        .arg(&run)
        .arg(&folder)
        .args(["--top", "2", "--csv"])
        .arg(&csv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let face_lines: Vec<&str> = stdout.lines().filter(|l| l.contains("%, ")).collect();
    assert_eq!(face_lines.len(), faces, "{stdout}");
    let rows: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(rows[0], "path,rank,class,probability");
    assert_eq!(rows.len(), 1 + 2 * faces, "two ranks per face");
    for pair in rows[1..].chunks(2) {
        let p = |row: &str| row.rsplit(',').next().unwrap().parse::<f32>().unwrap();
        assert!(pair[0].contains(",1,") && pair[1].contains(",2,"));
        assert!(p(&pair[0]) >= p(&pair[1]), "most likely first: {pair:?}");
        assert!(classes
            .iter()
            .any(|c| pair[0].contains(&format!("\"{c}\""))));
    }

    // a file that is not an image: a clear error naming it
    let bad = tmp.path().join("notes.jpg");
    std::fs::write(&bad, b"not a jpeg").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_facebench"))
        .arg("predict")
        .arg(&run)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notes.jpg") && stderr.contains("JPEG or PNG"),
        "{stderr}"
    );
}

fn walk_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk_count(&path)
            } else {
                1
            }
        })
        .sum()
}
