//! Real (small) training runs on the CPU: learning on the demo data, stop and
//! resume, pause, and the run store they leave behind.

mod common;

use common::tiny_config;

use std::path::PathBuf;

use facebench::engine::{start_training, TrainRequest};
use facebench::run::{FinishStatus, RunConfig, TrainEvent};
use facebench::store::{RunDir, RunStore};

fn collect(request: TrainRequest) -> Vec<TrainEvent> {
    let handle = start_training(request);
    let events: Vec<TrainEvent> = handle.events.iter().collect();
    handle.join();
    if let Some(TrainEvent::Failed { error }) = events.last() {
        panic!("training failed: {error}");
    }
    events
}

fn epochs(events: &[TrainEvent]) -> Vec<facebench::run::EpochMetrics> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Epoch(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn training_on_demo_data_learns_well_above_chance() {
    let _serial = common::serial();
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 6, 40, 64);
    let events = collect(TrainRequest {
        config: tiny_config(10),
        data_root: data,
        runs_root: tmp.path().join("runs"),
        resume: None,
    });
    let first_losses: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Iteration { epoch: 1, loss, .. } => Some(*loss),
            _ => None,
        })
        .collect();
    assert!(
        !first_losses.is_empty(),
        "per-iteration events are streamed"
    );
    let ep = epochs(&events);
    assert_eq!(ep.len(), 10);
    let start = first_losses.iter().sum::<f64>() / first_losses.len() as f64;
    let end = ep.last().unwrap().train_loss;
    assert!(
        end < 0.7 * start,
        "train loss falls: first epoch {start:.3}, last {end:.3}"
    );
    let test_acc = events
        .iter()
        .find_map(|e| match e {
            TrainEvent::Finished {
                status: FinishStatus::Completed,
                test_accuracy,
                ..
            } => *test_accuracy,
            _ => None,
        })
        .expect("finished with a test accuracy");
    // chance is 1/6
    assert!(
        test_acc >= 0.5,
        "test accuracy {test_acc:.3} is well above chance (0.167)"
    );

    // the run store holds everything the views need
    let run = RunDir::new(common::run_dir(&events));
    let record = run.read_record().unwrap();
    assert_eq!(record.dataset.classes.len(), 6);
    assert_eq!(record.config, tiny_config(10));
    let logged = run.read_events().unwrap();
    // (the image cache's progress comes before the run has a log)
    let loggable = events
        .iter()
        .filter(|e| !matches!(e, TrainEvent::Decoding { .. }))
        .count();
    assert_eq!(logged.len(), loggable, "every event is in metrics.jsonl");
    let eval = run.read_eval().unwrap().expect("eval.json");
    assert_eq!(eval.split, "test");
    assert!((eval.accuracy - test_acc).abs() < 1e-12);
    assert_eq!(eval.predictions.len(), eval.images);
    assert!(eval
        .predictions
        .iter()
        .all(|p| p.path.exists() && p.top5.len() == 5));
    let summary = run.summary().unwrap();
    assert_eq!(summary.status, facebench::store::RunStatus::Completed);
    assert_eq!(summary.epochs_completed, 10);
}

#[test]
fn stop_then_resume_continues_from_the_saved_epoch() {
    let _serial = common::serial();
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 20, 48);
    let runs = tmp.path().join("runs");
    let handle = start_training(TrainRequest {
        config: tiny_config(4),
        data_root: data.clone(),
        runs_root: runs.clone(),
        resume: None,
    });
    let mut first = Vec::new();
    for ev in handle.events.iter() {
        if matches!(ev, TrainEvent::Epoch(ref m) if m.epoch == 2) {
            handle.control.stop();
        }
        first.push(ev);
    }
    handle.join();
    let stopped_at = first
        .iter()
        .find_map(|e| match e {
            TrainEvent::Finished {
                status: FinishStatus::Stopped,
                epochs_completed,
                ..
            } => Some(*epochs_completed),
            _ => None,
        })
        .unwrap_or_else(|| panic!("stopped: {:?}", first.last()));
    assert!(
        stopped_at >= 2 && stopped_at < 4,
        "stopped after epoch {stopped_at}"
    );
    assert!(
        !first
            .iter()
            .any(|e| matches!(e, TrainEvent::Evaluated { .. })),
        "a stopped run is not evaluated"
    );
    let dir = common::run_dir(&first);
    assert_eq!(
        RunStore::new(&runs)
            .open(&dir.to_string_lossy())
            .unwrap()
            .summary()
            .unwrap()
            .status,
        facebench::store::RunStatus::Stopped
    );

    let second = collect(TrainRequest {
        config: RunConfig::default(), // ignored: the run's own config is used
        data_root: PathBuf::new(),
        runs_root: runs.clone(),
        resume: Some(dir.clone()),
    });
    match &second[0] {
        TrainEvent::Started {
            start_epoch,
            run_dir,
            ..
        } => {
            assert_eq!(*start_epoch, stopped_at);
            assert_eq!(run_dir, &dir, "resume writes into the same run");
        }
        other => panic!("first event {other:?}"),
    }
    let resumed: Vec<usize> = epochs(&second).iter().map(|m| m.epoch).collect();
    assert_eq!(resumed, ((stopped_at + 1)..=4).collect::<Vec<_>>());
    let iterations: Vec<usize> = second
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Iteration { iteration, .. } => Some(*iteration),
            _ => None,
        })
        .collect();
    let last_before = first
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Iteration { iteration, .. } => Some(*iteration),
            _ => None,
        })
        .max()
        .unwrap();
    assert!(iterations[0] > stopped_at, "iteration count continues");
    assert!(iterations[0] <= last_before + 1);
    assert!(matches!(
        second.last(),
        Some(TrainEvent::Finished {
            status: FinishStatus::Completed,
            epochs_completed: 4,
            ..
        })
    ));
    // metrics.jsonl holds both sessions, epochs 1..=4 once each
    let run = RunDir::new(&dir);
    let all: Vec<usize> = epochs(&run.read_events().unwrap())
        .iter()
        .map(|m| m.epoch)
        .collect();
    assert_eq!(all, vec![1, 2, 3, 4]);
    assert!(run.read_eval().unwrap().is_some());
}

fn iteration_losses(events: &[TrainEvent]) -> Vec<(usize, f64)> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Iteration {
                iteration, loss, ..
            } => Some((*iteration, *loss)),
            _ => None,
        })
        .collect()
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-3),
        "{what}: resumed {a} vs uninterrupted {b}"
    );
}

/// Stop in the middle of an epoch, then resume: every iteration's loss and
/// every epoch's metrics equal those of an uninterrupted run with the same seed.
#[test]
fn stop_mid_epoch_then_resume_equals_an_uninterrupted_run() {
    let _serial = common::serial();
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 20, 48);
    let mut config = tiny_config(3);
    config.train.batch_size = 4;
    let request = |runs: &str, resume: Option<PathBuf>| TrainRequest {
        config: config.clone(),
        data_root: data.clone(),
        runs_root: tmp.path().join(runs),
        resume,
    };
    let whole = collect(request("whole", None));

    let handle = start_training(request("stopped", None));
    let mut first = Vec::new();
    for ev in handle.events.iter() {
        if matches!(
            ev,
            TrainEvent::Iteration {
                epoch: 2,
                batch: 3,
                ..
            }
        ) {
            handle.control.stop();
        }
        first.push(ev);
    }
    handle.join();
    let (saved_epochs, saved_batch) = common::last_checkpoint(&first).expect("a last checkpoint");
    let batches = common::batches_per_epoch(&first).unwrap();
    assert_eq!(saved_epochs, 1, "stopped in epoch 2, after epoch 1");
    let saved_batch = saved_batch.expect("the checkpoint records its place in epoch 2");
    assert!(
        saved_batch >= 3 && saved_batch < batches,
        "stopped in the middle of epoch 2: batch {saved_batch} of {batches}"
    );

    let second = collect(request("stopped", Some(common::run_dir(&first))));
    match &second[0] {
        TrainEvent::Started {
            start_epoch,
            start_batch,
            ..
        } => assert_eq!((*start_epoch, *start_batch), (1, saved_batch)),
        other => panic!("first event {other:?}"),
    }
    let mut resumed = iteration_losses(&first);
    resumed.extend(iteration_losses(&second));
    let uninterrupted = iteration_losses(&whole);
    assert_eq!(
        resumed.iter().map(|r| r.0).collect::<Vec<_>>(),
        uninterrupted.iter().map(|r| r.0).collect::<Vec<_>>(),
        "each iteration trains once"
    );
    for ((i, a), (_, b)) in resumed.iter().zip(&uninterrupted) {
        assert_close(*a, *b, &format!("loss of iteration {i}"));
    }
    let mut resumed_epochs = epochs(&first);
    resumed_epochs.extend(epochs(&second));
    let whole_epochs = epochs(&whole);
    assert_eq!(resumed_epochs.len(), 3);
    for (a, b) in resumed_epochs.iter().zip(&whole_epochs) {
        assert_eq!(a.epoch, b.epoch);
        let what = |m: &str| format!("epoch {} {m}", a.epoch);
        assert_close(a.train_loss, b.train_loss, &what("train loss"));
        assert_close(a.train_accuracy, b.train_accuracy, &what("train accuracy"));
        assert_close(a.val_loss, b.val_loss, &what("val loss"));
        assert_close(a.val_accuracy, b.val_accuracy, &what("val accuracy"));
    }
    let test_accuracy = |events: &[TrainEvent]| {
        events.iter().find_map(|e| match e {
            TrainEvent::Finished { test_accuracy, .. } => *test_accuracy,
            _ => None,
        })
    };
    assert_eq!(test_accuracy(&second), test_accuracy(&whole));
}

#[test]
fn pause_and_resume_are_reported() {
    let _serial = common::serial();
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    // 3 people x 30 images: 24 train images, two batches in the epoch
    let data = common::demo_dataset(tmp.path(), 3, 30, 48);
    let handle = start_training(TrainRequest {
        config: tiny_config(1),
        data_root: data,
        runs_root: tmp.path().join("runs"),
        resume: None,
    });
    let mut events = Vec::new();
    for ev in handle.events.iter() {
        match ev {
            TrainEvent::Iteration { iteration: 1, .. } => handle.control.pause(),
            TrainEvent::Paused { .. } => {
                assert!(handle.control.is_paused());
                handle.control.resume();
            }
            _ => {}
        }
        events.push(ev);
    }
    handle.join();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            TrainEvent::Paused { .. } => "paused",
            TrainEvent::Resumed { .. } => "resumed",
            TrainEvent::Finished { .. } => "finished",
            _ => "",
        })
        .filter(|k| !k.is_empty())
        .collect();
    assert_eq!(kinds, vec!["paused", "resumed", "finished"]);
}

#[test]
fn a_bad_dataset_fails_with_its_message() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let handle = start_training(TrainRequest {
        config: tiny_config(1),
        data_root: tmp.path().join("missing"),
        runs_root: tmp.path().join("runs"),
        resume: None,
    });
    let events: Vec<_> = handle.events.iter().collect();
    match events.as_slice() {
        [TrainEvent::Failed { error }] => assert!(error.contains("does not exist"), "{error}"),
        other => panic!("{other:?}"),
    }
    assert!(
        !tmp.path().join("runs").exists()
            || std::fs::read_dir(tmp.path().join("runs")).unwrap().count() == 0,
        "no run folder for a run that never started"
    );
}

/// A checkpoint with a flipped byte is refused with the damaged file's name,
/// never loaded silently.
#[test]
fn a_damaged_checkpoint_is_refused_by_name() {
    let _serial = common::serial();
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 12, 48);
    let events = collect(TrainRequest {
        config: tiny_config(1),
        data_root: data.clone(),
        runs_root: tmp.path().join("runs"),
        resume: None,
    });
    let run = RunDir::new(common::run_dir(&events));
    // intact, it evaluates
    facebench::engine::evaluate_run(&run, None, facebench::run::DeviceChoice::Cpu).unwrap();
    let weights = run.path.join("checkpoints/best/model.mpk");
    let mut bytes = std::fs::read(&weights).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&weights, bytes).unwrap();
    let err = facebench::engine::evaluate_run(&run, None, facebench::run::DeviceChoice::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.mpk") && err.contains("damaged"),
        "the error names the file: {err}"
    );
}

/// A second process resuming a run that is being trained is refused, and
/// logs nothing into it.
#[test]
fn resuming_a_run_another_process_holds_is_refused() {
    let _serial = common::serial();
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 12, 48);
    let runs = tmp.path().join("runs");
    let events = collect(TrainRequest {
        config: tiny_config(1),
        data_root: data,
        runs_root: runs.clone(),
        resume: None,
    });
    let dir = common::run_dir(&events);
    let logged = RunDir::new(&dir).read_events().unwrap().len();
    let _held = facebench::store::lock_run(&dir).unwrap();
    let handle = start_training(TrainRequest {
        config: RunConfig::default(),
        data_root: PathBuf::new(),
        runs_root: runs,
        resume: Some(dir.clone()),
    });
    let second: Vec<TrainEvent> = handle.events.iter().collect();
    handle.join();
    match second.last() {
        Some(TrainEvent::Failed { error }) => {
            assert!(error.contains("is being trained by"), "{error}")
        }
        other => panic!("the resume must fail, got {other:?}"),
    }
    assert_eq!(
        RunDir::new(&dir).read_events().unwrap().len(),
        logged,
        "nothing is logged into the held run"
    );
}

/// Weights that do not load fail the run before it begins, and leave no run
/// folder behind that `facebench runs` would have to hide.
#[test]
fn a_run_whose_weights_fail_to_load_leaves_no_folder() {
    let _serial = common::serial();
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 12, 48);
    let weights = tmp.path().join("not-weights.h5");
    std::fs::write(&weights, b"this is not an HDF5 file").unwrap();
    let mut config = tiny_config(1);
    config.model.architecture = facebench::model::Architecture::Xception;
    config.model.weights = Some(weights.to_string_lossy().into_owned());
    config.data.input_size = 71;
    config.finetune.phase1_epochs = 1;
    let runs = tmp.path().join("runs");
    let handle = start_training(TrainRequest {
        config,
        data_root: data,
        runs_root: runs.clone(),
        resume: None,
    });
    let events: Vec<TrainEvent> = handle.events.iter().collect();
    handle.join();
    match events.last() {
        Some(TrainEvent::Failed { error }) => {
            assert!(error.contains("not-weights.h5"), "names the file: {error}");
        }
        other => panic!("the run must fail, got {other:?}"),
    }
    let left: Vec<_> = std::fs::read_dir(&runs)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no orphan run folder: {left:?}");
}

/// A dataset moved after its run stopped: resuming with the new folder (the
/// same files) works, and the run records where its data is now.
#[test]
fn a_run_resumes_on_its_dataset_moved_elsewhere() {
    let _serial = common::serial();
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 12, 48);
    let runs = tmp.path().join("runs");
    let handle = start_training(TrainRequest {
        config: tiny_config(2),
        data_root: data.clone(),
        runs_root: runs.clone(),
        resume: None,
    });
    let mut first = Vec::new();
    for ev in handle.events.iter() {
        if matches!(ev, TrainEvent::Epoch(_)) {
            handle.control.stop();
        }
        first.push(ev);
    }
    handle.join();
    let dir = common::run_dir(&first);
    let record = RunDir::new(&dir).read_record().unwrap();
    assert!(
        record.data_root.is_absolute(),
        "stored absolute: {:?}",
        record.data_root
    );
    let moved = tmp.path().join("moved-faces");
    std::fs::rename(&data, &moved).unwrap();
    let resume = |data_root: PathBuf| TrainRequest {
        config: RunConfig::default(),
        data_root,
        runs_root: runs.clone(),
        resume: Some(dir.clone()),
    };
    // without --data the old folder is gone: a clear error
    let handle = start_training(resume(PathBuf::new()));
    let lost: Vec<TrainEvent> = handle.events.iter().collect();
    handle.join();
    assert!(
        matches!(lost.last(), Some(TrainEvent::Failed { error }) if error.contains("does not exist")),
        "{:?}",
        lost.last()
    );
    let second = collect(resume(moved.clone()));
    assert!(second.iter().any(|e| matches!(
        e,
        TrainEvent::Finished {
            status: FinishStatus::Completed,
            ..
        }
    )));
    let record = RunDir::new(&dir).read_record().unwrap();
    assert_eq!(record.data_root, std::fs::canonicalize(&moved).unwrap());
    // and eval finds the data from any folder
    facebench::engine::evaluate_run(&RunDir::new(&dir), None, facebench::run::DeviceChoice::Cpu)
        .unwrap();
}

/// A checkpoint without checksums (as earlier versions wrote them) that no
/// longer loads is reported with the file and the cause, not burn's note about
/// a format change in its version 0.14.
#[test]
fn a_damaged_checkpoint_without_checksums_names_the_file() {
    let _serial = common::serial();
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 12, 48);
    let events = collect(TrainRequest {
        config: tiny_config(1),
        data_root: data,
        runs_root: tmp.path().join("runs"),
        resume: None,
    });
    let run = RunDir::new(common::run_dir(&events));
    let best = run.path.join("checkpoints/best");
    std::fs::remove_file(best.join("checksums.json")).unwrap();
    let weights = best.join("model.mpk");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = format!(
        "{:#}",
        facebench::engine::evaluate_run(&run, None, facebench::run::DeviceChoice::Cpu).unwrap_err()
    );
    assert!(err.contains("model.mpk"), "names the file: {err}");
    assert!(!err.contains("0.14"), "no note about burn 0.14: {err}");
}
