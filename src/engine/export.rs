//! `facebench export`: a run's best checkpoint (else its last) as PyTorch
//! weights, `.safetensors` (written by burn-store) or `.pth`, with the
//! class names and the preprocessing in a JSON sidecar. Keys follow
//! torchvision's ResNet and densenet121 layouts and timm's legacy_xception,
//! the reference head as `head.*`; `examples/load_in_pytorch.py` rebuilds the
//! network from the sidecar and loads them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::prelude::Backend;
use burn_store::{
    BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, ModuleStore, SafetensorsStore,
};
use serde::{Deserialize, Serialize};

use super::trained_run::{LoadedModel, TrainedRun, WithModel};
use crate::files::write_file;
use crate::model::{Architecture, HeadConfig, ModelConfig, Network, HEAD_BN_EPSILON};
use crate::run::DeviceChoice;
use crate::store::{checkpoint_stamp, RunRecord};
use crate::weights::{read_safetensors, write_pth, NamedTensor, TorchLayout};

/// The file formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Safetensors,
    Pth,
}

impl ExportFormat {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "safetensors" => Ok(ExportFormat::Safetensors),
            "pth" | "pt" => Ok(ExportFormat::Pth),
            other => Err(format!("unknown format {other:?}; use safetensors or pth")),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Safetensors => "safetensors",
            ExportFormat::Pth => "pth",
        }
    }
}

/// How a face becomes the network's input, as the run's evaluation did it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Side of the square input.
    pub input_size: usize,
    pub resize: String,
    /// RGB, values / 255, then (value - mean) / std per channel.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// "NCHW", channels "RGB".
    pub layout: String,
}

/// The JSON written beside the weights (`NAME.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportSidecar {
    pub weights: String,
    pub format: ExportFormat,
    pub architecture: Architecture,
    /// Whose key names the weights follow.
    pub layout: String,
    /// ResNet only: blocks per stage and the first stage's width.
    pub depths: Option<[usize; 4]>,
    pub base_planes: Option<usize>,
    /// Xception and DenseNet-121: the reference head.
    pub head: Option<HeadConfig>,
    /// Batch-norm epsilon of the base and of the head.
    pub batch_norm_eps: f64,
    pub head_batch_norm_eps: Option<f64>,
    /// Class names in output order.
    pub classes: Vec<String>,
    pub preprocessing: Preprocessing,
    /// The run and the checkpoint the weights come from.
    pub run: PathBuf,
    pub checkpoint: String,
}

/// What `facebench export` asks for.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub run: PathBuf,
    pub format: ExportFormat,
    /// The weights file to write (the sidecar goes beside it, `.json`).
    pub out: PathBuf,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub weights: PathBuf,
    pub sidecar: PathBuf,
    pub tensors: usize,
    pub values: usize,
}

/// Export the run's weights as `request.format`, and the sidecar.
pub fn export_run(request: &ExportRequest) -> anyhow::Result<ExportReport> {
    let trained = TrainedRun::open(&request.run)?;
    let (bytes, tensors) = trained.with_model(DeviceChoice::Cpu, TorchTensors)?;
    let values = tensors.iter().map(|(_, t)| t.data.len()).sum();
    if let Some(dir) = request.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    match request.format {
        // the bytes burn-store wrote, as they are
        ExportFormat::Safetensors => write_file(&request.out, &bytes)?,
        ExportFormat::Pth => write_pth(&request.out, &tensors)?,
    }
    let sidecar = request.out.with_extension("json");
    let text =
        serde_json::to_vec_pretty(&sidecar_of(&trained.record, request, &trained.checkpoint))?;
    write_file(&sidecar, &text)?;
    Ok(ExportReport {
        weights: request.out.clone(),
        sidecar,
        tensors: tensors.len(),
        values,
    })
}

fn sidecar_of(record: &RunRecord, request: &ExportRequest, checkpoint: &Path) -> ExportSidecar {
    let weights = request
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut sidecar = ExportSidecar::new(
        &record.config.model,
        record.dataset.classes.clone(),
        Preprocessing {
            input_size: record.config.data.input_size,
            resize: "the whole image to input_size x input_size, bilinear".into(),
            mean: record.dataset.mean,
            std: record.dataset.std,
            layout: "NCHW, RGB".into(),
        },
        weights,
        request.format,
    );
    sidecar.run = crate::files::canonical(&request.run);
    sidecar.checkpoint = checkpoint_stamp(checkpoint);
    sidecar
}

impl ExportSidecar {
    /// The sidecar of a `model` with these classes and preprocessing, its
    /// weights in the file `weights` (beside the sidecar); no run named.
    pub fn new(
        model: &ModelConfig,
        classes: Vec<String>,
        preprocessing: Preprocessing,
        weights: String,
        format: ExportFormat,
    ) -> Self {
        let arch = model.architecture;
        let layout = match arch {
            Architecture::Resnet => "torchvision ResNet (Bottleneck)",
            Architecture::Xception => "timm legacy_xception (num_classes=0) + head",
            Architecture::Densenet121 => "torchvision densenet121 .features + head",
        };
        let transfer = arch.is_transfer();
        ExportSidecar {
            weights,
            format,
            architecture: arch,
            layout: layout.into(),
            depths: (!transfer).then_some(model.depths),
            base_planes: (!transfer).then_some(model.base_planes),
            head: transfer.then(|| model.head.clone()),
            batch_norm_eps: arch.batch_norm_epsilon(),
            head_batch_norm_eps: transfer.then_some(HEAD_BN_EPSILON),
            classes,
            preprocessing,
            run: PathBuf::new(),
            checkpoint: String::new(),
        }
    }
}

/// The network as a safetensors file written by burn-store, its tensors
/// under their PyTorch keys in PyTorch's layouts (linear weights
/// transposed); and the same tensors read back, sorted by key.
pub fn torch_tensors<B: burn::prelude::Backend>(
    model: &Network<B>,
    arch: Architecture,
) -> anyhow::Result<(Vec<u8>, Vec<NamedTensor>)> {
    let layout = TorchLayout::new(arch)?;
    let ours: Vec<String> = model
        .collect(None, None, true)
        .iter()
        .map(|s| s.full_path())
        .collect();
    let mut remapper = KeyRemapper::new();
    let mut expected = Vec::with_capacity(ours.len());
    for path in &ours {
        let key = layout.key(path).ok_or_else(|| {
            anyhow::anyhow!("{path} has no PyTorch name in the {} layout", arch.name())
        })?;
        if &key != path {
            // our paths hold only letters, digits, '_' and '.'
            remapper = remapper
                .add_pattern(format!("^{}$", path.replace('.', "\\.")), key.clone())
                .context("a key pattern")?;
        }
        expected.push(key);
    }
    let mut store = SafetensorsStore::from_bytes(None)
        .skip_enum_variants(true)
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(remapper);
    store
        .collect_from(model)
        .map_err(|e| anyhow::anyhow!("burn-store could not collect the weights: {e}"))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| anyhow::anyhow!("burn-store could not write safetensors: {e}"))?;
    // (read back from our own bytes: no size limit to apply)
    let tensors = read_safetensors(&bytes, u64::MAX)?;
    expected.sort();
    let written: Vec<&String> = tensors.iter().map(|t| &t.0).collect();
    anyhow::ensure!(
        written.iter().copied().eq(expected.iter()),
        "the weights written do not carry exactly the expected keys"
    );
    Ok((bytes, tensors))
}

/// Naming the checkpoint's tensors in PyTorch's layout.
struct TorchTensors;

impl WithModel for TorchTensors {
    type Output = (Vec<u8>, Vec<NamedTensor>);
    fn run<B: Backend>(self, model: LoadedModel<'_, B>) -> anyhow::Result<Self::Output> {
        let architecture = model.run.record.config.model.architecture;
        torch_tensors(&model.network, architecture)
    }
}
