//! The learning-rate finder on the synthetic demo set with the tiny preset:
//! the sweep stops when the loss diverges, the suggestion is a usable rate,
//! and nothing is written into a runs folder.

mod common;

use std::path::Path;
use std::process::Command;

use facebench::engine::{find_lr, LrFindEnd, LrFindRequest, LrFindResult, TrainControl};
use facebench::run::RunConfig;

fn tiny_preset() -> RunConfig {
    RunConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/resnet-tiny-cpu.json"))
        .unwrap()
}

#[test]
fn the_sweep_diverges_early_and_suggests_a_rate_between_1e4_and_1e1() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 6, 30, 64);
    let request = LrFindRequest::new(tiny_preset(), data);
    let mut seen = 0;
    let result = find_lr(&request, &TrainControl::default(), &mut |_| seen += 1).unwrap();
    let n = result.points.len();
    assert_eq!(seen, n, "every step was reported");
    assert_eq!(result.end, LrFindEnd::Diverged, "ran {n} steps");
    assert!(n < 200, "stopped early, at step {n}");
    let last = result.points[n - 1];
    let best = result
        .points
        .iter()
        .map(|p| p.smoothed)
        .fold(f64::INFINITY, f64::min);
    assert!(
        !(last.smoothed <= 4.0 * best),
        "stopped past 4x the minimum"
    );
    for (name, lr) in [("valley", result.valley), ("steepest", result.steepest)] {
        let lr = lr.unwrap_or_else(|| panic!("no {name} suggestion"));
        eprintln!("{name}: {lr:.3e}");
        if name == "valley" {
            assert!((1e-4..=1e-1).contains(&lr), "{name} suggests {lr}");
        }
    }
    // nothing went into a runs folder, or anywhere in the dataset's folder
    assert!(!tmp.path().join("runs").exists());
    // and the scratch file reads back the same
    let scratch = result.save_scratch().unwrap();
    assert!(scratch.starts_with(common::isolate_cache()));
    let back = LrFindResult::load_scratch(&scratch).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-300);
    assert_eq!(back.points.len(), n);
    assert!(back
        .points
        .iter()
        .zip(&result.points)
        .all(|(a, b)| close(a.lr, b.lr) && close(a.smoothed, b.smoothed)));
    assert_eq!(
        (back.end, back.label.as_str()),
        (result.end, result.label.as_str())
    );
}

#[test]
fn a_stopped_sweep_ends_at_once_and_the_cli_prints_its_suggestions() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 12, 48);
    let control = TrainControl::default();
    let stopper = control.clone();
    let mut steps = 0;
    let result = find_lr(
        &LrFindRequest::new(tiny_preset(), data.clone()),
        &control,
        &mut |_| {
            steps += 1;
            if steps == 5 {
                stopper.stop();
            }
        },
    )
    .unwrap();
    assert_eq!(result.end, LrFindEnd::Stopped);
    assert_eq!(result.points.len(), 5);

    let out = Command::new(env!("CARGO_BIN_EXE_facebench"))
        .env("FACEBENCH_CACHE_DIR", tmp.path().join("cache"))
        .args(["lr-find", "--data"])
        .arg(&data)
        .arg("--preset")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/resnet-tiny-cpu.json"))
        .args(["--set", "train.batch_size=8", "--iterations", "60"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("suggested learning rate (valley):"),
        "{stdout}"
    );
    let curve = stdout
        .lines()
        .find_map(|l| l.strip_prefix("curve: "))
        .expect("the curve's path");
    assert!(Path::new(curve).starts_with(tmp.path().join("cache/lr-find")));
    assert!(LrFindResult::load_scratch(Path::new(curve)).is_ok());
    assert!(!tmp.path().join("runs").exists(), "no run folder");
}
