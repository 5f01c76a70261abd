//! kill -9 a real training process at many points, then resume until it
//! finishes: every run resumes, finishes and evaluates; `metrics.jsonl` parses
//! and holds each epoch and iteration exactly once; and the weights evaluated
//! are the ones the record names.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use facebench::engine::{find_checkpoint, TrainerState};
use facebench::run::{CheckpointKind, FinishStatus, TrainEvent};
use facebench::store::{RunDir, RunStore};

const EPOCHS: usize = 3;

fn facebench(args: &[&str], data: &Path, runs: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_facebench"));
    cmd.args(args)
        .arg("--json")
        .arg("--runs")
        .arg(runs)
        .current_dir(cwd)
        .env("FACEBENCH_CACHE_DIR", cwd.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if args.first() == Some(&"train") && !args.contains(&"--resume") {
        cmd.arg("--data")
            .arg(data)
            .args(["--device", "cpu"])
            .args(common::tiny_cli_sets(EPOCHS));
    }
    cmd
}

/// Run `cmd`, SIGKILL it once it has printed `kill_after` event lines (or let
/// it finish when `None` or when it prints fewer). Returns whether it finished
/// on its own with success.
fn run_until(mut cmd: Command, kill_after: Option<usize>) -> bool {
    let mut child = cmd.spawn().expect("run facebench");
    let stdout = child.stdout.take().unwrap();
    let mut printed = 0;
    for line in BufReader::new(stdout).lines() {
        if line.is_err() {
            break;
        }
        printed += 1;
        if Some(printed) == kill_after {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            return false;
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "facebench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

fn check_invariants(run: &RunDir, case: &str) {
    let events = run
        .read_events()
        .unwrap_or_else(|e| panic!("{case}: metrics.jsonl parses: {e:#}"));
    let epochs = common::epoch_numbers(&events);
    assert_eq!(
        epochs,
        (1..=EPOCHS).collect::<Vec<_>>(),
        "{case}: each epoch once"
    );
    let iterations = common::iteration_numbers(&events);
    assert_eq!(
        iterations,
        (1..=iterations.len()).collect::<Vec<_>>(),
        "{case}: each iteration once, in order"
    );
    let best_epoch = events
        .iter()
        .rev()
        .find_map(|e| match e {
            TrainEvent::Finished {
                status: FinishStatus::Completed,
                best_epoch,
                ..
            } => Some(*best_epoch),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{case}: the run finished"));
    let eval = run
        .read_eval()
        .unwrap()
        .unwrap_or_else(|| panic!("{case}: eval.json"));
    assert_eq!(eval.checkpoint, "best", "{case}");
    let best = find_checkpoint(run, CheckpointKind::Best).expect("a best checkpoint");
    let state: TrainerState =
        serde_json::from_str(&std::fs::read_to_string(best.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        state.epochs_completed, best_epoch,
        "{case}: the best checkpoint holds the epoch the run names"
    );
    let again =
        facebench::engine::evaluate_run(run, None, facebench::run::DeviceChoice::Cpu).unwrap();
    assert_eq!(
        again.accuracy, eval.accuracy,
        "{case}: eval.json scored the best checkpoint"
    );
}

#[test]
fn kill_9_at_many_points_never_costs_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 16, 48);
    // an uninterrupted run, to know how many event lines a whole run prints
    let whole_runs = tmp.path().join("runs-whole");
    let whole = facebench(&["train"], &data, &whole_runs, tmp.path())
        .output()
        .unwrap();
    assert!(whole.status.success());
    // (less the image cache's progress: the runs below find the cache built)
    let lines = String::from_utf8_lossy(&whole.stdout)
        .lines()
        .filter(|l| !l.contains("\"event\":\"decoding\""))
        .count();
    check_invariants(
        &RunStore::new(&whole_runs).list().unwrap()[0],
        "uninterrupted",
    );
    // 14 kill points spread over the whole run: before, during and after
    // every epoch, the checkpoints and the evaluation; odd cases also kill
    // the first resume
    let points: Vec<usize> = (1..=14).map(|k| (k * (lines - 1)).div_ceil(14)).collect();
    let (mut killed, mut killed_resumes) = (0, 0);
    for (i, &point) in points.iter().enumerate() {
        let case = format!("kill after line {point}");
        let runs = tmp.path().join(format!("runs-{i}"));
        let train = facebench(&["train"], &data, &runs, tmp.path());
        if !run_until(train, Some(point)) {
            killed += 1;
        }
        let run = {
            let all = RunStore::new(&runs).list().unwrap();
            assert_eq!(all.len(), 1, "{case}: one run folder");
            all[0].clone()
        };
        let resume = |kill: Option<usize>| {
            let name = run.path.to_string_lossy().into_owned();
            run_until(
                facebench(&["train", "--resume", &name], &data, &runs, tmp.path()),
                kill,
            )
        };
        if i % 2 == 1 && !resume(Some(3 + i)) {
            killed_resumes += 1;
        }
        // resume until it finishes (each resume makes progress)
        let mut finished = resume(None);
        for _ in 0..2 {
            finished = finished || resume(None);
        }
        assert!(finished, "{case}: the run finishes");
        check_invariants(&run, &case);
    }
    assert_eq!(killed, points.len(), "every first run was killed");
    println!(
        "kill -9: {killed} runs killed at lines {points:?} of {lines}, {killed_resumes} of their \
         resumes killed too; {} of {} runs resumed, finished and evaluated",
        points.len(),
        points.len()
    );
}
