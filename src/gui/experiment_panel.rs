//! The left panel: dataset, architecture, every hyperparameter, presets and the
//! Train / Pause / Stop controls. Invalid values are marked where they are
//! entered and Train stays disabled with the reason shown.

use egui::{Color32, RichText, Ui};

use super::app::WorkbenchApp;
use super::config_form::config_form_ui;
use super::state::{demo_dataset_dir, preset_dirs, user_preset_dir};
use super::status::StatusTopic;
use crate::engine::ConfigProblem;

/// Presets found on disk: shipped ones first, then the user's.
pub fn list_presets() -> Vec<std::path::PathBuf> {
    let mut out: Vec<std::path::PathBuf> = Vec::new();
    for dir in preset_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for f in files {
            if !out.iter().any(|o| o.file_name() == f.file_name()) {
                out.push(f);
            }
        }
    }
    out
}

pub fn experiment_ui(ui: &mut Ui, app: &mut WorkbenchApp) {
    ui.heading("Experiment");
    dataset_section_ui(ui, app);
    ui.separator();
    preset_section_ui(ui, app);
    ui.separator();
    let problems = app.state.config.problems();
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() - 110.0)
        .show(ui, |ui| {
            config_form_ui(ui, &mut app.state.config, &problems);
        });
    ui.separator();
    controls_ui(ui, app, &problems);
}

fn dataset_section_ui(ui: &mut Ui, app: &mut WorkbenchApp) {
    ui.label(RichText::new("Dataset").strong());
    ui.horizontal(|ui| {
        let edit = ui.add(
            egui::TextEdit::singleline(&mut app.state.dataset_path)
                .hint_text("folder of faces (type or paste)")
                .desired_width(190.0),
        );
        if edit.changed() {
            // a message about the previous folder no longer applies
            app.clear_status(StatusTopic::Dataset);
        }
        if edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            app.open_dataset(ui.ctx());
        }
        if ui
            .button("Open")
            .on_hover_text("Scan this folder")
            .clicked()
        {
            app.open_dataset(ui.ctx());
        }
    });
    ui.horizontal(|ui| {
        let picking = app.folder_pick.as_ref().is_some_and(|j| j.is_pending());
        if ui
            .add_enabled(!picking, egui::Button::new("Browse…"))
            .clicked()
        {
            app.pick_folder(ui.ctx());
        }
        if ui
            .button("Use demo dataset")
            .on_hover_text(format!(
                "8 synthetic people x 60 faces, written to {}",
                demo_dataset_dir().display()
            ))
            .clicked()
        {
            app.use_demo_dataset(ui.ctx());
        }
    });
}

fn preset_section_ui(ui: &mut Ui, app: &mut WorkbenchApp) {
    ui.label(RichText::new("Preset").strong());
    ui.horizontal(|ui| {
        let current = preset_label(app);
        let mut chosen = None;
        egui::ComboBox::from_id_salt("preset")
            .selected_text(current)
            .width(170.0)
            .show_ui(ui, |ui| {
                for p in &app.presets {
                    let name = p
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if ui
                        .selectable_label(app.state.preset.as_ref() == Some(p), name)
                        .clicked()
                    {
                        chosen = Some(p.clone());
                    }
                }
            });
        if let Some(p) = chosen {
            app.load_preset(&p);
        }
        if ui
            .add_enabled(app.state.preset.is_some(), egui::Button::new("Reset"))
            .on_hover_text("Back to the preset's values")
            .clicked()
        {
            if let Some(p) = app.state.preset.clone() {
                app.load_preset(&p);
            }
        }
    });
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut app.save_as_name)
                .hint_text("my-preset")
                .desired_width(150.0),
        );
        let valid = !app.save_as_name.trim().is_empty();
        if ui
            .add_enabled(valid, egui::Button::new("Save as"))
            .on_hover_text(format!("Save to {}", user_preset_dir().display()))
            .clicked()
        {
            app.save_preset();
        }
    });
}

/// The preset's name, with "(edited)" once the form differs from it.
pub fn preset_label(app: &WorkbenchApp) -> String {
    let Some(name) = app
        .state
        .preset
        .as_ref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
    else {
        return "(none)".into();
    };
    match &app.state.preset_config {
        Some(c) if *c != app.state.config => format!("{name} (edited)"),
        _ => name,
    }
}

/// Why Train is disabled, if it is.
pub fn train_blocker(app: &WorkbenchApp, problems: &[ConfigProblem]) -> Option<String> {
    if app.is_busy() {
        return Some("a run is in progress".into());
    }
    if app.state.dataset_path.trim().is_empty() {
        return Some("choose a dataset folder (or use the demo dataset)".into());
    }
    if let Some(p) = problems.first() {
        return Some(format!("fix {}: {}", p.key, p.message));
    }
    if app.state.dataset_path.trim() != app.dataset.scanned_path {
        // the report (and any error) on show is the previous folder's
        return Some("press Open (or Enter) to scan the folder typed above".into());
    }
    app.dataset.error().map(|e| format!("dataset: {e}"))
}

fn controls_ui(ui: &mut Ui, app: &mut WorkbenchApp, problems: &[ConfigProblem]) {
    let blocker = train_blocker(app, problems);
    ui.horizontal(|ui| {
        let train = ui.add_enabled(
            blocker.is_none(),
            egui::Button::new(RichText::new("Train").strong()).min_size(egui::vec2(70.0, 0.0)),
        );
        if train.clicked() {
            app.start_training(ui.ctx());
        }
        let running = app.session.as_ref().filter(|s| s.live.is_running());
        if let Some(s) = running {
            let paused = s.live.paused || s.handle.control.is_paused();
            if ui.button(if paused { "Resume" } else { "Pause" }).clicked() {
                if paused {
                    s.handle.control.resume()
                } else {
                    s.handle.control.pause()
                }
            }
            if ui
                .button("Stop")
                .on_hover_text("Stops after this batch and saves a checkpoint")
                .clicked()
            {
                s.handle.control.stop();
            }
        }
    });
    if let Some(reason) = blocker {
        ui.label(
            RichText::new(format!("Train is disabled: {reason}"))
                .color(Color32::from_rgb(230, 150, 60)),
        );
    }
    if let Some(msg) = &app.status {
        ui.label(RichText::new(&msg.text).weak());
    }
}
