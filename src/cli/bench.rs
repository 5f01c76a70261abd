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
use crate::engine::{OnBackend, ResolvedDevice};
use crate::loader::{AugmentConfig, BatchPlan, ImageBank, Pipeline};
use crate::model::{Architecture, FreezePlan, ModelConfig, Network};
use crate::run::OptimizerConfig;

use super::peak_memory::PeakMemory;
use super::pytorch_peer::{self, PeerReport, PeerRequest, PeerRow};

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
    let (bank, _) = ImageBank::decode(dataset.images.train.clone(), u32::MAX);
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
        let plan = BatchPlan {
            bank: bank.clone(),
            pipeline,
            batch_size: batch,
            prefetch: 4,
            drop_last: false,
        };
        for b in plan.epoch(0, true) {
            n += b?.len();
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

/// What the model benchmark measures.
pub struct ModelBench {
    pub model: ModelConfig,
    /// Train the head only (phase 1 of fine-tuning); the base runs forward only.
    pub frozen_base: bool,
    pub sizes: Vec<usize>,
    pub batch: usize,
    pub steps: usize,
    pub classes: usize,
}

/// facebench's numbers at one input size.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointSecs {
    pub encode: f64,
    pub write: f64,
}

pub struct ModelResult {
    pub size: usize,
    pub train_images_per_sec: f64,
    pub inference_images_per_sec: f64,
    /// Seconds of the untimed first train step (on a GPU: kernel compilation).
    pub warmup_secs: f64,
    /// On the CPU, the rise of peak RSS over the warm-up and timed train
    /// steps (Linux); on a GPU, the device memory cubecl's pools hold after
    /// them (what `torch.cuda.max_memory_reserved` reports for PyTorch).
    pub train_peak_bytes: Option<u64>,
    /// Seconds to save a `last` checkpoint as the training loop does at the
    /// end of each epoch: encoding the weights and optimizer state (on the
    /// training thread), then writing, syncing and checksumming them (on the
    /// writer thread, while the next epoch trains); None when it could not be
    /// written.
    pub checkpoint_secs: Option<CheckpointSecs>,
}

/// Train steps (forward, cross-entropy, backward, AdamW) and inference on
/// random input, at each size.
pub fn bench_model(bench: &ModelBench, device: ResolvedDevice) -> Vec<ModelResult> {
    device.dispatch(BenchJob {
        bench,
        resolved: device,
    })
}

/// The model benchmark as work for [`ResolvedDevice::dispatch`].
struct BenchJob<'a> {
    bench: &'a ModelBench,
    resolved: ResolvedDevice,
}

impl OnBackend for BenchJob<'_> {
    type Output = Vec<ModelResult>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        self.bench
            .sizes
            .iter()
            .map(|&size| bench_size::<B>(self.bench, size, &device, self.resolved))
            .collect()
    }
}

fn bench_size<B: AutodiffBackend>(
    bench: &ModelBench,
    size: usize,
    device: &B::Device,
    resolved: ResolvedDevice,
) -> ModelResult {
    use burn::module::AutodiffModule;
    let (batch, steps) = (bench.batch, bench.steps.max(1));
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut model: Network<B> = bench.model.init(bench.classes, device);
    if bench.frozen_base {
        model = model.with_freeze(&FreezePlan::base());
    }
    let mut optim = crate::engine::AnyOptimizer::<Network<B>, B>::new(&OptimizerConfig::default());
    let x = Tensor::<B, 4>::random(
        [batch, 3, size, size],
        burn::tensor::Distribution::Default,
        device,
    );
    let labels: Vec<i64> = (0..batch as i64)
        .map(|i| i % bench.classes as i64)
        .collect();
    let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [batch]), device);
    // On the CPU, read the loss each step as a training loop does (and the
    // peer's loss.item()); on a GPU that read would wait for the device in
    // the middle of the step, so the clock waits for it once, at the end.
    let gpu = resolved.is_gpu();
    let mut step = |model: Network<B>| {
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        if !gpu {
            let _: f64 = loss.clone().into_scalar().elem();
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(1e-4, model, grads)
    };
    let sync = || {
        if let Err(e) = B::sync(device) {
            println!("device sync failed: {e:?}");
        }
    };
    // burn creates parameters on first use; PyTorch's exist once the model
    // is built, before its baseline. Create them all now, so both baselines
    // hold the weights and both rises count the same things.
    model.visit(&mut MaterializeParams);
    // the process's RSS says nothing about a GPU's memory
    let memory = if gpu { None } else { PeakMemory::start() };
    // warm-up: allocations, optimizer state, kernel compilation
    let start = Instant::now();
    model = step(model);
    sync();
    let warmup_secs = start.elapsed().as_secs_f64();
    crate::kernels::take_op_times();
    let start = Instant::now();
    for _ in 0..steps {
        model = step(model);
    }
    sync();
    let train_secs = start.elapsed().as_secs_f64();
    let train_images_per_sec = (steps * batch) as f64 / train_secs;
    print_op_times(&format!("train step at {size} px"), train_secs);
    let train_peak_bytes = if gpu {
        resolved.memory().map(|m| m.reserved)
    } else {
        memory.and_then(|m| m.peak_rise())
    };
    let checkpoint_secs = time_checkpoint(&model, &optim);
    let valid = model.valid();
    let xi = x.inner();
    let infer = || {
        let _: Vec<f32> = valid
            .forward(xi.clone())
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap_or_default();
    };
    infer();
    crate::kernels::take_op_times();
    let start = Instant::now();
    for _ in 0..steps {
        infer();
    }
    let infer_secs = start.elapsed().as_secs_f64();
    print_op_times(&format!("inference at {size} px"), infer_secs);
    ModelResult {
        size,
        train_images_per_sec,
        inference_images_per_sec: (steps * batch) as f64 / infer_secs,
        warmup_secs,
        train_peak_bytes,
        checkpoint_secs,
    }
}

/// Touches every float parameter, which creates the ones still waiting for
/// their first use.
struct MaterializeParams;

impl<B: Backend> burn::module::ModuleVisitor<B> for MaterializeParams {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

/// How long encoding and writing a `last` checkpoint of `model` and `optim`
/// take, into a temporary run folder.
fn time_checkpoint<B: AutodiffBackend>(
    model: &Network<B>,
    optim: &crate::engine::AnyOptimizer<Network<B>, B>,
) -> Option<CheckpointSecs> {
    use crate::engine::{
        encode_checkpoint, write_checkpoint, EarlyStopping, LrSchedule, TrainerState,
    };
    use crate::run::CheckpointKind;
    let dir = tempfile::tempdir().ok()?;
    let state = TrainerState {
        epochs_completed: 1,
        iteration: 1,
        schedule: LrSchedule::new(Default::default(), 1e-4),
        early_stopping: EarlyStopping::new(Default::default()),
        elapsed_seconds: 0.0,
        phase: 1,
        epoch_progress: None,
        phase2_pending: false,
    };
    let start = Instant::now();
    let encoded = encode_checkpoint(CheckpointKind::Last, model, Some(optim), &state).ok()?;
    let encode = start.elapsed().as_secs_f64();
    let start = Instant::now();
    write_checkpoint(dir.path(), &encoded).ok()?;
    Some(CheckpointSecs {
        encode,
        write: start.elapsed().as_secs_f64(),
    })
}

/// With `FACEBENCH_OP_TIMES=1`: the kernels' share of `total` seconds.
fn print_op_times(what: &str, total: f64) {
    if !crate::kernels::op_times_enabled() {
        return;
    }
    println!("kernel times, {what} ({total:.3} s in all):");
    let mut kernels = 0.0;
    for (name, secs, calls) in crate::kernels::take_op_times() {
        kernels += secs;
        println!(
            "  {name:<40} {secs:>8.3} s {:>5.1}% {calls:>6} calls",
            100.0 * secs / total
        );
    }
    println!(
        "  {:<40} {:>8.3} s {:>5.1}%",
        "everything else (burn ops, optimizer)",
        total - kernels,
        100.0 * (total - kernels) / total
    );
}

/// The PyTorch peer's numbers for the same benchmark, or None (with the
/// reason printed) when it cannot run.
pub fn compare_pytorch(bench: &ModelBench, device: ResolvedDevice) -> Option<PeerReport> {
    let arch = match bench.model.architecture {
        Architecture::Resnet => "resnet50",
        Architecture::Xception => "xception",
        Architecture::Densenet121 => "densenet121",
    };
    if arch == "resnet50" && (bench.model.depths != [3, 4, 6, 3] || bench.model.base_planes != 64) {
        println!("PyTorch comparison skipped: the peer measures ResNet-50 only (--depths 3,4,6,3)");
        return None;
    }
    if let Some(why) = pytorch_peer::missing(arch) {
        println!("{why}");
        return None;
    }
    let request = PeerRequest {
        arch,
        sizes: &bench.sizes,
        batch: bench.batch,
        steps: bench.steps,
        classes: bench.classes,
        frozen_base: bench.frozen_base,
        threads: rayon::current_num_threads(),
        cuda: !matches!(device, ResolvedDevice::Cpu),
    };
    match pytorch_peer::run(&request) {
        Ok(report) => Some(report),
        Err(e) => {
            println!("PyTorch comparison failed: {e:#}");
            None
        }
    }
}

/// Images/s with three decimals below 10 (a software GPU, a big network),
/// one above.
fn rate_text(rate: f64) -> String {
    if rate < 10.0 {
        format!("{rate:.3}")
    } else {
        format!("{rate:.1}")
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| {
        format!("{:.0}", b as f64 / (1024.0 * 1024.0))
    })
}

/// facebench's results beside the PyTorch peer's (when it ran), with ratios.
pub fn print_model_table(
    bench: &ModelBench,
    device: ResolvedDevice,
    ours: &[ModelResult],
    peer: Option<&PeerReport>,
) {
    let phase = if bench.frozen_base {
        ", base frozen"
    } else {
        ""
    };
    println!(
        "{}{phase}, batch {}, {} timed steps after 1 warm-up, {} classes; facebench on {device}",
        bench.model.display_name(),
        bench.batch,
        bench.steps,
        bench.classes
    );
    if let Some(p) = peer {
        println!("PyTorch {} on {}, {} threads", p.torch, p.device, p.threads);
    }
    println!("| px | step | facebench images/s | PyTorch images/s | ratio | facebench peak MiB | PyTorch peak MiB |");
    println!("|---|---|---|---|---|---|---|");
    for r in ours {
        for (mode, rate) in [
            ("train", r.train_images_per_sec),
            ("inference", r.inference_images_per_sec),
        ] {
            let peers: Vec<&PeerRow> = peer
                .map(|p| {
                    p.rows
                        .iter()
                        .filter(|x| x.size == r.size && x.mode == mode)
                        .collect()
                })
                .unwrap_or_default();
            let ours_peak = if mode == "train" {
                mib(r.train_peak_bytes)
            } else {
                "-".into()
            };
            if peers.is_empty() {
                println!(
                    "| {} | {mode} | {} | - | - | {ours_peak} | - |",
                    r.size,
                    rate_text(rate)
                );
            }
            for p in peers {
                let label = if p.precision == "fp32" {
                    mode.to_string()
                } else {
                    format!("{mode} (PyTorch {})", p.precision)
                };
                println!(
                    "| {} | {label} | {} | {:.1} | {:.2} | {ours_peak} | {} |",
                    r.size,
                    rate_text(rate),
                    p.images_per_sec,
                    rate / p.images_per_sec,
                    mib(p.peak_bytes)
                );
            }
        }
    }
    for r in ours {
        println!(
            "train step at {} px: {:.3} s each timed step; the warm-up step (not timed) {:.2} s{}",
            r.size,
            bench.batch as f64 / r.train_images_per_sec,
            r.warmup_secs,
            if device.is_gpu() {
                " (kernel compilation); the timed steps end with a device sync, and the peak is the memory cubecl's pools hold after them"
            } else {
                ""
            }
        );
    }
    for r in ours {
        if let Some(c) = r.checkpoint_secs {
            println!(
                "checkpoint at {} px (weights + optimizer state, once per epoch): encoded in {:.2} s on the training thread, written and synced in {:.2} s on the writer thread",
                r.size, c.encode, c.write
            );
        }
    }
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
