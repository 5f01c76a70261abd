//! The Results tab's gallery: the misclassified faces (or one confusion
//! cell's), with Grad-CAM drawn over them on request, and the enlarged face
//! showing the evidence for the predicted class beside that for the true one.

use std::path::PathBuf;

use egui::{RichText, Ui};

use super::explain_view::ExplainView;
use super::results_tab::{GallerySort, ResultsView, GALLERY_PAGE, WRONG_PREDICTION};
use super::theme;
use super::thumbnails::ThumbnailCache;
use crate::eval::Prediction;

/// Side of a gallery thumbnail, and of the enlarged face.
const THUMB: f32 = 96.0;
const ENLARGED: f32 = 320.0;

pub fn gallery_ui(
    ui: &mut Ui,
    view: &mut ResultsView,
    thumbs: &mut ThumbnailCache,
    big: &mut ThumbnailCache,
) {
    let all = view.gallery_items();
    let page = current_page(view, all.len());
    let items = &all[page.clone()];
    let Some(l) = view.loaded.as_ref() else {
        return;
    };
    let arch = l.record.config.model.architecture;
    let run = view.run.clone();
    ui.horizontal(|ui| {
        heading_ui(
            ui,
            &mut view.map_selection,
            &mut view.confusion.selected,
            &l.eval.classes,
            all.len(),
        );
        ui.label("sort by");
        ui.selectable_value(&mut view.gallery_sort, GallerySort::Loss, "loss");
        ui.selectable_value(
            &mut view.gallery_sort,
            GallerySort::Confidence,
            "confidence",
        );
        ui.separator();
        view.explain.controls_ui(ui, arch);
    });
    pager_ui(ui, &mut view.gallery_page, page, all.len());
    if let Some(e) = &view.explain.error {
        ui.colored_label(theme::ERROR, e);
    }
    let preds = &l.eval.predictions;
    let classes = &l.eval.classes;
    // the maps on screen: each face's predicted class, and for the enlarged
    // face its true class too
    let mut wanted: Vec<(PathBuf, usize)> = Vec::new();
    if view.explain.overlay {
        wanted.extend(
            items
                .iter()
                .map(|&i| (preds[i].path.clone(), preds[i].predicted)),
        );
    }
    if let Some(p) = view.enlarged.and_then(|i| preds.get(i)) {
        wanted.push((p.path.clone(), p.predicted));
        wanted.push((p.path.clone(), p.true_class));
    }
    if let Some(run) = &run {
        if !wanted.is_empty() {
            view.explain.request(ui.ctx(), run, arch, &wanted);
        }
    }
    let mut enlarge = None;
    ui.horizontal_wrapped(|ui| {
        for &i in items {
            let p = &preds[i];
            ui.vertical(|ui| {
                ui.set_width(THUMB + 8.0);
                let r = thumbs.show(ui, &p.path, THUMB);
                let name = face_label(&p.path);
                r.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, &name)
                });
                if view.explain.overlay {
                    if let Some(face) = thumbs.fitted_rect(&p.path, r.rect) {
                        view.explain.paint_over(ui, face, &p.path, p.predicted);
                    }
                }
                let r = r.on_hover_text(hover_text(p, classes));
                if r.clicked() {
                    enlarge = Some(i);
                }
                ui.label(RichText::new(&classes[p.true_class]).small());
                let predicted = RichText::new(format!("-> {}", classes[p.predicted])).small();
                // red only for a wrong answer (a diagonal cell shows right ones)
                ui.label(if p.predicted == p.true_class {
                    predicted
                } else {
                    predicted.color(WRONG_PREDICTION)
                });
            });
        }
    });
    if enlarge.is_some() {
        view.enlarged = enlarge;
    }
    let Some(p) = view.enlarged.and_then(|i| preds.get(i)) else {
        return;
    };
    let mut open = true;
    egui::Window::new("Face")
        .open(&mut open)
        .resizable(false)
        .show(ui.ctx(), |ui| {
            enlarged_face_ui(ui, &mut view.explain, big, p, classes);
        });
    if !open {
        view.enlarged = None;
    }
}

/// What the gallery shows and how many, with the button back to every
/// misclassified face.
fn heading_ui(
    ui: &mut Ui,
    map_selection: &mut Option<Vec<PathBuf>>,
    selected: &mut Option<(usize, usize)>,
    classes: &[String],
    count: usize,
) {
    if map_selection.is_some() {
        ui.heading(format!("Selected on the map: {count} face(s)"));
        if ui.button("show misclassified").clicked() {
            *map_selection = None;
        }
        return;
    }
    match *selected {
        Some((t, p)) => {
            ui.heading(format!("{} -> {}: {count} face(s)", classes[t], classes[p]));
            if ui.button("show all misclassified").clicked() {
                *selected = None;
            }
        }
        None => {
            ui.heading(format!("Misclassified faces: {count}"));
        }
    }
}

/// The items of the gallery's page: back to page one when it shows another
/// cell, selection or sort.
fn current_page(view: &mut ResultsView, items: usize) -> std::ops::Range<usize> {
    let showing = (
        view.confusion.selected,
        view.map_selection.as_deref().map(selection_digest),
        view.gallery_sort,
    );
    if view.gallery_for != Some(showing) {
        view.gallery_for = Some(showing);
        view.gallery_page = 0;
    }
    let pages = items.div_ceil(GALLERY_PAGE).max(1);
    view.gallery_page = view.gallery_page.min(pages - 1);
    let first = view.gallery_page * GALLERY_PAGE;
    first..(first + GALLERY_PAGE).min(items)
}

/// What tells one selection of faces on the map from another (two of the
/// same size too).
fn selection_digest(paths: &[PathBuf]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    paths.hash(&mut h);
    h.finish()
}

/// "faces 121-240 of 286 (page 2 of 3)" between previous and next, when
/// there is more than one page.
fn pager_ui(ui: &mut Ui, page: &mut usize, shown: std::ops::Range<usize>, items: usize) {
    let pages = items.div_ceil(GALLERY_PAGE);
    if pages <= 1 {
        return;
    }
    ui.horizontal(|ui| {
        if ui
            .add_enabled(*page > 0, egui::Button::new("< previous"))
            .clicked()
        {
            *page -= 1;
        }
        ui.label(format!(
            "faces {}-{} of {items} (page {} of {pages})",
            shown.start + 1,
            shown.end,
            *page + 1
        ));
        if ui
            .add_enabled(*page + 1 < pages, egui::Button::new("next >"))
            .clicked()
        {
            *page += 1;
        }
    });
}

/// "person_01/008.png": a face's folder and file name, how screen readers
/// (and tests) tell the gallery's faces apart.
pub fn face_label(path: &std::path::Path) -> String {
    let name = |p: Option<&std::path::Path>| {
        p.and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    format!("{}/{}", name(path.parent()), name(Some(path)))
}

fn hover_text(p: &Prediction, classes: &[String]) -> String {
    let top3: Vec<String> = p
        .top5
        .iter()
        .take(3)
        .map(|(c, pr)| format!("{} {:.1}%", classes[*c], pr * 100.0))
        .collect();
    format!(
        "{}\ntrue: {}\nloss {:.3}\n{}",
        p.path.display(),
        classes[p.true_class],
        p.loss,
        top3.join("\n")
    )
}

/// The face large, its top-5, and (once computed) the Grad-CAM evidence for
/// the predicted class beside the evidence for the true one.
fn enlarged_face_ui(
    ui: &mut Ui,
    explain: &mut ExplainView,
    big: &mut ThumbnailCache,
    p: &Prediction,
    classes: &[String],
) {
    let probability = |c: usize| p.top5.iter().find(|t| t.0 == c).map(|t| t.1);
    let caption = |c: usize| match probability(c) {
        Some(pr) => format!("evidence for {} ({:.1}%)", classes[c], pr * 100.0),
        None => format!("evidence for {} (not in the top 5)", classes[c]),
    };
    let mut shown = vec![(p.predicted, "predicted")];
    if p.true_class != p.predicted {
        shown.push((p.true_class, "true"));
    }
    let side = if shown.len() > 1 {
        ENLARGED * 0.75
    } else {
        ENLARGED
    };
    ui.horizontal(|ui| {
        for (class, role) in shown {
            ui.vertical(|ui| {
                let r = big.show(ui, &p.path, side);
                let drawn = big
                    .fitted_rect(&p.path, r.rect)
                    .is_some_and(|face| explain.paint_over(ui, face, &p.path, class));
                let text = format!("{role}: {}", caption(class));
                ui.label(if drawn {
                    RichText::new(text)
                } else {
                    RichText::new(format!("{text} - computing…")).weak()
                });
            });
        }
    });
    ui.add(egui::Slider::new(&mut explain.opacity, 0.0..=1.0).text("Grad-CAM opacity"));
    ui.label(p.path.display().to_string());
    ui.label(format!(
        "true: {}   predicted: {}   loss {:.3}",
        classes[p.true_class], classes[p.predicted], p.loss
    ));
    for (c, pr) in &p.top5 {
        ui.add(egui::ProgressBar::new(*pr).text(format!("{} {:.1}%", classes[*c], pr * 100.0)));
    }
}
