//! The run-config form: every field of the run config with ranges, units and
//! tooltips; an invalid value turns its label red with the reason under it.

use super::finetune_form::{head_fields_ui, phase_fields_ui};
use super::form_rows::{
    combo, combo_row, count_value, fine_value, range_of, rate_value, row, Checked,
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
    let checked = Checked(problems);
    let mut action = FormAction::None;
    section_ui(ui, "Architecture", true, |ui| {
        architecture_ui(ui, c, checked)
    });
    section_ui(ui, "Data", true, |ui| data_ui(ui, c, checked));
    section_ui(ui, "Augmentation", false, |ui| {
        augmentation_ui(ui, c, checked)
    });
    section_ui(ui, "Optimisation", true, |ui| {
        action = optimisation_ui(ui, c, checked, last_sweep);
    });
    if c.model.architecture.is_transfer() {
        section_ui(ui, "Fine-tuning phases", true, |ui| {
            phase_fields_ui(ui, c, checked);
        });
    }
    section_ui(ui, "Schedule and stopping", false, |ui| {
        schedule_and_stopping_ui(ui, c, checked);
    });
    action
}

/// One collapsible section of the form.
fn section_ui(ui: &mut Ui, title: &str, open: bool, add: impl FnOnce(&mut Ui)) {
    egui::CollapsingHeader::new(title)
        .default_open(open)
        .show(ui, add);
}

/// The "Architecture" section of the form.
fn architecture_ui(ui: &mut Ui, c: &mut RunConfig, checked: Checked) {
    let options: Vec<(Architecture, &str)> =
        Architecture::ALL.iter().map(|a| (*a, a.name())).collect();
    combo_row(
        ui,
        ("architecture", "Networks the engine can train"),
        &mut c.model.architecture,
        &options,
    );
    if c.model.architecture.is_transfer() {
        head_fields_ui(ui, c, checked);
    } else {
        checked.field_row(ui, &[Field::ModelDepths], |ui, range| {
            for d in &mut c.model.depths {
                ui.add(count_value(d, range.clone()));
            }
        });
        checked.field_row(ui, &[Field::ModelBasePlanes], |ui, range| {
            ui.add(count_value(&mut c.model.base_planes, range));
        });
    }
    ui.label(RichText::new(c.model.display_name()).weak());
}

/// The "Data" section of the form.
fn data_ui(ui: &mut Ui, c: &mut RunConfig, checked: Checked) {
    checked.field_row(ui, &[Field::DataInputSize], |ui, range| {
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
    let split = checked.problem(&[Field::DataSplit]);
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
    checked.field_row(ui, &[Field::DataPrefetchBatches], |ui, range| {
        ui.add(count_value(&mut c.data.prefetch_batches, range).suffix(" batches"));
    });
}

/// The "Augmentation" section of the form.
fn augmentation_ui(ui: &mut Ui, c: &mut RunConfig, checked: Checked) {
    let a = &mut c.data.augment;
    checked.field_row(ui, &[Field::DataAugmentCropScale], |ui, range| {
        ui.checkbox(&mut a.random_resized_crop, "");
        ui.add(fine_value(&mut a.crop_scale[0], range.clone()));
        ui.add(fine_value(&mut a.crop_scale[1], range));
    });
    checked.field_row(ui, &[Field::DataAugmentCropRatio], |ui, range| {
        ui.add(fine_value(&mut a.crop_ratio[0], range.clone()));
        ui.add(fine_value(&mut a.crop_ratio[1], range));
    });
    checked.field_row(ui, &[Field::DataAugmentRandomCropFraction], |ui, range| {
        ui.checkbox(&mut a.random_crop, "");
        ui.add(fine_value(&mut a.random_crop_fraction, range));
    });
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
    checked.field_row(ui, &jitter, |ui, range| {
        ui.add(fine_value(&mut a.brightness, range.clone()));
        ui.add(fine_value(&mut a.contrast, range.clone()));
        ui.add(fine_value(&mut a.saturation, range));
    });
}

/// The "Optimisation" section of the form, with *Find LR* by the rate.
fn optimisation_ui(
    ui: &mut Ui,
    c: &mut RunConfig,
    checked: Checked,
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
    checked.field_row(ui, &[Field::OptimizerLr], |ui, range| {
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
    checked.field_row(ui, &[Field::OptimizerWeightDecay], |ui, range| {
        ui.add(rate_value(&mut o.weight_decay, range, 1e-5));
    });
    if o.kind == OptimizerKind::Sgd {
        checked.field_row(ui, &[Field::OptimizerMomentum], |ui, range| {
            ui.add(count_value(&mut o.momentum, range).speed(0.01));
            ui.checkbox(&mut o.nesterov, "Nesterov");
        });
    }
    let t = &mut c.train;
    checked.field_row(ui, &[Field::TrainEpochs], |ui, range| {
        ui.add(count_value(&mut t.epochs, range));
    });
    checked.field_row(ui, &[Field::TrainBatchSize], |ui, range| {
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
fn schedule_and_stopping_ui(ui: &mut Ui, c: &mut RunConfig, checked: Checked) {
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
        SchedulerKind::Step => checked.field_row(
            ui,
            &[Field::SchedulerStepSize, Field::SchedulerGamma],
            |ui, steps| {
                ui.add(count_value(&mut s.step_size, steps).suffix(" ep"));
                let gamma = range_of(Field::SchedulerGamma);
                ui.add(count_value(&mut s.gamma, gamma).speed(0.01));
            },
        ),
        SchedulerKind::Plateau => {
            checked.field_row(ui, &[Field::SchedulerFactor], |ui, factor| {
                ui.add(count_value(&mut s.factor, factor).speed(0.01));
                ui.add(
                    egui::DragValue::new(&mut s.patience)
                        .range(0..=100)
                        .suffix(" ep"),
                );
            });
            checked.field_row(ui, &[Field::SchedulerMinLr], |ui, min_lr| {
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
    checked.field_row(ui, &[Field::EarlyStoppingPatience], |ui, patience| {
        ui.checkbox(&mut e.enabled, "");
        ui.add_enabled(
            e.enabled,
            count_value(&mut e.patience, patience).suffix(" ep"),
        );
    });
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
        "auto (a GPU when this build can use one and it is ready: CUDA, then a hardware wgpu adapter), cpu, a CUDA GPU, or a wgpu adapter (Vulkan, Metal, DX12; numbered as `facebench doctor` lists them)",
        None,
        |ui| device_ui(ui, &mut c.device),
    );
}

/// The device picker: auto, cpu, or cuda / wgpu with the device's index.
fn device_ui(ui: &mut Ui, device: &mut DeviceChoice) {
    egui::ComboBox::from_id_salt("device")
        .selected_text(match *device {
            DeviceChoice::Cuda(_) => "cuda".to_string(),
            DeviceChoice::Wgpu(_) => "wgpu".to_string(),
            other => other.to_string(),
        })
        .show_ui(ui, |ui| {
            ui.selectable_value(device, DeviceChoice::Auto, "auto");
            ui.selectable_value(device, DeviceChoice::Cpu, "cpu");
            let indexed: [(&str, fn(usize) -> DeviceChoice); 2] =
                [("cuda", DeviceChoice::Cuda), ("wgpu", DeviceChoice::Wgpu)];
            for (label, make) in indexed {
                let current = *device == make(0) || device.to_string().starts_with(label);
                if ui.selectable_label(current, label).clicked() && !current {
                    *device = make(0);
                }
            }
        });
    if let DeviceChoice::Cuda(index) | DeviceChoice::Wgpu(index) = device {
        ui.add(egui::DragValue::new(index).range(0..=63).prefix("GPU "));
    }
}
