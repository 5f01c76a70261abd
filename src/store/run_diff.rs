//! Two runs side by side: their config differences and the difference of
//! their evaluations, read from their folders.

use super::{RunDir, RunRecord};
use crate::eval::{diff_evaluations, EvalDiff};
use crate::run::ConfigChange;

/// Run B against run A.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDiff {
    pub names: (String, String),
    pub config: Vec<ConfigChange>,
    pub eval: EvalDiff,
    /// Whether both were trained on the same train files (their
    /// fingerprints agree).
    pub same_train_files: bool,
}

/// Compare run `b` with run `a`. Both need an eval.json of the same faces;
/// the error says which is missing or how their faces differ.
pub fn diff_runs(a: &RunDir, b: &RunDir) -> anyhow::Result<RunDiff> {
    let load = |run: &RunDir| -> anyhow::Result<(RunRecord, crate::eval::EvalReport)> {
        let record = run.read_record()?;
        let eval = run.read_eval()?.ok_or_else(|| {
            anyhow::anyhow!(
                "{} has no eval.json; evaluate it first (`facebench eval {}`)",
                run.name(),
                run.path.display()
            )
        })?;
        Ok((record, eval))
    };
    let (record_a, eval_a) = load(a)?;
    let (record_b, eval_b) = load(b)?;
    let eval = diff_evaluations(&eval_a, &eval_b)
        .map_err(|e| anyhow::anyhow!("cannot diff {} and {}: {e}", a.name(), b.name()))?;
    Ok(RunDiff {
        names: (a.name(), b.name()),
        config: record_a.config.diff(&record_b.config),
        eval,
        same_train_files: record_a.dataset.fingerprint == record_b.dataset.fingerprint,
    })
}
