//! Plot helpers shared by the Training and Runs tabs.

use egui::Color32;
use egui_plot::{Line, PlotPoints, PlotUi};

use super::decimate::min_max_envelope;

/// Add a line, decimated to the plot's current x-range and pixel width so a
/// million points cost no more than a few thousand.
pub fn decimated_line(
    plot: &mut PlotUi<'_>,
    name: &str,
    xs: &[f64],
    ys: &[f64],
    color: Color32,
    width: f32,
) {
    if xs.is_empty() {
        return;
    }
    let bounds = plot.plot_bounds();
    let (mut lo, mut hi) = (bounds.min()[0], bounds.max()[0]);
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        lo = xs[0];
        hi = xs[xs.len() - 1].max(lo + 1.0);
    }
    // auto-bounds grow with the data: always keep everything up to the newest point
    if plot.auto_bounds().x {
        lo = lo.min(xs[0]);
        hi = hi.max(xs[xs.len() - 1]);
    }
    let columns = plot.response().rect.width().max(100.0) as usize;
    let points = min_max_envelope(xs, ys, lo, hi, columns);
    plot.line(
        Line::new(name, PlotPoints::new(points))
            .color(color)
            .width(width),
    );
}

pub const TRAIN: Color32 = Color32::from_rgb(80, 150, 240);
pub const VAL: Color32 = Color32::from_rgb(240, 140, 60);

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
