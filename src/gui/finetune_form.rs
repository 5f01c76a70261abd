//! Form fields of the transfer architectures: the pretrained weights, the
//! reference head and the two fine-tuning phases.

use egui::Ui;

use super::form_rows::{problem_for, row};
use crate::run::{ConfigProblem, RunConfig};

/// Weights file and head sizes (shown instead of the ResNet fields).
pub fn head_fields_ui(ui: &mut Ui, c: &mut RunConfig, problems: &[ConfigProblem]) {
    row(
        ui,
        "weights",
        "ImageNet weights for the base: a .h5 (Keras), .pth or .safetensors path, or a bare \
         file name looked up in $FACEBENCH_WEIGHTS_DIR and ~/.cache/facebench/weights. \
         Empty: random initialisation",
        problem_for(problems, "model.weights"),
        |ui| {
            let mut text = c.model.weights.clone().unwrap_or_default();
            let edit = egui::TextEdit::singleline(&mut text)
                .hint_text("none: random init")
                .desired_width(230.0);
            if ui.add(edit).changed() {
                let t = text.trim();
                c.model.weights = (!t.is_empty()).then(|| t.to_string());
            }
        },
    );
    let h = &mut c.model.head;
    let head_problem = problem_for(problems, "model");
    row(
        ui,
        "head dense",
        "Units of the head's two dense layers (reference: 1024, 512)",
        head_problem,
        |ui| {
            ui.add(egui::DragValue::new(&mut h.dense1).range(8..=8192));
            ui.add(egui::DragValue::new(&mut h.dense2).range(8..=8192));
        },
    );
    row(
        ui,
        "head dropout",
        "After each dense block (reference: 0.3 Xception, 0.5 DenseNet)",
        None,
        |ui| {
            ui.add(
                egui::DragValue::new(&mut h.dropout)
                    .range(0.0..=0.9)
                    .speed(0.01),
            );
        },
    );
    row(
        ui,
        "head L2",
        "L2 penalty on the first dense kernel, added to the loss (reference: 1e-4)",
        None,
        |ui| {
            ui.add(
                egui::DragValue::new(&mut h.l2)
                    .range(0.0..=0.1)
                    .speed(1e-5)
                    .custom_formatter(|v, _| format!("{v:.1e}")),
            );
        },
    );
}

/// Phase 1 length and the phase 2 settings.
pub fn phase_fields_ui(ui: &mut Ui, c: &mut RunConfig, problems: &[ConfigProblem]) {
    let total = c.train.epochs;
    let f = &mut c.finetune;
    row(
        ui,
        "phase 1 epochs",
        "Epochs training the head on the frozen base at the optimizer's lr; \
         train.epochs counts both phases",
        problem_for(problems, "finetune.phase1_epochs"),
        |ui| {
            ui.add(egui::DragValue::new(&mut f.phase1_epochs).range(0..=10_000));
            ui.label(format!(
                "then {} in phase 2",
                total.saturating_sub(f.phase1_epochs)
            ));
        },
    );
    row(
        ui,
        "phase 2 lr",
        "Learning rate once the base is unfrozen (reference: 1e-5)",
        problem_for(problems, "finetune.phase2_lr"),
        |ui| {
            ui.add(
                egui::DragValue::new(&mut f.phase2_lr)
                    .speed(1e-6)
                    .range(0.0..=10.0)
                    .custom_formatter(|v, _| format!("{v:.1e}")),
            );
        },
    );
    row(
        ui,
        "phase 2 decay",
        "Weight decay in phase 2",
        problem_for(problems, "finetune.phase2_weight_decay"),
        |ui| {
            ui.add(
                egui::DragValue::new(&mut f.phase2_weight_decay)
                    .speed(1e-6)
                    .range(0.0..=0.5)
                    .custom_formatter(|v, _| format!("{v:.1e}")),
            );
        },
    );
    row(
        ui,
        "kept frozen",
        "Keras layers of the base that stay frozen in phase 2 (reference DenseNet: 100)",
        problem_for(problems, "finetune.phase2_frozen_layers"),
        |ui| {
            ui.add(egui::DragValue::new(&mut f.phase2_frozen_layers).range(0..=1000));
            ui.label("layers");
        },
    );
    row(
        ui,
        "base BN trains",
        "Off: the base's batch norms keep their ImageNet statistics in phase 2 \
         (Keras' fine-tuning advice)",
        None,
        |ui| {
            ui.checkbox(&mut f.phase2_train_batch_norm, "");
        },
    );
}
