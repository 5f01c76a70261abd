//! `facebench embed`: a run's test faces on a 2-D map of their penultimate
//! features, written as CSV, PNG and the run's embeddings.json, with the
//! predictions eval.json has.

mod common;

use std::process::Command;

use facebench::store::RunDir;

#[test]
fn the_test_faces_are_mapped_with_their_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let run = common::train_tiny(tmp.path(), 3);
    let eval = RunDir::new(&run).read_eval().unwrap().unwrap();
    for method in ["pca", "tsne", "umap"] {
        let csv = tmp.path().join(format!("{method}.csv"));
        let out = Command::new(env!("CARGO_BIN_EXE_facebench"))
            .args(["embed", &run.to_string_lossy(), "--method", method, "--out"])
            .arg(&csv)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        let rows: Vec<String> = std::fs::read_to_string(&csv)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(rows[0], "path,true,predicted,confidence,x,y");
        assert_eq!(
            rows.len(),
            eval.predictions.len() + 1,
            "a row per test face"
        );
        let png = image::open(csv.with_extension("png")).unwrap();
        assert_eq!((png.width(), png.height()), (800, 800));
        let map = RunDir::new(&run)
            .read_embeddings()
            .unwrap()
            .expect("cached");
        assert_eq!(map.method.name(), method);
        assert_eq!(map.faces.len(), eval.predictions.len());
        for (face, p) in map.faces.iter().zip(&eval.predictions) {
            assert_eq!(face.path, p.path);
            assert_eq!(face.true_class, p.true_class);
            assert_eq!(face.predicted, p.predicted, "{}", p.path.display());
            assert!(face.x.is_finite() && face.y.is_finite());
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_facebench"))
        .args([
            "embed",
            &run.to_string_lossy(),
            "--method",
            "isomap",
            "--out",
        ])
        .arg(tmp.path().join("x.csv"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use tsne, umap or pca"));
}
