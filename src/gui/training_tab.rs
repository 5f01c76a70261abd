//! The Training tab: live curves (per-iteration loss with EMA smoothing, per-epoch
//! loss and accuracy, learning rate, throughput), progress, ETA and the event log.

use egui::{Color32, RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints, Points, VLine};

use super::decimate::ema;
use super::export::ExportRequest;
use super::live_run::LiveRun;
use super::plots::{decimated_line, TRAIN, VAL};

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
    let height = ((ui.available_height() - 190.0) / 2.0).max(150.0);
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
                "lr",
                "learning rate (log scale)",
                &run.iter_log_lr,
                height * 0.8,
                |v| format!("{:.0e}", 10f64.powf(v)),
                // half a decade around the rates seen, so a constant rate
                // still gets labelled ticks around it
                run.log_lr_range.map(|(lo, hi)| (lo - 0.5, hi + 0.5)),
            ),
        ));
        rects.push((
            "throughput",
            series_plot(
                &mut cols[2],
                run,
                "rate",
                "images / s",
                &run.iter_rate,
                height * 0.8,
                format_axis,
                None,
            ),
        ));
    });
    ui.horizontal(|ui| {
        ui.label("save as PNG:");
        for (name, rect) in rects {
            if ui.small_button(name).clicked() {
                let path = std::path::PathBuf::from("screenshots")
                    .join(format!("{}-{name}.png", run.name));
                *export = Some(ExportRequest::Screenshot {
                    path,
                    rect: Some(rect),
                });
            }
        }
    });
    log_ui(ui, run);
}

fn status_ui(ui: &mut Ui, run: &LiveRun) {
    ui.horizontal(|ui| {
        ui.heading(&run.name);
        ui.label(RichText::new(&run.device).weak());
        let (text, color) = match (&run.finished, &run.failed, run.paused) {
            (_, Some(_), _) => ("failed".to_string(), Color32::from_rgb(230, 80, 70)),
            (Some(s), _, _) => (
                format!("{s:?}").to_lowercase(),
                Color32::from_rgb(90, 190, 100),
            ),
            (None, None, true) => ("paused".into(), Color32::from_rgb(230, 150, 60)),
            _ => ("training".into(), Color32::from_rgb(80, 150, 240)),
        };
        ui.label(RichText::new(text).color(color).strong());
        if let Some(acc) = run.test_accuracy {
            ui.label(format!("test accuracy {:.2}%", acc * 100.0));
        }
    });
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
        ui.colored_label(Color32::from_rgb(230, 80, 70), e);
    }
}

fn phase_lines(plot: &mut egui_plot::PlotUi<'_>, run: &LiveRun, per_epoch: bool) {
    for (x, name) in &run.phase_changes {
        let x = if per_epoch {
            *x / run.batches_per_epoch.max(1) as f64 + 0.5
        } else {
            *x
        };
        plot.vline(VLine::new(name, x).color(Color32::from_rgb(200, 200, 70)));
    }
}

fn iteration_loss_plot(ui: &mut Ui, run: &LiveRun, smoothing: f64, height: f32) -> egui::Rect {
    ui.label(RichText::new("loss per iteration").strong());
    let smooth = ema(&run.iter_loss, smoothing);
    Plot::new("iter-loss")
        .height(height)
        .legend(Legend::default())
        .show(ui, |plot| {
            decimated_line(
                plot,
                "raw",
                &run.iter_x,
                &run.iter_loss,
                TRAIN.gamma_multiply(0.35),
                1.0,
            );
            decimated_line(plot, "smoothed", &run.iter_x, &smooth, TRAIN, 2.0);
            phase_lines(plot, run, false);
        })
        .response
        .rect
}

fn epoch_plot(
    ui: &mut Ui,
    run: &LiveRun,
    id: &str,
    title: &str,
    height: f32,
    value: impl Fn(&crate::engine::EpochMetrics) -> (f64, f64),
) -> egui::Rect {
    ui.label(RichText::new(format!("{title} per epoch")).strong());
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
        .height(height)
        .legend(Legend::default())
        .show(ui, |plot| {
            plot.points(
                Points::new("train", PlotPoints::new(train.clone()))
                    .color(TRAIN)
                    .radius(3.0),
            );
            plot.points(
                Points::new("val", PlotPoints::new(val.clone()))
                    .color(VAL)
                    .radius(3.0),
            );
            plot.line(
                Line::new("train", PlotPoints::new(train))
                    .color(TRAIN)
                    .width(2.0),
            );
            plot.line(Line::new("val", PlotPoints::new(val)).color(VAL).width(2.0));
            phase_lines(plot, run, true);
        })
        .response
        .rect
}

fn series_plot(
    ui: &mut Ui,
    run: &LiveRun,
    id: &str,
    title: &str,
    ys: &[f64],
    height: f32,
    y_label: fn(f64) -> String,
    y_bounds: Option<(f64, f64)>,
) -> egui::Rect {
    ui.label(RichText::new(title).strong());
    let mut plot = Plot::new(id).height(height);
    if let Some((lo, hi)) = y_bounds {
        plot = plot.include_y(lo).include_y(hi);
    }
    plot.y_axis_formatter(move |mark, _| y_label(mark.value))
        .show(ui, |plot| {
            decimated_line(plot, title, &run.iter_x, ys, TRAIN, 1.5);
            phase_lines(plot, run, false);
        })
        .response
        .rect
}

/// Axis labels that stay readable for learning rates (1e-5) and rates (1e3).
fn format_axis(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-2..1e5).contains(&a) {
        format!("{v:.0e}")
    } else {
        format!("{v}")
    }
}

fn log_ui(ui: &mut Ui, run: &LiveRun) {
    ui.label(RichText::new("events").strong());
    egui::ScrollArea::vertical()
        .max_height(110.0)
        .stick_to_bottom(true)
        .show(ui, |ui| {
            for line in &run.log {
                ui.label(RichText::new(line).monospace().small());
            }
        });
}
