//! Two-phase fine-tuning through the engine: pretrained weights load, phase 1
//! trains the head on a frozen base, phase 2 unfreezes all but the first Keras
//! layers, and the phase changes are events.

mod common;

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::prelude::*;
use facebench::engine::{find_checkpoint, load_model, start_training, TrainRequest};
use facebench::loader::{AugmentConfig, Normalization};
use facebench::model::{Architecture, DenseNet, Network};
use facebench::run::{CheckpointKind, RunConfig, SchedulerKind, TrainEvent};
use facebench::store::RunDir;
use facebench::weights::{import_into, WeightFile};

fn densenet_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/transfer/densenet121_random_notop.h5.gz")
}

fn values<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

#[test]
fn densenet_fine_tunes_in_two_phases_from_an_h5_file() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 12, 64);
    let mut config = RunConfig::default();
    config.model.architecture = Architecture::Densenet121;
    config.model.weights = Some(densenet_fixture().display().to_string());
    config.data.input_size = 64;
    config.data.normalization = Normalization::TorchImagenet;
    config.data.augment = AugmentConfig::none();
    config.scheduler.kind = SchedulerKind::None;
    config.train.epochs = 2;
    config.train.batch_size = 8;
    config.finetune.phase1_epochs = 1;
    config.finetune.phase2_lr = 1e-3;
    config.finetune.phase2_frozen_layers = 100;
    config.early_stopping.restore_best = false;
    config.device = facebench::run::DeviceChoice::Cpu;

    let handle = start_training(TrainRequest {
        config: config.clone(),
        data_root: data,
        runs_root: tmp.path().join("runs"),
        resume: None,
    });
    let events: Vec<TrainEvent> = handle.events.iter().collect();
    handle.join();
    if let Some(TrainEvent::Failed { error }) = events.last() {
        panic!("training failed: {error}");
    }

    let loaded = events.iter().find_map(|e| match e {
        TrainEvent::WeightsLoaded { tensors, .. } => Some(*tensors),
        _ => None,
    });
    assert_eq!(loaded, Some(604), "all DenseNet base tensors load");
    let phases: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::PhaseChanged { epoch, phase, .. } => Some((*epoch, *phase)),
            _ => None,
        })
        .collect();
    assert_eq!(phases, [(1, 1), (2, 2)]);
    let epoch_phases: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Epoch(m) => Some(m.phase),
            _ => None,
        })
        .collect();
    assert_eq!(epoch_phases, [1, 2]);

    // compare the final weights with the file's
    let run_dir = events
        .iter()
        .find_map(|e| match e {
            TrainEvent::Started { run_dir, .. } => Some(run_dir.clone()),
            _ => None,
        })
        .unwrap();
    let device = Default::default();
    let dir = find_checkpoint(&RunDir::new(run_dir), CheckpointKind::Last).unwrap();
    let trained = load_model(&dir, config.model.init::<Flex>(4, &device), &device).unwrap();
    let Network::Densenet121(trained) = trained else {
        panic!("a DenseNet run")
    };
    let mut reference = DenseNet::<Flex>::densenet121(&device);
    import_into(
        &mut reference,
        Architecture::Densenet121,
        &WeightFile::read(&densenet_fixture()).unwrap(),
    )
    .unwrap();
    let base = &trained.base;
    // among Keras' first 100 layers: frozen in both phases
    assert_eq!(
        values(base.conv0.weight.val()),
        values(reference.conv0.weight.val())
    );
    assert_eq!(
        values(base.blocks[1].layers[6].conv1.weight.val()),
        values(reference.blocks[1].layers[6].conv1.weight.val())
    );
    // batch norms keep their ImageNet statistics in both phases (the default)
    assert_eq!(
        values(base.norm5.running_var.value()),
        values(reference.norm5.running_var.value())
    );
    // after layer 100: trained in phase 2
    assert_ne!(
        values(base.blocks[1].layers[6].conv2.weight.val()),
        values(reference.blocks[1].layers[6].conv2.weight.val())
    );
    assert_ne!(
        values(base.blocks[3].layers[15].conv2.weight.val()),
        values(reference.blocks[3].layers[15].conv2.weight.val())
    );
}

#[test]
fn a_run_stopped_in_phase_2_resumes_in_phase_2() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 10, 64);
    let mut config = RunConfig::default();
    config.model.architecture = Architecture::Densenet121;
    config.data.input_size = 64;
    config.data.augment = AugmentConfig::none();
    config.scheduler.kind = SchedulerKind::None;
    config.train.epochs = 3;
    config.train.batch_size = 8;
    config.finetune.phase1_epochs = 1;
    config.device = facebench::run::DeviceChoice::Cpu;
    let runs = tmp.path().join("runs");
    let handle = start_training(TrainRequest {
        config,
        data_root: data,
        runs_root: runs.clone(),
        resume: None,
    });
    let mut run_dir = None;
    for event in handle.events.iter() {
        match event {
            TrainEvent::Started { run_dir: d, .. } => run_dir = Some(d),
            TrainEvent::PhaseChanged { phase: 2, .. } => handle.control.stop(),
            TrainEvent::Failed { error } => panic!("{error}"),
            _ => {}
        }
    }
    handle.join();
    let run_dir = run_dir.unwrap();

    let handle = start_training(TrainRequest {
        config: RunConfig::default(), // ignored: the run's own config is used
        data_root: PathBuf::new(),
        runs_root: runs,
        resume: Some(run_dir),
    });
    let events: Vec<TrainEvent> = handle.events.iter().collect();
    handle.join();
    if let Some(TrainEvent::Failed { error }) = events.last() {
        panic!("resume failed: {error}");
    }
    let epochs: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Epoch(m) => Some((m.epoch, m.phase)),
            _ => None,
        })
        .collect();
    assert_eq!(epochs, [(2, 2), (3, 2)], "resumed epochs and their phase");
}

#[test]
fn a_missing_weight_file_fails_with_where_it_looked() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 6, 64);
    let mut config = RunConfig::default();
    config.model.architecture = Architecture::Xception;
    config.model.weights = Some("no_such_weights.h5".into());
    config.data.input_size = 72;
    config.device = facebench::run::DeviceChoice::Cpu;
    let handle = start_training(TrainRequest {
        config,
        data_root: data,
        runs_root: tmp.path().join("runs"),
        resume: None,
    });
    let events: Vec<TrainEvent> = handle.events.iter().collect();
    handle.join();
    let Some(TrainEvent::Failed { error }) = events.last() else {
        panic!("expected a failure, got {events:?}");
    };
    assert!(error.contains("no_such_weights.h5"), "{error}");
    assert!(error.contains("FACEBENCH_WEIGHTS_DIR"), "{error}");
}

#[test]
fn xception_refuses_inputs_below_71_px() {
    let mut config = RunConfig::default();
    config.model.architecture = Architecture::Xception;
    config.data.input_size = 64;
    let problems = config.problems();
    assert!(
        problems
            .iter()
            .any(|p| p.field == facebench::run::Field::DataInputSize && p.message.contains("71")),
        "{problems:?}"
    );
}
