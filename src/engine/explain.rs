//! Grad-CAM of a trained run: the gradient of a class score with respect to
//! a layer's activations, on the run's best checkpoint, for faces
//! preprocessed exactly as at evaluation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::backend::AutodiffBackend;

use super::checkpoint::load_network;
use super::device::OnBackend;
use super::prepare::faces_plan;
use super::trained_run::TrainedRun;
use crate::eval::{channel_weights, normalised, top_class, weighted_map, CamMethod};
use crate::loader::BatchPlan;
use crate::model::{CamLayer, Network};
use crate::run::DeviceChoice;
use crate::store::RunDir;

/// Which class each face's map explains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CamTarget {
    /// The class the network predicts for the face.
    Predicted,
    /// This class (an index into the run's classes), for every face.
    Class(usize),
    /// One class per face, in the order of the images.
    PerFace(Vec<usize>),
}

impl CamTarget {
    /// The class for face `i`; `None` for the predicted one.
    fn class_of(&self, i: usize) -> Option<usize> {
        match self {
            CamTarget::Predicted => None,
            CamTarget::Class(c) => Some(*c),
            CamTarget::PerFace(classes) => classes.get(i).copied(),
        }
    }
}

/// One face's map, as [`grad_cam`] returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceMap {
    /// Rows x columns of the layer, scaled to `[0, 1]`.
    pub map: Vec<f32>,
    pub size: (usize, usize),
    /// The class the map explains.
    pub class: usize,
    pub probabilities: Vec<f32>,
    /// The weight of each channel of the layer (see
    /// [`crate::eval::channel_weights`]).
    pub weights: Vec<f32>,
}

/// One face explained.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub image: PathBuf,
    /// The network's class probabilities for the face.
    pub probabilities: Vec<f32>,
    pub predicted: usize,
    /// The class the map explains.
    pub class: usize,
    /// The map at the layer's resolution (`map_size`, rows x columns),
    /// scaled to `[0, 1]`.
    pub map: Vec<f32>,
    pub map_size: (usize, usize),
}

/// The maps of one batch of faces (`images`, N x 3 x S x S, preprocessed)
/// for the classes `targets` (one per face; `None`: the predicted class),
/// with the class probabilities. Freeze the model's parameters first
/// (`no_grad`), so batch norms use their running statistics and the faces
/// do not affect each other.
pub fn grad_cam<B: AutodiffBackend>(
    model: &Network<B>,
    images: Tensor<B, 4>,
    targets: &[Option<usize>],
    layer: CamLayer,
    method: CamMethod,
) -> anyhow::Result<Vec<FaceMap>> {
    let unknown = || anyhow::anyhow!("{layer} is not a layer of this network");
    let activations = model.activations(images, layer).ok_or_else(unknown)?;
    let activations = activations.detach().require_grad();
    let logits = model
        .logits_from(layer, activations.clone())
        .ok_or_else(unknown)?;
    let [n, classes] = logits.dims();
    let probabilities = rows(softmax(logits.clone().detach(), 1).into_data(), classes);
    anyhow::ensure!(targets.len() == n, "{n} faces, {} targets", targets.len());
    let chosen: Vec<usize> = probabilities
        .iter()
        .zip(targets)
        .map(|(p, target)| target.unwrap_or_else(|| top_class(p)))
        .collect();
    anyhow::ensure!(
        chosen.iter().all(|&c| c < classes),
        "the class to explain is not one of the network's {classes}"
    );
    let mut one_hot = vec![0.0f32; n * classes];
    for (i, &c) in chosen.iter().enumerate() {
        one_hot[i * classes + c] = 1.0;
    }
    let mask = Tensor::<B, 2>::from_data(TensorData::new(one_hot, [n, classes]), &logits.device());
    let grads = (logits * mask).sum().backward();
    let gradients = activations
        .grad(&grads)
        .ok_or_else(|| anyhow::anyhow!("no gradient reached {layer}"))?;
    let [_, k, h, w] = gradients.dims();
    let per_image = k * h * w;
    let a = flat(activations.detach().inner().into_data());
    let g = flat(gradients.into_data());
    Ok((0..n)
        .map(|i| {
            let slice = |v: &[f32]| v[i * per_image..][..per_image].to_vec();
            let activations = slice(&a);
            let weights = channel_weights(&activations, &slice(&g), (k, h, w), method);
            FaceMap {
                map: normalised(&weighted_map(&activations, &weights, (h, w))),
                size: (h, w),
                class: chosen[i],
                probabilities: probabilities[i].clone(),
                weights,
            }
        })
        .collect())
}

fn flat(data: TensorData) -> Vec<f32> {
    data.convert::<f32>().into_vec().unwrap_or_default()
}

fn rows(data: TensorData, width: usize) -> Vec<Vec<f32>> {
    flat(data)
        .chunks(width.max(1))
        .map(<[f32]>::to_vec)
        .collect()
}

/// What `facebench explain` (and the GUI's overlay) asks for.
#[derive(Debug, Clone)]
pub struct ExplainRequest {
    pub run: PathBuf,
    pub images: Vec<PathBuf>,
    pub target: CamTarget,
    pub layer: CamLayer,
    pub method: CamMethod,
    pub device: DeviceChoice,
    /// Counts the faces done, for a progress display.
    pub progress: Option<Arc<AtomicUsize>>,
}

impl ExplainRequest {
    /// A request for `images` of `run` with the defaults: the predicted
    /// class, the architecture's default layer, Grad-CAM, on the CPU.
    pub fn new(run: &RunDir, images: Vec<PathBuf>) -> anyhow::Result<Self> {
        let record = run.read_record()?;
        Ok(Self {
            run: run.path.clone(),
            images,
            target: CamTarget::Predicted,
            layer: CamLayer::of(record.config.model.architecture)[0],
            method: CamMethod::GradCam,
            device: DeviceChoice::Cpu,
            progress: None,
        })
    }
}

/// Explain `request.images` with the run's best checkpoint (else its last).
/// Each face is decoded and normalised as the run's evaluation did.
pub fn explain_run(request: &ExplainRequest) -> anyhow::Result<Vec<Explanation>> {
    let trained = TrainedRun::open(&request.run)?;
    let record = &trained.record;
    // (the backward pass holds a batch's activations: at most 32 faces)
    let batch_size = record.config.train.batch_size.clamp(1, 32);
    let plan = faces_plan(record, &request.images, batch_size)?;
    let resolved = request.device.resolve().map_err(anyhow::Error::msg)?;
    resolved.dispatch(ExplainJob {
        run: &trained,
        plan: &plan,
        request,
    })
}

/// Explaining faces, as work for [`super::ResolvedDevice::dispatch`].
struct ExplainJob<'a> {
    run: &'a TrainedRun,
    plan: &'a BatchPlan,
    request: &'a ExplainRequest,
}

impl OnBackend for ExplainJob<'_> {
    type Output = anyhow::Result<Vec<Explanation>>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let record = &self.run.record;
        let classes = record.dataset.classes.len();
        // dropout off: the same face always gets the same map
        let mut model_config = record.config.model.clone();
        model_config.head.dropout = 0.0;
        let model =
            load_network::<B>(&model_config, classes, &self.run.checkpoint, &device)?.no_grad();
        let mut out = Vec::with_capacity(self.plan.bank.len());
        for batch in self.plan.in_order() {
            let batch = batch?;
            let (n, s) = (batch.len(), batch.input_size);
            let images =
                Tensor::<B, 4>::from_data(TensorData::new(batch.images, [n, 3, s, s]), &device);
            let target = &self.request.target;
            let targets: Vec<Option<usize>> =
                batch.indices.iter().map(|&i| target.class_of(i)).collect();
            let (layer, method) = (self.request.layer, self.request.method);
            let maps = grad_cam(&model, images, &targets, layer, method)?;
            for (&i, face) in batch.indices.iter().zip(maps) {
                out.push(Explanation {
                    image: self.plan.bank.paths[i].clone(),
                    predicted: top_class(&face.probabilities),
                    probabilities: face.probabilities,
                    class: face.class,
                    map: face.map,
                    map_size: face.size,
                });
            }
            if let Some(done) = &self.request.progress {
                done.fetch_add(batch.indices.len(), Ordering::Relaxed);
            }
        }
        Ok(out)
    }
}
