//! `facebench bench`: loader and train-step throughput, printed as a table.
//! Numbers depend on the machine; they are recorded in docs/performance.md.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::data::{Dataset, SplitConfig};
use crate::engine::{OnBackend, OptimizerConfig, ResolvedDevice};
use crate::loader::{AugmentConfig, BatchStream, ImageBank, Pipeline};
use crate::model::{ModelConfig, Network};

/// One row of the results table.
pub struct BenchRow {
    pub what: String,
    pub size: usize,
    pub images_per_sec: f64,
    pub note: String,
}

/// Decode throughput, then augmented-batch throughput at each size.
pub fn bench_loader(root: &Path, sizes: &[usize], batch: usize) -> anyhow::Result<Vec<BenchRow>> {
    let dataset = Dataset::open(root, &SplitConfig::default())?;
    let mut rows = Vec::new();
    let start = Instant::now();
    let (bank, _) = ImageBank::decode(&dataset.train, u32::MAX);
    let secs = start.elapsed().as_secs_f64();
    rows.push(BenchRow {
        what: "decode (full size, parallel)".into(),
        size: 0,
        images_per_sec: bank.len() as f64 / secs,
        note: format!("{} train images of {}", bank.len(), root.display()),
    });
    let bank = Arc::new(bank);
    for &size in sizes {
        let pipeline = Arc::new(Pipeline {
            input_size: size,
            augment: Some(AugmentConfig {
                brightness: 0.2,
                contrast: 0.2,
                saturation: 0.2,
                ..AugmentConfig::default()
            }),
            mean: [0.5; 3],
            std: [0.5; 3],
            seed: 1,
        });
        let start = Instant::now();
        let mut n = 0;
        for b in BatchStream::spawn(bank.clone(), pipeline, batch, 0, true, 4) {
            n += b.len();
        }
        rows.push(BenchRow {
            what: "augment + batch (RRC, flip, jitter)".into(),
            size,
            images_per_sec: n as f64 / start.elapsed().as_secs_f64(),
            note: format!("batch {batch}"),
        });
    }
    Ok(rows)
}

/// Train steps (forward, backward, AdamW) and inference on random input.
pub fn bench_model(
    model: &ModelConfig,
    sizes: &[usize],
    batch: usize,
    steps: usize,
    device: ResolvedDevice,
) -> Vec<BenchRow> {
    device.dispatch(BenchJob {
        model,
        sizes,
        batch,
        steps,
        resolved: device,
    })
}

/// The model benchmark as work for [`ResolvedDevice::dispatch`].
struct BenchJob<'a> {
    model: &'a ModelConfig,
    sizes: &'a [usize],
    batch: usize,
    steps: usize,
    resolved: ResolvedDevice,
}

impl OnBackend for BenchJob<'_> {
    type Output = Vec<BenchRow>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        bench_on::<B>(
            self.model,
            self.sizes,
            self.batch,
            self.steps,
            device,
            self.resolved,
        )
    }
}

fn bench_on<B: AutodiffBackend>(
    config: &ModelConfig,
    sizes: &[usize],
    batch: usize,
    steps: usize,
    device: B::Device,
    resolved: ResolvedDevice,
) -> Vec<BenchRow> {
    use burn::module::AutodiffModule;
    let mut rows = Vec::new();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for &size in sizes {
        let mut model: Network<B> = config.init(100, &device);
        let mut optim =
            crate::engine::AnyOptimizer::<Network<B>, B>::new(&OptimizerConfig::default());
        let x = Tensor::<B, 4>::random(
            [batch, 3, size, size],
            burn::tensor::Distribution::Default,
            &device,
        );
        let labels: Vec<i64> = (0..batch as i64).map(|i| i % 100).collect();
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [batch]), &device);
        let mut step = |model: Network<B>| {
            let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
            let _: f64 = loss.clone().into_scalar().elem();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            optim.step(1e-4, model, grads)
        };
        model = step(model); // warm-up: allocations, autotune
        let start = Instant::now();
        for _ in 0..steps {
            model = step(model);
        }
        let train_rate = (steps * batch) as f64 / start.elapsed().as_secs_f64();
        rows.push(BenchRow {
            what: format!("train step {}", config.display_name()),
            size,
            images_per_sec: train_rate,
            note: format!("batch {batch}, {steps} steps, {resolved}"),
        });
        let valid = model.valid();
        let xi = x.clone().inner();
        let _: Vec<f32> = valid
            .forward(xi.clone())
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap_or_default();
        let start = Instant::now();
        for _ in 0..steps {
            let _: Vec<f32> = valid
                .forward(xi.clone())
                .into_data()
                .convert::<f32>()
                .to_vec()
                .unwrap_or_default();
        }
        rows.push(BenchRow {
            what: format!("inference {}", config.display_name()),
            size,
            images_per_sec: (steps * batch) as f64 / start.elapsed().as_secs_f64(),
            note: format!("batch {batch}, {resolved}"),
        });
    }
    rows
}

pub fn print_table(rows: &[BenchRow]) {
    let w = rows.iter().map(|r| r.what.len()).max().unwrap_or(10);
    println!(
        "| {:<w$} | {:>5} | {:>10} | {} |",
        "benchmark", "px", "images/s", "notes"
    );
    println!(
        "|{}|{}|{}|{}|",
        "-".repeat(w + 2),
        "-".repeat(7),
        "-".repeat(12),
        "-".repeat(8)
    );
    for r in rows {
        let size = if r.size == 0 {
            "-".to_string()
        } else {
            r.size.to_string()
        };
        println!(
            "| {:<w$} | {:>5} | {:>10.1} | {} |",
            r.what, size, r.images_per_sec, r.note
        );
    }
}
