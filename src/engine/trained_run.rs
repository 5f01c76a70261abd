//! A trained run opened for use: its record and the checkpoint that
//! explanations, predictions, embedding maps and exports read.

use std::path::{Path, PathBuf};

use burn::prelude::*;

use burn::tensor::backend::AutodiffBackend;

use super::checkpoint::{find_checkpoint, load_network};
use super::device::OnBackend;
use crate::model::Network;
use crate::run::{CheckpointKind, DeviceChoice};
use crate::store::{RunDir, RunRecord};

pub struct TrainedRun {
    pub record: RunRecord,
    /// Its best checkpoint, else its last.
    pub checkpoint: PathBuf,
}

impl TrainedRun {
    /// Open the run folder `path`: read its record and find its checkpoint.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let run = RunDir::new(path);
        let record = run.read_record()?;
        let checkpoint = explained_checkpoint(&run)?;
        Ok(Self { record, checkpoint })
    }

    /// The run's network (its recorded architecture and classes) with the
    /// checkpoint's weights, on `device`.
    pub fn load_model<B: Backend>(&self, device: &B::Device) -> anyhow::Result<Network<B>> {
        let classes = self.record.dataset.classes.len();
        load_network(&self.record.config.model, classes, &self.checkpoint, device)
    }
}

/// Work done with a trained run's network, on the inference backend of
/// whichever device [`TrainedRun::with_model`] resolves.
pub trait WithModel {
    type Output;
    fn run<B: Backend>(self, model: LoadedModel<'_, B>) -> anyhow::Result<Self::Output>;
}

/// A trained run's network, loaded on `device`.
pub struct LoadedModel<'a, B: Backend> {
    pub run: &'a TrainedRun,
    pub network: Network<B>,
    pub device: B::Device,
}

impl TrainedRun {
    /// Load the network on `device` (without autodiff) and do `work` with it.
    pub fn with_model<W: WithModel>(
        &self,
        device: DeviceChoice,
        work: W,
    ) -> anyhow::Result<W::Output> {
        let resolved = device.resolve().map_err(anyhow::Error::msg)?;
        resolved.dispatch(ModelJob { run: self, work })
    }
}

/// [`WithModel`] work as a job for [`super::ResolvedDevice::dispatch`].
struct ModelJob<'a, W> {
    run: &'a TrainedRun,
    work: W,
}

impl<W: WithModel> OnBackend for ModelJob<'_, W> {
    type Output = anyhow::Result<W::Output>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let network = self.run.load_model::<B::InnerBackend>(&device)?;
        self.work.run(LoadedModel {
            run: self.run,
            network,
            device,
        })
    }
}

/// The checkpoint a trained run is used with: its best, else its last.
pub fn explained_checkpoint(run: &RunDir) -> anyhow::Result<PathBuf> {
    find_checkpoint(run, CheckpointKind::Best)
        .or_else(|| find_checkpoint(run, CheckpointKind::Last))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} has no checkpoint to use; train it first",
                run.path.display()
            )
        })
}
