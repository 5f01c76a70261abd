//! The options that name a dataset and a config: `--data`, `--preset` and
//! any number of `--set key=value`, shared by the commands that build a
//! config without a run (`lr-find`, `sweep`).

use std::path::{Path, PathBuf};

use crate::run::RunConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Dataset folder, or a CSV of path,label[,split] rows.
    #[arg(long)]
    pub data: PathBuf,
    /// JSON preset to start from (see presets/).
    #[arg(long)]
    pub preset: Option<PathBuf>,
    /// Override one setting, e.g. --set optimizer.lr=3e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl ConfigArgs {
    /// The preset (or the defaults) with the overrides applied.
    pub fn config(&self) -> anyhow::Result<RunConfig> {
        preset_config(self.preset.as_deref(), &self.set)
    }
}

/// `preset` (or the defaults) with the `--set` overrides applied, as every
/// command that takes `--preset` and `--set` reads them.
pub fn preset_config(preset: Option<&Path>, set: &[String]) -> anyhow::Result<RunConfig> {
    let mut config = match preset {
        Some(p) => RunConfig::load(p)?,
        None => RunConfig::default(),
    };
    config.apply_overrides(set)?;
    Ok(config)
}
