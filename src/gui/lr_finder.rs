//! The learning-rate finder window: the sweep runs in the background on the
//! form's config (never creating a run), its loss is drawn against the
//! learning rate on a log axis as it comes, the suggestions are marked, and
//! one click copies a suggestion into the form.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use egui::{Color32, RichText};
use egui_plot::{HoverPosition, Line, Plot, PlotPoints, VLine};

use super::jobs::{take_finished, Job};
use super::theme;
use crate::engine::{find_lr, LrFindRequest, LrFindResult, LrPoint, TrainControl};
use crate::run::RunConfig;

/// A finished sweep and the scratch file it was saved to.
type Finished = Result<(LrFindResult, PathBuf), String>;

#[derive(Default)]
pub struct LrFinderView {
    pub open: bool,
    job: Option<Job<Finished>>,
    /// Loading the remembered sweep.
    load: Option<Job<Result<LrFindResult, String>>>,
    control: TrainControl,
    /// The points of the running sweep.
    live: Arc<Mutex<Vec<LrPoint>>>,
    /// The last sweep.
    pub result: Option<LrFindResult>,
    pub error: Option<String>,
}

/// What the window asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum LrFinderAction {
    /// Put this learning rate into the form.
    UseLr(f64),
    /// The sweep was saved here (the form remembers it).
    Saved(PathBuf),
}

impl LrFinderView {
    /// Start a sweep on `config` over the faces in `data_root`.
    pub fn start(&mut self, ctx: &egui::Context, config: RunConfig, data_root: PathBuf) {
        if self.is_running() {
            return;
        }
        self.open = true;
        self.error = None;
        self.result = None;
        self.control = TrainControl::default();
        self.live = Arc::new(Mutex::new(Vec::new()));
        let (control, live, wake) = (self.control.clone(), self.live.clone(), ctx.clone());
        self.job = Some(Job::spawn(ctx, move || {
            let request = LrFindRequest::new(config, data_root);
            let mut on_point = |p: &LrPoint| {
                if let Ok(mut points) = live.lock() {
                    points.push(*p);
                }
                wake.request_repaint();
            };
            let result =
                find_lr(&request, &control, &mut on_point).map_err(|e| format!("{e:#}"))?;
            let path = result.save_scratch().map_err(|e| format!("{e:#}"))?;
            Ok((result, path))
        }));
    }

    /// Show the sweep saved at `path` (read in the background).
    pub fn open_saved(&mut self, ctx: &egui::Context, path: PathBuf) {
        self.open = true;
        if self.result.is_none() && self.job.is_none() && self.load.is_none() {
            self.load = Some(Job::spawn(ctx, move || {
                LrFindResult::load_scratch(&path).map_err(|e| format!("{e:#}"))
            }));
        }
    }

    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    /// Stop the running sweep after its current step.
    pub fn stop(&self) {
        self.control.stop();
    }

    fn poll(&mut self) -> Option<LrFinderAction> {
        if let Some(loaded) = take_finished(&mut self.load) {
            match loaded {
                Ok(r) => self.result = Some(r),
                Err(e) => self.error = Some(e),
            }
        }
        match take_finished(&mut self.job)? {
            Ok((result, path)) => {
                self.result = Some(result);
                Some(LrFinderAction::Saved(path))
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

/// The window, when open; returns what the user asked for.
pub fn lr_finder_window(ctx: &egui::Context, view: &mut LrFinderView) -> Option<LrFinderAction> {
    let mut action = view.poll();
    let mut open = view.open;
    egui::Window::new("Learning-rate finder")
        .open(&mut open)
        .default_size([620.0, 420.0])
        .show(ctx, |ui| {
            if let Some(e) = &view.error {
                ui.colored_label(theme::ERROR, e);
            }
            let points: Vec<LrPoint> = match &view.result {
                Some(r) => r.points.clone(),
                None => view.live.lock().map(|p| p.clone()).unwrap_or_default(),
            };
            ui.horizontal(|ui| {
                if view.is_running() {
                    ui.spinner();
                    ui.label(format!("step {} of at most 200", points.len()));
                    if ui.button("Stop").clicked() {
                        view.stop();
                    }
                } else if let Some(r) = &view.result {
                    let end = r.end.describe();
                    ui.label(format!("{}: {} steps, {end}", r.label, r.points.len()));
                }
            });
            if let Some(r) = &view.result {
                ui.horizontal(|ui| {
                    for (name, lr) in [("valley", r.valley), ("steepest", r.steepest)] {
                        match lr {
                            Some(lr) => {
                                if ui
                                    .button(format!("use {lr:.1e} ({name})"))
                                    .on_hover_text("Copy into the form's learning rate")
                                    .clicked()
                                {
                                    action = Some(LrFinderAction::UseLr(lr));
                                }
                            }
                            None => {
                                ui.label(RichText::new(format!("no {name}: too few steps")).weak());
                            }
                        }
                    }
                });
            }
            curve_ui(ui, &points, view.result.as_ref());
        });
    view.open = open;
    action
}

/// Smoothed (and raw, faint) loss against log10(lr), the suggestions as
/// vertical lines. Values above the divergence threshold (4x the lowest
/// smoothed loss) are drawn at it, so a blow-up at the end does not flatten
/// the curve.
fn curve_ui(ui: &mut egui::Ui, points: &[LrPoint], result: Option<&LrFindResult>) {
    let lowest = points
        .iter()
        .map(|p| p.smoothed)
        .fold(f64::INFINITY, f64::min);
    let cap = points
        .iter()
        .map(|p| p.smoothed.min(4.0 * lowest))
        .fold(f64::NEG_INFINITY, f64::max)
        * 1.05;
    // only finite points: egui_plot's bounds must be finite and not empty
    let xy = |f: fn(&LrPoint) -> f64| -> PlotPoints<'static> {
        points
            .iter()
            .map(|p| [p.lr.log10(), f(p).min(cap)])
            .filter(|[x, y]| x.is_finite() && y.is_finite())
            .collect()
    };
    Plot::new("lr-finder")
        .height(300.0)
        // losses from 0: the y range is never empty, even at the first point
        .include_y(0.0)
        .x_axis_label("learning rate (log scale)")
        .y_axis_label("loss")
        .x_axis_formatter(|mark, _| format!("{:.0e}", 10f64.powf(mark.value)))
        .label_formatter(|hover| {
            let p = match hover {
                HoverPosition::NearDataPoint { position, .. } => position,
                HoverPosition::Elsewhere { position } => position,
            };
            Some(format!("lr {:.2e}\nloss {:.3}", 10f64.powf(p.x), p.y))
        })
        .show(ui, |plot| {
            plot.line(Line::new("loss", xy(|p| p.loss)).color(Color32::from_gray(90)));
            plot.line(
                Line::new("smoothed", xy(|p| p.smoothed))
                    .color(Color32::from_rgb(90, 170, 255))
                    .width(2.0),
            );
            if let Some(r) = result {
                let marks = [
                    ("valley", r.valley, Color32::from_rgb(120, 220, 120)),
                    ("steepest", r.steepest, Color32::from_rgb(250, 190, 80)),
                ];
                for (name, lr, colour) in marks {
                    if let Some(lr) = lr {
                        plot.vline(VLine::new(name, lr.log10()).color(colour));
                    }
                }
            }
        });
}
