//! The run-config form: every field of the run config with ranges, units and
//! tooltips; an invalid value turns its label red with the reason under it.

use super::finetune_form::{head_fields_ui, phase_fields_ui};
use super::form_rows::{
    combo, combo_row, count_value, field_row, fine_value, problem_for, range_of, rate_value, row,
};
use egui::{RichText, Ui};

use crate::loader::Normalization;
use crate::model::Architecture;
use crate::run::{
    ConfigProblem, DeviceChoice, Field, Monitor, OptimizerKind, RunConfig, SchedulerKind,
};

/// What the form asks of the app besides its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormAction {
    #[default]
    None,
    /// *Find LR*: sweep the learning rate on this config.
    FindLr,
    /// Show the last sweep again.
    ShowLastSweep,
}

/// The form; `last_sweep` says whether a learning-rate sweep is remembered.
pub fn config_form_ui(
    ui: &mut Ui,
    c: &mut RunConfig,
    problems: &[ConfigProblem],
    last_sweep: bool,
) -> FormAction {
    let mut find_lr = FormAction::None;
    egui::CollapsingHeader::new("Architecture")
        .default_open(true)
        .show(ui, |ui| architecture_ui(ui, c, problems));
    egui::CollapsingHeader::new("Data")
        .default_open(true)
        .show(ui, |ui| data_ui(ui, c, problems));
    egui::CollapsingHeader::new("Augmentation")
        .default_open(false)
        .show(ui, |ui| augmentation_ui(ui, c, problems));
    egui::CollapsingHeader::new("Optimisation")
        .default_open(true)
        .show(ui, |ui| {
            find_lr = optimisation_ui(ui, c, problems, last_sweep)
        });
    if c.model.architecture.is_transfer() {
        egui::CollapsingHeader::new("Fine-tuning phases")
            .default_open(true)
            .show(ui, |ui| phase_fields_ui(ui, c, problems));
    }
    egui::CollapsingHeader::new("Schedule and stopping")
        .default_open(false)
        .show(ui, |ui| schedule_and_stopping_ui(ui, c, problems));
    find_lr
}

/// The "Architecture" section of the form.
fn architecture_ui(ui: &mut Ui, c: &mut RunConfig, problems: &[ConfigProblem]) {
    let options: Vec<(Architecture, &str)> =
        Architecture::ALL.iter().map(|a| (*a, a.name())).collect();
    combo_row(
        ui,
        ("architecture", "Networks the engine can train"),
        &mut c.model.architecture,
        &options,
    );
    if c.model.architecture.is_transfer() {
        head_fields_ui(ui, c, problems);
    } else {
        field_row(ui, &[Field::ModelDepths], problems, |ui, range| {
            for d in &mut c.model.depths {
                ui.add(count_value(d, range.clone()));
            }
        });
        field_row(ui, &[Field::ModelBasePlanes], problems, |ui, range| {
            ui.add(count_value(&mut c.model.base_planes, range));
        });
    }
    ui.label(RichText::new(c.model.display_name()).weak());
}

/// The "Data" section of the form.
fn data_ui(ui: &mut Ui, c: &mut RunConfig, problems: &[ConfigProblem]) {
    field_row(ui, &[Field::DataInputSize], problems, |ui, range| {
        ui.add(count_value(&mut c.data.input_size, range).suffix(" px"));
    });
    combo_row(
        ui,
        (
            "normalisation",
            "dataset mean/std (ResNet), Keras tf [-1,1] (Xception), ImageNet torch (DenseNet)",
        ),
        &mut c.data.normalization,
        &[
            (Normalization::DatasetMeanStd, "dataset mean/std"),
            (Normalization::KerasTf, "keras tf [-1, 1]"),
            (Normalization::TorchImagenet, "ImageNet (torch)"),
        ],
    );
    let split = problem_for(problems, &[Field::DataSplit]);
    row(
        ui,
        "val / test split",
        "Fractions per person for folders without train/ val/ test/",
        split,
        |ui| {
            ui.add(fine_value(&mut c.data.split.val_fraction, 0.0..=0.9));
            ui.add(fine_value(&mut c.data.split.test_fraction, 0.0..=0.9));
        },
    );
    row(ui, "split seed", "Same seed, same split", None, |ui| {
        ui.add(egui::DragValue::new(&mut c.data.split.seed));
    });
    field_row(ui, &[Field::DataPrefetchBatches], problems, |ui, range| {
        ui.add(count_value(&mut c.data.prefetch_batches, range).suffix(" batches"));
    });
}

/// The "Augmentation" section of the form.
fn augmentation_ui(ui: &mut Ui, c: &mut RunConfig, problems: &[ConfigProblem]) {
    let a = &mut c.data.augment;
    field_row(ui, &[Field::DataAugmentCropScale], problems, |ui, range| {
        ui.checkbox(&mut a.random_resized_crop, "");
        ui.add(fine_value(&mut a.crop_scale[0], range.clone()));
        ui.add(fine_value(&mut a.crop_scale[1], range));
    });
    field_row(ui, &[Field::DataAugmentCropRatio], problems, |ui, range| {
        ui.add(fine_value(&mut a.crop_ratio[0], range.clone()));
        ui.add(fine_value(&mut a.crop_ratio[1], range));
    });
    field_row(
        ui,
        &[Field::DataAugmentRandomCropFraction],
        problems,
        |ui, range| {
            ui.checkbox(&mut a.random_crop, "");
            ui.add(fine_value(&mut a.random_crop_fraction, range));
        },
    );
    row(
        ui,
        "flips",
        "Horizontal / vertical, each with probability 1/2",
        None,
        |ui| {
            ui.checkbox(&mut a.horizontal_flip, "h");
            ui.checkbox(&mut a.vertical_flip, "v");
        },
    );
    let jitter = [
        Field::DataAugmentBrightness,
        Field::DataAugmentContrast,
        Field::DataAugmentSaturation,
    ];
    field_row(ui, &jitter, problems, |ui, range| {
        ui.add(fine_value(&mut a.brightness, range.clone()));
        ui.add(fine_value(&mut a.contrast, range.clone()));
        ui.add(fine_value(&mut a.saturation, range));
    });
}

/// The "Optimisation" section of the form, with *Find LR* by the rate.
fn optimisation_ui(
    ui: &mut Ui,
    c: &mut RunConfig,
    problems: &[ConfigProblem],
    last_sweep: bool,
) -> FormAction {
    let mut find_lr = FormAction::None;
    let o = &mut c.optimizer;
    combo_row(
        ui,
        (
            "optimizer",
            "AdamW (decoupled decay), Adam or SGD with momentum",
        ),
        &mut o.kind,
        &[
            (OptimizerKind::Adamw, "AdamW"),
            (OptimizerKind::Adam, "Adam"),
            (OptimizerKind::Sgd, "SGD"),
        ],
    );
    field_row(ui, &[Field::OptimizerLr], problems, |ui, range| {
        ui.add(rate_value(&mut o.lr, range, 1e-4));
        if ui
            .small_button("Find LR")
            .on_hover_text(
                "Sweep the learning rate from 1e-7 to 10 on this config and data (no run is created)",
            )
            .clicked()
        {
            find_lr = FormAction::FindLr;
        }
        if last_sweep && ui.small_button("last sweep").clicked() {
            find_lr = FormAction::ShowLastSweep;
        }
    });
    field_row(ui, &[Field::OptimizerWeightDecay], problems, |ui, range| {
        ui.add(rate_value(&mut o.weight_decay, range, 1e-5));
    });
    if o.kind == OptimizerKind::Sgd {
        field_row(ui, &[Field::OptimizerMomentum], problems, |ui, range| {
            ui.add(count_value(&mut o.momentum, range).speed(0.01));
            ui.checkbox(&mut o.nesterov, "Nesterov");
        });
    }
    let t = &mut c.train;
    field_row(ui, &[Field::TrainEpochs], problems, |ui, range| {
        ui.add(count_value(&mut t.epochs, range));
    });
    field_row(ui, &[Field::TrainBatchSize], problems, |ui, range| {
        ui.add(count_value(&mut t.batch_size, range));
    });
    row(
        ui,
        "seed",
        "Seeds weights, shuffling and augmentation",
        None,
        |ui| {
            ui.add(egui::DragValue::new(&mut t.seed));
        },
    );
    find_lr
}

/// The "Schedule and stopping" section of the form.
fn schedule_and_stopping_ui(ui: &mut Ui, c: &mut RunConfig, problems: &[ConfigProblem]) {
    let s = &mut c.scheduler;
    combo_row(
        ui,
        ("LR schedule", "StepLR or ReduceLROnPlateau"),
        &mut s.kind,
        &[
            (SchedulerKind::None, "constant"),
            (SchedulerKind::Step, "StepLR"),
            (SchedulerKind::Plateau, "on plateau"),
        ],
    );
    match s.kind {
        SchedulerKind::Step => field_row(
            ui,
            &[Field::SchedulerStepSize, Field::SchedulerGamma],
            problems,
            |ui, steps| {
                ui.add(count_value(&mut s.step_size, steps).suffix(" ep"));
                let gamma = range_of(Field::SchedulerGamma);
                ui.add(count_value(&mut s.gamma, gamma).speed(0.01));
            },
        ),
        SchedulerKind::Plateau => {
            field_row(ui, &[Field::SchedulerFactor], problems, |ui, factor| {
                ui.add(count_value(&mut s.factor, factor).speed(0.01));
                ui.add(
                    egui::DragValue::new(&mut s.patience)
                        .range(0..=100)
                        .suffix(" ep"),
                );
            });
            field_row(ui, &[Field::SchedulerMinLr], problems, |ui, min_lr| {
                ui.add(
                    count_value(&mut s.min_lr, min_lr)
                        .speed(1e-7)
                        .custom_formatter(|v, _| format!("{v:.0e}")),
                );
                combo(
                    ui,
                    "monitor",
                    &mut s.monitor,
                    &[
                        (Monitor::ValLoss, "val loss"),
                        (Monitor::ValAccuracy, "val acc"),
                    ],
                );
            });
        }
        SchedulerKind::None => {}
    }
    let e = &mut c.early_stopping;
    field_row(
        ui,
        &[Field::EarlyStoppingPatience],
        problems,
        |ui, patience| {
            ui.checkbox(&mut e.enabled, "");
            ui.add_enabled(
                e.enabled,
                count_value(&mut e.patience, patience).suffix(" ep"),
            );
        },
    );
    row(
        ui,
        "restore best",
        "Evaluate the best epoch's weights at the end",
        None,
        |ui| {
            ui.checkbox(&mut e.restore_best, "");
        },
    );
    row(
        ui,
        "device",
        "auto (CUDA when this build has it and a driver loads), cpu, or a CUDA GPU",
        None,
        |ui| device_ui(ui, &mut c.device),
    );
}

/// The device picker: auto, cpu, or cuda with the GPU's index.
fn device_ui(ui: &mut Ui, device: &mut DeviceChoice) {
    egui::ComboBox::from_id_salt("device")
        .selected_text(match *device {
            DeviceChoice::Cuda(_) => "cuda".to_string(),
            other => other.to_string(),
        })
        .show_ui(ui, |ui| {
            ui.selectable_value(device, DeviceChoice::Auto, "auto");
            ui.selectable_value(device, DeviceChoice::Cpu, "cpu");
            let cuda = matches!(device, DeviceChoice::Cuda(_));
            if ui.selectable_label(cuda, "cuda").clicked() && !cuda {
                *device = DeviceChoice::Cuda(0);
            }
        });
    if let DeviceChoice::Cuda(index) = device {
        ui.add(egui::DragValue::new(index).range(0..=63).prefix("GPU "));
    }
}
