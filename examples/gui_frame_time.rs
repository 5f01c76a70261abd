//! Frame time of the heaviest views, headless (egui_kittest, CPU side: layout,
//! decimation and tessellation; no GPU upload). Numbers go to docs/performance.md.
//!
//!     cargo run --release --example gui_frame_time

use std::time::Instant;

use egui_kittest::Harness;
use facebench::gui::{confusion_ui, training_tab_ui, ConfusionView, LiveRun};
use facebench::run::{EpochMetrics, TrainEvent};

fn time_frames(name: &str, h: &mut Harness<'_, impl Sized>) {
    h.run_steps(3); // warm-up
    let n = 30;
    let start = Instant::now();
    h.run_steps(n);
    let ms = start.elapsed().as_secs_f64() * 1000.0 / n as f64;
    println!("| {name} | {ms:.2} ms |");
}

fn main() {
    let mut live = LiveRun::default();
    for i in 0..1_000_000usize {
        let t = i as f64;
        live.apply(&TrainEvent::Iteration {
            epoch: i / 10_000 + 1,
            iteration: i + 1,
            batch: i % 10_000 + 1,
            batches: 10_000,
            loss: 3.0 * (-t / 2e5).exp() + 0.1 * ((t * 0.37).sin()),
            accuracy: 0.5,
            lr: 1e-3,
            images_per_sec: 100.0 + (t * 0.01).sin(),
        });
    }
    for e in 1..=100 {
        live.apply(&TrainEvent::Epoch(EpochMetrics {
            epoch: e,
            phase: 1,
            train_loss: 1.0 / e as f64,
            train_accuracy: 1.0 - 1.0 / e as f64,
            val_loss: 1.2 / e as f64,
            val_accuracy: 0.9 - 1.0 / e as f64,
            lr: 1e-3,
            seconds: 10.0,
            images_per_sec: 100.0,
        }));
    }
    println!("| view | mean frame time |");
    println!("|---|---|");
    let mut smoothing = 0.6;
    let mut h = Harness::builder()
        .with_size([1500.0, 950.0])
        .with_accessibility_check(false)
        .build_ui(|ui| training_tab_ui(ui, Some(&live), &mut smoothing, &mut None));
    time_frames("Training tab, 5 plots, 1,000,000 iterations each", &mut h);

    let k = 160;
    let classes: Vec<String> = (0..k).map(|i| format!("person_{i:03}")).collect();
    let matrix: Vec<Vec<usize>> = (0..k)
        .map(|t| {
            (0..k)
                .map(|p| if t == p { 40 } else { (t * 7 + p * 13) % 5 })
                .collect()
        })
        .collect();
    let views = [
        (
            "Confusion matrix, 160 classes (25,600 cells), 6 px cells",
            ConfusionView {
                cell: 6.0,
                ..ConfusionView::default()
            },
        ),
        (
            "Confusion matrix, 160 classes, 22 px cells with counts, ordered by confusion",
            ConfusionView {
                cell: 22.0,
                order_by_confusion: true,
                ..ConfusionView::default()
            },
        ),
    ];
    for (name, mut view) in views {
        let mut h = Harness::builder()
            .with_size([1500.0, 1200.0])
            .with_accessibility_check(false)
            .build_ui(|ui| {
                confusion_ui(ui, &mut view, &classes, &matrix, 1100.0);
            });
        time_frames(name, &mut h);
    }
}
