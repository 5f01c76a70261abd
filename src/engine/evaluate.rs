//! Running a model over a split: validation loss/accuracy during training, and
//! the full evaluation report afterwards.

use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::checkpoint::{find_checkpoint, load_network};
use super::device::OnBackend;
use super::prepare::{prepare_data, recorded_pipeline, Decode, EVAL_PREFETCH};
use crate::eval::{classification_report, top_class, EvalReport};
use crate::loader::BatchPlan;
use crate::model::Network;
use crate::run::CheckpointKind;
use crate::run::DeviceChoice;
use crate::store::RunDir;

/// Class probabilities for every image of the plan's bank, in bank order, and
/// images/s; an error when an image cannot be read.
pub fn predict<B: Backend>(
    model: &Network<B>,
    plan: &BatchPlan,
    device: &B::Device,
) -> anyhow::Result<(Vec<Vec<f32>>, f64)> {
    let start = Instant::now();
    let mut probs = Vec::with_capacity(plan.bank.len());
    for batch in plan.in_order() {
        let batch = batch?;
        let n = batch.len();
        let s = batch.input_size;
        let images = Tensor::<B, 4>::from_data(TensorData::new(batch.images, [n, 3, s, s]), device);
        let p = softmax(model.forward(images), 1);
        let k = p.dims()[1];
        let flat: Vec<f32> = p
            .into_data()
            .convert::<f32>()
            .into_vec()
            .unwrap_or_default();
        probs.extend(flat.chunks(k).map(|c| c.to_vec()));
    }
    let rate = plan.bank.len() as f64 / start.elapsed().as_secs_f64().max(1e-9);
    Ok((probs, rate))
}

/// Mean cross-entropy and accuracy of `model` on the plan's bank.
pub fn loss_and_accuracy<B: Backend>(
    model: &Network<B>,
    plan: &BatchPlan,
    device: &B::Device,
) -> anyhow::Result<(f64, f64)> {
    let (probs, _) = predict(model, plan, device)?;
    let mut loss = 0.0;
    let mut correct = 0usize;
    for (p, &label) in probs.iter().zip(&plan.bank.labels) {
        loss -= (p[label].max(1e-12) as f64).ln();
        correct += (!p.is_empty() && top_class(p) == label) as usize;
    }
    let n = plan.bank.len().max(1) as f64;
    Ok((loss / n, correct as f64 / n))
}

/// The full report for the plan's bank.
pub fn evaluate_bank<B: Backend>(
    model: &Network<B>,
    plan: &BatchPlan,
    classes: &[String],
    device: &B::Device,
) -> anyhow::Result<EvalReport> {
    let (probs, rate) = predict(model, plan, device)?;
    let bank = &plan.bank;
    let mut report = classification_report(classes, &bank.labels, &probs, &bank.paths);
    report.images_per_sec = rate;
    Ok(report)
}

/// `facebench eval RUN`: load the run's best checkpoint (else its last), evaluate
/// on the test split (else val) and write `eval.json`.
pub fn evaluate_run(
    run: &RunDir,
    data_root: Option<&Path>,
    device: DeviceChoice,
) -> anyhow::Result<EvalReport> {
    let record = run.read_record()?;
    let root = data_root.unwrap_or(&record.data_root);
    let data = prepare_data(root, &record.config, Decode::Evaluation, &mut |_, _| {})?;
    if data.dataset.classes != record.dataset.classes {
        anyhow::bail!(
            "the classes in {} differ from those the run was trained on ({} vs {}); evaluate on the same dataset",
            root.display(),
            data.dataset.classes.len(),
            record.dataset.classes.len()
        );
    }
    let (dir, name) = match find_checkpoint(run, CheckpointKind::Best) {
        Some(d) => (d, "best"),
        None => (
            find_checkpoint(run, CheckpointKind::Last).ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no checkpoint to evaluate; train it first",
                    run.path.display()
                )
            })?,
            "last",
        ),
    };
    let pipeline = recorded_pipeline(&record);
    let plan = BatchPlan {
        bank: data.eval.clone(),
        pipeline,
        batch_size: record.config.train.batch_size,
        prefetch: EVAL_PREFETCH,
        drop_last: false,
    };
    let classes = &record.dataset.classes;
    let resolved = device.resolve().map_err(anyhow::Error::msg)?;
    let mut report = resolved.dispatch(EvalJob {
        checkpoint: &dir,
        config: &record.config.model,
        plan: &plan,
        classes,
    })?;
    report.split = data.eval_split.name().into();
    report.checkpoint = name.into();
    run.write_eval(&report)?;
    Ok(report)
}

/// Scoring a checkpoint, as work for [`ResolvedDevice::dispatch`] (on the
/// backend's inner, inference-only backend).
struct EvalJob<'a> {
    checkpoint: &'a Path,
    config: &'a crate::model::ModelConfig,
    plan: &'a BatchPlan,
    classes: &'a [String],
}

impl OnBackend for EvalJob<'_> {
    type Output = anyhow::Result<EvalReport>;
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let classes = self.classes.len();
        let model =
            load_network::<B::InnerBackend>(self.config, classes, self.checkpoint, &device)?;
        evaluate_bank(&model, self.plan, self.classes, &device)
    }
}
