//! The Results tab for one finished run: summary metrics, the Try-it panel, a
//! sortable per-class table, the confusion matrix, ROC curves, the embedding
//! map and the misclassified-faces gallery.

use std::path::PathBuf;

use egui::{Color32, RichText, Ui};
use egui_extras::{Column, TableBuilder};
use egui_plot::{Line, Plot, PlotPoints};

use super::confusion::{confusion_ui, most_confused_ui, ConfusionView};
use super::embedding_view::{embedding_ui, EmbeddingView, MapAction};
use super::explain_view::ExplainView;
use super::export::{png_button_ui, write_csv, ExportRequest};
use super::gallery::gallery_ui;
use super::jobs::{take_finished, Job};
use super::plots::{legend_ui, linear_label, palette};
use super::theme;
use super::thumbnails::ThumbnailCache;
use super::try_it::{try_it_ui, TryItView};
use crate::data::{natural_cmp, natural_order};
use crate::eval::EvalReport;
use crate::store::{RunDir, RunRecord};

/// The caption colour of a wrong prediction in the gallery.
pub const WRONG_PREDICTION: Color32 = Color32::from_rgb(230, 120, 100);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum SortBy {
    #[default]
    Class,
    Precision,
    Recall,
    F1,
    Support,
    Auc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GallerySort {
    #[default]
    Loss,
    Confidence,
}

pub struct LoadedRun {
    pub record: RunRecord,
    pub eval: EvalReport,
    /// The confusion matrix as a grid, made once at load, when it has at
    /// most [`GRID_CLASSES`] classes; more are shown as a list of pairs.
    pub grid: Option<Vec<Vec<usize>>>,
    /// ... those pairs, the most confused first, sorted once at load (empty
    /// when there is a grid).
    pub pairs: Vec<(usize, usize, usize)>,
    /// The ROC curves in natural order of their labels (s2 before s10),
    /// sorted once at load: at 10,000 classes a sort a frame cost more than
    /// the frame may.
    pub roc_order: Vec<usize>,
}

/// The most classes whose confusion matrix is drawn as a grid (a larger one
/// is a list of the most confused pairs).
pub const GRID_CLASSES: usize = crate::eval::MANY_CLASSES;

impl LoadedRun {
    pub fn new(record: RunRecord, eval: EvalReport) -> Self {
        let grid = (eval.classes.len() <= GRID_CLASSES).then(|| eval.confusion.dense());
        let pairs = match grid {
            Some(_) => Vec::new(),
            None => eval.confusion.most_confused(),
        };
        let labels: Vec<&str> = eval.roc.iter().map(|c| c.label.as_str()).collect();
        let roc_order = natural_order(&labels);
        Self {
            record,
            eval,
            grid,
            pairs,
            roc_order,
        }
    }
}

#[derive(Default)]
pub struct ResultsView {
    pub run: Option<PathBuf>,
    load: Option<Job<Result<LoadedRun, String>>>,
    pub loaded: Option<LoadedRun>,
    pub error: Option<String>,
    pub confusion: ConfusionView,
    sort: (SortBy, bool),
    /// The per-class table's rows in `sort` order, sorted when the sort or
    /// the run changes (not every frame).
    per_class_rows: Option<((SortBy, bool), Vec<usize>)>,
    roc_filter: String,
    pub gallery_sort: GallerySort,
    pub enlarged: Option<usize>,
    /// Grad-CAM over the gallery's faces.
    pub explain: ExplainView,
    /// The embedding map of the test faces.
    pub embedding: EmbeddingView,
    /// Faces picked on the map (shown by the gallery instead).
    pub map_selection: Option<Vec<PathBuf>>,
    /// New faces scored by the run.
    pub try_it: TryItView,
    /// Which page of [`GALLERY_PAGE`] faces the gallery shows, and what it
    /// was showing pages of (another cell or sort starts at page one).
    pub gallery_page: usize,
    /// The cell, map selection (a digest of it) and sort the page is of.
    pub(super) gallery_for: Option<(Option<(usize, usize)>, Option<u64>, GallerySort)>,
}

/// Faces a gallery page shows: a run with thousands of misclassified faces
/// is paged, not laid out whole every frame.
pub const GALLERY_PAGE: usize = 120;

impl ResultsView {
    /// Load a run's config and eval.json in the background.
    pub fn open(&mut self, ctx: &egui::Context, run: PathBuf) {
        self.run = Some(run.clone());
        self.confusion.selected = None;
        self.enlarged = None;
        self.map_selection = None;
        self.error = None;
        self.load = Some(Job::spawn(ctx, move || {
            let dir = RunDir::new(run);
            let record = dir.read_record().map_err(|e| format!("{e:#}"))?;
            let eval = dir
                .read_eval()
                .map_err(|e| format!("{e:#}"))?
                .ok_or_else(|| {
                    format!(
                        "{} has no eval.json yet: it has not finished (run `facebench eval` on it)",
                        dir.path.display()
                    )
                })?;
            Ok(LoadedRun::new(record, eval))
        }));
    }

    pub fn poll(&mut self) {
        if let Some(r) = take_finished(&mut self.load) {
            match r {
                Ok(l) => {
                    self.loaded = Some(l);
                    // the pairs list's and the table's rows were the last run's
                    self.confusion.pairs_shown = None;
                    self.per_class_rows = None;
                    self.gallery_page = 0;
                }
                Err(e) => {
                    self.loaded = None;
                    self.error = Some(e);
                }
            }
        }
    }

    /// The predictions the gallery shows: the selected cell's, else every
    /// misclassified image; sorted by loss or by confidence in the wrong answer.
    pub fn gallery_items(&self) -> Vec<usize> {
        let Some(l) = &self.loaded else {
            return Vec::new();
        };
        let preds = &l.eval.predictions;
        if let Some(picked) = &self.map_selection {
            let picked: std::collections::HashSet<&PathBuf> = picked.iter().collect();
            return (0..preds.len())
                .filter(|&i| picked.contains(&preds[i].path))
                .collect();
        }
        let mut items: Vec<usize> = (0..preds.len())
            .filter(|&i| match self.confusion.selected {
                Some((t, p)) => preds[i].true_class == t && preds[i].predicted == p,
                None => preds[i].true_class != preds[i].predicted,
            })
            .collect();
        let key = |i: &usize| match self.gallery_sort {
            GallerySort::Loss => preds[*i].loss,
            GallerySort::Confidence => preds[*i].top5.first().map_or(0.0, |t| t.1 as f64),
        };
        items.sort_by(|a, b| key(b).total_cmp(&key(a)));
        items
    }
}

pub fn results_tab_ui(
    ui: &mut Ui,
    view: &mut ResultsView,
    thumbs: &mut ThumbnailCache,
    big: &mut ThumbnailCache,
    export: &mut Option<ExportRequest>,
) {
    if view.load.is_some() {
        ui.spinner();
        return;
    }
    if let Some(e) = &view.error {
        ui.colored_label(theme::ERROR, e);
        return;
    }
    if view.loaded.is_none() {
        ui.label("Pick a finished run in the Runs tab (or finish a training) to see its results.");
        return;
    }
    summary_ui(ui, view, export);
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt("results-scroll")
        .show(ui, |ui| {
            if let (Some(run), Some(loaded)) = (view.run.clone(), view.loaded.as_ref()) {
                let classes = loaded.eval.classes.clone();
                let arch = loaded.record.config.model.architecture;
                egui::CollapsingHeader::new("Try it: predict new faces")
                    .default_open(true)
                    .show(ui, |ui| {
                        try_it_ui(
                            ui,
                            &mut view.try_it,
                            &mut view.explain,
                            big,
                            &run,
                            &classes,
                            arch,
                        );
                    });
                ui.separator();
            }
            ui.columns(2, |cols| {
                per_class_table_ui(&mut cols[0], view);
                let roc = cols[1].vertical(|ui| roc_ui(ui, view)).response.rect;
                if let Some(r) = png_button_ui(&mut cols[1], view.run.as_deref(), "roc-curves", roc)
                {
                    *export = Some(r);
                }
            });
            ui.separator();
            let Some(loaded) = view.loaded.as_ref() else {
                return;
            };
            let confusion = &mut view.confusion;
            let block = ui.vertical(|ui| match &loaded.grid {
                Some(grid) => {
                    ui.heading("Confusion matrix");
                    confusion_ui(ui, confusion, &loaded.eval.classes, grid, 640.0)
                }
                None => {
                    ui.heading("Most confused pairs");
                    most_confused_ui(ui, confusion, &loaded.eval.classes, &loaded.pairs, 640.0)
                }
            });
            if block.inner.is_some() {
                view.enlarged = None;
                view.map_selection = None;
            }
            let matrix_rect = block.response.rect.intersect(ui.clip_rect());
            if let Some(r) = png_button_ui(ui, view.run.as_deref(), "confusion-matrix", matrix_rect)
            {
                *export = Some(r);
            }
            ui.separator();
            if let Some(run) = view.run.clone() {
                match embedding_ui(ui, &mut view.embedding, &run, big) {
                    Some(MapAction::Open(path)) => {
                        let preds = view.loaded.as_ref().map(|l| &l.eval.predictions);
                        view.enlarged = preds.and_then(|p| p.iter().position(|q| q.path == path));
                    }
                    Some(MapAction::Select(paths)) => {
                        view.confusion.selected = None;
                        view.map_selection = Some(paths);
                    }
                    None => {}
                }
                ui.separator();
            }
            gallery_ui(ui, view, thumbs, big);
        });
}

fn summary_ui(ui: &mut Ui, view: &mut ResultsView, export: &mut Option<ExportRequest>) {
    let Some(l) = view.loaded.as_ref() else {
        return;
    };
    let e = &l.eval;
    ui.horizontal(|ui| {
        ui.heading(
            view.run
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        ui.label(
            RichText::new(format!(
                "{} · {} split · {} checkpoint · {} images",
                l.record.config.model.display_name(),
                e.split,
                e.checkpoint,
                e.images
            ))
            .weak(),
        );
    });
    ui.horizontal_wrapped(|ui| {
        let metric = |ui: &mut Ui, name: &str, v: String| {
            ui.group(|ui| {
                ui.vertical(|ui| {
                    ui.label(RichText::new(name).small().weak());
                    ui.label(RichText::new(v).heading());
                });
            });
        };
        metric(ui, "accuracy", format!("{:.2}%", e.accuracy * 100.0));
        metric(ui, "macro F1", format!("{:.4}", e.macro_avg.f1));
        metric(ui, "weighted F1", format!("{:.4}", e.weighted_avg.f1));
        metric(
            ui,
            "macro precision",
            format!("{:.4}", e.macro_avg.precision),
        );
        metric(ui, "macro recall", format!("{:.4}", e.macro_avg.recall));
        metric(
            ui,
            "macro AUC",
            e.auc_macro.map_or("n/a".into(), |a| format!("{a:.4}")),
        );
        metric(
            ui,
            "micro AUC",
            e.auc_micro.map_or("n/a".into(), |a| format!("{a:.4}")),
        );
        metric(ui, "loss", format!("{:.4}", e.loss));
        metric(ui, "inference", format!("{:.0} img/s", e.images_per_sec));
    });
    ui.horizontal(|ui| {
        if ui.button("Export per-class CSV").clicked() {
            if let Some(run) = &view.run {
                let rows = e.per_class.iter().map(|m| {
                    vec![
                        m.class.clone(),
                        m.precision.to_string(),
                        m.recall.to_string(),
                        m.f1.to_string(),
                        m.support.to_string(),
                        m.auc.map_or(String::new(), |a| a.to_string()),
                    ]
                });
                *export = Some(ExportRequest::Done(write_csv(
                    &run.join("per_class.csv"),
                    &["class", "precision", "recall", "f1", "support", "auc"],
                    rows,
                )));
            }
        }
        if ui.button("Export confusion CSV").clicked() {
            if let Some(run) = &view.run {
                let path = run.join("confusion.csv");
                *export = Some(ExportRequest::Done(match &l.grid {
                    // a grid, as the view draws it
                    Some(grid) => {
                        let mut header = vec!["true \\ predicted".to_string()];
                        header.extend(e.classes.iter().cloned());
                        let rows = grid.iter().enumerate().map(|(t, r)| {
                            let mut row = vec![e.classes[t].clone()];
                            row.extend(r.iter().map(|c| c.to_string()));
                            row
                        });
                        let header: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
                        write_csv(&path, &header, rows)
                    }
                    // too many classes for a grid: one row per non-zero cell
                    None => {
                        let rows = e.confusion.cells().map(|(t, p, n)| {
                            vec![e.classes[t].clone(), e.classes[p].clone(), n.to_string()]
                        });
                        write_csv(&path, &["true", "predicted", "count"], rows)
                    }
                }));
            }
        }
    });
}

fn per_class_table_ui(ui: &mut Ui, view: &mut ResultsView) {
    ui.heading("Per class");
    let Some(l) = view.loaded.as_ref() else {
        return;
    };
    let (by, desc) = view.sort;
    if view
        .per_class_rows
        .as_ref()
        .is_none_or(|(key, _)| *key != view.sort)
    {
        let per_class = &l.eval.per_class;
        let mut order: Vec<usize> = (0..per_class.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&per_class[a], &per_class[b]);
            let o = match by {
                SortBy::Class => natural_cmp(&a.class, &b.class),
                SortBy::Precision => a.precision.total_cmp(&b.precision),
                SortBy::Recall => a.recall.total_cmp(&b.recall),
                SortBy::F1 => a.f1.total_cmp(&b.f1),
                SortBy::Support => a.support.cmp(&b.support),
                SortBy::Auc => a.auc.unwrap_or(-1.0).total_cmp(&b.auc.unwrap_or(-1.0)),
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        });
        view.per_class_rows = Some((view.sort, order));
    }
    let Some((_, order)) = view.per_class_rows.as_ref() else {
        return;
    };
    let rows: Vec<&crate::eval::ClassMetrics> =
        order.iter().map(|&i| &l.eval.per_class[i]).collect();
    let mut clicked = None;
    TableBuilder::new(ui)
        .id_salt("per-class")
        .striped(true)
        .max_scroll_height(320.0)
        .column(Column::auto().at_least(120.0))
        .columns(Column::auto().at_least(60.0), 5)
        .header(20.0, |mut header| {
            for (name, key) in [
                ("class", SortBy::Class),
                ("precision", SortBy::Precision),
                ("recall", SortBy::Recall),
                ("F1", SortBy::F1),
                ("support", SortBy::Support),
                ("AUC", SortBy::Auc),
            ] {
                header.col(|ui| {
                    let arrow = if by == key {
                        if desc {
                            " v"
                        } else {
                            " ^"
                        }
                    } else {
                        ""
                    };
                    if ui.button(format!("{name}{arrow}")).clicked() {
                        clicked = Some(key);
                    }
                });
            }
        })
        .body(|body| {
            body.rows(18.0, rows.len(), |mut row| {
                let m = rows[row.index()];
                row.col(|ui| {
                    ui.label(&m.class);
                });
                for v in [m.precision, m.recall, m.f1] {
                    row.col(|ui| {
                        ui.label(format!("{v:.3}"));
                    });
                }
                row.col(|ui| {
                    ui.label(m.support.to_string());
                });
                row.col(|ui| {
                    ui.label(m.auc.map_or("n/a".into(), |a| format!("{a:.3}")));
                });
            });
        });
    if let Some(key) = clicked {
        view.sort = if view.sort.0 == key {
            (key, !view.sort.1)
        } else {
            (key, key != SortBy::Class)
        };
    }
}

fn roc_ui(ui: &mut Ui, view: &mut ResultsView) -> egui::Rect {
    ui.heading("ROC curves");
    ui.horizontal(|ui| {
        ui.label("classes");
        ui.add(
            egui::TextEdit::singleline(&mut view.roc_filter)
                .hint_text("filter, e.g. Tom")
                .desired_width(140.0),
        );
    });
    let Some(l) = view.loaded.as_ref() else {
        return egui::Rect::NOTHING;
    };
    let filter = view.roc_filter.to_lowercase();
    // the legend lists classes in natural order (s2 before s10)
    let shown: Vec<usize> = l
        .roc_order
        .iter()
        .copied()
        .filter(|&i| filter.is_empty() || l.eval.roc[i].label.to_lowercase().contains(&filter))
        .take(if filter.is_empty() { 10 } else { usize::MAX })
        .collect();
    let curve = |c: &crate::eval::RocCurve| -> Vec<[f64; 2]> {
        let mut pts: Vec<[f64; 2]> = c.fpr.iter().zip(&c.tpr).map(|(x, y)| [*x, *y]).collect();
        pts.dedup();
        pts
    };
    let auc = |c: &crate::eval::RocCurve| c.auc.map_or("n/a".into(), |a| format!("{a:.3}"));
    // (name, colour, width, points): the legend sits above the plot, outside it
    let mut series: Vec<(String, Color32, f32, Vec<[f64; 2]>)> = shown
        .iter()
        .map(|&i| {
            let c = &l.eval.roc[i];
            (
                format!("{} (AUC {})", c.label, auc(c)),
                palette(i),
                1.2,
                curve(c),
            )
        })
        .collect();
    for (c, color) in [
        (&l.eval.roc_micro, Color32::WHITE),
        (&l.eval.roc_macro, Color32::from_rgb(250, 220, 60)),
    ] {
        if let Some(c) = c {
            let name = format!("{}-average (AUC {})", c.label, auc(c));
            series.push((name, color, 2.5, curve(c)));
        }
    }
    let entries: Vec<(String, Color32)> = series.iter().map(|s| (s.0.clone(), s.1)).collect();
    let hidden = legend_ui(ui, "roc", &entries);
    let rect = Plot::new("roc")
        .height(320.0)
        .x_axis_label("false positive rate")
        .y_axis_label("true positive rate")
        .x_axis_formatter(|m, _| linear_label(m))
        .y_axis_formatter(|m, _| linear_label(m))
        .include_x(0.0)
        .include_x(1.0)
        .include_y(0.0)
        .include_y(1.0)
        .show(ui, |plot| {
            for (name, color, width, points) in series {
                if !hidden.contains(&name) {
                    plot.line(
                        Line::new(name, PlotPoints::new(points))
                            .color(color)
                            .width(width)
                            .allow_band(false),
                    );
                }
            }
            plot.line(
                Line::new("chance", PlotPoints::new(vec![[0.0, 0.0], [1.0, 1.0]]))
                    .color(Color32::GRAY)
                    .style(egui_plot::LineStyle::dashed_dense()),
            );
        })
        .response
        .rect;
    if filter.is_empty() && l.eval.roc.len() > 10 {
        ui.label(
            RichText::new(format!(
                "showing the first 10 of {} classes; type to filter",
                l.eval.roc.len()
            ))
            .weak(),
        );
    }
    rect
}
