//! `facebench export RUN`: the run's weights for PyTorch, with a sidecar.

use std::path::PathBuf;

use crate::engine::{export_run, ExportFormat, ExportRequest};
use crate::store::RunStore;

/// The options of `facebench export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Run name (under --runs) or path.
    pub run: String,
    /// safetensors or pth.
    #[arg(long, default_value = "safetensors")]
    pub format: String,
    /// The weights file to write (default: RUN/export/model.FORMAT); the
    /// JSON sidecar (classes, preprocessing, architecture) goes beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Folder holding the runs.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
}

pub fn export_command(args: ExportArgs) -> anyhow::Result<()> {
    let run = RunStore::new(&args.runs).open(&args.run)?;
    let format = ExportFormat::parse(&args.format).map_err(anyhow::Error::msg)?;
    let out = args.out.unwrap_or_else(|| {
        run.path
            .join("export")
            .join(format!("model.{}", format.extension()))
    });
    let report = export_run(&ExportRequest {
        run: run.path.clone(),
        format,
        out,
    })?;
    println!(
        "wrote {} ({} tensors, {} values) and {}; load it with examples/load_in_pytorch.py {}",
        report.weights.display(),
        report.tensors,
        report.values,
        report.sidecar.display(),
        report.sidecar.display()
    );
    Ok(())
}
