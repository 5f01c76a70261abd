//! The Runs tab: every run in the store, including ones another process is
//! writing right now (their `metrics.jsonl` is tailed), curves of several runs
//! overlaid, a comparison table, and rename / delete with confirmation.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{RichText, Ui};
use egui_plot::{Line, Plot, PlotPoints};

use super::diff_view::{diff_ui, DiffView};
use super::export::{write_csv, ExportRequest};
use super::jobs::{take_finished, Job};
use super::live_run::LiveRun;
use super::plots::{legend_ui, linear_label, palette};
use super::queue_view::{queue_ui, QueueCommand, QueueView};
use super::run_row::RunRow;
use super::theme;
use super::thumbnails::ThumbnailCache;
use crate::run::{RunConfig, TrainEvent};
use crate::store::RunStore;
use comparison::{comparison_csv, comparison_table_ui};
use dialogs::dialogs_ui;

mod comparison;
mod dialogs;

/// A `metrics.jsonl` read incrementally: only bytes added since the last read.
#[derive(Default, Clone)]
pub struct RunTail {
    offset: u64,
    partial: String,
    pub live: LiveRun,
}

impl RunTail {
    /// Read what was appended since the last call.
    pub fn update(&mut self, path: &Path) -> std::io::Result<()> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len < self.offset {
            *self = RunTail::default(); // rewritten: start over
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = String::new();
        file.read_to_string(&mut buf)?;
        self.offset += buf.len() as u64;
        self.partial.push_str(&buf);
        let complete = match self.partial.rfind('\n') {
            Some(i) => i + 1,
            None => return Ok(()),
        };
        let text: String = self.partial.drain(..complete).collect();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok(ev) = serde_json::from_str::<TrainEvent>(line) {
                self.live.apply(&ev);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    ValAccuracy,
    ValLoss,
    TrainLoss,
    TrainAccuracy,
}

pub struct RunsView {
    pub store: RunStore,
    list: Option<Job<Vec<RunRow>>>,
    pub runs: Vec<RunRow>,
    last_refresh: Option<Instant>,
    pub selected: BTreeSet<PathBuf>,
    tails: HashMap<PathBuf, RunTail>,
    tail_job: Option<Job<Vec<(PathBuf, RunTail)>>>,
    pub overlay: Overlay,
    rename: Option<(PathBuf, String)>,
    delete: Option<PathBuf>,
    pub message: Option<String>,
    /// Two runs compared (the Diff section, in place of the overlay).
    pub diff: Option<DiffView>,
    /// A run whose Resume was clicked (or confirmed) this frame.
    resume_request: Option<PathBuf>,
    /// An interrupted run to resume once the user confirms nothing else is
    /// training it.
    confirm_resume: Option<PathBuf>,
    /// Set by the app while it trains: no second run can start.
    pub busy: bool,
    /// The run queue of this runs folder.
    pub queue: QueueView,
    /// List each sweep's runs together in the comparison table.
    pub group_sweeps: bool,
}

impl RunsView {
    pub fn new(runs_dir: PathBuf) -> Self {
        Self {
            store: RunStore::new(runs_dir),
            list: None,
            runs: Vec::new(),
            last_refresh: None,
            selected: BTreeSet::new(),
            tails: HashMap::new(),
            tail_job: None,
            overlay: Overlay::ValAccuracy,
            rename: None,
            delete: None,
            message: None,
            resume_request: None,
            diff: None,
            confirm_resume: None,
            busy: false,
            queue: QueueView::default(),
            group_sweeps: true,
        }
    }

    /// Read the queue of this runs folder when due (see [`QueueView::poll`]);
    /// `busy`: this window trains a run of its own.
    pub fn poll_queue(&mut self, ctx: &egui::Context, busy: bool) {
        let root = self.store.root.clone();
        self.queue.poll(ctx, &root, busy);
    }

    /// Re-list runs and tail the selected ones, at most once a second.
    pub fn refresh(&mut self, ctx: &egui::Context, force: bool) {
        if let Some(runs) = take_finished(&mut self.list) {
            self.runs = runs;
        }
        if let Some(tails) = take_finished(&mut self.tail_job) {
            self.tails.extend(tails);
        }
        let due = force
            || self
                .last_refresh
                .is_none_or(|t| t.elapsed() > Duration::from_secs(1));
        if !due || self.list.is_some() || self.tail_job.is_some() {
            return;
        }
        self.last_refresh = Some(Instant::now());
        let store = self.store.clone();
        self.list = Some(Job::spawn(ctx, move || {
            store
                .list()
                .unwrap_or_default()
                .iter()
                .filter_map(RunRow::read)
                .collect()
        }));
        let work: Vec<(PathBuf, RunTail)> = self
            .selected
            .iter()
            .map(|p| (p.clone(), self.tails.get(p).cloned().unwrap_or_default()))
            .collect();
        if !work.is_empty() {
            self.tail_job = Some(Job::spawn(ctx, move || {
                work.into_iter()
                    .map(|(p, mut t)| {
                        let _ = t.update(&p.join("metrics.jsonl"));
                        (p, t)
                    })
                    .collect()
            }));
        }
        ctx.request_repaint_after(Duration::from_secs(1));
    }
}

impl RunsView {
    /// Epochs read so far from a ticked run's metrics.
    pub fn tail_epochs(&self, run: &Path) -> usize {
        self.tails.get(run).map_or(0, |t| t.live.epochs.len())
    }
}

/// What the Runs tab asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum RunsCommand {
    /// Show this run in the Results tab.
    OpenResults(PathBuf),
    /// Continue this stopped run from its last checkpoint.
    Resume(PathBuf),
    /// Put a queued run's config into the form.
    OpenInForm(Box<RunConfig>),
}

/// Draws the tab; returns what was asked of the app this frame.
pub fn runs_tab_ui(
    ui: &mut Ui,
    view: &mut RunsView,
    thumbs: &mut ThumbnailCache,
    export: &mut Option<ExportRequest>,
    form: (&RunConfig, &str),
) -> Option<RunsCommand> {
    view.refresh(ui.ctx(), false);
    let mut open = None;
    if let Some(command) = queue_section_ui(ui, view, form) {
        return Some(command);
    }
    ui.horizontal(|ui| {
        ui.heading("Runs");
        if ui.button("Refresh").on_hover_text("Refresh now").clicked() {
            view.refresh(ui.ctx(), true);
        }
        if ui.button("Export comparison CSV").clicked() {
            let (header, rows) = comparison_csv(view);
            *export = Some(ExportRequest::Done(write_csv(
                &view.store.root.join("comparison.csv"),
                &header,
                rows,
            )));
        }
        ui.checkbox(&mut view.group_sweeps, "group sweeps")
            .on_hover_text("List each sweep's runs together, where its first run stands");
        let pair: Vec<PathBuf> = view.selected.iter().cloned().collect();
        let diff = ui
            .add_enabled(pair.len() == 2, egui::Button::new("diff"))
            .on_hover_text("Compare the two ticked runs: config, per-class deltas, flipped faces")
            .on_disabled_hover_text("tick exactly two runs to compare them");
        if diff.clicked() {
            // A is the older run (names start with the time they began)
            let names = |p: &PathBuf| p.file_name().map(|n| n.to_os_string());
            let mut pair = pair;
            pair.sort_by_key(names);
            view.diff = Some(DiffView::open(ui.ctx(), pair[0].clone(), pair[1].clone()));
        }
        ui.label(RichText::new(format!("in {}", view.store.root.display())).weak());
    });
    if let Some(m) = &view.message {
        ui.label(RichText::new(m).weak());
    }
    if view.runs.is_empty() {
        ui.label("No runs yet. Train one, or point the runs folder at existing runs.");
        return None;
    }
    // the table scrolls sideways rather than widening the whole tab
    egui::ScrollArea::horizontal()
        .id_salt("runs-table")
        .show(ui, |ui| {
            comparison_table_ui(ui, view, &mut open);
        });
    ui.separator();
    if let Some(diff) = &mut view.diff {
        if !diff_ui(ui, diff, thumbs) {
            view.diff = None;
        }
    } else if let Some(rect) = overlay_ui(ui, view) {
        if ui
            .small_button("save plot as PNG")
            .on_hover_text(format!("into {}", view.store.root.display()))
            .clicked()
        {
            let path = view.store.root.join(format!(
                "runs-overlay-{}.png",
                chrono::Local::now().format("%Y%m%d-%H%M%S")
            ));
            let path = std::path::absolute(&path).unwrap_or(path);
            *export = Some(ExportRequest::Screenshot {
                path,
                rect: Some(rect),
            });
        }
    }
    dialogs_ui(ui, view);
    let resume = view.resume_request.take().map(RunsCommand::Resume);
    open.map(RunsCommand::OpenResults).or(resume)
}

/// The queue, collapsible, above the runs; a queued config for the form.
fn queue_section_ui(
    ui: &mut Ui,
    view: &mut RunsView,
    form: (&RunConfig, &str),
) -> Option<RunsCommand> {
    let root = view.store.root.clone();
    let waiting = view.queue.queue.waiting();
    let queued = egui::CollapsingHeader::new(format!("Queue ({waiting} waiting)"))
        .id_salt("queue")
        .default_open(true)
        .show(ui, |ui| {
            queue_ui(ui, &mut view.queue, &root, form, &view.runs, view.busy)
        })
        .body_returned
        .flatten();
    ui.separator();
    match queued {
        Some(QueueCommand::OpenInForm(config)) => Some(RunsCommand::OpenInForm(Box::new(config))),
        Some(QueueCommand::Tick(runs)) => {
            view.selected = runs.into_iter().collect();
            None
        }
        None => None,
    }
}

fn overlay_ui(ui: &mut Ui, view: &mut RunsView) -> Option<egui::Rect> {
    let top = ui.cursor().min;
    ui.horizontal(|ui| {
        ui.heading("Compare curves");
        for (o, name) in [
            (Overlay::ValAccuracy, "val accuracy"),
            (Overlay::ValLoss, "val loss"),
            (Overlay::TrainAccuracy, "train accuracy"),
            (Overlay::TrainLoss, "train loss"),
        ] {
            ui.selectable_value(&mut view.overlay, o, name);
        }
    });
    if view.selected.is_empty() {
        ui.label(
            RichText::new(
                "Tick runs in the table to overlay their curves; runs in progress update live.",
            )
            .weak(),
        );
        return None;
    }
    let datasets: BTreeSet<&str> = view
        .runs
        .iter()
        .filter(|r| view.selected.contains(&r.path))
        .map(|r| r.fingerprint.as_str())
        .collect();
    if datasets.len() > 1 {
        ui.colored_label(
            theme::WARNING,
            "The ticked runs were trained on different data (see the dataset column): their numbers do not compare.",
        );
    }
    let mut series: Vec<(String, egui::Color32, Vec<[f64; 2]>)> = Vec::new();
    for (i, path) in view.selected.iter().enumerate() {
        let Some(tail) = view.tails.get(path) else {
            continue;
        };
        let pts: Vec<[f64; 2]> = tail
            .live
            .epochs
            .iter()
            .map(|m| {
                let v = match view.overlay {
                    Overlay::ValAccuracy => m.val_accuracy,
                    Overlay::ValLoss => m.val_loss,
                    Overlay::TrainAccuracy => m.train_accuracy,
                    Overlay::TrainLoss => m.train_loss,
                };
                [m.epoch as f64, v]
            })
            .collect();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = if tail.live.is_running() {
            format!("{name} (live)")
        } else {
            name
        };
        series.push((name, palette(i), pts));
    }
    // the legend sits above the plot, outside it
    let block = ui.vertical(|ui| {
        let entries: Vec<_> = series.iter().map(|s| (s.0.clone(), s.1)).collect();
        let hidden = legend_ui(ui, "overlay", &entries);
        Plot::new("overlay")
            .height((ui.available_height() - 40.0).max(200.0))
            .x_axis_label("epoch")
            .x_axis_formatter(|m, _| linear_label(m))
            .y_axis_formatter(|m, _| linear_label(m))
            .show(ui, |plot| {
                for (name, color, pts) in series {
                    if !hidden.contains(&name) {
                        plot.line(
                            Line::new(name, PlotPoints::new(pts))
                                .color(color)
                                .width(2.0),
                        );
                    }
                }
            });
    });
    // heading, legend, axes and plot: what "save plot as PNG" writes
    let r = block.response.rect;
    Some(egui::Rect::from_min_max(egui::pos2(r.min.x, top.y), r.max))
}
