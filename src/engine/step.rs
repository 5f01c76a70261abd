//! One optimisation step on a batch, shared by the training loop and the
//! learning-rate finder.

use burn::nn::loss::CrossEntropyLoss;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use super::optimizer::AnyOptimizer;
use crate::loader::Batch;
use crate::model::Network;

/// What a step leaves on the device, read back with [`StepStats::read`].
pub(super) struct StepStats<B: Backend> {
    /// The batch's loss, the head's penalty included.
    loss: Tensor<B, 1>,
    /// How many of the batch's images the forward pass classified right.
    correct: Tensor<B, 1>,
}

/// Forward `batch`, take the cross-entropy loss plus the head's penalty,
/// backward, and step the optimizer at `lr`.
pub(super) fn optimisation_step<B: AutodiffBackend>(
    model: Network<B>,
    optimizer: &mut AnyOptimizer<Network<B>, B>,
    loss_fn: &CrossEntropyLoss<B>,
    batch: Batch,
    lr: f64,
    device: &B::Device,
) -> (Network<B>, StepStats<B>) {
    let (n, s) = (batch.len(), batch.input_size);
    let images = Tensor::<B, 4>::from_data(TensorData::new(batch.images, [n, 3, s, s]), device);
    let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(batch.labels, [n]), device);
    let logits = model.forward(images);
    let loss = loss_fn.forward(logits.clone(), targets.clone());
    let loss = match model.penalty() {
        Some(penalty) => loss + penalty,
        None => loss,
    };
    let correct = logits
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(targets)
        .int()
        .sum()
        .float();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optimizer.step(lr, model, grads);
    let stats = StepStats {
        loss: loss.detach().reshape([1]),
        correct: correct.reshape([1]),
    };
    (model, stats)
}

impl<B: Backend> StepStats<B> {
    /// The loss and the count of right answers: the step's one host read,
    /// made after the whole step is queued, so a GPU never waits between
    /// forward and backward.
    pub(super) fn read(self) -> anyhow::Result<(f64, usize)> {
        let stats = Tensor::cat(vec![self.loss, self.correct], 0)
            .into_data()
            .convert::<f64>()
            .into_vec::<f64>()
            .map_err(|e| anyhow::anyhow!("cannot read the step's loss: {e:?}"))?;
        Ok((stats[0], stats[1].max(0.0) as usize))
    }
}
