//! Two runs side by side, in the Runs tab: the config keys that differ, the
//! per-class accuracy and F1 deltas, the confusion-difference matrix (B - A,
//! click a cell for the faces that entered or left it) and the faces that
//! flipped between right and wrong.

use std::path::PathBuf;

use egui::{Color32, RichText, Sense, Ui, Vec2};

use super::jobs::{take_finished, Job};
use super::theme;
use super::thumbnails::ThumbnailCache;
use crate::eval::{FacePair, Flip};
use crate::store::{diff_runs, RunDiff, RunDir};

/// Side of a matrix cell, the width of its row labels, and the side of a
/// face in the galleries.
const CELL: f32 = 20.0;
const LABELS: f32 = 125.0;
/// Height of a class's row in the per-class chart.
const ROW: f32 = 20.0;
const THUMB: f32 = 80.0;
/// Faces shown per gallery (the CSV of `facebench diff` has them all).
const GALLERY_LIMIT: usize = 60;

#[derive(Default)]
pub struct DiffView {
    job: Option<Job<Result<RunDiff, String>>>,
    pub diff: Option<RunDiff>,
    pub error: Option<String>,
    /// The selected cell (true, predicted) of the difference matrix.
    pub selected: Option<(usize, usize)>,
    /// Where the matrix was drawn last frame: the top-left of cell (0, 0)
    /// (so a click maps to a cell, and tests can aim).
    #[doc(hidden)]
    pub drawn: Option<egui::Pos2>,
}

impl DiffView {
    /// Compare run `b` with run `a`, in the background.
    pub fn open(ctx: &egui::Context, a: PathBuf, b: PathBuf) -> Self {
        Self {
            job: Some(Job::spawn(ctx, move || {
                diff_runs(&RunDir::new(a), &RunDir::new(b)).map_err(|e| format!("{e:#}"))
            })),
            ..Self::default()
        }
    }

    fn poll(&mut self) {
        match take_finished(&mut self.job) {
            Some(Ok(diff)) => self.diff = Some(diff),
            Some(Err(e)) => self.error = Some(e),
            None => {}
        }
    }

    pub fn is_loading(&self) -> bool {
        self.job.is_some()
    }
}

/// The diff; returns false when the user closed it.
pub fn diff_ui(ui: &mut Ui, view: &mut DiffView, thumbs: &mut ThumbnailCache) -> bool {
    view.poll();
    let mut keep = true;
    ui.horizontal(|ui| {
        ui.heading("Diff");
        if ui.button("close diff").clicked() {
            keep = false;
        }
    });
    if view.is_loading() {
        ui.spinner();
        return keep;
    }
    if let Some(e) = &view.error {
        ui.colored_label(theme::ERROR, e);
        return keep;
    }
    let Some(d) = view.diff.as_ref() else {
        return keep;
    };
    summary_ui(ui, d);
    ui.columns(2, |cols| {
        class_deltas_ui(&mut cols[0], d);
        cols[1].label(RichText::new("Confusion difference (B - A)").strong());
        cols[1].label(
            RichText::new("green: better in B (more right, fewer wrong), red: worse; click a cell")
                .weak(),
        );
        if d.eval.classes.len() > super::results_tab::GRID_CLASSES {
            cols[1].label(format!(
                "{} classes: too many for a grid (the per-class changes are beside it)",
                d.eval.classes.len()
            ));
        } else if let Some(cell) =
            difference_matrix_ui(&mut cols[1], d, view.selected, &mut view.drawn)
        {
            view.selected = (view.selected != Some(cell)).then_some(cell);
        }
    });
    ui.separator();
    let classes = &d.eval.classes;
    match view.selected {
        Some((t, p)) => {
            let (entered, left) = d.eval.cell_changes(t, p);
            ui.horizontal(|ui| {
                ui.heading(format!("{} -> {}", classes[t], classes[p]));
                if ui.button("show flipped faces").clicked() {
                    view.selected = None;
                }
            });
            faces_ui(
                ui,
                thumbs,
                d,
                &format!("entered in B: {}", entered.len()),
                &entered,
            );
            faces_ui(ui, thumbs, d, &format!("left in B: {}", left.len()), &left);
        }
        None => {
            let broken = d.eval.flipped(Flip::Broken);
            let fixed = d.eval.flipped(Flip::Fixed);
            let title = format!("right in A, wrong in B: {}", broken.len());
            faces_ui(ui, thumbs, d, &title, &broken);
            let title = format!("wrong in A, right in B: {}", fixed.len());
            faces_ui(ui, thumbs, d, &title, &fixed);
        }
    }
    keep
}

fn summary_ui(ui: &mut Ui, d: &RunDiff) {
    let e = &d.eval;
    ui.label(format!("A: {}", d.names.0));
    ui.label(format!("B: {}", d.names.1));
    if !d.same_train_files {
        ui.colored_label(
            theme::WARNING,
            "the runs were trained on different train files (their fingerprints differ)",
        );
    }
    let (aa, ab) = e.accuracy;
    let (fa, fb) = e.macro_f1;
    ui.label(format!(
        "accuracy {:.2}% -> {:.2}% ({:+.2} points)   macro F1 {fa:.4} -> {fb:.4} ({:+.4})   on {} faces",
        aa * 100.0,
        ab * 100.0,
        (ab - aa) * 100.0,
        fb - fa,
        e.faces.len()
    ));
    if d.config.is_empty() {
        ui.label("config: the same");
        return;
    }
    egui::Grid::new("diff-config").striped(true).show(ui, |ui| {
        ui.label(RichText::new("config key").strong());
        ui.label(RichText::new("A").strong());
        ui.label(RichText::new("B").strong());
        ui.end_row();
        for c in &d.config {
            ui.label(&c.key);
            ui.label(c.a.as_deref().unwrap_or("(none)"));
            ui.label(c.b.as_deref().unwrap_or("(none)"));
            ui.end_row();
        }
    });
}

/// Per class: B's accuracy and F1 minus A's, as horizontal bars.
fn class_deltas_ui(ui: &mut Ui, d: &RunDiff) {
    ui.label(RichText::new("Per-class change (B - A)").strong());
    let (accuracy_colour, f1_colour) = (
        Color32::from_rgb(90, 170, 250),
        Color32::from_rgb(250, 190, 70),
    );
    ui.horizontal(|ui| {
        ui.colored_label(accuracy_colour, "accuracy");
        ui.colored_label(f1_colour, "F1");
    });
    let per_class = &d.eval.per_class;
    let largest = per_class
        .iter()
        .flat_map(|c| [c.accuracy.1 - c.accuracy.0, c.f1.1 - c.f1.0])
        .fold(0.01f64, |m, v| m.max(v.abs()));
    let width = ui.available_width().max(LABELS + 120.0);
    let size = Vec2::new(width, ROW * per_class.len() as f32);
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    let half = (width - LABELS - 50.0) / 2.0;
    let zero = rect.left() + LABELS + half;
    let text = ui.visuals().text_color();
    painter.line_segment(
        [
            egui::pos2(zero, rect.top()),
            egui::pos2(zero, rect.bottom()),
        ],
        (1.0, ui.visuals().weak_text_color()),
    );
    for (i, c) in per_class.iter().enumerate() {
        let top = rect.top() + i as f32 * ROW;
        painter.text(
            egui::pos2(rect.left() + LABELS - 6.0, top + ROW / 2.0),
            egui::Align2::RIGHT_CENTER,
            &c.class,
            egui::FontId::proportional(11.0),
            text,
        );
        for (k, (delta, colour)) in [
            (c.accuracy.1 - c.accuracy.0, accuracy_colour),
            (c.f1.1 - c.f1.0, f1_colour),
        ]
        .into_iter()
        .enumerate()
        {
            let length = (delta / largest) as f32 * half;
            let y = top + 2.0 + k as f32 * (ROW - 4.0) / 2.0;
            let bar = egui::Rect::from_two_pos(
                egui::pos2(zero, y),
                egui::pos2(zero + length, y + (ROW - 4.0) / 2.0 - 1.0),
            );
            painter.rect_filled(bar, 1.0, colour);
        }
    }
    if let Some(pos) = response.hover_pos() {
        let i = ((pos.y - rect.top()) / ROW).floor() as usize;
        if let Some(c) = per_class.get(i) {
            response.on_hover_text(format!(
                "{}: accuracy {:.3} -> {:.3}, F1 {:.3} -> {:.3}",
                c.class, c.accuracy.0, c.accuracy.1, c.f1.0, c.f1.1
            ));
        }
    }
}

/// The B - A matrix; returns the cell clicked.
fn difference_matrix_ui(
    ui: &mut Ui,
    d: &RunDiff,
    selected: Option<(usize, usize)>,
    drawn: &mut Option<egui::Pos2>,
) -> Option<(usize, usize)> {
    let delta = d.eval.confusion_delta();
    let k = delta.len();
    let largest = delta
        .iter()
        .flatten()
        .map(|v| v.abs())
        .max()
        .unwrap_or(1)
        .max(1) as f32;
    let mut clicked = None;
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 0.0;
        // the true classes, one per row
        let size = Vec2::new(LABELS, CELL * k as f32);
        let (labels, _) = ui.allocate_exact_size(size, Sense::hover());
        for (t, name) in d.eval.classes.iter().enumerate() {
            ui.painter().text(
                labels.right_top() + Vec2::new(-6.0, (t as f32 + 0.5) * CELL),
                egui::Align2::RIGHT_CENTER,
                name,
                egui::FontId::proportional(11.0),
                ui.visuals().text_color(),
            );
        }
        clicked = matrix_cells_ui(ui, d, &delta, largest, selected, drawn);
    });
    clicked
}

/// The cells of the matrix; returns the one clicked.
fn matrix_cells_ui(
    ui: &mut Ui,
    d: &RunDiff,
    delta: &[Vec<i64>],
    largest: f32,
    selected: Option<(usize, usize)>,
    drawn: &mut Option<egui::Pos2>,
) -> Option<(usize, usize)> {
    let k = delta.len();
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(CELL * k as f32), Sense::click());
    *drawn = Some(rect.min);
    let painter = ui.painter_at(rect);
    for (t, row) in delta.iter().enumerate() {
        for (p, &v) in row.iter().enumerate() {
            let cell = egui::Rect::from_min_size(
                rect.min + Vec2::new(p as f32 * CELL, t as f32 * CELL),
                Vec2::splat(CELL - 1.0),
            );
            // more on the diagonal is better, more off it is worse
            let better = (v > 0) == (t == p);
            let strength = v.abs() as f32 / largest;
            let base = if better { theme::SUCCESS } else { theme::ERROR };
            let fill = if v == 0 {
                ui.visuals().faint_bg_color
            } else {
                base.gamma_multiply(0.25 + 0.75 * strength)
            };
            painter.rect_filled(cell, 1.0, fill);
            if selected == Some((t, p)) {
                painter.rect_stroke(cell, 1.0, (2.0, Color32::WHITE), egui::StrokeKind::Inside);
            }
            if v != 0 {
                painter.text(
                    cell.center(),
                    egui::Align2::CENTER_CENTER,
                    format!("{v:+}"),
                    egui::FontId::proportional(9.0),
                    Color32::WHITE,
                );
            }
        }
    }
    let classes = &d.eval.classes;
    let at = |pos: egui::Pos2| {
        let cell = (pos - rect.min) / CELL;
        let (t, p) = (cell.y.floor() as usize, cell.x.floor() as usize);
        (t < k && p < k).then_some((t, p))
    };
    if let Some((t, p)) = response.hover_pos().and_then(at) {
        let (a, b) = (d.eval.confusion.0.get(t, p), d.eval.confusion.1.get(t, p));
        response.clone().on_hover_text(format!(
            "true {} -> predicted {}: {a} in A, {b} in B",
            classes[t], classes[p]
        ));
    }
    if response.clicked() {
        return response.interact_pointer_pos().and_then(at);
    }
    None
}

/// A row of faces with both predictions and the true class's probability
/// in each.
fn faces_ui(
    ui: &mut Ui,
    thumbs: &mut ThumbnailCache,
    d: &RunDiff,
    title: &str,
    faces: &[&FacePair],
) {
    let classes = &d.eval.classes;
    ui.label(RichText::new(title).strong());
    if faces.len() > GALLERY_LIMIT {
        ui.label(
            RichText::new(format!(
                "the {GALLERY_LIMIT} with the largest confidence change; `facebench diff --csv` lists all"
            ))
            .weak(),
        );
    }
    let percent = |p: Option<f32>| p.map_or("<top 5".into(), |v| format!("{:.0}%", v * 100.0));
    ui.horizontal_wrapped(|ui| {
        for f in faces.iter().take(GALLERY_LIMIT) {
            let size = Vec2::new(THUMB + 40.0, THUMB + 60.0);
            let column = egui::Layout::top_down(egui::Align::Min);
            ui.allocate_ui_with_layout(size, column, |ui| {
                ui.set_width(THUMB + 40.0);
                thumbs.show(ui, &f.path, THUMB).on_hover_text(format!(
                    "{}\ntrue: {}\nA: {} (true class {})\nB: {} (true class {})",
                    f.path.display(),
                    classes[f.true_class],
                    classes[f.predicted.0],
                    percent(f.true_probability.0),
                    classes[f.predicted.1],
                    percent(f.true_probability.1),
                ));
                ui.add(egui::Label::new(RichText::new(&classes[f.true_class]).small()).truncate());
                for (run, predicted) in [("A", f.predicted.0), ("B", f.predicted.1)] {
                    let text = RichText::new(format!("{run}: {}", classes[predicted])).small();
                    let text = if predicted == f.true_class {
                        text
                    } else {
                        text.color(super::results_tab::WRONG_PREDICTION)
                    };
                    ui.add(egui::Label::new(text).truncate());
                }
                ui.label(RichText::new(format!("Δp {:+.2}", f.confidence_change())).small());
            });
        }
    });
}
