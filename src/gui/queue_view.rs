//! The run queue in the Runs tab: `queue.json` of the runs folder (read
//! once a second, so a sweep the CLI queued shows up live), reorder, cancel
//! or open a waiting run in the form, train the queue here, build a sweep,
//! and each sweep's grid points with mean ± std over their seeds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{RichText, Ui};

use super::jobs::{take_finished, Job};
use super::run_row::RunRow;
use super::theme;
use crate::engine::{run_queue, TrainControl};
use crate::files::canonical;
use crate::run::{default_sweep_name, expand_sweep, Field, GridAxis, RunConfig};
use crate::store::{ItemState, QueueFile, QueueScope, RunQueue};

/// How often the queue file is read again.
const REREAD: Duration = Duration::from_secs(1);

/// What the queue asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueCommand {
    /// Put this config into the form.
    OpenInForm(RunConfig),
    /// Tick these runs (a sweep's) in the comparison.
    Tick(Vec<PathBuf>),
}

/// The sweep being built: up to three (key, values) rows, seeds, a name.
#[derive(Debug, Clone)]
pub struct SweepForm {
    pub axes: Vec<(String, String)>,
    pub seeds: usize,
    pub name: String,
}

impl Default for SweepForm {
    fn default() -> Self {
        Self {
            axes: vec![(Field::OptimizerLr.path().to_string(), String::new())],
            seeds: 1,
            name: default_sweep_name(),
        }
    }
}

#[derive(Default)]
pub struct QueueView {
    read: Option<Job<Result<(RunQueue, bool), String>>>,
    last_read: Option<Instant>,
    pub queue: RunQueue,
    /// Some process trains the queue (this window or another); when none
    /// does, a running item was interrupted.
    pub worker_alive: bool,
    pub error: Option<String>,
    write: Option<Job<Result<(), String>>>,
    worker: Option<Job<Result<usize, String>>>,
    worker_control: TrainControl,
    /// The first read after the window opened has been looked at (for
    /// queued runs that a closed window or crash left running).
    resume_checked: bool,
    /// How many interrupted runs this window resumed by itself on opening.
    pub resumed: usize,
    pub sweep: SweepForm,
}

impl QueueView {
    /// Read the queue file again when due (and take in finished jobs). On
    /// the first read, runs that were left running when the last process
    /// ended resume here, unless `busy` (this window trains a run) or
    /// another process works the queue.
    pub fn poll(&mut self, ctx: &egui::Context, runs: &Path, busy: bool) {
        if let Some(r) = take_finished(&mut self.read) {
            match r {
                Ok((q, alive)) => {
                    self.queue = q;
                    self.worker_alive = alive;
                    self.error = None;
                    if !std::mem::replace(&mut self.resume_checked, true) {
                        let interrupted = self.interrupted();
                        if interrupted > 0 && !alive && !busy && self.worker.is_none() {
                            self.resumed = interrupted;
                            self.start_worker(ctx, runs, QueueScope::Interrupted);
                        }
                    }
                }
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(Err(e)) = take_finished(&mut self.write) {
            self.error = Some(e);
        }
        if let Some(r) = take_finished(&mut self.worker) {
            self.last_read = None;
            if let Err(e) = r {
                self.error = Some(e);
            }
        }
        let due = self.last_read.is_none_or(|t| t.elapsed() >= REREAD);
        if due && self.read.is_none() && self.write.is_none() {
            self.last_read = Some(Instant::now());
            let file = QueueFile::of(runs);
            self.read = Some(Job::spawn(ctx, move || {
                let queue = file.read().map_err(|e| format!("{e:#}"))?;
                // the worker lock is free (and let go at once) when no
                // process trains the queue
                // (no queue file: nothing to train, and no folder is made)
                if !file.path.exists() {
                    return Ok((queue, false));
                }
                let free = file.try_worker_lock().map_err(|e| format!("{e:#}"))?;
                Ok((queue, free.is_none()))
            }));
        }
        if self.worker.is_some()
            || self.queue.items.iter().any(|i| {
                !matches!(
                    i.state,
                    ItemState::Done { .. } | ItemState::Cancelled | ItemState::Failed { .. }
                )
            })
        {
            ctx.request_repaint_after(REREAD);
        }
    }

    /// Change the queue file in the background (then read it again).
    pub fn change(
        &mut self,
        ctx: &egui::Context,
        runs: &Path,
        change: impl FnOnce(&mut RunQueue) + Send + 'static,
    ) {
        let file = QueueFile::of(runs);
        self.last_read = None;
        self.write = Some(Job::spawn(ctx, move || {
            file.update(change).map_err(|e| format!("{e:#}"))
        }));
    }

    /// Queue `config` on the faces in `data_root` (recorded absolute, for
    /// a worker in any folder; resolved off the UI thread).
    pub fn add(&mut self, ctx: &egui::Context, runs: &Path, config: RunConfig, data_root: PathBuf) {
        self.change(ctx, runs, move |q| {
            q.push(config, canonical(&data_root), None);
        });
    }

    /// Items marked running: interrupted ones when no process holds the
    /// worker lock.
    fn interrupted(&self) -> usize {
        self.queue
            .items
            .iter()
            .filter(|i| matches!(i.state, ItemState::Running { .. }))
            .count()
    }

    /// Whether this window trains the queue right now.
    pub fn is_working(&self) -> bool {
        self.worker.is_some()
    }

    /// Train the items of `scope` here, on a thread.
    fn start_worker(&mut self, ctx: &egui::Context, runs: &Path, scope: QueueScope) {
        self.worker_control = TrainControl::default();
        let (control, runs) = (self.worker_control.clone(), runs.to_path_buf());
        self.worker = Some(Job::spawn(ctx, move || {
            run_queue(&runs, scope, &control, &mut |_| {}).map_err(|e| format!("{e:#}"))
        }));
    }
}

/// The queue section; `form` and `data` are the experiment panel's config
/// and dataset folder (for *Add sweep*), `busy` says the window trains a
/// run of its own (runs go one at a time).
pub fn queue_ui(
    ui: &mut Ui,
    view: &mut QueueView,
    runs: &Path,
    (form, data): (&RunConfig, &str),
    rows: &[RunRow],
    busy: bool,
) -> Option<QueueCommand> {
    let mut command = None;
    ui.horizontal(|ui| {
        ui.heading("Queue");
        let waiting = view.queue.waiting();
        if view.is_working() {
            ui.spinner();
            if ui
                .button("Stop queue")
                .on_hover_text("Stop the running run (it resumes with the queue)")
                .clicked()
            {
                view.worker_control.stop();
            }
        } else if ui
            .add_enabled(waiting > 0 && !busy, egui::Button::new("Run queue"))
            .on_hover_text("Train the waiting runs here, one at a time")
            .on_disabled_hover_text(if busy {
                "a run is training in this window; the queue waits for it"
            } else {
                "no run is waiting"
            })
            .clicked()
        {
            view.start_worker(ui.ctx(), runs, QueueScope::All);
        }
        ui.label(RichText::new(format!("{waiting} waiting · queue.json")).weak())
            .on_hover_text(QueueFile::of(runs).path.display().to_string());
    });
    if let Some(e) = &view.error {
        ui.colored_label(theme::ERROR, e);
    }
    if view.resumed > 0 && view.is_working() {
        ui.colored_label(
            theme::WARNING,
            format!(
                "resumed {} queued run(s) left running when facebench last closed, from their last checkpoint",
                view.resumed
            ),
        );
    }
    let interrupted = view.interrupted();
    if interrupted > 0 && !view.worker_alive && !view.is_working() {
        ui.colored_label(
            theme::WARNING,
            format!(
                "{interrupted} queued run(s) stopped when their process ended; Run queue resumes them from their last checkpoint"
            ),
        );
    }
    items_ui(ui, view, runs, &mut command);
    egui::CollapsingHeader::new("New sweep")
        .default_open(false)
        .show(ui, |ui| sweep_form_ui(ui, view, runs, form, data));
    sweeps_ui(ui, view, rows, &mut command);
    command
}

/// One line per queued run, with its buttons.
fn items_ui(ui: &mut Ui, view: &mut QueueView, runs: &Path, command: &mut Option<QueueCommand>) {
    let items = view.queue.items.clone();
    egui::Grid::new("queue-items").striped(true).show(ui, |ui| {
        for item in &items {
            ui.label(item.id.to_string());
            ui.label(item.label());
            let state = RichText::new(item.state.name());
            ui.label(match &item.state {
                ItemState::Failed { .. } => state.color(theme::ERROR),
                ItemState::Running { .. } => state.strong(),
                _ => state,
            });
            ui.label(RichText::new(item.detail()).weak());
            let id = item.id;
            if item.state.is_waiting() {
                if ui
                    .small_button("up")
                    .on_hover_text("train it earlier")
                    .clicked()
                {
                    view.change(ui.ctx(), runs, move |q| q.shift(id, true));
                }
                if ui
                    .small_button("down")
                    .on_hover_text("train it later")
                    .clicked()
                {
                    view.change(ui.ctx(), runs, move |q| q.shift(id, false));
                }
                if ui.small_button("cancel").clicked() {
                    view.change(ui.ctx(), runs, move |q| {
                        q.cancel(id);
                    });
                }
                if ui.small_button("open in form").clicked() {
                    *command = Some(QueueCommand::OpenInForm(item.config.clone()));
                }
            }
            ui.end_row();
        }
    });
}

/// The sweep builder: keys from the config's one-number fields (and the
/// architecture and seed), values as typed.
fn sweep_form_ui(ui: &mut Ui, view: &mut QueueView, runs: &Path, form: &RunConfig, data: &str) {
    let keys: Vec<&'static str> = std::iter::once("model.architecture")
        .chain(
            Field::ALL
                .iter()
                .filter(|f| f.is_one_number())
                .map(|f| f.path()),
        )
        .chain(["train.seed"])
        .collect();
    let mut remove = None;
    for (i, (key, values)) in view.sweep.axes.iter_mut().enumerate() {
        ui.horizontal(|ui| {
            egui::ComboBox::from_id_salt(("sweep-key", i))
                .selected_text(key.as_str())
                .show_ui(ui, |ui| {
                    for k in &keys {
                        ui.selectable_value(key, k.to_string(), *k);
                    }
                });
            ui.add(
                egui::TextEdit::singleline(values)
                    .hint_text("values, e.g. 1e-3, 3e-4")
                    .desired_width(220.0),
            );
            if ui.small_button("remove").clicked() {
                remove = Some(i);
            }
        });
    }
    if let Some(i) = remove {
        view.sweep.axes.remove(i);
    }
    ui.horizontal(|ui| {
        if view.sweep.axes.len() < 3 && ui.small_button("add a key").clicked() {
            view.sweep
                .axes
                .push((Field::TrainBatchSize.path().into(), String::new()));
        }
        ui.label("seeds");
        ui.add(egui::DragValue::new(&mut view.sweep.seeds).range(1..=10));
        ui.label("name");
        ui.add(egui::TextEdit::singleline(&mut view.sweep.name).desired_width(120.0));
    });
    let axes: Result<Vec<GridAxis>, String> = view
        .sweep
        .axes
        .iter()
        .map(|(k, v)| GridAxis::parse(&format!("{k}={v}")).map_err(|e| format!("{e:#}")))
        .collect();
    let planned = axes.and_then(|axes| {
        expand_sweep(view.sweep.name.trim(), form, &axes, view.sweep.seeds)
            .map_err(|e| format!("{e:#}"))
    });
    ui.horizontal(|ui| match planned {
        Ok(configs) => {
            let add = ui.add_enabled(
                !data.trim().is_empty(),
                egui::Button::new(format!("Add sweep ({} runs)", configs.len())),
            );
            if add.clicked() {
                let data = PathBuf::from(data.trim());
                view.change(ui.ctx(), runs, move |q| {
                    // (the path is resolved here, off the UI thread)
                    let root = canonical(&data);
                    for (config, tag) in configs {
                        q.push(config, root.clone(), Some(tag));
                    }
                });
                // the next sweep gets a name of its own
                view.sweep.name = default_sweep_name();
            }
            ui.label(RichText::new("over the form's config and dataset").weak());
        }
        Err(e) => {
            ui.label(RichText::new(e).color(theme::ERROR));
        }
    });
}

/// Each sweep's grid points: runs done, test accuracy mean ± std.
fn sweeps_ui(ui: &mut Ui, view: &QueueView, rows: &[RunRow], command: &mut Option<QueueCommand>) {
    // sweep -> point -> test accuracies of its finished runs, and its run folders
    let mut sweeps: BTreeMap<String, (BTreeMap<String, Vec<f64>>, Vec<PathBuf>)> = BTreeMap::new();
    for item in &view.queue.items {
        let (Some(tag), Some(run)) = (&item.sweep, item.state.run()) else {
            continue;
        };
        let entry = sweeps.entry(tag.sweep.clone()).or_default();
        entry.1.push(run.to_path_buf());
        let accuracy = rows
            .iter()
            .find(|r| r.path == run)
            .and_then(|r| r.test.map(|t| t.accuracy));
        let point = entry.0.entry(tag.point.clone()).or_default();
        if let (ItemState::Done { .. }, Some(a)) = (&item.state, accuracy) {
            point.push(a);
        }
    }
    for (name, (points, runs)) in sweeps {
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("sweep {name}")).strong());
            if ui
                .small_button("tick its runs")
                .on_hover_text("Overlay them below")
                .clicked()
            {
                *command = Some(QueueCommand::Tick(runs.clone()));
            }
        });
        egui::Grid::new(("sweep", name.as_str()))
            .striped(true)
            .show(ui, |ui| {
                ui.label("point");
                ui.label("runs done");
                ui.label("test accuracy");
                ui.end_row();
                for (point, accuracies) in &points {
                    ui.label(if point.is_empty() { "(seeds)" } else { point });
                    ui.label(accuracies.len().to_string());
                    ui.label(mean_std(accuracies));
                    ui.end_row();
                }
            });
    }
}

/// "71.20% ± 1.05" (sample std), "71.20%" for one value, "–" for none.
pub fn mean_std(values: &[f64]) -> String {
    let n = values.len() as f64;
    match values.len() {
        0 => "–".into(),
        1 => format!("{:.2}%", values[0] * 100.0),
        _ => {
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            format!("{:.2}% ± {:.2}", mean * 100.0, var.sqrt() * 100.0)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mean_and_sample_std_in_points() {
        assert_eq!(super::mean_std(&[]), "–");
        assert_eq!(super::mean_std(&[0.5]), "50.00%");
        assert_eq!(super::mean_std(&[0.6, 0.8]), "70.00% ± 14.14");
    }
}
