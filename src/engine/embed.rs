//! The embedding map of a run: the penultimate features of one split's
//! faces (from the best checkpoint, preprocessed as at evaluation) with the
//! predictions, projected to 2-D.

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::prepare::{prepare_data, recorded_pipeline, Decode, EVAL_PREFETCH};
use super::trained_run::{LoadedModel, TrainedRun, WithModel};
use crate::data::Split;
use crate::eval::{project, top_class, Projection};
use crate::loader::BatchPlan;
use crate::run::DeviceChoice;
use crate::store::{checkpoint_stamp, EmbeddedFace, EmbeddingMap};

/// What `facebench embed` (and the GUI's map) asks for.
#[derive(Debug, Clone)]
pub struct EmbedRequest {
    pub run: PathBuf,
    pub split: Split,
    pub method: Projection,
    pub device: DeviceChoice,
}

/// Features, predictions and the 2-D map of `request.split` of the run.
pub fn embed_run(request: &EmbedRequest) -> anyhow::Result<EmbeddingMap> {
    let trained = TrainedRun::open(&request.run)?;
    let record = &trained.record;
    let decode = match request.split {
        Split::Test => Decode::Evaluation,
        Split::Val => Decode::All,
        Split::Train => Decode::Training,
    };
    let data = prepare_data(&record.data_root, &record.config, decode, &mut |_, _| {})?;
    anyhow::ensure!(
        data.dataset.classes == record.dataset.classes,
        "the classes in {} differ from those the run was trained on",
        record.data_root.display()
    );
    let bank = match request.split {
        Split::Test => data.eval.clone(),
        Split::Val => data.val.clone(),
        Split::Train => data.train.clone(),
    };
    anyhow::ensure!(
        !bank.is_empty(),
        "the {} split has no faces",
        request.split.name()
    );
    let plan = BatchPlan {
        bank,
        pipeline: recorded_pipeline(record),
        batch_size: record.config.train.batch_size,
        prefetch: EVAL_PREFETCH,
        drop_last: false,
    };
    let rows = trained.with_model(request.device, Features { plan: &plan })?;
    let features: Vec<Vec<f32>> = rows.iter().map(|r| r.features.clone()).collect();
    let points = project(&features, request.method, record.config.train.seed);
    let faces = rows
        .into_iter()
        .zip(points)
        .enumerate()
        .map(|(i, (row, [x, y]))| EmbeddedFace {
            path: plan.bank.paths[i].clone(),
            true_class: plan.bank.labels[i],
            predicted: row.predicted,
            confidence: row.confidence,
            x,
            y,
        })
        .collect();
    Ok(EmbeddingMap {
        split: request.split.name().into(),
        method: request.method,
        checkpoint: checkpoint_stamp(&trained.checkpoint),
        classes: record.dataset.classes.clone(),
        faces,
    })
}

/// One face's features and prediction.
struct FeatureRow {
    features: Vec<f32>,
    predicted: usize,
    confidence: f32,
}

/// The features and prediction of every face of the plan.
struct Features<'a> {
    plan: &'a BatchPlan,
}

impl WithModel for Features<'_> {
    type Output = Vec<FeatureRow>;
    fn run<B: Backend>(self, loaded: LoadedModel<'_, B>) -> anyhow::Result<Vec<FeatureRow>> {
        let LoadedModel {
            run,
            network: model,
            device,
        } = loaded;
        let classes = run.record.dataset.classes.len();
        let values =
            |data: TensorData| -> Vec<f32> { data.convert::<f32>().into_vec().unwrap_or_default() };
        let mut rows = Vec::with_capacity(self.plan.bank.len());
        for batch in self.plan.in_order() {
            let batch = batch?;
            let (n, s) = (batch.len(), batch.input_size);
            let images =
                Tensor::<B, 4>::from_data(TensorData::new(batch.images, [n, 3, s, s]), &device);
            let features = model.embedding(images.clone());
            let width = features.dims()[1];
            let features = values(features.into_data());
            let probabilities = values(softmax(model.forward(images), 1).into_data());
            for (f, p) in features.chunks(width).zip(probabilities.chunks(classes)) {
                let predicted = top_class(p);
                rows.push(FeatureRow {
                    features: f.to_vec(),
                    predicted,
                    confidence: p[predicted],
                });
            }
        }
        Ok(rows)
    }
}
