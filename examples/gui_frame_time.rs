//! Frame time of the heaviest views, headless (egui_kittest, CPU side: layout,
//! decimation and tessellation; no GPU upload). Numbers go to docs/performance.md.
//!
//!     cargo run --release --example gui_frame_time

use std::time::Instant;

use egui_kittest::Harness;
use facebench::eval::Projection;
use facebench::gui::{
    confusion_ui, embedding_ui, training_tab_ui, ConfusionView, EmbeddingView, LiveRun, MapChoice,
};
use facebench::run::{EpochMetrics, TrainEvent};
use facebench::store::{EmbeddedFace, EmbeddingMap};

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
    embedding_map_frames();
}

/// The embedding map at 20,000 faces of 160 classes (one in ten
/// misclassified), with the pointer moving over it so every frame also picks
/// the face under the pointer and draws its tooltip.
fn embedding_map_frames() {
    let n = 20_000;
    let k = 160;
    let faces: Vec<EmbeddedFace> = (0..n)
        .map(|i| {
            let c = i % k;
            let (angle, r) = (c as f32 * 0.39, 3.0 + c as f32 * 0.4);
            let jitter = ((i * 7919) % 1000) as f32 / 1000.0;
            EmbeddedFace {
                path: format!("/nonexistent/person_{c:03}/{i}.jpg").into(),
                true_class: c,
                predicted: if i % 10 == 0 { (c + 1) % k } else { c },
                confidence: 0.8,
                x: r * angle.cos() + jitter * (i as f32).sin(),
                y: r * angle.sin() + jitter * (i as f32).cos(),
            }
        })
        .collect();
    let map = EmbeddingMap {
        split: "test".into(),
        method: Projection::Tsne,
        checkpoint: String::new(),
        classes: (0..k).map(|i| format!("person_{i:03}")).collect(),
        faces,
    };
    let run = std::path::PathBuf::from("/nonexistent/run");
    let mut view = EmbeddingView::default();
    view.shown = true;
    view.map = Some(((run.clone(), MapChoice::default()), map));
    let mut thumbnails = None;
    let hovered = std::cell::Cell::new(0usize);
    let mut h = Harness::builder()
        .with_size([1500.0, 800.0])
        .with_accessibility_check(false)
        .build_ui(|ui| {
            let big = thumbnails
                .get_or_insert_with(|| facebench::gui::ThumbnailCache::new(ui.ctx(), 128));
            embedding_ui(ui, &mut view, &run, big);
            hovered.set(hovered.get() + usize::from(view.hovered.is_some()));
        });
    h.run_steps(3);
    let n = 30;
    let start = Instant::now();
    for i in 0..n {
        let pos = egui::pos2(300.0 + 30.0 * i as f32, 300.0 + 5.0 * i as f32);
        h.event(egui::Event::PointerMoved(pos));
        h.step();
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0 / n as f64;
    drop(h);
    assert!(
        hovered.get() > 0,
        "the pointer never picked a face: not a fair measure"
    );
    println!("| Embedding map, 20,000 faces of 160 classes, pointer moving (hover pick + tooltip) | {ms:.2} ms |");
}
