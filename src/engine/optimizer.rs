//! The optimizers a run can use, behind one type so the training loop and the
//! checkpoint code handle them alike.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, GradientsParams, Optimizer, Sgd, SgdConfig,
};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;

use crate::run::{OptimizerConfig, OptimizerKind};

/// Encodes exactly what [`FileRecorder`] writes, into memory.
type BytesRecorder = NamedMpkBytesRecorder<FullPrecisionSettings>;

pub enum AnyOptimizer<M: AutodiffModule<B>, B: AutodiffBackend> {
    AdamW(OptimizerAdaptor<AdamW, M, B>),
    Adam(OptimizerAdaptor<Adam, M, B>),
    Sgd(OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>),
}

type FileRecorder = NamedMpkFileRecorder<FullPrecisionSettings>;

impl<M: AutodiffModule<B>, B: AutodiffBackend> AnyOptimizer<M, B> {
    /// PyTorch's defaults where burn's differ: epsilon 1e-8, no SGD dampening.
    pub fn new(config: &OptimizerConfig) -> Self {
        let wd = config.weight_decay as f32;
        match config.kind {
            OptimizerKind::Adamw => AnyOptimizer::AdamW(
                AdamWConfig::new()
                    .with_epsilon(1e-8)
                    .with_weight_decay(wd)
                    .init(),
            ),
            OptimizerKind::Adam => AnyOptimizer::Adam(
                AdamConfig::new()
                    .with_epsilon(1e-8)
                    .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd)))
                    .init(),
            ),
            OptimizerKind::Sgd => AnyOptimizer::Sgd(
                SgdConfig::new()
                    .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd)))
                    .with_momentum((config.momentum > 0.0).then(|| MomentumConfig {
                        momentum: config.momentum,
                        dampening: 0.0,
                        nesterov: config.nesterov,
                    }))
                    .init(),
            ),
        }
    }

    pub fn step(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        match self {
            AnyOptimizer::AdamW(o) => o.step(lr, module, grads),
            AnyOptimizer::Adam(o) => o.step(lr, module, grads),
            AnyOptimizer::Sgd(o) => o.step(lr, module, grads),
        }
    }

    /// The optimizer state (moments, momentum) encoded as the `.mpk` file that
    /// [`load`](Self::load) reads.
    pub fn encode(&self) -> anyhow::Result<Vec<u8>> {
        let recorder = BytesRecorder::default();
        let result = match self {
            AnyOptimizer::AdamW(o) => Recorder::<B>::record(&recorder, o.to_record(), ()),
            AnyOptimizer::Adam(o) => Recorder::<B>::record(&recorder, o.to_record(), ()),
            AnyOptimizer::Sgd(o) => Recorder::<B>::record(&recorder, o.to_record(), ()),
        };
        result.map_err(|e| anyhow::anyhow!("cannot encode the optimizer state: {e}"))
    }

    /// Load state encoded by [`encode`](Self::encode) for the same optimizer kind.
    pub fn load(self, path: &Path, device: &B::Device) -> anyhow::Result<Self> {
        let recorder = FileRecorder::new();
        let file = path.to_path_buf();
        let err = |e: burn::record::RecorderError| {
            anyhow::anyhow!(
                "cannot load optimizer state {}: {}; the file is damaged, or was saved for another optimizer",
                path.with_extension("mpk").display(),
                super::recorder_error::recorder_error_text(&e)
            )
        };
        Ok(match self {
            AnyOptimizer::AdamW(o) => {
                AnyOptimizer::AdamW(o.load_record(recorder.load(file, device).map_err(err)?))
            }
            AnyOptimizer::Adam(o) => {
                AnyOptimizer::Adam(o.load_record(recorder.load(file, device).map_err(err)?))
            }
            AnyOptimizer::Sgd(o) => {
                AnyOptimizer::Sgd(o.load_record(recorder.load(file, device).map_err(err)?))
            }
        })
    }
}
