//! `facebench export RUN`: the run's weights for PyTorch, with a sidecar.

use std::path::PathBuf;

use super::run_args::RunArg;
use crate::engine::{export_run, ExportFormat, ExportRequest};

/// The options of `facebench export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub run: RunArg,
    /// safetensors or pth.
    #[arg(long, default_value = "safetensors")]
    pub format: String,
    /// The weights file to write (default: RUN/export/model.FORMAT); the
    /// JSON sidecar (classes, preprocessing, architecture) goes beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn export_command(args: ExportArgs) -> anyhow::Result<()> {
    let run = args.run.open()?;
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
