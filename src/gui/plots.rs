//! Plot helpers shared by the Training, Results, Runs and Dataset tabs: lines
//! drawn from an incremental envelope, a legend outside the plot, and axis
//! ticks that read well (log axes, no float noise such as 0.30000000000000004).

use std::collections::HashSet;

use egui::{Color32, Rect, RichText, Sense, Ui};
use egui_plot::{GridInput, GridMark, Line, PlotPoints, PlotUi};

use super::decimate::{Envelope, PixelColumns};

/// Add a line, decimated to the plot's current x-range and pixel width from
/// the series' envelope, so a frame costs the same at a million points as at a
/// thousand (and nothing walks the whole series).
pub fn enveloped_line(
    plot: &mut PlotUi<'_>,
    name: &str,
    (xs, ys): (&[f64], &[f64]),
    envelope: &Envelope,
    color: Color32,
    width: f32,
) {
    let n = xs.len().min(ys.len());
    if n == 0 {
        return;
    }
    let bounds = plot.plot_bounds();
    let (mut lo, mut hi) = (bounds.min()[0], bounds.max()[0]);
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        lo = xs[0];
        hi = xs[n - 1].max(lo + 1.0);
    }
    // auto-bounds grow with the data: always keep everything up to the newest point
    if plot.auto_bounds().x {
        lo = lo.min(xs[0]);
        hi = hi.max(xs[n - 1]);
    }
    let view = PixelColumns {
        x_min: lo,
        x_max: hi,
        columns: plot.response().rect.width().max(100.0) as usize,
    };
    let points = envelope.points(xs, ys, view);
    plot.line(
        Line::new(name, PlotPoints::new(points))
            .color(color)
            .width(width),
    );
}

pub const TRAIN: Color32 = Color32::from_rgb(80, 150, 240);
pub const VAL: Color32 = Color32::from_rgb(240, 140, 60);
/// The raw per-iteration loss: grey, so the smoothed (blue) line stands out.
pub const RAW: Color32 = Color32::from_rgb(150, 150, 150);

/// A distinct colour for series `i`.
pub fn palette(i: usize) -> Color32 {
    const P: [Color32; 10] = [
        Color32::from_rgb(80, 150, 240),
        Color32::from_rgb(240, 140, 60),
        Color32::from_rgb(90, 190, 100),
        Color32::from_rgb(220, 80, 90),
        Color32::from_rgb(160, 110, 220),
        Color32::from_rgb(150, 110, 80),
        Color32::from_rgb(230, 120, 200),
        Color32::from_rgb(140, 140, 140),
        Color32::from_rgb(200, 200, 70),
        Color32::from_rgb(70, 200, 210),
    ];
    P[i % P.len()]
}

/// A legend row drawn above a plot, outside it, so it never covers a curve.
/// Clicking an entry hides or shows its series; returns the hidden names
/// (remembered per `id` for the session).
pub fn legend_ui(ui: &mut Ui, id: &str, entries: &[(String, Color32)]) -> HashSet<String> {
    let key = egui::Id::unique(("plot-legend", id));
    let mut hidden: HashSet<String> = ui.data(|d| d.get_temp(key)).unwrap_or_default();
    let mut changed = false;
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 4.0;
        for (name, color) in entries {
            let off = hidden.contains(name);
            let color = if off {
                color.gamma_multiply(0.3)
            } else {
                *color
            };
            // swatch and name as one widget, so a wrapped row never parts them
            let text = if off {
                RichText::new(name).weak().strikethrough()
            } else {
                RichText::new(name)
            };
            let galley = egui::WidgetText::from(text).into_galley(
                ui,
                Some(egui::TextWrapMode::Extend),
                f32::INFINITY,
                egui::TextStyle::Body,
            );
            let size = egui::vec2(22.0 + galley.size().x, galley.size().y.max(10.0));
            let (rect, response) = ui.allocate_exact_size(size, Sense::click());
            response
                .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, name.as_str()));
            let y = rect.center().y;
            ui.painter().line_segment(
                [egui::pos2(rect.min.x, y), egui::pos2(rect.min.x + 16.0, y)],
                egui::Stroke::new(2.5, color),
            );
            let text_color = ui.visuals().text_color();
            ui.painter().galley(
                egui::pos2(rect.min.x + 22.0, rect.min.y),
                galley,
                text_color,
            );
            let clicked = response.on_hover_text("click to hide or show").clicked();
            if clicked {
                if off {
                    hidden.remove(name);
                } else {
                    hidden.insert(name.clone());
                }
                changed = true;
            }
            ui.add_space(8.0);
        }
    });
    if changed {
        ui.data_mut(|d| d.insert_temp(key, hidden.clone()));
    }
    hidden
}

/// A plot with its title and legend as one block: what "Save as PNG" writes.
/// Returns the block's rect (title, legend, axes and plot) and `add`'s output.
pub fn titled_ui<R>(ui: &mut Ui, title: &str, add: impl FnOnce(&mut Ui) -> R) -> (Rect, R) {
    let r = ui.vertical(|ui| {
        ui.label(RichText::new(title).strong());
        add(ui)
    });
    (r.response.rect, r.inner)
}

/// Grid marks for an axis that holds log10 of a value: at 1..9 times each
/// power of ten on a narrow range, at 1, 2 and 5 times on a wider one, at the
/// powers of ten beyond. Every mark is a distinct round value, so labels never
/// repeat ("3e-3, 3e-3, 2e-3"); a mark's step is the gap to its neighbours, so
/// egui_plot drops labels that would overlap.
pub fn log10_grid_spacer(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || hi - lo > 300.0 {
        return Vec::new();
    }
    let span = hi - lo;
    let mantissas: &[f64] = if span <= 0.7 {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    } else if span <= 2.5 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut values = Vec::new();
    for decade in (lo.floor() as i64)..=(hi.ceil() as i64) {
        for m in mantissas {
            let v = decade as f64 + m.log10();
            if v >= lo && v <= hi {
                values.push(v);
            }
        }
    }
    (0..values.len())
        .map(|i| {
            let before = i.checked_sub(1).map(|j| values[i] - values[j]);
            let after = values.get(i + 1).map(|v| v - values[i]);
            let step = match (before, after) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => 1.0,
            };
            GridMark {
                value: values[i],
                step_size: step,
            }
        })
        .collect()
}

/// The label of a mark made by [`log10_grid_spacer`]: the value itself, `2e-3`.
pub fn log10_label(mark: GridMark) -> String {
    format!("{:.0e}", 10f64.powf(mark.value))
}

/// A linear axis label with as many decimals as the grid step needs (0.3, not
/// 0.30000000000000004), in e-notation for very large or small values.
pub fn linear_label(mark: GridMark) -> String {
    let v = mark.value;
    let step = mark.step_size.abs();
    if v.abs() >= 1e6 || (step > 0.0 && step < 1e-3) {
        return format!("{v:.0e}");
    }
    let decimals = if step > 0.0 && step.is_finite() {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        2
    };
    let s = format!("{v:.decimals$}");
    // "-0" and "-0.0" read as 0
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(lo: f64, hi: f64) -> Vec<String> {
        log10_grid_spacer(GridInput {
            bounds: (lo, hi),
            base_step_size: 0.01,
        })
        .into_iter()
        .map(log10_label)
        .collect()
    }

    #[test]
    fn log_ticks_never_repeat_a_label() {
        for (lo, hi) in [
            (-3.5, -2.5),
            (-3.0, -2.2),
            (-5.5, -2.5),
            (-12.0, 0.0),
            (-2.7, -2.4),
        ] {
            let l = labels(lo, hi);
            assert!(!l.is_empty(), "{lo}..{hi} has ticks");
            let unique: HashSet<&String> = l.iter().collect();
            assert_eq!(unique.len(), l.len(), "{lo}..{hi}: {l:?}");
        }
        assert_eq!(labels(-3.5, -2.5), ["5e-4", "1e-3", "2e-3"]);
        assert_eq!(labels(-5.5, -2.0), ["1e-5", "1e-4", "1e-3", "1e-2"]);
    }

    #[test]
    fn linear_labels_have_no_float_noise() {
        let mark = |value, step_size| GridMark { value, step_size };
        assert_eq!(linear_label(mark(0.1 + 0.2, 0.1)), "0.3");
        assert_eq!(linear_label(mark(0.30000000000000004, 0.05)), "0.30");
        assert_eq!(linear_label(mark(120.0, 10.0)), "120");
        assert_eq!(linear_label(mark(-0.0000001, 0.1)), "0.0");
        assert_eq!(linear_label(mark(2e-5, 1e-5)), "2e-5");
    }
}
