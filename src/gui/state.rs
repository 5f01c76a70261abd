//! What the app remembers across launches (serde, through eframe's storage).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::run::RunConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tab {
    Dataset,
    Training,
    Results,
    Runs,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Dataset, Tab::Training, Tab::Results, Tab::Runs];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Dataset => "Dataset",
            Tab::Training => "Training",
            Tab::Results => "Results",
            Tab::Runs => "Runs",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AppState {
    /// The dataset folder, as typed or picked.
    pub dataset_path: String,
    pub config: RunConfig,
    /// The preset `config` came from, for "reset to preset" and to show
    /// when the form differs from it.
    pub from_preset: Option<PresetSource>,
    pub runs_dir: PathBuf,
    pub tab: Tab,
    /// EMA weight of the per-iteration loss curve.
    pub smoothing: f64,
    /// The last learning-rate sweep's scratch file.
    pub lr_find_scratch: Option<PathBuf>,
}

impl Default for AppState {
    fn default() -> Self {
        Self {
            dataset_path: String::new(),
            config: RunConfig::default(),
            from_preset: None,
            runs_dir: PathBuf::from("runs"),
            tab: Tab::Dataset,
            smoothing: 0.6,
            lr_find_scratch: None,
        }
    }
}

impl AppState {
    /// Edit `config`, loaded from the preset file `path`.
    pub fn start_from_preset(&mut self, path: PathBuf, config: RunConfig) {
        self.config = config.clone();
        self.from_preset = Some(PresetSource { path, config });
    }
}

/// A preset file and its values as loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresetSource {
    pub path: PathBuf,
    pub config: RunConfig,
}

/// Where the built-in demo dataset is written.
pub fn demo_dataset_dir() -> PathBuf {
    crate::data::cache_dir().join("demo-dataset")
}

/// Folders searched for presets: the shipped `presets/` and the user's own.
pub fn preset_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![
        PathBuf::from("presets"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets"),
    ];
    dirs.push(user_preset_dir());
    dirs
}

pub fn user_preset_dir() -> PathBuf {
    crate::data::cache_dir().join("presets")
}
