//! The options that name a dataset and a config: `--data`, `--preset` and
//! any number of `--set key=value`, shared by the commands that build a
//! config without a run (`lr-find`, `sweep`).

use std::path::PathBuf;

use crate::run::RunConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Dataset folder.
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
        let mut config = match &self.preset {
            Some(p) => RunConfig::load(p)?,
            None => RunConfig::default(),
        };
        config.apply_overrides(&self.set)?;
        Ok(config)
    }
}
