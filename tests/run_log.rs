//! metrics.jsonl after a crash: a torn last line and the events logged after
//! the checkpoint are repaired when the run resumes, so the log parses and holds
//! each iteration and epoch once.

mod common;

use std::io::Write;

use facebench::run::{EpochMetrics, TrainEvent};
use facebench::store::{read_events, MetricsLog, ResumePoint};

fn iteration(epoch: usize, iteration: usize) -> TrainEvent {
    TrainEvent::Iteration {
        epoch,
        iteration,
        batch: iteration,
        batches: 4,
        loss: 1.0 / iteration as f64,
        accuracy: 0.5,
        lr: 1e-3,
        images_per_sec: 10.0,
    }
}

fn epoch(epoch: usize) -> TrainEvent {
    TrainEvent::Epoch(EpochMetrics {
        epoch,
        phase: 1,
        train_loss: 1.0,
        train_accuracy: 0.5,
        val_loss: 1.0,
        val_accuracy: 0.5,
        lr: 1e-3,
        seconds: 1.0,
        images_per_sec: 10.0,
    })
}

#[test]
fn resume_cuts_a_torn_line_and_the_events_after_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metrics.jsonl");
    let mut log = MetricsLog::open(&path).unwrap();
    for i in 1..=4 {
        log.append(&iteration(1, i)).unwrap();
    }
    log.append(&epoch(1)).unwrap();
    // the checkpoint after epoch 1 was saved; the crash came in epoch 2, after
    // the epoch-2 event but before its checkpoint, in the middle of a line
    for i in 5..=8 {
        log.append(&iteration(2, i)).unwrap();
    }
    log.append(&epoch(2)).unwrap();
    log.flush().unwrap();
    drop(log);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(br#"{"event":"iteration","epoch":3,"itera"#)
        .unwrap();
    // readers tolerate the torn line
    assert_eq!(read_events(&path).unwrap().len(), 10);

    let point = ResumePoint {
        epochs_completed: 1,
        iteration: 4,
        phase: 1,
    };
    let (mut log, removed) = MetricsLog::open_for_resume(&path, &point).unwrap();
    assert_eq!(removed, 6, "4 iterations, 1 epoch and the torn line");
    // the resumed run logs epoch 2 again, onto a clean line
    for i in 5..=8 {
        log.append(&iteration(2, i)).unwrap();
    }
    log.append(&epoch(2)).unwrap();
    log.flush().unwrap();
    let events = read_events(&path).unwrap();
    let iterations = common::iteration_numbers(&events);
    assert_eq!(
        iterations,
        (1..=8).collect::<Vec<_>>(),
        "each iteration once"
    );
    let epochs = common::epoch_numbers(&events);
    assert_eq!(epochs, vec![1, 2], "each epoch once");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n') && !text.contains("itera\"\n"));
}

#[test]
fn a_line_that_is_not_an_event_is_kept_on_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metrics.jsonl");
    std::fs::write(&path, "not json\n").unwrap();
    let point = ResumePoint {
        epochs_completed: 0,
        iteration: 0,
        phase: 1,
    };
    let (_, removed) = MetricsLog::open_for_resume(&path, &point).unwrap();
    assert_eq!(removed, 0);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not json\n");
}

#[test]
fn a_run_is_trained_by_one_process_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let first = facebench::store::lock_run(tmp.path()).unwrap();
    let err = facebench::store::lock_run(tmp.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is being trained by another process")
            && err.contains(&format!("pid {}", std::process::id())),
        "the second taker learns who holds the run: {err}"
    );
    assert_eq!(
        facebench::store::lock_holder(tmp.path()),
        Some(format!("pid {}", std::process::id())),
        "the Runs tab can show who trains it"
    );
    drop(first);
    assert_eq!(
        facebench::store::lock_holder(tmp.path()),
        None,
        "released: no holder"
    );
    facebench::store::lock_run(tmp.path()).expect("free again once released");
}
