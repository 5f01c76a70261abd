//! The Runs tab's confirmations: resume a run that may be training
//! elsewhere, rename a run, delete a run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use egui::{RichText, Ui};

use super::RunsView;
use crate::gui::theme;

/// What the user did with a confirmation dialog this frame.
enum Answer {
    Open,
    Confirmed,
    Cancelled,
}

/// A fixed window showing `body` above a `confirm` button and Cancel.
fn confirm_window(ui: &Ui, title: &str, confirm: RichText, body: impl FnOnce(&mut Ui)) -> Answer {
    let mut answer = Answer::Open;
    egui::Window::new(title)
        .collapsible(false)
        .resizable(false)
        .show(ui.ctx(), |ui| {
            body(ui);
            ui.horizontal(|ui| {
                if ui.button(confirm).clicked() {
                    answer = Answer::Confirmed;
                }
                if ui.button("Cancel").clicked() {
                    answer = Answer::Cancelled;
                }
            });
        });
    answer
}

pub(super) fn dialogs_ui(ui: &mut Ui, view: &mut RunsView) {
    if let Some(path) = view.confirm_resume.take() {
        let text = format!(
            "{} has no end record: the process training it was killed, or it is \
             still training somewhere else (a terminal, another window). Resume it \
             only if nothing is training it now.",
            path.display()
        );
        let title = "Resume an interrupted run?";
        match confirm_window(ui, title, "Resume".into(), |ui| {
            ui.label(text);
        }) {
            Answer::Open => view.confirm_resume = Some(path),
            Answer::Confirmed => view.resume_request = Some(path),
            Answer::Cancelled => {}
        }
    }
    if let Some((path, mut name)) = view.rename.take() {
        match confirm_window(ui, "Rename run", "Rename".into(), |ui| {
            ui.text_edit_singleline(&mut name);
        }) {
            Answer::Open => view.rename = Some((path, name)),
            Answer::Confirmed => {
                view.message = Some(rename_run(&path, name.trim(), &mut view.selected));
                view.last_refresh = None;
            }
            Answer::Cancelled => {}
        }
    }
    if let Some(path) = view.delete.take() {
        let delete = RichText::new("Delete").color(theme::ERROR);
        match confirm_window(ui, "Delete run?", delete, |ui| {
            ui.label(format!(
                "Delete {} and all its checkpoints? This cannot be undone.",
                path.display()
            ));
        }) {
            Answer::Open => view.delete = Some(path),
            Answer::Confirmed => {
                view.message = Some(match std::fs::remove_dir_all(&path) {
                    Ok(()) => format!("deleted {}", path.display()),
                    Err(e) => format!("cannot delete {}: {e}", path.display()),
                });
                view.selected.remove(&path);
                view.last_refresh = None;
            }
            Answer::Cancelled => {}
        }
    }
}

/// Rename the run folder `path` to `name` beside it; says what happened.
fn rename_run(path: &Path, name: &str, selected: &mut BTreeSet<PathBuf>) -> String {
    let target = path.with_file_name(name);
    if name.is_empty() || name.contains('/') {
        "a run name cannot be empty or contain '/'".into()
    } else if target.exists() {
        format!("{} already exists", target.display())
    } else {
        match std::fs::rename(path, &target) {
            Ok(()) => {
                selected.remove(path);
                format!("renamed to {}", target.display())
            }
            Err(e) => format!("cannot rename {}: {e}", path.display()),
        }
    }
}
