//! The Training tab: live curves (per-iteration loss with EMA smoothing, per-epoch
//! loss and accuracy, learning rate, throughput), progress, ETA and the event log.

use egui::{Color32, RichText, Ui};
use egui_plot::{AxisHints, Line, Plot, PlotPoints, Points, VLine};

use super::decimate::GrowingSeries;
use super::export::ExportRequest;
use super::live_run::LiveRun;
use super::plots::{
    enveloped_line, legend_ui, linear_label, log10_grid_spacer, log10_label, titled_ui, RAW, TRAIN,
    VAL,
};
use super::theme;

/// The vertical line where a two-phase run changes phase.
const PHASE: Color32 = Color32::from_rgb(200, 200, 70);

fn fmt_duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

pub fn training_tab_ui(
    ui: &mut Ui,
    live: Option<&LiveRun>,
    smoothing: &mut f64,
    export: &mut Option<ExportRequest>,
) {
    let Some(run) = live else {
        ui.label("No training yet: choose a dataset and press Train.");
        return;
    };
    status_ui(ui, run);
    ui.horizontal(|ui| {
        ui.label("loss smoothing (EMA)");
        ui.add(egui::Slider::new(smoothing, 0.0..=0.99));
        ui.label(RichText::new(format!("{} iterations", run.iter_x.len())).weak());
    });
    let height = ((ui.available_height() - 290.0) / 2.0).max(150.0);
    let mut rects = Vec::new();
    ui.columns(2, |cols| {
        rects.push((
            "loss-per-iteration",
            iteration_loss_plot(&mut cols[0], run, *smoothing, height),
        ));
        rects.push((
            "accuracy-per-epoch",
            epoch_plot(&mut cols[1], run, "epoch-acc", "accuracy", height, |m| {
                (m.train_accuracy, m.val_accuracy)
            }),
        ));
    });
    ui.columns(3, |cols| {
        rects.push((
            "loss-per-epoch",
            epoch_plot(&mut cols[0], run, "epoch-loss", "loss", height * 0.8, |m| {
                (m.train_loss, m.val_loss)
            }),
        ));
        rects.push((
            "learning-rate",
            series_plot(
                &mut cols[1],
                run,
                Series {
                    id: "lr",
                    title: "learning rate (log scale)",
                    series: &run.iter_log_lr,
                    log10: true,
                    // half a decade around the rates seen, so a constant rate
                    // still gets labelled ticks around it
                    y_bounds: run.iter_log_lr.range().map(|(lo, hi)| (lo - 0.5, hi + 0.5)),
                },
                height * 0.8,
            ),
        ));
        rects.push((
            "throughput",
            series_plot(
                &mut cols[2],
                run,
                Series {
                    id: "rate",
                    title: "images / s",
                    series: &run.iter_rate,
                    log10: false,
                    y_bounds: None,
                },
                height * 0.8,
            ),
        ));
    });
    save_row_ui(ui, run, rects, export);
    log_ui(ui, run);
}

/// "Save as PNG" for each plot: the whole block (title, legend, axes) goes
/// into the run folder.
fn save_row_ui(
    ui: &mut Ui,
    run: &LiveRun,
    rects: Vec<(&str, egui::Rect)>,
    export: &mut Option<ExportRequest>,
) {
    ui.horizontal(|ui| {
        ui.label("save as PNG:");
        for (name, rect) in rects {
            let button = ui.add_enabled(run.run_dir.is_some(), egui::Button::new(name).small());
            let button = match &run.run_dir {
                Some(dir) => button.on_hover_text(format!("into {}", dir.display())),
                None => button.on_disabled_hover_text("the run has no folder yet"),
            };
            if button.clicked() {
                if let Some(dir) = &run.run_dir {
                    let path = dir.join(format!("{name}.png"));
                    *export = Some(ExportRequest::Screenshot {
                        path: std::path::absolute(&path).unwrap_or(path),
                        rect: Some(rect),
                    });
                }
            }
        }
    });
}

fn status_ui(ui: &mut Ui, run: &LiveRun) {
    ui.horizontal(|ui| {
        ui.heading(&run.name);
        ui.label(RichText::new(&run.device).weak());
        let (text, color) = match (&run.finished, &run.failed, run.paused) {
            (_, Some(_), _) => ("failed".to_string(), theme::ERROR),
            (Some(s), _, _) => (format!("{s:?}").to_lowercase(), theme::SUCCESS),
            (None, None, true) => ("paused".into(), theme::WARNING),
            _ => ("training".into(), theme::ACTIVE),
        };
        ui.label(RichText::new(text).color(color).strong());
        if let Some(acc) = run.test_accuracy {
            ui.label(format!("test accuracy {:.2}%", acc * 100.0));
        }
    });
    if let Some((split, d)) = &run.decoding {
        let eta = d.eta_seconds().map_or(String::new(), |s| {
            format!(", about {} left", fmt_duration(s))
        });
        ui.add(
            egui::ProgressBar::new(d.done as f32 / d.total.max(1) as f32).text(format!(
                "decoding the {split} split into the image cache: {}/{}{eta}",
                d.done, d.total
            )),
        );
    }
    let (fraction, eta) = run.progress();
    let epoch_fraction = run.current_batch as f32 / run.batches_per_epoch.max(1) as f32;
    ui.add(egui::ProgressBar::new(epoch_fraction).text(format!(
        "epoch {}/{}: batch {}/{}",
        run.current_epoch, run.epochs_planned, run.current_batch, run.batches_per_epoch
    )));
    let eta = eta.map_or(String::new(), |s| {
        format!(", about {} left", fmt_duration(s))
    });
    ui.add(egui::ProgressBar::new(fraction).text(format!("run {:.0}%{eta}", fraction * 100.0)));
    if let Some(e) = &run.failed {
        ui.colored_label(theme::ERROR, e);
    }
}

fn phase_lines(plot: &mut egui_plot::PlotUi<'_>, run: &LiveRun, per_epoch: bool) {
    for (x, name) in &run.phase_changes {
        let x = if per_epoch {
            *x / run.batches_per_epoch.max(1) as f64 + 0.5
        } else {
            *x
        };
        plot.vline(VLine::new(name, x).color(PHASE));
    }
}

/// The x axis, labelled. Epoch ticks may sit as close as their short text
/// allows (8 epochs in 360 px still get their numbers).
fn x_axis(label: &str) -> AxisHints<'static> {
    let axis = AxisHints::new_x()
        .label(label)
        .formatter(|m, _| linear_label(m));
    if label == "epoch" {
        axis.label_spacing(24.0..=40.0)
    } else {
        axis
    }
}

/// A fixed id per plot, so its zoom survives layout changes (and tests can
/// find its frame).
fn plot_id(name: &str) -> egui::Id {
    egui::Id::unique(("training-plot", name))
}

fn phase_entry(run: &LiveRun) -> Option<(String, Color32)> {
    (!run.phase_changes.is_empty()).then(|| ("phase change".to_string(), PHASE))
}

fn iteration_loss_plot(ui: &mut Ui, run: &LiveRun, smoothing: f64, height: f32) -> egui::Rect {
    titled_ui(ui, "loss per iteration", |ui| {
        let mut entries = vec![("raw".to_string(), RAW), ("smoothed".to_string(), TRAIN)];
        entries.extend(phase_entry(run));
        let hidden = legend_ui(ui, "iter-loss", &entries);
        let smooth = run.smoothed_loss(smoothing);
        Plot::new("iter-loss")
            .id(plot_id("iter-loss"))
            .height(height)
            .custom_x_axes(vec![x_axis("iteration")])
            .y_axis_formatter(|m, _| linear_label(m))
            .show(ui, |plot| {
                if !hidden.contains("raw") {
                    enveloped_line(
                        plot,
                        "raw",
                        (&run.iter_x, run.iter_loss.values()),
                        run.iter_loss.envelope(),
                        RAW,
                        1.0,
                    );
                }
                if !hidden.contains("smoothed") {
                    enveloped_line(
                        plot,
                        "smoothed",
                        (&run.iter_x, smooth.values()),
                        smooth.envelope(),
                        TRAIN,
                        2.0,
                    );
                }
                if !hidden.contains("phase change") {
                    phase_lines(plot, run, false);
                }
            });
    })
    .0
}

fn epoch_plot(
    ui: &mut Ui,
    run: &LiveRun,
    id: &str,
    title: &str,
    height: f32,
    value: impl Fn(&crate::run::EpochMetrics) -> (f64, f64),
) -> egui::Rect {
    titled_ui(ui, &format!("{title} per epoch"), |ui| {
        let mut entries = vec![("train".to_string(), TRAIN), ("val".to_string(), VAL)];
        entries.extend(phase_entry(run));
        let hidden = legend_ui(ui, id, &entries);
        let train: Vec<[f64; 2]> = run
            .epochs
            .iter()
            .map(|m| [m.epoch as f64, value(m).0])
            .collect();
        let val: Vec<[f64; 2]> = run
            .epochs
            .iter()
            .map(|m| [m.epoch as f64, value(m).1])
            .collect();
        Plot::new(id)
            .id(plot_id(id))
            .height(height)
            .custom_x_axes(vec![x_axis("epoch")])
            .y_axis_formatter(|m, _| linear_label(m))
            .show(ui, |plot| {
                for (name, points, color) in [("train", train, TRAIN), ("val", val, VAL)] {
                    if hidden.contains(name) {
                        continue;
                    }
                    plot.points(
                        Points::new(name, PlotPoints::new(points.clone()))
                            .color(color)
                            .radius(3.0),
                    );
                    plot.line(
                        Line::new(name, PlotPoints::new(points))
                            .color(color)
                            .width(2.0),
                    );
                }
                if !hidden.contains("phase change") {
                    phase_lines(plot, run, true);
                }
            });
    })
    .0
}

/// A per-iteration series for [`series_plot`].
struct Series<'a> {
    id: &'a str,
    title: &'a str,
    series: &'a GrowingSeries,
    /// `series` holds log10 of the values: ticks at round values (1e-3, 2e-3, 5e-3).
    log10: bool,
    y_bounds: Option<(f64, f64)>,
}

fn series_plot(ui: &mut Ui, run: &LiveRun, s: Series<'_>, height: f32) -> egui::Rect {
    titled_ui(ui, s.title, |ui| {
        let mut entries = vec![(s.title.to_string(), TRAIN)];
        entries.extend(phase_entry(run));
        let hidden = legend_ui(ui, s.id, &entries);
        let mut plot = Plot::new(s.id)
            .id(plot_id(s.id))
            .height(height)
            .custom_x_axes(vec![x_axis("iteration")]);
        if let Some((lo, hi)) = s.y_bounds {
            plot = plot.include_y(lo).include_y(hi);
        }
        plot = if s.log10 {
            plot.y_grid_spacer(log10_grid_spacer)
                .y_axis_formatter(|m, _| log10_label(m))
        } else {
            plot.y_axis_formatter(|m, _| linear_label(m))
        };
        plot.show(ui, |plot| {
            if !hidden.contains(s.title) {
                let ys = s.series.values();
                enveloped_line(
                    plot,
                    s.title,
                    (&run.iter_x, ys),
                    s.series.envelope(),
                    TRAIN,
                    1.5,
                );
            }
            if !hidden.contains("phase change") {
                phase_lines(plot, run, false);
            }
        });
    })
    .0
}

/// The event log, in the body font size; only the visible rows are laid out,
/// so a long log costs nothing per frame.
fn log_ui(ui: &mut Ui, run: &LiveRun) {
    ui.label(RichText::new("events").strong());
    let size = egui::TextStyle::Body.resolve(ui.style()).size;
    let font = egui::FontId::monospace(size);
    let row_height = ui.fonts_mut(|f| f.row_height(&font));
    egui::ScrollArea::both()
        .id_salt("event-log")
        .max_height(120.0)
        .auto_shrink([false, true])
        .stick_to_bottom(true)
        .show_rows(ui, row_height, run.log.len(), |ui, rows| {
            for line in &run.log[rows] {
                ui.add(
                    egui::Label::new(RichText::new(line).font(font.clone()))
                        .wrap_mode(egui::TextWrapMode::Extend),
                );
            }
        });
}
