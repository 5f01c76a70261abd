//! The confusion-matrix heatmap: counts or row-normalised, hover for names and
//! counts, zoom with the cell-size slider or ctrl+scroll, pan by scrolling,
//! optional ordering that puts classes that are confused with each other side by
//! side. Clicking a cell selects that (true, predicted) pair.

use egui::{Color32, Rect, Sense, Ui, Vec2};

#[derive(Debug, Clone, PartialEq)]
pub struct ConfusionView {
    pub normalised: bool,
    pub order_by_confusion: bool,
    pub cell: f32,
    pub selected: Option<(usize, usize)>,
    /// Where the last frame drew the matrix: top-left of cell (0, 0), cell size
    /// and the class order, so a click maps to a pair (and tests can aim).
    #[doc(hidden)]
    pub drawn: Option<(egui::Pos2, f32, Vec<usize>)>,
    /// The visible part of the matrix on screen, for exporting it as PNG.
    pub area: Option<Rect>,
    /// The class-name filter of the pairs list (many classes).
    pub pair_filter: String,
    /// The pairs list's rows for a filter (indices into the run's pairs),
    /// kept until the filter or the run changes.
    pub pairs_shown: Option<(String, Vec<usize>)>,
}

impl Default for ConfusionView {
    fn default() -> Self {
        Self {
            normalised: false,
            order_by_confusion: false,
            cell: 22.0,
            selected: None,
            drawn: None,
            area: None,
            pair_filter: String::new(),
            pairs_shown: None,
        }
    }
}

/// The confusion of many classes (more than a grid can show) as a list: the
/// off-diagonal (true, predicted) pairs with the most images first, with a
/// filter on the class names. Only the rows in view are laid out, so a
/// 10,000-class run costs what a short list costs. Clicking a row selects
/// that pair, as clicking a grid cell does.
pub fn most_confused_ui(
    ui: &mut Ui,
    view: &mut ConfusionView,
    classes: &[String],
    pairs: &[(usize, usize, usize)],
    max_height: f32,
) -> Option<(usize, usize)> {
    ui.horizontal(|ui| {
        ui.label("class contains");
        ui.text_edit_singleline(&mut view.pair_filter);
    });
    let needle = view.pair_filter.to_lowercase();
    if view.pairs_shown.as_ref().is_none_or(|(n, _)| *n != needle) {
        let rows = (0..pairs.len())
            .filter(|&i| {
                let (t, p, _) = pairs[i];
                needle.is_empty()
                    || classes[t].to_lowercase().contains(&needle)
                    || classes[p].to_lowercase().contains(&needle)
            })
            .collect();
        view.pairs_shown = Some((needle, rows));
    }
    let rows = view
        .pairs_shown
        .as_ref()
        .map_or(&[][..], |(_, r)| r.as_slice());
    ui.label(
        egui::RichText::new(format!(
            "{} pair(s) of {} classes; a row lists its faces in the gallery",
            rows.len(),
            classes.len()
        ))
        .weak(),
    );
    let mut clicked = None;
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    egui::ScrollArea::vertical()
        .id_salt("most-confused")
        .max_height(max_height)
        .show_rows(ui, row_height, rows.len(), |ui, range| {
            for &i in &rows[range] {
                let (t, p, n) = pairs[i];
                let text = format!("{n:>5}  {}  ->  {}", classes[t], classes[p]);
                if ui
                    .selectable_label(view.selected == Some((t, p)), text)
                    .clicked()
                {
                    clicked = Some((t, p));
                }
            }
        });
    if clicked.is_some() {
        view.selected = clicked;
    }
    clicked
}

/// A class order that chains each class to the one it is most confused with
/// (greedy, starting from the most confused class).
pub fn confusion_order(m: &[Vec<usize>]) -> Vec<usize> {
    let k = m.len();
    let sym = |a: usize, b: usize| m[a][b] + m[b][a];
    let mut left: Vec<usize> = (0..k).collect();
    let mut order = Vec::with_capacity(k);
    while !left.is_empty() {
        // start a chain at the remaining class with the most off-diagonal mass
        let (pos, _) = left
            .iter()
            .enumerate()
            .max_by_key(|(_, &a)| {
                left.iter()
                    .filter(|&&b| b != a)
                    .map(|&b| sym(a, b))
                    .sum::<usize>()
            })
            .unwrap_or((0, &0));
        let mut cur = left.swap_remove(pos);
        order.push(cur);
        while let Some((pos, _)) = left
            .iter()
            .enumerate()
            .filter(|(_, &b)| sym(cur, b) > 0)
            .max_by_key(|(_, &b)| sym(cur, b))
        {
            cur = left.swap_remove(pos);
            order.push(cur);
        }
    }
    order
}

fn heat(t: f32) -> Color32 {
    // dark blue -> teal -> yellow
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f32, b: f32, x: f32| (a + (b - a) * x) as u8;
    if t < 0.5 {
        let x = t * 2.0;
        Color32::from_rgb(
            lerp(20.0, 30.0, x),
            lerp(30.0, 150.0, x),
            lerp(70.0, 150.0, x),
        )
    } else {
        let x = (t - 0.5) * 2.0;
        Color32::from_rgb(
            lerp(30.0, 250.0, x),
            lerp(150.0, 220.0, x),
            lerp(150.0, 60.0, x),
        )
    }
}

/// Draw the matrix; returns a newly clicked cell `(true, predicted)`.
pub fn confusion_ui(
    ui: &mut Ui,
    view: &mut ConfusionView,
    classes: &[String],
    m: &[Vec<usize>],
    max_height: f32,
) -> Option<(usize, usize)> {
    let k = classes.len();
    ui.horizontal(|ui| {
        ui.checkbox(&mut view.normalised, "row-normalised");
        ui.checkbox(&mut view.order_by_confusion, "order by confusion");
        ui.add(egui::Slider::new(&mut view.cell, 4.0..=48.0).text("cell px"));
    });
    if ui.rect_contains_pointer(ui.max_rect()) {
        let zoom = ui.input(|i| i.zoom_delta());
        if zoom != 1.0 {
            view.cell = (view.cell * zoom).clamp(4.0, 48.0);
        }
    }
    let order: Vec<usize> = if view.order_by_confusion {
        confusion_order(m)
    } else {
        // classes in natural order (s2 before s10); the indices stay the labels
        crate::data::natural_order(classes)
    };
    let row_sum: Vec<usize> = m.iter().map(|r| r.iter().sum()).collect();
    let max = m.iter().flatten().copied().max().unwrap_or(1).max(1) as f32;
    let label_w = if view.cell >= 12.0 { 140.0 } else { 0.0 };
    let cell = view.cell;
    let mut clicked = None;
    egui::ScrollArea::both()
        .id_salt("confusion")
        .max_height(max_height)
        .show(ui, |ui| {
            let size = Vec2::new(
                label_w + cell * k as f32,
                label_w.min(24.0) + cell * k as f32,
            );
            let (rect, response) = ui.allocate_exact_size(size, Sense::click());
            let painter = ui.painter_at(rect);
            let origin = rect.min + Vec2::new(label_w, label_w.min(24.0));
            view.drawn = Some((origin, cell, order.clone()));
            view.area = Some(rect.intersect(ui.clip_rect()));
            let font = egui::FontId::proportional((cell * 0.45).clamp(7.0, 12.0));
            for (r, &t) in order.iter().enumerate() {
                if label_w > 0.0 {
                    painter.text(
                        egui::pos2(origin.x - 4.0, origin.y + (r as f32 + 0.5) * cell),
                        egui::Align2::RIGHT_CENTER,
                        &classes[t],
                        font.clone(),
                        ui.visuals().text_color(),
                    );
                }
                for (c, &p) in order.iter().enumerate() {
                    let cell_rect = Rect::from_min_size(
                        origin + Vec2::new(c as f32 * cell, r as f32 * cell),
                        Vec2::splat(cell),
                    );
                    if !ui.is_rect_visible(cell_rect) {
                        continue;
                    }
                    let count = m[t][p];
                    let v = if view.normalised {
                        count as f32 / row_sum[t].max(1) as f32
                    } else {
                        count as f32 / max
                    };
                    // the count (or row share) where the cell can hold it
                    let text = (cell >= 18.0 && count > 0).then(|| {
                        if view.normalised {
                            format!("{:.0}", v * 100.0)
                        } else {
                            count.to_string()
                        }
                    });
                    let selected = view.selected == Some((t, p));
                    paint_cell(&painter, cell_rect, v, text, selected, &font);
                }
            }
            if label_w > 0.0 {
                painter.text(
                    rect.min + Vec2::new(label_w, 4.0),
                    egui::Align2::LEFT_TOP,
                    "predicted ->   (rows: true)",
                    font,
                    ui.visuals().weak_text_color(),
                );
            }
            if let Some(pos) = response.hover_pos() {
                let rel = pos - origin;
                if rel.x >= 0.0 && rel.y >= 0.0 {
                    let (c, r) = ((rel.x / cell) as usize, (rel.y / cell) as usize);
                    if r < k && c < k {
                        let (t, p) = (order[r], order[c]);
                        let count = m[t][p];
                        let tip = format!(
                            "true {}\npredicted {}\n{count} image(s), {:.1}% of the row",
                            classes[t],
                            classes[p],
                            100.0 * count as f32 / row_sum[t].max(1) as f32
                        );
                        response.clone().on_hover_text_at_pointer(tip);
                        if response.clicked() {
                            view.selected = Some((t, p));
                            clicked = Some((t, p));
                        }
                    }
                }
            }
        });
    clicked
}

/// One cell of the matrix: its heat colour, its `text` when given, and the
/// frame of the selected cell.
fn paint_cell(
    painter: &egui::Painter,
    rect: Rect,
    v: f32,
    text: Option<String>,
    selected: bool,
    font: &egui::FontId,
) {
    painter.rect_filled(rect.shrink(0.5), 0.0, heat(v));
    if let Some(text) = text {
        let color = if v > 0.6 {
            Color32::BLACK
        } else {
            Color32::WHITE
        };
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            text,
            font.clone(),
            color,
        );
    }
    if selected {
        painter.rect_stroke(
            rect,
            0.0,
            egui::Stroke::new(2.0, Color32::WHITE),
            egui::StrokeKind::Inside,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confused_classes_end_up_adjacent() {
        // 0 <-> 3 and 1 <-> 2 are confused
        let m = vec![
            vec![5, 0, 0, 4],
            vec![0, 5, 3, 0],
            vec![0, 2, 5, 0],
            vec![3, 0, 0, 5],
        ];
        let order = confusion_order(&m);
        let pos = |c: usize| order.iter().position(|&x| x == c).unwrap();
        assert_eq!(pos(0).abs_diff(pos(3)), 1);
        assert_eq!(pos(1).abs_diff(pos(2)), 1);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3]);
    }
}
