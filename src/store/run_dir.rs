//! Run folders: `config.json`, `metrics.jsonl`, `checkpoints/`, `eval.json`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::read_events;
use crate::eval::EvalReport;
use crate::files::atomic_write;
use crate::run::{DatasetSummary, FinishStatus, RunConfig, TrainEvent};

/// `config.json`: what is needed to reproduce, resume or evaluate the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub facebench_version: String,
    pub created: String,
    pub data_root: PathBuf,
    pub config: RunConfig,
    pub dataset: DatasetSummary,
    pub device: String,
    pub params: usize,
}

/// One line of `facebench runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub name: String,
    pub path: PathBuf,
    pub architecture: String,
    pub epochs_completed: usize,
    pub epochs_planned: usize,
    pub best_val_accuracy: Option<f64>,
    /// Once the run is evaluated.
    pub test: Option<TestScores>,
    pub params: usize,
    pub seconds: f64,
    pub status: RunStatus,
    /// The dataset folder's name.
    #[serde(default)]
    pub dataset: String,
    /// The train files' fingerprint, from the run record.
    #[serde(default)]
    pub fingerprint: String,
}

/// The scores of an evaluated run on its test split (from eval.json).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestScores {
    pub accuracy: f64,
    pub macro_f1: f64,
    /// None when no class has a defined AUC.
    pub macro_auc: Option<f64>,
    /// Evaluation throughput.
    pub images_per_sec: f64,
}

impl RunSummary {
    /// "orl40 · 1a2b3c4d": the dataset's name and the start of its
    /// fingerprint, so runs on different data stand out.
    pub fn dataset_label(&self) -> String {
        let short: String = self.fingerprint.chars().take(8).collect();
        match (self.dataset.is_empty(), short.is_empty()) {
            (true, true) => "–".into(),
            (false, true) => self.dataset.clone(),
            (true, false) => short,
            (false, false) => format!("{} · {short}", self.dataset),
        }
    }
}

/// How a run stands, from its `metrics.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Completed,
    EarlyStopped,
    /// Stopped on request; it can be resumed.
    Stopped,
    Failed,
    /// Started and never ended: killed, or still training in another process.
    Interrupted,
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::EarlyStopped => "early-stopped",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// It reached its end (all epochs, or early stopping).
    pub fn finished(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::EarlyStopped)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The folder holding all runs.
#[derive(Debug, Clone)]
pub struct RunStore {
    pub root: PathBuf,
}

impl RunStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Make a new, empty run folder named `<YYYYmmdd-HHMMSS>-<label>`.
    pub fn create(&self, label: &str) -> anyhow::Result<RunDir> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create runs folder {}", self.root.display()))?;
        let label = crate::files::file_name_from(label);
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        for k in 1.. {
            let name = if k == 1 {
                format!("{stamp}-{label}")
            } else {
                format!("{stamp}-{label}-{k}")
            };
            let path = self.root.join(&name);
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
        unreachable!("an unbounded counter always finds a free name")
    }

    /// A run by folder name under the store, or by path.
    pub fn open(&self, name_or_path: &str) -> anyhow::Result<RunDir> {
        let direct = PathBuf::from(name_or_path);
        let path = if direct.join("config.json").exists() {
            direct
        } else {
            self.root.join(name_or_path)
        };
        let run = RunDir { path };
        if !run.config_path().exists() {
            anyhow::bail!(
                "no run '{name_or_path}': neither {} nor {} holds a config.json; `facebench runs --runs {}` lists the runs",
                name_or_path,
                run.path.display(),
                self.root.display()
            );
        }
        Ok(run)
    }

    /// Every run folder, oldest first. Folders that are not runs are left out.
    pub fn list(&self) -> anyhow::Result<Vec<RunDir>> {
        if !self.root.exists() {
            return Ok(Vec::new());
        }
        let mut runs: Vec<RunDir> = std::fs::read_dir(&self.root)
            .with_context(|| format!("cannot read runs folder {}", self.root.display()))?
            .filter_map(|e| e.ok())
            .map(|e| RunDir { path: e.path() })
            .filter(|r| r.config_path().exists())
            .collect();
        runs.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(runs)
    }
}

/// One run's folder.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }

    pub fn eval_path(&self) -> PathBuf {
        self.path.join("eval.json")
    }

    pub fn checkpoints_dir(&self) -> PathBuf {
        self.path.join("checkpoints")
    }

    pub fn write_record(&self, record: &RunRecord) -> anyhow::Result<()> {
        write_json(&self.config_path(), record)
    }

    pub fn read_record(&self) -> anyhow::Result<RunRecord> {
        read_json(&self.config_path())
    }

    /// eval.json: indented for a person to read, or compact past
    /// [`crate::eval::MANY_CLASSES`] classes (a third smaller).
    pub fn write_eval(&self, report: &EvalReport) -> anyhow::Result<()> {
        let path = self.eval_path();
        if report.classes.len() <= crate::eval::MANY_CLASSES {
            return write_json(&path, report);
        }
        let bytes = serde_json::to_vec(report)?;
        atomic_write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn read_eval(&self) -> anyhow::Result<Option<EvalReport>> {
        let path = self.eval_path();
        if !path.exists() {
            return Ok(None);
        }
        let report: EvalReport = read_json(&path)?;
        report.validate().map_err(|why| {
            anyhow::anyhow!(
                "{} is damaged: {why}; run `facebench eval` on the run to write it again",
                path.display()
            )
        })?;
        Ok(Some(report))
    }

    pub fn read_events(&self) -> anyhow::Result<Vec<TrainEvent>> {
        let path = self.metrics_path();
        if !path.exists() {
            return Ok(Vec::new());
        }
        read_events(&path)
    }

    /// The run at a glance, from its config, metrics and eval files.
    pub fn summary(&self) -> anyhow::Result<RunSummary> {
        let record = self.read_record()?;
        let events = self.read_events()?;
        let eval = self.read_eval()?;
        let mut epochs = 0;
        let mut best: Option<f64> = None;
        let mut seconds = 0.0;
        let mut status = RunStatus::Interrupted;
        for ev in &events {
            match ev {
                TrainEvent::Epoch(m) => {
                    epochs = epochs.max(m.epoch);
                    best = Some(best.map_or(m.val_accuracy, |b: f64| b.max(m.val_accuracy)));
                    seconds += m.seconds;
                }
                TrainEvent::Finished { status: s, .. } => {
                    status = match s {
                        FinishStatus::Completed => RunStatus::Completed,
                        FinishStatus::EarlyStopped => RunStatus::EarlyStopped,
                        FinishStatus::Stopped => RunStatus::Stopped,
                    };
                }
                TrainEvent::Failed { .. } => status = RunStatus::Failed,
                TrainEvent::Started { .. } => status = RunStatus::Interrupted,
                _ => {}
            }
        }
        let root = if record.data_root.as_os_str().is_empty() {
            &record.dataset.root
        } else {
            &record.data_root
        };
        let dataset = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| root.display().to_string());
        Ok(RunSummary {
            dataset,
            fingerprint: record.dataset.fingerprint.clone(),
            name: self.name(),
            path: self.path.clone(),
            architecture: record.config.model.display_name(),
            epochs_completed: epochs,
            epochs_planned: record.config.train.epochs,
            best_val_accuracy: best,
            test: eval.as_ref().map(|e| TestScores {
                accuracy: e.accuracy,
                macro_f1: e.macro_avg.f1,
                macro_auc: e.auc_macro,
                images_per_sec: e.images_per_sec,
            }),
            params: record.params,
            seconds,
            status,
        })
    }
}

pub(super) fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    atomic_write(path, &bytes).with_context(|| format!("cannot write {}", path.display()))
}

pub(super) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is damaged or from another version", path.display()))
}
