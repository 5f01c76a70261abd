//! The shipped presets load, say what the reference run did, and the tiny CPU
//! preset really learns the ORL faces.

mod common;

use std::path::Path;

use facebench::engine::{train_blocking, TrainRequest};
use facebench::loader::Normalization;
use facebench::run::{OptimizerKind, RunConfig, SchedulerKind, TrainEvent};

fn preset(name: &str) -> RunConfig {
    RunConfig::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("presets")
            .join(name),
    )
    .unwrap()
}

#[test]
fn every_preset_loads_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let c = RunConfig::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            assert!(c.problems().is_empty());
            n += 1;
        }
    }
    assert!(n >= 2);
}

#[test]
fn finetune_presets_reproduce_the_reference_runs() {
    use facebench::model::Architecture;
    for (file, arch, size, norm, dropout, frozen) in [
        (
            "xception-finetune.json",
            Architecture::Xception,
            299,
            Normalization::KerasTf,
            0.3,
            0,
        ),
        (
            "densenet121-finetune.json",
            Architecture::Densenet121,
            224,
            Normalization::TorchImagenet,
            0.5,
            100,
        ),
    ] {
        let c = preset(file);
        assert_eq!(c.model.architecture, arch, "{file}");
        assert!(c
            .model
            .weights
            .as_deref()
            .is_some_and(|w| w.ends_with("_notop.h5")));
        assert_eq!(c.data.input_size, size, "{file}");
        assert_eq!(c.data.normalization, norm, "{file}");
        assert_eq!((c.model.head.dense1, c.model.head.dense2), (1024, 512));
        assert_eq!(c.model.head.dropout, dropout, "{file}");
        assert_eq!(c.model.head.l2, 1e-4);
        assert_eq!(c.optimizer.lr, 1e-3);
        assert_eq!(c.finetune.phase2_lr, 1e-5);
        assert!(c.finetune.phase2_weight_decay > 0.0);
        assert_eq!(c.finetune.phase2_frozen_layers, frozen, "{file}");
        assert_eq!(c.scheduler.kind, SchedulerKind::Plateau);
        assert_eq!(
            (c.scheduler.factor, c.scheduler.patience, c.scheduler.min_lr),
            (0.2, 3, 1e-6)
        );
        assert!(c.early_stopping.enabled && c.early_stopping.restore_best);
        assert_eq!(c.early_stopping.patience, 5);
    }
}

#[test]
fn resnet50_preset_reproduces_the_reference_run() {
    let c = preset("resnet50-scratch.json");
    assert_eq!(c.model.depths, [3, 4, 6, 3]);
    assert_eq!(c.model.base_planes, 64);
    assert_eq!(c.data.input_size, 224);
    assert_eq!(c.train.batch_size, 64);
    assert_eq!(c.train.epochs, 20);
    assert_eq!(c.optimizer.kind, OptimizerKind::Adamw);
    assert_eq!((c.optimizer.lr, c.optimizer.weight_decay), (1e-3, 1e-4));
    assert_eq!(
        (c.scheduler.kind, c.scheduler.step_size, c.scheduler.gamma),
        (SchedulerKind::Step, 10, 0.1)
    );
    assert_eq!(c.data.normalization, Normalization::DatasetMeanStd);
    let a = &c.data.augment;
    assert!(a.random_resized_crop && a.horizontal_flip && !a.vertical_flip);
    assert_eq!(a.crop_scale, [0.08, 1.0]);
}

#[test]
fn tiny_cpu_preset_reaches_half_the_orl_faces() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let mut test_accuracy = None;
    train_blocking(
        TrainRequest {
            config: RunConfig {
                device: facebench::run::DeviceChoice::Cpu,
                ..preset("resnet-tiny-cpu.json")
            },
            data_root: common::orl40(),
            runs_root: tmp.path().join("runs"),
            resume: None,
        },
        |e| {
            if let TrainEvent::Finished {
                test_accuracy: t, ..
            } = e
            {
                test_accuracy = *t;
            }
        },
    )
    .unwrap();
    let acc = test_accuracy.expect("a test accuracy");
    // 40 people: chance is 2.5%
    assert!(acc >= 0.5, "test accuracy {acc:.3} on orl40");
}

#[test]
fn a_preset_that_is_not_an_object_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (text, what) in [
        ("[]", "the preset"),
        ("{\"optimizer\": []}", "'optimizer'"),
        ("{\"data\": {\"augment\": [1, 2]}}", "'data.augment'"),
    ] {
        let path = tmp.path().join("bad.json");
        std::fs::write(&path, text).unwrap();
        let err = format!("{:#}", facebench::run::RunConfig::load(&path).unwrap_err());
        assert!(
            err.contains("bad.json") && err.contains(what) && err.contains("JSON object"),
            "{text}: {err}"
        );
    }
}
