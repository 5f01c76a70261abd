//! Predictions for any faces with a finished run's best checkpoint (else its
//! last), preprocessed exactly as the run's evaluation did: its input size,
//! the mean/std it was trained with, and its batch size (so predicting its
//! own test faces reproduces eval.json bit for bit).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use burn::prelude::Backend;

use super::evaluate::predict;
use super::prepare::faces_plan;
use super::trained_run::{LoadedModel, TrainedRun, WithModel};
use crate::eval::ranked;
use crate::loader::BatchPlan;
use crate::run::DeviceChoice;

/// Faces scored per step of the progress count.
const CHUNK: usize = 128;

/// What `facebench predict` (and the Try-it panel) asks for.
#[derive(Debug, Clone)]
pub struct PredictRequest {
    pub run: PathBuf,
    pub images: Vec<PathBuf>,
    pub device: DeviceChoice,
    /// Counts the faces done, for a progress display.
    pub progress: Option<Arc<AtomicUsize>>,
}

/// One face's class probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct FacePrediction {
    pub image: PathBuf,
    pub probabilities: Vec<f32>,
}

impl FacePrediction {
    /// The `k` most likely classes with their probabilities, most likely
    /// first (ties to the lower class, as eval.json ranks them).
    pub fn top(&self, k: usize) -> Vec<(usize, f32)> {
        ranked(&self.probabilities)
            .into_iter()
            .take(k)
            .map(|c| (c, self.probabilities[c]))
            .collect()
    }
}

/// The class probabilities of `request.images`, in their order.
pub fn predict_run(request: &PredictRequest) -> anyhow::Result<Vec<FacePrediction>> {
    let trained = TrainedRun::open(&request.run)?;
    anyhow::ensure!(!request.images.is_empty(), "no image to predict");
    trained.with_model(request.device, Scores { request })
}

/// Scoring the request's faces.
struct Scores<'a> {
    request: &'a PredictRequest,
}

impl WithModel for Scores<'_> {
    type Output = Vec<FacePrediction>;
    fn run<B: Backend>(self, model: LoadedModel<'_, B>) -> anyhow::Result<Vec<FacePrediction>> {
        let record = &model.run.record;
        let batch_size = record.config.train.batch_size;
        let mut out = Vec::with_capacity(self.request.images.len());
        // chunks of whole batches, so the batches are those of one long pass
        for chunk in self
            .request
            .images
            .chunks(CHUNK.div_ceil(batch_size) * batch_size)
        {
            let plan: BatchPlan = faces_plan(record, chunk, batch_size)?;
            let (probabilities, _) = predict(&model.network, &plan, &model.device)?;
            out.extend(
                chunk
                    .iter()
                    .zip(probabilities)
                    .map(|(image, probabilities)| FacePrediction {
                        image: image.clone(),
                        probabilities,
                    }),
            );
            if let Some(done) = &self.request.progress {
                done.fetch_add(chunk.len(), Ordering::Relaxed);
            }
        }
        Ok(out)
    }
}
