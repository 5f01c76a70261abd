//! The Runs tab's comparison table (each sweep's runs together, when
//! asked) and its CSV.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::RunsView;
use crate::gui::run_row::RunRow;
use crate::gui::theme;
use crate::run::SweepTag;
use crate::store::RunStatus;

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |a| format!("{:.2}%", a * 100.0))
}

/// The sweep tag of each listed run the queue trained (None for the others).
fn sweep_tags(view: &RunsView) -> Vec<Option<SweepTag>> {
    let tag_of = |run: &Path| {
        view.queue
            .queue
            .items
            .iter()
            .find(|i| i.state.run() == Some(run))
            .and_then(|i| i.sweep.clone())
    };
    view.runs.iter().map(|r| tag_of(&r.path)).collect()
}

/// The order of the rows: each sweep's runs together, where the sweep's
/// first run stands; runs of no sweep keep their places.
pub fn grouped_order(sweeps: &[Option<&str>]) -> Vec<usize> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, sweep) in sweeps.iter().enumerate() {
        if let Some(s) = sweep {
            first.entry(s).or_insert(i);
        }
    }
    let mut order: Vec<usize> = (0..sweeps.len()).collect();
    order.sort_by_key(|&i| (sweeps[i].map_or(i, |s| first[s]), i));
    order
}

/// The runs as the table lists them, with their sweep labels.
fn listed_runs(view: &RunsView) -> Vec<(RunRow, String)> {
    let tags = sweep_tags(view);
    let order = if view.group_sweeps {
        let names: Vec<Option<&str>> = tags
            .iter()
            .map(|t| t.as_ref().map(|t| t.sweep.as_str()))
            .collect();
        grouped_order(&names)
    } else {
        (0..view.runs.len()).collect()
    };
    order
        .into_iter()
        .map(|i| {
            (
                view.runs[i].clone(),
                tags[i].as_ref().map_or(String::new(), SweepTag::label),
            )
        })
        .collect()
}

/// The comparison table as CSV: its header and one row per listed run.
pub fn comparison_csv(view: &RunsView) -> ([&'static str; 13], Vec<Vec<String>>) {
    let o = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    let rows = listed_runs(view)
        .into_iter()
        .map(|(r, sweep)| {
            vec![
                r.name.clone(),
                sweep,
                r.dataset.clone(),
                r.fingerprint.clone(),
                r.architecture.clone(),
                r.params.to_string(),
                o(r.best_val_accuracy),
                o(r.test.map(|t| t.accuracy)),
                o(r.test.map(|t| t.macro_f1)),
                o(r.test.and_then(|t| t.macro_auc)),
                r.seconds.to_string(),
                o(r.test.map(|t| t.images_per_sec)),
                r.status.to_string(),
            ]
        })
        .collect();
    let header = [
        "run",
        "sweep",
        "dataset",
        "dataset_fingerprint",
        "architecture",
        "params",
        "best_val_acc",
        "test_acc",
        "macro_f1",
        "macro_auc",
        "train_seconds",
        "inference_images_per_sec",
        "status",
    ];
    (header, rows)
}

/// The runs, a row each, with a tick box that overlays their curves.
pub fn comparison_table_ui(ui: &mut Ui, view: &mut RunsView, open: &mut Option<PathBuf>) {
    let runs = listed_runs(view);
    // one line per run: cells grow sideways (the table scrolls) instead of
    // wrapping into the next row
    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
    TableBuilder::new(ui)
        .id_salt("runs")
        .striped(true)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .max_scroll_height(300.0)
        .column(Column::exact(24.0))
        .column(Column::auto().at_least(200.0))
        .columns(Column::auto().at_least(70.0), 12)
        .header(20.0, |mut h| {
            for name in [
                "",
                "run",
                "sweep",
                "dataset",
                "architecture",
                "params",
                "epochs",
                "best val acc",
                "test acc",
                "macro F1",
                "macro AUC",
                "train time",
                "inference",
                "",
            ] {
                h.col(|ui| {
                    ui.strong(name);
                });
            }
        })
        .body(|body| {
            body.rows(22.0, runs.len(), |mut row| {
                let (r, sweep) = &runs[row.index()];
                row.col(|ui| {
                    let mut on = view.selected.contains(&r.path);
                    if ui
                        .checkbox(&mut on, "")
                        .on_hover_text("overlay its curves")
                        .changed()
                    {
                        if on {
                            view.selected.insert(r.path.clone());
                            view.last_refresh = None;
                        } else {
                            view.selected.remove(&r.path);
                        }
                    }
                });
                row.col(|ui| run_name_cell_ui(ui, r, view));
                row.col(|ui| {
                    ui.label(RichText::new(sweep).weak());
                });
                row.col(|ui| {
                    ui.label(r.dataset_label()).on_hover_text(format!(
                        "dataset {}\nfingerprint of its train files: {}",
                        r.dataset,
                        if r.fingerprint.is_empty() {
                            "unknown"
                        } else {
                            r.fingerprint.as_str()
                        }
                    ));
                });
                row.col(|ui| {
                    ui.label(&r.architecture);
                });
                row.col(|ui| {
                    ui.label(format!("{:.2} M", r.params as f64 / 1e6));
                });
                row.col(|ui| {
                    ui.label(format!("{}/{}", r.epochs_completed, r.epochs_planned));
                });
                row.col(|ui| {
                    ui.label(pct(r.best_val_accuracy));
                });
                row.col(|ui| {
                    ui.label(pct(r.test.map(|t| t.accuracy)));
                });
                row.col(|ui| {
                    ui.label(r.test.map_or("–".into(), |t| format!("{:.4}", t.macro_f1)));
                });
                row.col(|ui| {
                    let auc = r.test.and_then(|t| t.macro_auc);
                    ui.label(auc.map_or("–".into(), |f| format!("{f:.4}")));
                });
                row.col(|ui| {
                    ui.label(format!("{:.0} s", r.seconds));
                });
                row.col(|ui| {
                    ui.label(
                        r.test
                            .map_or("–".into(), |t| format!("{:.0} img/s", t.images_per_sec)),
                    );
                });
                row.col(|ui| run_actions_ui(ui, r, view, open));
            });
        });
}

/// A run's buttons: open its results, rename, delete (both ask first).
fn run_actions_ui(ui: &mut Ui, r: &RunRow, view: &mut RunsView, open: &mut Option<PathBuf>) {
    if ui.small_button("results").clicked() {
        *open = Some(r.path.clone());
    }
    if ui.small_button("rename").clicked() {
        view.rename = Some((r.path.clone(), r.name.clone()));
    }
    if ui.small_button("delete").clicked() {
        view.delete = Some(r.path.clone());
    }
}

/// The run column: a status dot, the name, who trains it, and the resume
/// button of a stopped or failed run.
fn run_name_cell_ui(ui: &mut Ui, r: &RunRow, view: &mut RunsView) {
    let status_color = match r.status {
        RunStatus::Completed | RunStatus::EarlyStopped => theme::SUCCESS,
        RunStatus::Failed => theme::ERROR,
        _ => theme::WARNING,
    };
    let (dot, resp) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    ui.painter().circle_filled(dot.center(), 4.0, status_color);
    resp.on_hover_text(r.status.name());
    ui.label(&r.name);
    if let Some(holder) = &r.held_by {
        ui.label(RichText::new(format!("training ({holder})")).weak())
            .on_hover_text("another process holds this run's lock: it is training it now");
    }
    // a stopped or failed run offers to continue, beside its name
    if r.resumable {
        // a run without an end record may still be training
        // elsewhere: ask first
        let interrupted = r.status == RunStatus::Interrupted;
        let resume = ui
            .add_enabled(
                !view.busy,
                egui::Button::new(if interrupted { "resume…" } else { "resume" }).small(),
            )
            .on_hover_text(format!(
                "Continue this {} run from its last checkpoint, in its own folder",
                r.status
            ))
            .on_disabled_hover_text("a run is training in this window");
        if resume.clicked() {
            if interrupted {
                view.confirm_resume = Some(r.path.clone());
            } else {
                view.resume_request = Some(r.path.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweeps_runs_stand_together_where_its_first_run_stands() {
        let sweeps = [Some("a"), None, Some("b"), Some("a"), None, Some("b")];
        assert_eq!(grouped_order(&sweeps), vec![0, 3, 1, 2, 5, 4]);
        assert_eq!(grouped_order(&[None, None]), vec![0, 1]);
    }
}
