//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use facebench::data::demo::{generate_demo_dataset, DemoConfig};
use facebench::loader::AugmentConfig;
use facebench::model::ModelConfig;
use facebench::run::{RunConfig, SchedulerKind};

/// `../shared` beside the repository (or `$FACEBENCH_SHARED`). Panics with a clear
/// message when it is missing: these tests need the real face data.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("FACEBENCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("datasets").is_dir(),
        "this test needs the real face data in {} (../shared/datasets beside the repository, \
         or set FACEBENCH_SHARED); it is not in the repository",
        dir.display()
    );
    dir
}

pub fn orl40() -> PathBuf {
    shared_dir().join("datasets/orl40")
}

pub fn celeb23() -> PathBuf {
    shared_dir().join("datasets/celeb23")
}

/// A small demo dataset written into `dir`.
pub fn demo_dataset(dir: &Path, people: usize, images: usize, size: u32) -> PathBuf {
    let root = dir.join("demo");
    generate_demo_dataset(
        &root,
        &DemoConfig {
            people,
            images_per_person: images,
            size,
            seed: 7,
        },
    )
    .expect("demo dataset");
    root
}

/// Point the statistics cache at one temp folder for this test process, so tests
/// never read or write the user's cache.
pub fn isolate_cache() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("temp dir");
        std::env::set_var("FACEBENCH_CACHE_DIR", d.path());
        d
    });
    dir.path()
}

/// A tiny ResNet at 64 px that trains in seconds.
pub fn tiny_config(epochs: usize) -> RunConfig {
    let mut c = RunConfig::default();
    c.model = ModelConfig {
        depths: [1, 1, 1, 1],
        base_planes: 8,
        ..ModelConfig::default()
    };
    c.data.input_size = 64;
    c.data.augment = AugmentConfig {
        crop_scale: [0.6, 1.0],
        ..AugmentConfig::default()
    };
    c.optimizer.lr = 3e-3;
    c.scheduler.kind = SchedulerKind::None;
    c.train.epochs = epochs;
    c.train.batch_size = 16;
    c.device = facebench::run::DeviceChoice::Cpu;
    c
}

/// Run the facebench binary in `cwd`: whether it succeeded, and its stdout
/// then stderr.
pub fn facebench(args: &[&str], cwd: &Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_facebench"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the facebench binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A demo dataset (4 people x 20 faces at 48 px) in `dir` and a tiny ResNet
/// trained on it for `epochs` (and evaluated): the run folder.
pub fn train_tiny(dir: &Path, epochs: usize) -> PathBuf {
    isolate_cache();
    let data = demo_dataset(dir, 4, 20, 48);
    facebench::engine::train_blocking(
        facebench::engine::TrainRequest {
            config: tiny_config(epochs),
            data_root: data,
            runs_root: dir.join("runs"),
            resume: None,
        },
        |_| {},
    )
    .expect("tiny run")
}

/// `--set` arguments for a tiny ResNet at 64 px that trains in seconds from
/// the CLI (the same network as `tiny_config`, batch 4).
pub fn tiny_cli_sets(epochs: usize) -> Vec<String> {
    [
        "model.depths=[1,1,1,1]".to_string(),
        "model.base_planes=8".into(),
        "data.input_size=64".into(),
        "train.batch_size=4".into(),
        format!("train.epochs={epochs}"),
    ]
    .into_iter()
    .flat_map(|s| ["--set".to_string(), s])
    .collect()
}

/// The iteration numbers of the `Iteration` events, in order.
pub fn iteration_numbers(events: &[facebench::run::TrainEvent]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            facebench::run::TrainEvent::Iteration { iteration, .. } => Some(*iteration),
            _ => None,
        })
        .collect()
}

/// The run folder of the `Started` event (its events say which failure
/// when there is none).
pub fn run_dir(events: &[facebench::run::TrainEvent]) -> PathBuf {
    events
        .iter()
        .find_map(|e| match e {
            facebench::run::TrainEvent::Started { run_dir, .. } => Some(run_dir.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Started event: {events:?}"))
}

/// Where the last `last` checkpoint of `events` stands: epochs completed and,
/// for a run stopped mid-epoch, the batch it reached.
pub fn last_checkpoint(events: &[facebench::run::TrainEvent]) -> Option<(usize, Option<usize>)> {
    events.iter().rev().find_map(|e| match e {
        facebench::run::TrainEvent::Checkpoint {
            kind: facebench::run::CheckpointKind::Last,
            epoch,
            batch,
            ..
        } => Some((*epoch, *batch)),
        _ => None,
    })
}

/// Batches per epoch, as the first `Iteration` event reports them.
pub fn batches_per_epoch(events: &[facebench::run::TrainEvent]) -> Option<usize> {
    events.iter().find_map(|e| match e {
        facebench::run::TrainEvent::Iteration { batches, .. } => Some(*batches),
        _ => None,
    })
}

/// The epoch numbers of the `Epoch` events, in order.
pub fn epoch_numbers(events: &[facebench::run::TrainEvent]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            facebench::run::TrainEvent::Epoch(m) => Some(m.epoch),
            _ => None,
        })
        .collect()
}

/// Peak resident memory of this process so far (VmHWM), in bytes (Linux).
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Serialises the tests of one test binary that train or draw random
/// tensors: burn-flex's random generator is one per process, so a test that
/// seeds it and then draws (model init, dropout, random inputs) can have
/// another test's draws or seeding land in between when they run in parallel.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The queue of `runs` with one tiny run on `data` left "running" by a
/// process that is gone (a crash, a closed window).
#[allow(dead_code)]
pub fn queue_interrupted_run(runs: &Path, data: PathBuf) -> facebench::store::QueueFile {
    use facebench::store::{ItemState, QueueFile};
    let file = QueueFile::of(runs);
    file.update(|q| {
        let id = q.push(tiny_config(1), data, None);
        q.set_state(
            id,
            ItemState::Running {
                pid: u32::MAX,
                run: None,
            },
        );
    })
    .unwrap();
    file
}

/// The name of the folder that holds `path`.
pub fn folder_of(path: &Path) -> &str {
    path.parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .expect("a file in a named folder")
}

/// The whole window in a kittest harness of `size` points. Form fields are
/// labelled by the row label beside them, which AccessKit does not link, so
/// the unlabelled-widget check is off.
pub fn app_harness<'a>(
    app: facebench::gui::WorkbenchApp,
    size: [f32; 2],
) -> egui_kittest::Harness<'a, facebench::gui::WorkbenchApp> {
    egui_kittest::Harness::builder()
        .with_size(size)
        .with_accessibility_check(false)
        .build_ui_state(
            |ui, app: &mut facebench::gui::WorkbenchApp| {
                app.logic(ui.ctx());
                app.frame_ui(ui)
            },
            app,
        )
}
