//! The command line end to end, on the real ORL faces and on bad input.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn facebench(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facebench"))
        .args(args)
        .current_dir(cwd)
        .env("FACEBENCH_CACHE_DIR", cwd.join("cache"))
        .output()
        .expect("run facebench")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn preset(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("presets")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn train_eval_runs_on_orl40_at_64px() {
    let orl = common::orl40();
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let runs_s = runs.to_str().unwrap();
    let out = facebench(
        &[
            "train",
            "--data",
            orl.to_str().unwrap(),
            "--preset",
            &preset("resnet-tiny-cpu.json"),
            "--set",
            "train.epochs=2",
            "--set",
            "name=orl-smoke",
            "--runs",
            runs_s,
            "--device",
            "cpu",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "train failed:\n{}", text(&out));
    let log = text(&out);
    assert!(
        log.contains("40 classes: train 320  val 40  test 40"),
        "{log}"
    );
    assert!(log.contains("epoch 2: train loss"), "{log}");
    assert!(log.contains("test: accuracy"), "{log}");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let name = run.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.ends_with("-orl-smoke"), "{name}");
    for f in [
        "config.json",
        "metrics.jsonl",
        "eval.json",
        "checkpoints/last/state.json",
        "checkpoints/best/model.mpk",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    std::fs::remove_file(run.join("eval.json")).unwrap();

    let out = facebench(
        &["eval", &name, "--runs", runs_s, "--device", "cpu"],
        tmp.path(),
    );
    assert!(out.status.success(), "eval failed:\n{}", text(&out));
    assert!(
        text(&out).contains("on test (40 images, best checkpoint): accuracy"),
        "{}",
        text(&out)
    );
    assert!(run.join("eval.json").exists());

    let out = facebench(&["runs", "--runs", runs_s], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let table = text(&out);
    assert!(
        table.contains(&name) && table.contains("2/2") && table.contains("completed"),
        "{table}"
    );
    assert!(table.contains("ResNet [1,1,1,1] x16"), "{table}");
    assert!(
        table.contains("dataset") && table.contains("orl40 "),
        "{table}"
    );
}

#[test]
fn config_errors_name_the_key_and_exit_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 2, 5, 32);
    let d = data.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["train", "--data", d, "--set", "optimizer.lrr=1"],
            "unknown key 'optimizer.lrr'",
        ),
        (
            &["train", "--data", d, "--set", "optimizer.lr=-1"],
            "optimizer.lr",
        ),
        (
            &["train", "--data", d, "--set", "train.epochs=many"],
            "bad value for 'train.epochs'",
        ),
        (
            &["train", "--data", d, "--set", "data.input_size=32"],
            "data.input_size",
        ),
        (
            &["train", "--data", d, "--set", "optimizer"],
            "must look like key=value",
        ),
        (
            &["train", "--data", d, "--device", "tpu"],
            "unknown device 'tpu'",
        ),
        (
            &[
                "train",
                "--data",
                "/no/such/folder",
                "--device",
                "cpu",
                "--set",
                "train.epochs=1",
            ],
            "does not exist",
        ),
        (&["eval", "nope", "--runs", "runs"], "no run 'nope'"),
        (
            &["model-info", "--arch", "vgg"],
            "[possible values: resnet, xception, densenet121]",
        ),
        (
            &["model-info", "--arch", "resnet", "--depths", "3,0,6,3"],
            "model.depths: 0 must be in 1..=64",
        ),
    ];
    for (args, want) in cases {
        let out = facebench(args, tmp.path());
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            text(&out).contains(want),
            "{args:?}: expected '{want}' in:\n{}",
            text(&out)
        );
    }
    let bad_preset = tmp.path().join("bad.json");
    std::fs::write(&bad_preset, r#"{ "train": { "epoch": 3 } }"#).unwrap();
    let out = facebench(
        &[
            "train",
            "--data",
            d,
            "--preset",
            bad_preset.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown field `epoch`") && text(&out).contains("bad.json"),
        "{}",
        text(&out)
    );
}

#[test]
fn demo_data_report_and_model_info() {
    let tmp = tempfile::tempdir().unwrap();
    let out = facebench(
        &[
            "demo-data",
            "demo",
            "--people",
            "3",
            "--images",
            "6",
            "--size",
            "40",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(
        tmp.path().join("demo/person_01/broken.jpg"),
        b"\xFF\xD8\xFF\xE0 not really",
    )
    .unwrap();
    let out = facebench(&["data-report", "demo"], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    let report = text(&out);
    assert!(
        report.contains("classes  3") && report.contains("person_03"),
        "{report}"
    );
    assert!(
        report.contains("broken.jpg") && report.contains("skipped  1 file(s)"),
        "{report}"
    );
    assert!(report.contains("sizes    40x40 .. 40x40"), "{report}");
    assert!(report.contains("mean     ["), "{report}");

    let out = facebench(
        &["model-info", "--arch", "resnet", "--classes", "1000"],
        tmp.path(),
    );
    assert!(
        text(&out).contains("parameters    25,557,032 trainable"),
        "{}",
        text(&out)
    );
    for (arch, count) in [("densenet121", "7,978,856"), ("xception", "22,855,952")] {
        let out = facebench(
            &["model-info", "--arch", arch, "--classes", "1000"],
            tmp.path(),
        );
        assert!(
            text(&out).contains(&format!("classifier instead of the head: {count}")),
            "{}",
            text(&out)
        );
    }
    let out = facebench(
        &[
            "model-info",
            "--depths",
            "1,1,1,1",
            "--base-planes",
            "16",
            "--classes",
            "40",
            "--layers",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success() && text(&out).contains("layer1.0.conv1.weight"),
        "{}",
        text(&out)
    );
}

/// A missing dataset folder is reported once, as "error: ...", not also as
/// "failed: ..." by the progress output.
#[test]
fn a_missing_data_folder_is_reported_on_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = facebench(
        &[
            "train",
            "--data",
            "/no/such/folder",
            "--device",
            "cpu",
            "--runs",
            "runs",
        ],
        tmp.path(),
    );
    assert!(!out.status.success());
    let all = text(&out);
    let lines: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("/no/such/folder"))
        .collect();
    assert_eq!(lines.len(), 1, "the error once:\n{all}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("does not exist"),
        "{all}"
    );
    assert!(!all.contains("failed:"), "{all}");
}

/// Every argument and option in every subcommand's help has a description,
/// and `--arch` lists its values.
#[test]
fn help_describes_every_argument_and_lists_arch_values() {
    let tmp = tempfile::tempdir().unwrap();
    let subcommands: &[&[&str]] = &[
        &[],
        &["gui"],
        &["train"],
        &["eval"],
        &["runs"],
        &["data-report"],
        &["demo-data"],
        &["bench"],
        &["model-info"],
        &["weights", "check"],
    ];
    let mut undescribed = Vec::new();
    for sub in subcommands {
        let mut args = sub.to_vec();
        args.push("--help");
        let out = facebench(&args, tmp.path());
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = help.lines().collect();
        let mut in_args = false;
        for (i, line) in lines.iter().enumerate() {
            if matches!(*line, "Arguments:" | "Options:") {
                in_args = true;
                continue;
            }
            if !line.starts_with(' ') {
                in_args = false;
            }
            let item = line.trim_start();
            if !in_args || !(item.starts_with('-') || item.starts_with('<')) {
                continue;
            }
            // "  --json  Print ..." or, in the long layout, the text on the next line
            let same_line = item.contains("  ");
            let next_line = lines.get(i + 1).is_some_and(|n| {
                let n = n.trim_start();
                n.len() + 8 < lines[i + 1].len() && !n.starts_with('-') && !n.starts_with('<')
            });
            if !same_line && !next_line {
                undescribed.push(format!("{args:?}: {item}"));
            }
        }
    }
    assert!(
        undescribed.is_empty(),
        "undescribed in --help:\n{}",
        undescribed.join("\n")
    );
    let out = facebench(&["model-info", "--help"], tmp.path());
    let help = String::from_utf8_lossy(&out.stdout);
    for arch in ["resnet", "xception", "densenet121"] {
        assert!(help.contains(&format!("- {arch}:")), "{help}");
    }
    let out = facebench(&["data-report", "--help"], tmp.path());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("<DIR>  Dataset folder"), "{help}");
    assert!(
        help.contains("--json") && help.contains("as JSON"),
        "{help}"
    );
}
