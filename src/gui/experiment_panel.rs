//! The left panel: dataset, architecture, every hyperparameter, presets and the
//! Train / Pause / Stop controls. Invalid values are marked where they are
//! entered and Train stays disabled with the reason shown.

use std::path::PathBuf;

use egui::{RichText, Ui};

use super::config_form::{config_form_ui, FormAction};
use super::dataset_tab::DatasetView;
use super::state::{demo_dataset_dir, preset_dirs, user_preset_dir, AppState};
use super::status::{Status, StatusTopic};
use super::theme;
use super::train_session::TrainSession;
use crate::run::ConfigProblem;

/// What the panel asks the app to do; the app runs these at the end of the
/// frame, so the panel needs no access to the app itself.
#[derive(Debug, Clone, PartialEq)]
pub enum PanelCommand {
    /// Scan the folder typed in the dataset field.
    OpenDataset,
    /// Open the folder dialog (off the UI thread).
    PickFolder,
    /// The file dialog for a dataset CSV (path,label[,split] rows).
    PickCsv,
    UseDemoDataset,
    LoadPreset(PathBuf),
    /// Save the form as a user preset named as typed.
    SavePreset,
    StartTraining,
    /// Run the learning-rate finder on the form's config.
    FindLr,
    /// Queue the form's config on the dataset folder.
    AddToQueue,
    /// Show the remembered sweep.
    ShowLastLrSweep,
    /// Drop the status line about this topic (its subject just changed).
    ClearStatus(StatusTopic),
}

/// What the panel shows and edits.
pub struct ExperimentPanel<'a> {
    pub state: &'a mut AppState,
    pub save_as_name: &'a mut String,
    pub presets: &'a [PathBuf],
    pub dataset: &'a DatasetView,
    /// The window's run; its Pause / Stop act on the run's controls directly.
    pub session: Option<&'a TrainSession>,
    pub status: Option<&'a Status>,
    pub picking_folder: bool,
    /// A run is training in this window, or about to.
    pub busy: bool,
}

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

pub fn experiment_ui(ui: &mut Ui, mut panel: ExperimentPanel) -> Vec<PanelCommand> {
    let mut commands = Vec::new();
    ui.heading("Experiment");
    dataset_section_ui(ui, &mut panel, &mut commands);
    ui.separator();
    preset_section_ui(ui, &mut panel, &mut commands);
    ui.separator();
    let problems = panel.state.config.problems();
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() - 110.0)
        .show(ui, |ui| {
            let last_sweep = panel.state.lr_find_scratch.is_some();
            match config_form_ui(ui, &mut panel.state.config, &problems, last_sweep) {
                FormAction::FindLr => commands.push(PanelCommand::FindLr),
                FormAction::ShowLastSweep => commands.push(PanelCommand::ShowLastLrSweep),
                FormAction::None => {}
            }
        });
    ui.separator();
    controls_ui(ui, &panel, &problems, &mut commands);
    commands
}

fn dataset_section_ui(ui: &mut Ui, panel: &mut ExperimentPanel, commands: &mut Vec<PanelCommand>) {
    ui.label(RichText::new("Dataset").strong());
    ui.horizontal(|ui| {
        let edit = ui.add(
            egui::TextEdit::singleline(&mut panel.state.dataset_path)
                .hint_text("folder of faces (type or paste)")
                .desired_width(190.0),
        );
        if edit.changed() {
            // a message about the previous folder no longer applies
            commands.push(PanelCommand::ClearStatus(StatusTopic::Dataset));
        }
        if edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            commands.push(PanelCommand::OpenDataset);
        }
        if ui
            .button("Open")
            .on_hover_text("Scan this folder")
            .clicked()
        {
            commands.push(PanelCommand::OpenDataset);
        }
    });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!panel.picking_folder, egui::Button::new("Browse…"))
            .clicked()
        {
            commands.push(PanelCommand::PickFolder);
        }
        if ui
            .add_enabled(!panel.picking_folder, egui::Button::new("CSV…"))
            .on_hover_text(
                "A CSV of path,label or path,label,split rows (paths relative to the CSV)",
            )
            .clicked()
        {
            commands.push(PanelCommand::PickCsv);
        }
        if ui
            .button("Use demo dataset")
            .on_hover_text(format!(
                "8 synthetic people x 60 faces, written to {}",
                demo_dataset_dir().display()
            ))
            .clicked()
        {
            commands.push(PanelCommand::UseDemoDataset);
        }
    });
}

fn preset_section_ui(ui: &mut Ui, panel: &mut ExperimentPanel, commands: &mut Vec<PanelCommand>) {
    ui.label(RichText::new("Preset").strong());
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("preset")
            .selected_text(preset_label(panel.state))
            .width(170.0)
            .show_ui(ui, |ui| {
                for p in panel.presets {
                    let name = p
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if ui
                        .selectable_label(preset_path(panel.state) == Some(p), name)
                        .clicked()
                    {
                        commands.push(PanelCommand::LoadPreset(p.clone()));
                    }
                }
            });
        if ui
            .add_enabled(
                panel.state.from_preset.is_some(),
                egui::Button::new("Reset"),
            )
            .on_hover_text("Back to the preset's values")
            .clicked()
        {
            if let Some(p) = preset_path(panel.state) {
                commands.push(PanelCommand::LoadPreset(p.clone()));
            }
        }
    });
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(panel.save_as_name)
                .hint_text("my-preset")
                .desired_width(150.0),
        );
        let valid = !panel.save_as_name.trim().is_empty();
        if ui
            .add_enabled(valid, egui::Button::new("Save as"))
            .on_hover_text(format!("Save to {}", user_preset_dir().display()))
            .clicked()
        {
            commands.push(PanelCommand::SavePreset);
        }
    });
}

/// The preset's name, with "(edited)" once the form differs from it.
fn preset_label(state: &AppState) -> String {
    let Some((preset, stem)) = state
        .from_preset
        .as_ref()
        .and_then(|p| Some((p, p.path.file_stem()?)))
    else {
        return "(none)".into();
    };
    let name = stem.to_string_lossy().into_owned();
    if preset.config == state.config {
        name
    } else {
        format!("{name} (edited)")
    }
}

fn preset_path(state: &AppState) -> Option<&std::path::PathBuf> {
    state.from_preset.as_ref().map(|p| &p.path)
}

/// Why Train is disabled, if it is.
fn train_blocker(panel: &ExperimentPanel, problems: &[ConfigProblem]) -> Option<String> {
    if panel.busy {
        return Some("a run is in progress".into());
    }
    let typed = panel.state.dataset_path.trim();
    if typed.is_empty() {
        return Some("choose a dataset folder (or use the demo dataset)".into());
    }
    if let Some(p) = problems.first() {
        return Some(format!("fix {}: {}", p.field, p.message));
    }
    if typed != panel.dataset.scanned_path {
        // the report (and any error) on show is the previous folder's
        return Some("press Open (or Enter) to scan the folder typed above".into());
    }
    panel
        .dataset
        .blocking_problem()
        .map(|e| format!("dataset: {e}"))
}

fn controls_ui(
    ui: &mut Ui,
    panel: &ExperimentPanel,
    problems: &[ConfigProblem],
    commands: &mut Vec<PanelCommand>,
) {
    let blocker = train_blocker(panel, problems);
    ui.horizontal(|ui| {
        let train = ui.add_enabled(
            blocker.is_none(),
            egui::Button::new(RichText::new("Train").strong()).min_size(egui::vec2(70.0, 0.0)),
        );
        if train.clicked() {
            commands.push(PanelCommand::StartTraining);
        }
        let queueable = problems.is_empty() && !panel.state.dataset_path.trim().is_empty();
        if ui
            .add_enabled(queueable, egui::Button::new("Add to queue"))
            .on_hover_text(
                "Queue this config on this dataset (Runs tab: the queue trains one run at a time)",
            )
            .clicked()
        {
            commands.push(PanelCommand::AddToQueue);
        }
        let running = panel.session.filter(|s| s.live.is_running());
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
        ui.label(RichText::new(format!("Train is disabled: {reason}")).color(theme::WARNING));
    }
    if let Some(msg) = panel.status {
        ui.label(RichText::new(&msg.text).weak());
    }
}
