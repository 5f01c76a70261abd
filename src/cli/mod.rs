//! The headless command line: `facebench train | eval | runs | data-report |
//! demo-data | model-info | weights check | bench`.

mod bench;
mod commands;
mod progress;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use commands::run_cli;

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
        /// Dataset folder: class folders, or train/ val/ test/ holding class folders.
        #[arg(long, required_unless_present = "resume")]
        data: Option<PathBuf>,
        /// JSON preset to start from (see presets/).
        #[arg(long)]
        preset: Option<PathBuf>,
        /// Override one setting, e.g. --set optimizer.lr=3e-4 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Folder holding the runs.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Continue a stopped or killed run (name or path) from its last checkpoint.
        #[arg(long, value_name = "RUN", conflicts_with_all = ["preset", "set"])]
        resume: Option<String>,
        /// auto, cpu, cuda or cuda:N (overrides the preset's `device`).
        #[arg(long)]
        device: Option<String>,
        /// Print one JSON event per line instead of progress bars.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a run's best checkpoint on the test split and write eval.json.
    Eval {
        /// Run name (under --runs) or path.
        run: String,
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Dataset folder, when it moved since training.
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// List the runs in the run store.
    Runs {
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Scan a dataset folder and report classes, splits, sizes, mean/std and skipped files.
    DataReport {
        dir: PathBuf,
        #[arg(long, default_value_t = 0.1)]
        val_fraction: f64,
        #[arg(long, default_value_t = 0.1)]
        test_fraction: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Write the built-in synthetic face-identity dataset.
    DemoData {
        dir: PathBuf,
        #[arg(long, default_value_t = 8)]
        people: usize,
        #[arg(long, default_value_t = 60)]
        images: usize,
        #[arg(long, default_value_t = 96)]
        size: u32,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Measure loader and train-step throughput and print a table.
    Bench {
        /// Dataset for the loader benchmark (default: a generated demo set).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, value_delimiter = ',', default_value = "64,112,224")]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// Timed steps per size (after one warm-up step).
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Blocks per stage of the benchmarked ResNet.
        #[arg(long, value_delimiter = ',', default_value = "3,4,6,3")]
        depths: Vec<usize>,
        #[arg(long, default_value = "auto")]
        device: String,
        /// Skip the model benchmark.
        #[arg(long)]
        loader_only: bool,
    },
    /// Print a model's layers and exact trainable parameter count.
    ModelInfo {
        #[arg(long, default_value = "resnet")]
        arch: String,
        #[arg(long, default_value_t = 1000)]
        classes: usize,
        /// Blocks per stage, e.g. 3,4,6,3.
        #[arg(long, value_delimiter = ',')]
        depths: Option<Vec<usize>>,
        #[arg(long)]
        base_planes: Option<usize>,
        /// Also list every parameter tensor.
        #[arg(long)]
        layers: bool,
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
        file: PathBuf,
        /// xception or densenet121.
        #[arg(long)]
        arch: String,
        /// Also list every matched tensor.
        #[arg(long)]
        tensors: bool,
    },
}
