//! The headless command line: `facebench train | eval | runs | data-report |
//! demo-data | model-info | weights check | bench | doctor | ...`.

mod bench;
mod commands;
mod config_args;
mod diff;
mod doctor;
mod embed;
mod explain;
mod export;
mod heap;
mod lr_find;
mod peak_memory;
mod predict;
mod progress;
mod pytorch_peer;
mod queue;
mod run_args;

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Parser, Subcommand};

use crate::run::DeviceChoice;
use run_args::{RunArg, RunsFolder};

pub use commands::run_cli;
pub use heap::tune_heap;

#[derive(Debug, Parser)]
#[command(
    name = "facebench",
    version,
    about = "Train and inspect face-classification CNNs"
)]
pub struct Cli {
    /// Without a subcommand, the workbench window opens.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// CPU threads for training and inference (default: one per core).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the workbench window (the default).
    Gui {
        /// Open this dataset folder.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Start from this preset.
        #[arg(long)]
        preset: Option<PathBuf>,
        /// Folder holding the runs.
        #[arg(long)]
        runs: Option<PathBuf>,
        /// Start training at launch (needs --data; scripted runs, benchmarks).
        #[arg(long, requires = "data")]
        train: bool,
        /// Close the window when the run started by --train has ended.
        #[arg(long, requires = "train")]
        exit_when_done: bool,
        /// Show this tab first: dataset, training, results or runs.
        #[arg(long, value_name = "TAB", value_parser = ["dataset", "training", "results", "runs"])]
        tab: Option<String>,
    },
    /// Train a model on a folder of faces (one sub-folder per person).
    Train {
        /// Dataset folder (class folders, or train/ val/ test/ holding class folders), or a CSV of path,label[,split] rows.
        #[arg(long, required_unless_present = "resume")]
        data: Option<PathBuf>,
        /// JSON preset to start from (see presets/).
        #[arg(long)]
        preset: Option<PathBuf>,
        /// Override one setting, e.g. --set optimizer.lr=3e-4 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        runs: RunsFolder,
        /// Continue a stopped or killed run (name or path) from its last checkpoint.
        #[arg(long, value_name = "RUN", conflicts_with_all = ["preset", "set"])]
        resume: Option<String>,
        /// auto, cpu, cuda[:N] or wgpu[:N] (see `facebench doctor`) (overrides the preset's `device`).
        #[arg(long)]
        device: Option<DeviceChoice>,
        /// Print one JSON event per line instead of progress bars.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a run's best checkpoint on the test split and write eval.json.
    Eval {
        #[command(flatten)]
        run: RunArg,
        /// Dataset folder, when it moved since training.
        #[arg(long)]
        data: Option<PathBuf>,
        /// auto, cpu, cuda[:N] or wgpu[:N] (see `facebench doctor`).
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
    },
    /// List the runs in the run store.
    Runs {
        #[command(flatten)]
        runs: RunsFolder,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Scan a dataset (folder or CSV) and report classes, splits, sizes, mean/std and skipped files.
    DataReport {
        /// Dataset folder (one sub-folder per person, or train/ val/ test/ holding them), or a CSV of path,label[,split] rows.
        dir: PathBuf,
        /// Share of each person's images held out for validation (unsplit folders).
        #[arg(long, default_value_t = 0.1)]
        val_fraction: f64,
        /// Share of each person's images held out for testing (unsplit folders).
        #[arg(long, default_value_t = 0.1)]
        test_fraction: f64,
        /// Seed of the split.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Print the report as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the built-in synthetic face-identity dataset.
    DemoData {
        /// Folder to write (one sub-folder per person); created if missing.
        dir: PathBuf,
        /// Number of people (classes).
        #[arg(long, default_value_t = 8)]
        people: usize,
        /// Images per person.
        #[arg(long, default_value_t = 60)]
        images: usize,
        /// Image width and height in pixels.
        #[arg(long, default_value_t = 96)]
        size: u32,
        /// Seed of the generator.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Measure train-step and inference throughput (and, with --data or
    /// --loader, the image loader) and print a table; --compare-pytorch runs
    /// the same steps in PyTorch in the same invocation.
    Bench(BenchArgs),
    /// What this build can train on here (CUDA's driver, NVRTC and headers;
    /// the wgpu adapters; what `auto` picks), and whether a GPU computes
    /// what the CPU computes: every layer family, forward and backward.
    Doctor(doctor::DoctorArgs),
    /// Print a model's layers and exact trainable parameter count.
    ModelInfo {
        /// Architecture.
        #[arg(long, default_value = "resnet", value_parser = arch_values(true), ignore_case = true)]
        arch: String,
        /// Number of classes of the output layer.
        #[arg(long, default_value_t = 1000)]
        classes: usize,
        /// Blocks per stage, e.g. 3,4,6,3.
        #[arg(long, value_delimiter = ',')]
        depths: Option<Vec<usize>>,
        /// Channels of the first ResNet stage (64 in ResNet-50); later stages double it.
        #[arg(long)]
        base_planes: Option<usize>,
        /// Also list every parameter tensor.
        #[arg(long)]
        layers: bool,
    },
    /// Grad-CAM: where a run's network looked for a class, face by face.
    /// Writes each face with its heatmap drawn over it, and the heatmap alone
    /// as a 16-bit PNG.
    Explain(explain::ExplainArgs),
    /// Compare two runs evaluated on the same test faces: the config keys
    /// that differ, the metric deltas per class, and the faces that flipped.
    Diff {
        /// The run compared against (name under --runs, or path).
        run_a: String,
        /// The run compared.
        run_b: String,
        #[command(flatten)]
        runs: RunsFolder,
        /// Also write one row per face (both predictions, flips) to this CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// The embedding map: a split's faces placed by their penultimate
    /// features (t-SNE or PCA), as CSV (path, classes, confidence, x, y) and
    /// a PNG beside it; cached in the run folder as embeddings.json.
    Embed {
        #[command(flatten)]
        run: RunArg,
        /// test, val or train.
        #[arg(long, default_value = "test")]
        split: String,
        /// tsne (default), umap or pca.
        #[arg(long, default_value = "tsne")]
        method: String,
        /// The CSV to write (the PNG goes beside it).
        #[arg(long)]
        out: PathBuf,
        /// auto, cpu, cuda[:N] or wgpu[:N] (see `facebench doctor`).
        #[arg(long, default_value = "cpu")]
        device: DeviceChoice,
    },
    /// The most likely classes of any faces (files or folders) with a run's
    /// best checkpoint, preprocessed exactly as at its evaluation.
    Predict(predict::PredictArgs),
    /// The learning-rate finder: a short sweep from 1e-7 to 10 on the
    /// config's model and data; prints fastai's suggestions (nothing is
    /// written into the runs folder).
    LrFind(lr_find::LrFindArgs),
    /// Queue a sweep: a grid over up to 3 config keys and/or N seeds, one
    /// run per point and seed, then train the queue (unless --no-run).
    Sweep(queue::SweepArgs),
    /// The run queue (RUNS/queue.json, shared with the window): list it,
    /// train it, or cancel a waiting run.
    Queue {
        #[command(subcommand)]
        action: Option<queue::QueueAction>,
        /// Folder holding the runs (and queue.json).
        #[arg(long, default_value = "runs", global = true)]
        runs: PathBuf,
    },
    /// A run's weights for PyTorch (.safetensors or .pth, torchvision /
    /// timm key names) with its classes and preprocessing in a JSON sidecar.
    Export(export::ExportArgs),
    /// Show where the image cache lives and how big it is; --clear deletes it.
    /// (Training decodes each split once into it; FACEBENCH_CACHE_DIR moves it,
    /// FACEBENCH_IMAGE_CACHE=off decodes into memory instead.)
    Cache {
        /// Delete every cache file (a run using one keeps reading it until it ends).
        #[arg(long)]
        clear: bool,
    },
    /// Inspect pretrained weight files.
    Weights {
        #[command(subcommand)]
        action: WeightsAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum WeightsAction {
    /// Load a .h5 / .pth / .safetensors file into an architecture's base and
    /// print the tensors matched and the parameter count, or every mismatch.
    Check {
        /// The weights file (.h5, .pth, .safetensors, optionally .gz).
        file: PathBuf,
        /// The architecture whose base the file should fit.
        #[arg(long, value_parser = arch_values(false), ignore_case = true)]
        arch: String,
        /// Also list every matched tensor.
        #[arg(long)]
        tensors: bool,
    },
}

/// The `--arch` values, listed in `--help` and in the error for a wrong one;
/// `with_resnet` is false where only pretrained bases make sense.
fn arch_values(with_resnet: bool) -> PossibleValuesParser {
    let mut values = Vec::new();
    if with_resnet {
        values.push(
            PossibleValue::new("resnet")
                .help("ResNet with bottleneck blocks, trained from scratch (ResNet-50 by default)")
                .aliases(["resnet50", "resnet-50"]),
        );
    }
    values.push(PossibleValue::new("xception").help("Xception base with the reference head"));
    values.push(
        PossibleValue::new("densenet121")
            .help("DenseNet-121 base with the reference head")
            .aliases(["densenet-121", "densenet"]),
    );
    PossibleValuesParser::new(values)
}

/// The options of `facebench bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Architecture to measure.
    #[arg(long, default_value = "resnet", value_parser = arch_values(true), ignore_case = true)]
    pub arch: String,
    /// Freeze the pretrained base (Xception, DenseNet-121): phase 1 of fine-tuning.
    #[arg(long)]
    pub frozen_base: bool,
    /// Input sizes to measure, in pixels.
    #[arg(long, value_delimiter = ',', default_value = "64,112,224")]
    pub sizes: Vec<usize>,
    /// Images per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Timed steps per size (after one warm-up step).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Classes of the output layer.
    #[arg(long, default_value_t = 100)]
    pub classes: usize,
    /// Blocks per stage of the benchmarked ResNet.
    #[arg(long, value_delimiter = ',', default_value = "3,4,6,3")]
    pub depths: Vec<usize>,
    /// auto, cpu, cuda[:N] or wgpu[:N] (see `facebench doctor`).
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Also run the same steps in PyTorch (python3 with torch; timm for
    /// Xception) and print both rates, their ratio and peak memory.
    #[arg(long)]
    pub compare_pytorch: bool,
    /// Dataset for the loader benchmark (implies --loader).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Measure the loader (on --data, or a generated demo set).
    #[arg(long)]
    pub loader: bool,
    /// Measure the loader only.
    #[arg(long)]
    pub loader_only: bool,
}
