//! `facebench train` under a closed pipe and termination signals: neither may
//! cost the run. A closed stdout ends the output, not the training; SIGTERM
//! and SIGHUP stop like Ctrl-C, after the batch, with a checkpoint.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use facebench::run::{FinishStatus, TrainEvent};
use facebench::store::RunStore;

fn spawn_train(data: &Path, runs: &Path, epochs: usize, cwd: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_facebench"))
        .args(["train", "--json", "--device", "cpu", "--data"])
        .arg(data)
        .arg("--runs")
        .arg(runs)
        .args(common::tiny_cli_sets(epochs))
        .current_dir(cwd)
        .env("FACEBENCH_CACHE_DIR", cwd.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run facebench")
}

fn only_run(runs: &Path) -> facebench::store::RunDir {
    let mut all = RunStore::new(runs).list().unwrap();
    assert_eq!(all.len(), 1, "one run folder");
    all.remove(0)
}

#[test]
fn a_closed_stdout_does_not_end_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 12, 48);
    let runs = tmp.path().join("runs");
    let mut child = spawn_train(&data, &runs, 2, tmp.path());
    {
        // `| head -1`: read one line, then close the pipe
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // an event line (the image cache's progress comes before `started`)
        assert!(first.contains("\"event\""), "first line: {first}");
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let run = only_run(&runs);
    assert!(
        run.eval_path().exists(),
        "the run trained to the end and was evaluated"
    );
}

#[test]
fn sigterm_stops_after_the_batch_with_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 12, 48);
    let runs = tmp.path().join("runs");
    let mut child = spawn_train(&data, &runs, 50, tmp.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // wait for the first iteration, then terminate
    for line in lines.by_ref() {
        if line.unwrap().contains("\"iteration\"") {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<TrainEvent> = lines
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "a stop on SIGTERM exits 0: {status:?}");
    assert!(
        rest.iter().any(|e| matches!(
            e,
            TrainEvent::Finished {
                status: FinishStatus::Stopped,
                ..
            }
        )),
        "the run reports that it stopped: {rest:?}"
    );
    let run = only_run(&runs);
    assert!(
        facebench::engine::find_checkpoint(&run, facebench::run::CheckpointKind::Last).is_some(),
        "a checkpoint to resume from"
    );
}
