//! The run queue: a sweep from the CLI makes one ordinary run per grid point
//! and seed; a failed item is marked and the queue moves on; a run stopped
//! or left running by a worker that died resumes from its checkpoint in its
//! own folder; only one process trains a queue.

mod common;

use facebench::engine::{run_queue, QueueEvent, TrainControl};
use facebench::run::{FinishStatus, TrainEvent};
use facebench::store::{ItemState, QueueFile, QueueScope, RunDir, RunStore};

#[test]
fn a_cli_sweep_trains_one_run_per_point_and_seed() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 8, 48);
    let mut args: Vec<String> = vec!["sweep".into(), "--data".into(), data.display().to_string()];
    args.extend(common::tiny_cli_sets(1));
    args.extend(
        [
            "--grid",
            "optimizer.lr=3e-3,1e-3",
            "--seeds",
            "2",
            "--name",
            "lrs",
            "--runs",
            "runs",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, text) = common::facebench(&args, tmp.path());
    assert!(ok, "{text}");
    assert!(text.contains("4 runs queued"), "{text}");
    assert!(text.contains("4 queued runs ended (0 failed)"), "{text}");
    let queue = QueueFile::of(&tmp.path().join("runs")).read().unwrap();
    assert_eq!(queue.items.len(), 4);
    let mut seeds_and_rates = Vec::new();
    for item in &queue.items {
        let ItemState::Done { run } = &item.state else {
            panic!("{:?}", item.state);
        };
        let record = RunDir::new(run).read_record().unwrap();
        assert!(RunDir::new(run).read_eval().unwrap().is_some(), "evaluated");
        let tag = item.sweep.as_ref().unwrap();
        assert_eq!(tag.sweep, "lrs");
        seeds_and_rates.push((
            record.config.train.seed,
            record.config.optimizer.lr,
            tag.point.clone(),
        ));
    }
    assert_eq!(
        seeds_and_rates,
        vec![
            (42, 3e-3, "optimizer.lr=3e-3".to_string()),
            (43, 3e-3, "optimizer.lr=3e-3".to_string()),
            (42, 1e-3, "optimizer.lr=1e-3".to_string()),
            (43, 1e-3, "optimizer.lr=1e-3".to_string()),
        ]
    );
    // the listing shows them, and a finished run cannot be cancelled
    let (ok, text) = common::facebench(&["queue", "--runs", "runs"], tmp.path());
    assert!(ok && text.matches(" done ").count() == 4, "{text}");
    let (ok, text) = common::facebench(&["queue", "cancel", "0", "--runs", "runs"], tmp.path());
    assert!(!ok && text.contains("not a waiting run"), "{text}");
}

#[test]
fn a_failure_is_marked_and_a_stopped_or_orphaned_run_resumes_in_its_folder() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 8, 48);
    let runs = tmp.path().join("runs");
    let file = QueueFile::of(&runs);
    let (bad, good) = file
        .update(|q| {
            let bad = q.push(
                common::tiny_config(1),
                tmp.path().join("no-such-folder"),
                None,
            );
            let good = q.push(common::tiny_config(3), data.clone(), None);
            (bad, good)
        })
        .unwrap();

    // stop the good run after its first epoch
    let control = TrainControl::default();
    let stopper = control.clone();
    run_queue(&runs, QueueScope::All, &control, &mut |e| {
        if let QueueEvent::Train(TrainEvent::Epoch(m)) = e {
            if m.epoch == 1 {
                stopper.stop();
            }
        }
    })
    .unwrap();
    let queue = file.read().unwrap();
    let ItemState::Failed { reason, .. } = &queue.get(bad).unwrap().state else {
        panic!("{:?}", queue.get(bad).unwrap().state);
    };
    assert!(reason.contains("no-such-folder"), "{reason}");
    let ItemState::Stopped { run } = queue.get(good).unwrap().state.clone() else {
        panic!("{:?}", queue.get(good).unwrap().state);
    };

    // as if the worker resuming it had crashed: still "running", by a
    // process that is gone
    file.update(|q| {
        q.get_mut(good).unwrap().state = ItemState::Running {
            pid: u32::MAX,
            run: Some(run.clone()),
        }
    })
    .unwrap();
    // only one process trains a queue
    let held = file.try_worker_lock().unwrap().expect("free");
    let e = run_queue(
        &runs,
        QueueScope::All,
        &TrainControl::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("another facebench process"), "{e}");
    drop(held);

    let mut finished = None;
    let mut resumed_from = None;
    run_queue(
        &runs,
        QueueScope::All,
        &TrainControl::default(),
        &mut |e| match e {
            QueueEvent::Started { resume, .. } => resumed_from = resume,
            QueueEvent::Train(TrainEvent::Finished {
                status,
                epochs_completed,
                ..
            }) => finished = Some((status, epochs_completed)),
            _ => {}
        },
    )
    .unwrap();
    assert_eq!(resumed_from.as_deref(), Some(run.as_path()));
    assert_eq!(finished, Some((FinishStatus::Completed, 3)));
    let queue = file.read().unwrap();
    assert_eq!(
        queue.get(good).unwrap().state,
        ItemState::Done { run: run.clone() }
    );
    // one run folder: the resumed run went on in its own
    assert_eq!(RunStore::new(&runs).list().unwrap().len(), 1);
}
