//! Form fields of the transfer architectures: the pretrained weights, the
//! reference head and the two fine-tuning phases.

use egui::Ui;

use super::form_rows::{count_value, fine_value, rate_value, row, Checked};
use crate::run::{Field, RunConfig};

/// Weights file and head sizes (shown instead of the ResNet fields).
pub fn head_fields_ui(ui: &mut Ui, c: &mut RunConfig, checked: Checked) {
    row(
        ui,
        "weights",
        "ImageNet weights for the base: a .h5 (Keras), .pth or .safetensors path, or a bare \
         file name looked up in $FACEBENCH_WEIGHTS_DIR and ~/.cache/facebench/weights. \
         Empty: random initialisation",
        None,
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
    let dense = [Field::ModelHeadDense1, Field::ModelHeadDense2];
    checked.field_row(ui, &dense, |ui, range| {
        ui.add(count_value(&mut h.dense1, range.clone()));
        ui.add(count_value(&mut h.dense2, range));
    });
    checked.field_row(ui, &[Field::ModelHeadDropout], |ui, range| {
        ui.add(fine_value(&mut h.dropout, range));
    });
    checked.field_row(ui, &[Field::ModelHeadL2], |ui, range| {
        ui.add(rate_value(&mut h.l2, range, 1e-5));
    });
}

/// Phase 1 length and the phase 2 settings.
pub fn phase_fields_ui(ui: &mut Ui, c: &mut RunConfig, checked: Checked) {
    let total = c.train.epochs;
    let f = &mut c.finetune;
    checked.field_row(ui, &[Field::FinetunePhase1Epochs], |ui, range| {
        ui.add(count_value(&mut f.phase1_epochs, range));
        ui.label(format!(
            "then {} in phase 2",
            total.saturating_sub(f.phase1_epochs)
        ));
    });
    checked.field_row(ui, &[Field::FinetunePhase2Lr], |ui, range| {
        ui.add(rate_value(&mut f.phase2_lr, range, 1e-6));
    });
    checked.field_row(ui, &[Field::FinetunePhase2WeightDecay], |ui, range| {
        ui.add(rate_value(&mut f.phase2_weight_decay, range, 1e-6));
    });
    row(
        ui,
        "kept frozen",
        "Keras layers of the base that stay frozen in phase 2 (reference DenseNet: 100)",
        checked.problem(&[Field::FinetunePhase2FrozenLayers]),
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
