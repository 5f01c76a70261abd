//! The embedding map in the Results tab: a split's faces (the test faces by
//! default) placed by their penultimate features (t-SNE, UMAP or PCA),
//! coloured by true class with misclassified faces ringed. Hover for the
//! face, click to enlarge it, shift-drag a box to fill the gallery with the
//! faces inside, filter to one class.

use std::path::{Path, PathBuf};

use egui::{Color32, RichText, Ui};
use egui_plot::{MarkerShape, Plot, PlotPoint, PlotPoints, Points, Polygon};

use super::jobs::{take_finished, Job};
use super::theme;
use super::thumbnails::ThumbnailCache;
use crate::data::Split;
use crate::engine::{embed_run, explained_checkpoint, EmbedRequest};
use crate::eval::Projection;
use crate::run::DeviceChoice;
use crate::store::{checkpoint_stamp, EmbeddingMap, RunDir};

/// How near (in pixels) the pointer must be to a face to pick it.
const PICK_RADIUS: f32 = 8.0;

/// Which map: the faces of one split, by one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapChoice {
    pub split: Split,
    pub method: Projection,
}

impl Default for MapChoice {
    fn default() -> Self {
        MapChoice {
            split: Split::Test,
            method: Projection::Tsne,
        }
    }
}

type MapKey = (PathBuf, MapChoice);

#[derive(Default)]
pub struct EmbeddingView {
    /// Show the map (it is computed the first time).
    pub shown: bool,
    /// The split and the method the user picked.
    pub choice: MapChoice,
    job: Option<Job<(MapKey, Result<EmbeddingMap, String>)>>,
    /// The map, with the run and the choice it belongs to.
    pub map: Option<(MapKey, EmbeddingMap)>,
    pub error: Option<String>,
    /// Only this class in colour.
    pub filter: Option<usize>,
    /// Where a shift-drag began, in map coordinates.
    drag_from: Option<PlotPoint>,
    /// The face under the pointer last frame (an index into the map).
    pub hovered: Option<usize>,
    /// Where each face was drawn last frame, on screen (tests aim with it).
    #[doc(hidden)]
    pub screen: Vec<egui::Pos2>,
}

/// What the map asks of the Results tab this frame.
#[derive(Debug, Clone, PartialEq)]
pub enum MapAction {
    /// Enlarge this face.
    Open(PathBuf),
    /// Show these faces in the gallery.
    Select(Vec<PathBuf>),
}

impl EmbeddingView {
    /// The map of `run`, from its cache when that was made from the current
    /// checkpoint, else computed (t-SNE of the test faces) and cached.
    fn request(&mut self, ctx: &egui::Context, run: &Path) {
        if let Some((of, result)) = take_finished(&mut self.job) {
            match result {
                Ok(map) => self.map = Some((of, map)),
                Err(e) => self.error = Some(e),
            }
        }
        let key = (run.to_path_buf(), self.choice);
        let current = self.map.as_ref().is_some_and(|(of, _)| *of == key);
        if current || self.job.is_some() || self.error.is_some() {
            return;
        }
        self.job = Some(Job::spawn(ctx, move || {
            let map = map_of(&key.0, key.1).map_err(|e| format!("embedding map: {e:#}"));
            (key, map)
        }));
    }

    pub fn is_computing(&self) -> bool {
        self.job.is_some()
    }
}

/// The map of `run` for `choice`, from embeddings.json when that holds the
/// same split and method from the current checkpoint, else computed and
/// written there.
fn map_of(run: &Path, choice: MapChoice) -> anyhow::Result<EmbeddingMap> {
    let dir = RunDir::new(run);
    let stamp = checkpoint_stamp(&explained_checkpoint(&dir)?);
    if let Ok(Some(map)) = dir.read_embeddings() {
        if map.checkpoint == stamp
            && map.split == choice.split.name()
            && map.method == choice.method
        {
            return Ok(map);
        }
    }
    let map = embed_run(&EmbedRequest {
        run: run.to_path_buf(),
        split: choice.split,
        method: choice.method,
        device: DeviceChoice::Cpu,
    })?;
    dir.write_embeddings(&map)?;
    Ok(map)
}

/// A class's colour on the map.
fn colour(class: usize, classes: usize) -> Color32 {
    let [r, g, b] = crate::eval::class_colour(class, classes);
    Color32::from_rgb(r, g, b)
}

/// The map's section; returns what the user asked of the tab.
pub fn embedding_ui(
    ui: &mut Ui,
    view: &mut EmbeddingView,
    run: &Path,
    big: &mut ThumbnailCache,
) -> Option<MapAction> {
    ui.horizontal(|ui| {
        ui.heading("Embedding map");
        ui.checkbox(&mut view.shown, "show")
            .on_hover_text("A split's faces placed by the network's penultimate features");
        if view.shown && choice_ui(ui, &mut view.choice) {
            view.error = None;
        }
    });
    if !view.shown {
        return None;
    }
    view.request(ui.ctx(), run);
    if let Some(e) = &view.error {
        ui.colored_label(theme::ERROR, e);
        return None;
    }
    if view.is_computing() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(format!(
                "computing the map of the {} faces (features, then {})…",
                view.choice.split.name(),
                view.choice.method.name()
            ));
        });
        return None;
    }
    let Some((_, map)) = view.map.as_ref() else {
        return None;
    };
    filter_row_ui(ui, &mut view.filter, map);
    let shift = ui.input(|i| i.modifiers.shift);
    let shown = draw_map(ui, map, view.filter, view.drag_from, shift);
    let response = &shown.response;
    view.screen = map
        .faces
        .iter()
        .map(|f| {
            shown
                .transform
                .position_from_point(&PlotPoint::new(f.x, f.y))
        })
        .collect();
    // the face nearest the pointer, within a few pixels
    view.hovered = response.hover_pos().and_then(|pos| {
        (0..map.faces.len())
            .map(|i| (i, view.screen[i].distance(pos)))
            .filter(|&(_, d)| d <= PICK_RADIUS)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    });
    if let Some(i) = view.hovered {
        let f = &map.faces[i];
        response.clone().on_hover_ui_at_pointer(|ui| {
            big.show(ui, &f.path, 128.0);
            ui.label(format!("true: {}", map.classes[f.true_class]));
            ui.label(format!(
                "predicted: {} ({:.1}%)",
                map.classes[f.predicted],
                f.confidence * 100.0
            ));
        });
    }
    let mut action = None;
    if shift && response.drag_started() {
        view.drag_from = shown.inner;
    }
    if response.drag_stopped() {
        if let (Some(a), Some(b)) = (view.drag_from.take(), shown.inner) {
            let (x0, x1) = (a.x.min(b.x), a.x.max(b.x));
            let (y0, y1) = (a.y.min(b.y), a.y.max(b.y));
            let inside = map
                .faces
                .iter()
                .filter(|f| (x0..=x1).contains(&(f.x as f64)) && (y0..=y1).contains(&(f.y as f64)))
                .map(|f| f.path.clone())
                .collect();
            action = Some(MapAction::Select(inside));
        }
    } else if response.clicked() {
        if let Some(i) = view.hovered {
            action = Some(MapAction::Open(map.faces[i].path.clone()));
        }
    }
    action
}

/// The split and method pickers; true when the user changed one.
fn choice_ui(ui: &mut Ui, choice: &mut MapChoice) -> bool {
    let before = *choice;
    egui::ComboBox::from_id_salt("map-split")
        .selected_text(choice.split.name())
        .show_ui(ui, |ui| {
            for split in [Split::Test, Split::Val, Split::Train] {
                ui.selectable_value(&mut choice.split, split, split.name());
            }
        });
    egui::ComboBox::from_id_salt("map-method")
        .selected_text(choice.method.name())
        .show_ui(ui, |ui| {
            for method in [Projection::Tsne, Projection::Umap, Projection::Pca] {
                ui.selectable_value(&mut choice.method, method, method.name());
            }
        });
    *choice != before
}

/// The class filter and the hints above the map.
fn filter_row_ui(ui: &mut Ui, filter: &mut Option<usize>, map: &EmbeddingMap) {
    ui.horizontal(|ui| {
        ui.label("class");
        egui::ComboBox::from_id_salt("map-filter")
            .selected_text(filter.map_or("all", |c| map.classes[c].as_str()))
            .show_ui(ui, |ui| {
                ui.selectable_value(filter, None, "all");
                for (c, name) in map.classes.iter().enumerate() {
                    ui.selectable_value(filter, Some(c), name);
                }
            });
        ui.label(
            RichText::new("ringed: misclassified · hover for the face, click to enlarge, shift-drag to select")
                .weak(),
        );
    });
}

/// The points (dimmed outside `filter`), the rings of the misclassified and
/// the selection box; returns the pointer's map coordinate.
fn draw_map(
    ui: &mut Ui,
    map: &EmbeddingMap,
    filter: Option<usize>,
    drag_from: Option<PlotPoint>,
    shift: bool,
) -> egui_plot::PlotResponse<Option<PlotPoint>> {
    let k = map.classes.len();
    let point = |i: usize| [map.faces[i].x as f64, map.faces[i].y as f64];
    let dimmed = |c: usize| filter.is_some_and(|f| f != c);
    Plot::new("embedding-map")
        .height(520.0)
        .data_aspect(1.0)
        .allow_drag(!shift)
        .allow_boxed_zoom(false)
        .show_axes(false)
        .show(ui, |plot| {
            // one pass over the faces, whatever the number of classes
            let mut by_class: Vec<Vec<[f64; 2]>> = vec![Vec::new(); k];
            for (i, f) in map.faces.iter().enumerate() {
                by_class[f.true_class].push(point(i));
            }
            for (c, pts) in by_class.into_iter().enumerate() {
                let colour = if dimmed(c) {
                    colour(c, k).gamma_multiply(0.12)
                } else {
                    colour(c, k)
                };
                plot.points(
                    Points::new(map.classes[c].as_str(), PlotPoints::new(pts))
                        .color(colour)
                        .radius(2.5),
                );
            }
            let wrong: Vec<[f64; 2]> = (0..map.faces.len())
                .filter(|&i| map.faces[i].predicted != map.faces[i].true_class)
                .filter(|&i| !dimmed(map.faces[i].true_class))
                .map(point)
                .collect();
            plot.points(
                Points::new("misclassified", PlotPoints::new(wrong))
                    .shape(MarkerShape::Circle)
                    .filled(false)
                    .radius(5.0)
                    .color(Color32::WHITE),
            );
            if let (Some(a), Some(b)) = (drag_from, plot.pointer_coordinate()) {
                let corners = vec![[a.x, a.y], [b.x, a.y], [b.x, b.y], [a.x, b.y]];
                plot.polygon(
                    Polygon::new("selection", PlotPoints::new(corners))
                        .fill_color(Color32::from_white_alpha(20)),
                );
            }
            plot.pointer_coordinate()
        })
}
