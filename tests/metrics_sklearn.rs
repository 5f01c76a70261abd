//! facebench's metrics equal scikit-learn's on a committed fixture
//! (tests/fixtures/make_metrics_fixture.py wrote it).

use facebench::eval::classification_report;
use serde_json::Value;

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() < 1e-9,
        "{what}: facebench {a} vs scikit-learn {b}"
    );
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn metrics_equal_scikit_learn() {
    let text = include_str!("fixtures/metrics_sklearn.json");
    let fx: Value = serde_json::from_str(text).unwrap();
    let classes: Vec<String> = fx["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let y_true: Vec<usize> = fx["y_true"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let probs: Vec<Vec<f32>> = fx["probs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let e = &fx["expected"];
    let r = classification_report(&classes, &y_true, &probs, &[]);

    close(r.accuracy, e["accuracy"].as_f64().unwrap(), "accuracy");
    for (c, m) in r.per_class.iter().enumerate() {
        close(
            m.precision,
            floats(&e["precision"])[c],
            &format!("precision[{c}]"),
        );
        close(m.recall, floats(&e["recall"])[c], &format!("recall[{c}]"));
        close(m.f1, floats(&e["f1"])[c], &format!("f1[{c}]"));
        assert_eq!(m.support as f64, floats(&e["support"])[c], "support[{c}]");
    }
    assert!(
        r.per_class[5].precision == 0.0,
        "the fixture exercises zero division"
    );
    for (avg, key) in [(r.macro_avg, "macro"), (r.weighted_avg, "weighted")] {
        close(
            avg.precision,
            e[key]["precision"].as_f64().unwrap(),
            &format!("{key} precision"),
        );
        close(
            avg.recall,
            e[key]["recall"].as_f64().unwrap(),
            &format!("{key} recall"),
        );
        close(avg.f1, e[key]["f1"].as_f64().unwrap(), &format!("{key} f1"));
    }
    let confusion: Vec<Vec<usize>> = serde_json::from_value(e["confusion"].clone()).unwrap();
    assert_eq!(r.confusion.dense(), confusion);
    for (c, curve) in r.roc.iter().enumerate() {
        let want = &e["roc"][c];
        let (fpr, tpr) = (floats(&want["fpr"]), floats(&want["tpr"]));
        assert_eq!(curve.fpr.len(), fpr.len(), "roc[{c}] point count");
        for i in 0..fpr.len() {
            close(curve.fpr[i], fpr[i], &format!("roc[{c}].fpr[{i}]"));
            close(curve.tpr[i], tpr[i], &format!("roc[{c}].tpr[{i}]"));
        }
        close(
            curve.auc.unwrap(),
            want["auc"].as_f64().unwrap(),
            &format!("auc[{c}]"),
        );
    }
    close(
        r.auc_micro.unwrap(),
        e["auc_micro"].as_f64().unwrap(),
        "micro AUC",
    );
    close(
        r.auc_macro.unwrap(),
        e["auc_macro"].as_f64().unwrap(),
        "macro AUC",
    );
}

#[test]
fn undefined_auc_for_a_class_without_test_images() {
    let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let y_true = vec![0, 1, 0, 1];
    let probs = vec![
        vec![0.7, 0.2, 0.1],
        vec![0.3, 0.6, 0.1],
        vec![0.5, 0.4, 0.1],
        vec![0.2, 0.2, 0.6],
    ];
    let r = classification_report(&classes, &y_true, &probs, &[]);
    assert_eq!(r.per_class[2].auc, None);
    assert_eq!(r.per_class[2].support, 0);
    // macro AUC averages the defined classes only
    let defined: Vec<f64> = r.per_class.iter().filter_map(|m| m.auc).collect();
    assert_eq!(defined.len(), 2);
    close(
        r.auc_macro.unwrap(),
        (defined[0] + defined[1]) / 2.0,
        "macro AUC",
    );
    assert_eq!(r.predictions[3].predicted, 2);
    assert_eq!(r.predictions[3].top5.len(), 3);
}

fn assert_curve(got: &facebench::eval::RocCurve, want: &Value, what: &str) {
    let (fpr, tpr) = (floats(&want["fpr"]), floats(&want["tpr"]));
    assert_eq!(
        got.fpr.len(),
        fpr.len(),
        "{what}: point count (facebench fpr {:?}, scikit-learn fpr {fpr:?})",
        got.fpr
    );
    for i in 0..fpr.len() {
        close(got.fpr[i], fpr[i], &format!("{what}.fpr[{i}]"));
        close(got.tpr[i], tpr[i], &format!("{what}.tpr[{i}]"));
    }
    if let Some(area) = want.get("auc") {
        close(
            got.auc.unwrap(),
            area.as_f64().unwrap(),
            &format!("{what} AUC"),
        );
    }
}

/// The whole macro- and micro-average curves, not only their areas, equal
/// scikit-learn's recipe (per-class roc_curve, the union of their FPRs,
/// np.interp, averaged) on cases with ties and perfectly separated classes.
#[test]
fn macro_and_micro_curves_equal_scikit_learn_recipe() {
    let fx: Value = serde_json::from_str(include_str!("fixtures/metrics_sklearn.json")).unwrap();
    let cases = fx["roc_cases"].as_array().unwrap();
    assert!(
        cases.len() >= 4,
        "the fixture holds the tie and perfect cases"
    );
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let y_true: Vec<usize> = serde_json::from_value(case["y_true"].clone()).unwrap();
        let probs: Vec<Vec<f32>> = case["probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| floats(row).into_iter().map(|v| v as f32).collect())
            .collect();
        let k = probs[0].len();
        let classes: Vec<String> = (0..k).map(|c| format!("c{c}")).collect();
        let r = classification_report(&classes, &y_true, &probs, &[]);
        for (c, curve) in r.roc.iter().enumerate() {
            assert_curve(curve, &case["roc"][c], &format!("{name}: roc[{c}]"));
        }
        assert_curve(
            r.roc_macro.as_ref().unwrap(),
            &case["macro"],
            &format!("{name}: macro"),
        );
        assert_curve(
            r.roc_micro.as_ref().unwrap(),
            &case["micro"],
            &format!("{name}: micro"),
        );
        close(
            r.auc_macro.unwrap(),
            case["auc_macro"].as_f64().unwrap(),
            &format!("{name}: macro AUC"),
        );
        close(
            r.auc_micro.unwrap(),
            case["auc_micro"].as_f64().unwrap(),
            &format!("{name}: micro AUC"),
        );
    }
    // the case the issue reported: every class perfect gives a macro curve of area 1
    let perfect = cases.iter().find(|c| c["name"] == "perfect").unwrap();
    assert_eq!(perfect["macro"]["auc"].as_f64(), Some(1.0));
}
