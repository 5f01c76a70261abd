//! The run configuration: every hyperparameter of a run, as plain JSON shared by
//! presets, the CLI's `--set key=value` and the GUI's forms.

use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::SplitConfig;
use crate::loader::{AugmentConfig, Normalization};
use crate::model::ModelConfig;

use super::{DeviceChoice, Field};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Optional label; the run folder is named `<time>-<name or architecture>`.
    pub name: Option<String>,
    pub model: ModelConfig,
    pub data: DataConfig,
    pub optimizer: OptimizerConfig,
    pub scheduler: SchedulerConfig,
    pub early_stopping: EarlyStoppingConfig,
    pub train: TrainConfig,
    /// Two-phase fine-tuning of a pretrained base (Xception, DenseNet-121).
    pub finetune: FinetuneConfig,
    /// Where to train; in run.json as "auto", "cpu", "cuda" or "cuda:N".
    pub device: DeviceChoice,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            name: None,
            model: ModelConfig::default(),
            data: DataConfig::default(),
            optimizer: OptimizerConfig::default(),
            scheduler: SchedulerConfig::default(),
            early_stopping: EarlyStoppingConfig::default(),
            train: TrainConfig::default(),
            finetune: FinetuneConfig::default(),
            device: DeviceChoice::Auto,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Side of the square model input in pixels (64 to 299).
    pub input_size: usize,
    pub split: SplitConfig,
    pub normalization: Normalization,
    pub augment: AugmentConfig,
    /// Batches prepared ahead of the model.
    pub prefetch_batches: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            input_size: 224,
            split: SplitConfig::default(),
            normalization: Normalization::DatasetMeanStd,
            augment: AugmentConfig::default(),
            prefetch_batches: 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Adamw,
    Adam,
    Sgd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    /// Initial learning rate.
    pub lr: f64,
    /// Decoupled for AdamW; L2 penalty for Adam and SGD.
    pub weight_decay: f64,
    /// SGD only.
    pub momentum: f64,
    pub nesterov: bool,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adamw,
            lr: 1e-3,
            weight_decay: 1e-4,
            momentum: 0.9,
            nesterov: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerKind {
    /// Constant learning rate.
    None,
    /// Multiply by `gamma` every `step_size` epochs (StepLR).
    Step,
    /// Multiply by `factor` after `patience` epochs without improvement.
    Plateau,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    ValLoss,
    ValAccuracy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    pub kind: SchedulerKind,
    pub step_size: usize,
    pub gamma: f64,
    pub factor: f64,
    pub patience: usize,
    pub min_lr: f64,
    pub monitor: Monitor,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            kind: SchedulerKind::Step,
            step_size: 10,
            gamma: 0.1,
            factor: 0.2,
            patience: 3,
            min_lr: 1e-6,
            monitor: Monitor::ValLoss,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    pub enabled: bool,
    /// Epochs without a better val accuracy before stopping.
    pub patience: usize,
    /// Put the best epoch's weights back at the end.
    pub restore_best: bool,
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            patience: 5,
            restore_best: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Seeds weights, shuffling and augmentation.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 64,
            seed: 42,
        }
    }
}

/// Phase 1 trains the head on the frozen base (its batch norms in inference
/// mode) at `optimizer.lr`; phase 2 unfreezes the base (all of it, or all but
/// its first Keras layers) at a lower learning rate, until `train.epochs`.
/// Early stopping, the best checkpoint and the scheduler run across both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneConfig {
    /// Epochs of phase 1 (0 starts with phase 2).
    pub phase1_epochs: usize,
    pub phase2_lr: f64,
    pub phase2_weight_decay: f64,
    /// Keras layers of the base that stay frozen in phase 2 (the reference
    /// DenseNet run: 100; Xception: 0, everything trains).
    pub phase2_frozen_layers: usize,
    /// Let the base's batch norms train in phase 2 (batch statistics). Off by
    /// default: they keep their ImageNet statistics, as the Keras fine-tuning
    /// guide advises; switching to batch statistics mid-run throws the head off.
    pub phase2_train_batch_norm: bool,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            phase1_epochs: 10,
            phase2_lr: 1e-5,
            phase2_weight_decay: 1e-5,
            phase2_frozen_layers: 0,
            phase2_train_batch_norm: false,
        }
    }
}

/// One invalid value: its field and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    pub field: Field,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl RunConfig {
    /// Read a preset or saved config. Unknown keys and bad values are errors that
    /// name the key and the file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read preset {}", path.display()))?;
        let invalid = |e: &dyn std::fmt::Display| {
            anyhow::anyhow!(
                "preset {} is not a valid facebench config: {e}",
                path.display()
            )
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| invalid(&e))?;
        // serde reads a JSON array as a struct too: `[]` would pass as all defaults
        let defaults = serde_json::to_value(RunConfig::default())?;
        groups_are_objects(&value, &defaults, "").map_err(|e| invalid(&e))?;
        let config: RunConfig = serde_json::from_value(value).map_err(|e| invalid(&e))?;
        config
            .check()
            .with_context(|| format!("in preset {}", path.display()))?;
        Ok(config)
    }

    /// Set one value by dotted key, e.g. `optimizer.lr=3e-4` or
    /// `model.depths=[1,1,1,1]`. The value is read as JSON, or as a string when
    /// it is not JSON.
    pub fn set(&mut self, key: &str, value: &str) -> anyhow::Result<()> {
        let mut root = serde_json::to_value(&*self)?;
        let parts: Vec<&str> = key.split('.').collect();
        let mut node = &mut root;
        for (i, part) in parts.iter().enumerate() {
            let here = parts[..=i].join(".");
            let Value::Object(map) = node else {
                bail!(
                    "unknown key '{key}': '{}' has no sub-keys",
                    parts[..i].join(".")
                );
            };
            let known: Vec<String> = map.keys().cloned().collect();
            node = map.get_mut(*part).ok_or_else(|| {
                anyhow::anyhow!("unknown key '{here}'; keys here: {}", known.join(", "))
            })?;
        }
        if node.is_object() {
            bail!("'{key}' is a group of settings; set one of its keys, e.g. {key}.<name>=...");
        }
        *node = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        let updated: RunConfig = serde_json::from_value(root)
            .map_err(|e| anyhow::anyhow!("bad value for '{key}': '{value}' ({e})"))?;
        *self = updated;
        Ok(())
    }

    /// Apply `key=value` overrides in order.
    pub fn apply_overrides(&mut self, overrides: &[String]) -> anyhow::Result<()> {
        for item in overrides {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--set '{item}' must look like key=value"))?;
            self.set(k.trim(), v.trim())?;
        }
        Ok(())
    }

    /// Every invalid value, each with its field.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let mut push = |field, message| out.push(ConfigProblem { field, message });
        if let Err(e) = self.data.split.validate() {
            push(Field::DataSplit, e.to_string());
        }
        for field in Field::ALL {
            let (Some(spec), Some(values)) = (field.spec(), field.values(self)) else {
                continue;
            };
            for &v in &values {
                if let Some(message) = spec.bounds.problem(v) {
                    push(field, message);
                }
            }
            if let (&[lo, hi], true) = (values.as_slice(), field.is_range()) {
                if lo > hi {
                    push(
                        field,
                        format!("its lower end {lo} is above its upper end {hi}"),
                    );
                }
            }
        }
        for (field, message) in self.architecture_problems() {
            push(field, message);
        }
        // (two stages of depth 0 are one problem)
        out.dedup();
        out
    }

    /// What the chosen architecture rules out: too small an input, a frozen
    /// base with nothing left to fine-tune, a phase 1 longer than the run.
    fn architecture_problems(&self) -> Vec<(Field, String)> {
        let mut out = Vec::new();
        let (arch, size) = (self.model.architecture, self.data.input_size);
        let size_valid = Field::DataInputSize
            .spec()
            .is_some_and(|s| s.bounds.contains(size as f64));
        if size_valid && size < arch.min_input() {
            out.push((
                Field::DataInputSize,
                format!(
                    "{} needs at least {} px, not {size}",
                    arch.name(),
                    arch.min_input()
                ),
            ));
        }
        if !arch.is_transfer() {
            return out;
        }
        let f = &self.finetune;
        let layers = crate::model::keras_layers(arch).len();
        if f.phase2_frozen_layers >= layers {
            out.push((
                Field::FinetunePhase2FrozenLayers,
                format!(
                    "{} would freeze the whole base ({} has {layers} Keras layers)",
                    f.phase2_frozen_layers,
                    arch.name()
                ),
            ));
        }
        if f.phase1_epochs > self.train.epochs {
            out.push((
                Field::FinetunePhase1Epochs,
                format!(
                    "{} is more than train.epochs ({}), which counts both phases",
                    f.phase1_epochs, self.train.epochs
                ),
            ));
        }
        out
    }

    /// `Ok` when [`problems`](Self::problems) is empty, else one error listing them.
    pub fn check(&self) -> anyhow::Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        bail!("invalid config:\n{}", list.join("\n"))
    }
}

/// Where the default config has a group (a JSON object), `value` must have an
/// object too, not an array or a scalar that serde would read leniently.
fn groups_are_objects(value: &Value, defaults: &Value, at: &str) -> anyhow::Result<()> {
    let Value::Object(want) = defaults else {
        return Ok(());
    };
    let Value::Object(got) = value else {
        let what = if at.is_empty() {
            "the preset".to_string()
        } else {
            format!("'{at}'")
        };
        bail!("{what} must be a JSON object {{...}} of settings, not {value}");
    };
    for (key, default) in want {
        if let Some(v) = got.get(key) {
            let here = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if default.is_object() {
                groups_are_objects(v, default, &here)?;
            }
        }
    }
    Ok(())
}
