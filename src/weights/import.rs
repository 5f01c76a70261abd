//! Matching a weight file's tensors to a base network, converting layouts
//! (Keras HWIO kernels to burn's OIHW), and reporting every mismatch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use burn::module::ParamId;
use burn::prelude::*;
use burn_store::{ModuleSnapshot, TensorSnapshot};

use super::source::{RawTensor, WeightFile, WeightFormat};
use crate::model::{
    densenet_torch_prefix, keras_layers, xception_timm_prefix, Architecture, SlotKind,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Convert {
    Same,
    /// Keras `[kh, kw, in, out]` to `[out, in, kh, kw]`.
    Hwio,
    /// Keras depthwise `[kh, kw, C, 1]` to `[C, 1, kh, kw]`.
    Depthwise,
}

/// One tensor the base needs: our path, the file's key, the layout change.
#[derive(Debug, Clone)]
struct Expected {
    path: String,
    key: String,
    convert: Convert,
}

/// What an import did: the tensors it filled and what it left aside.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub file: PathBuf,
    pub format: WeightFormat,
    pub arch: Architecture,
    /// (our tensor path, shape) for every tensor filled from the file.
    pub matched: Vec<(String, Vec<usize>)>,
    /// File tensors not used on purpose (an ImageNet top, counters).
    pub ignored: Vec<String>,
    /// Elements in the matched tensors (Keras' count_params: BN statistics included).
    pub values: usize,
    /// Elements in matched trainable tensors (PyTorch's count: no BN statistics).
    pub trainable: usize,
}

fn normalise_keras(name: &str) -> String {
    name.replace('/', "_")
}

/// Flatten a file into `key -> tensor`. Keras keys are `layer/weight` with the
/// four Xception shortcut layers renamed by order to `conv2d_1..4` and
/// `batch_normalization_1..4` (the published file numbers them 1-4, some
/// copies 0-3).
fn flatten(file: &WeightFile) -> Vec<(String, &RawTensor)> {
    match file {
        WeightFile::Keras { layers, .. } => {
            let mut counters: HashMap<&str, usize> = HashMap::new();
            let mut out = Vec::new();
            for layer in layers {
                let mut name = normalise_keras(&layer.name);
                for base in ["conv2d", "batch_normalization"] {
                    let numbered = name.strip_prefix(base).is_some_and(|rest| {
                        rest.is_empty()
                            || rest.starts_with('_')
                                && rest[1..].chars().all(|c| c.is_ascii_digit())
                    });
                    if numbered && !layer.weights.is_empty() {
                        let k = counters.entry(base).or_insert(0);
                        *k += 1;
                        name = format!("{base}_{k}");
                    }
                }
                for (short, t) in &layer.weights {
                    out.push((format!("{name}/{short}"), t));
                }
            }
            out
        }
        WeightFile::Flat { tensors, .. } => tensors
            .iter()
            .map(|(k, t)| (normalise_torch_key(k), t))
            .collect(),
    }
}

/// torchvision's old DenseNet checkpoints name `norm.1` what is now `norm1`
/// (torchvision fixes this with a regex on load; so do we).
fn normalise_torch_key(key: &str) -> String {
    let key = key.strip_prefix("module.").unwrap_or(key);
    if !key.contains("denselayer") {
        return key.to_string();
    }
    let mut k = key.to_string();
    for (from, to) in [
        (".norm.1.", ".norm1."),
        (".norm.2.", ".norm2."),
        (".conv.1.", ".conv1."),
        (".conv.2.", ".conv2."),
    ] {
        k = k.replace(from, to);
    }
    k
}

fn expected(arch: Architecture, format: WeightFormat) -> anyhow::Result<Vec<Expected>> {
    let keras = format == WeightFormat::KerasH5;
    if arch == Architecture::Resnet {
        anyhow::bail!("resnet trains from scratch: no pretrained layout is defined");
    }
    use Convert::{Depthwise, Hwio, Same};
    let mut out = Vec::new();
    for layer in keras_layers(arch) {
        let Some((prefix, kind)) = layer.target else {
            continue;
        };
        // the file's name of the layer and the separator before a tensor's
        // name; PyTorch layouts: torchvision's densenet121, timm's legacy_xception
        let (theirs_prefix, sep) = match (keras, arch) {
            (true, _) => (normalise_keras(&layer.name), '/'),
            (false, Architecture::Xception) => (xception_timm_prefix(&prefix), '.'),
            (false, _) => (densenet_torch_prefix(&prefix), '.'),
        };
        // (our tensor, the file's tensor, the layout change)
        let tensors: &[(&str, &str, Convert)] = match (kind, keras) {
            (SlotKind::Conv, true) => &[("weight", "kernel", Hwio)],
            (SlotKind::Conv, false) => &[("weight", "weight", Same)],
            (SlotKind::SeparableConv, true) => &[
                ("depthwise.weight", "depthwise_kernel", Depthwise),
                ("pointwise.weight", "pointwise_kernel", Hwio),
            ],
            (SlotKind::SeparableConv, false) => &[
                ("depthwise.weight", "conv1.weight", Same),
                ("pointwise.weight", "pointwise.weight", Same),
            ],
            (SlotKind::BatchNorm, true) => &[
                ("gamma", "gamma", Same),
                ("beta", "beta", Same),
                ("running_mean", "moving_mean", Same),
                ("running_var", "moving_variance", Same),
            ],
            (SlotKind::BatchNorm, false) => &[
                ("gamma", "weight", Same),
                ("beta", "bias", Same),
                ("running_mean", "running_mean", Same),
                ("running_var", "running_var", Same),
            ],
        };
        for &(ours, theirs, convert) in tensors {
            out.push(Expected {
                path: format!("{prefix}.{ours}"),
                key: format!("{theirs_prefix}{sep}{theirs}"),
                convert,
            });
        }
    }
    Ok(out)
}

/// (our tensor path inside the base, the PyTorch key) for every tensor of
/// a transfer base: torchvision's densenet121, timm's legacy_xception.
pub(crate) fn base_torch_keys(arch: Architecture) -> anyhow::Result<Vec<(String, String)>> {
    Ok(expected(arch, WeightFormat::Pytorch)?
        .into_iter()
        .map(|e| (e.path, e.key))
        .collect())
}

/// File tensors that are fine to leave unused: an ImageNet classifier top.
fn is_ignorable(key: &str) -> bool {
    key.starts_with("classifier.")
        || key.starts_with("predictions/")
        || key.starts_with("fc.")
        || key.ends_with("num_batches_tracked")
}

fn convert(t: &RawTensor, how: Convert) -> Option<(Vec<usize>, Vec<f32>)> {
    match how {
        Convert::Same => Some((t.shape.clone(), t.data.clone())),
        Convert::Hwio | Convert::Depthwise => {
            let [kh, kw, ci, co] = <[usize; 4]>::try_from(t.shape.as_slice()).ok()?;
            let mut out = vec![0f32; t.data.len()];
            for y in 0..kh {
                for x in 0..kw {
                    for i in 0..ci {
                        for o in 0..co {
                            out[((o * ci + i) * kh + y) * kw + x] =
                                t.data[((y * kw + x) * ci + i) * co + o];
                        }
                    }
                }
            }
            let shape = if how == Convert::Depthwise {
                // [1, C, kh, kw] has the same memory order as [C, 1, kh, kw]
                vec![ci * co, 1, kh, kw]
            } else {
                vec![co, ci, kh, kw]
            };
            Some((shape, out))
        }
    }
}

fn list(title: &str, items: &[String], out: &mut String) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("\n  {title} ({}):", items.len()));
    for item in items.iter().take(12) {
        out.push_str(&format!("\n    {item}"));
    }
    if items.len() > 12 {
        out.push_str(&format!("\n    ... and {} more", items.len() - 12));
    }
}

/// Fill `base` (an Xception or DenseNet base) from `file`. Every tensor of the
/// base must come from the file with the right shape, and every tensor of the
/// file must be used (an ImageNet top excepted); otherwise nothing is loaded
/// and the error lists each mismatch.
pub fn import_into<B: Backend, M: ModuleSnapshot<B>>(
    base: &mut M,
    arch: Architecture,
    file: &WeightFile,
) -> anyhow::Result<ImportReport> {
    let wanted = expected(arch, file.format())?;
    let ours: BTreeMap<String, Vec<usize>> = base
        .collect(None, None, false)
        .into_iter()
        .map(|s| (s.full_path(), s.shape.to_vec()))
        .collect();
    let source = flatten(file);
    let by_key: HashMap<&str, &RawTensor> = source.iter().map(|(k, t)| (k.as_str(), *t)).collect();

    let (mut missing, mut shapes, mut unfilled) = (Vec::new(), Vec::new(), Vec::new());
    let mut used: HashSet<&str> = HashSet::new();
    let mut snapshots = Vec::new();
    let mut report = ImportReport {
        file: file.path().to_path_buf(),
        format: file.format(),
        arch,
        matched: Vec::new(),
        ignored: Vec::new(),
        values: 0,
        trainable: 0,
    };
    let covered: HashSet<&str> = wanted.iter().map(|e| e.path.as_str()).collect();
    for path in ours.keys() {
        if !covered.contains(path.as_str()) {
            unfilled.push(path.clone());
        }
    }
    for e in &wanted {
        let Some(want) = ours.get(&e.path) else {
            unfilled.push(format!("{} (not in the model)", e.path));
            continue;
        };
        let Some(t) = by_key.get(e.key.as_str()) else {
            missing.push(format!("{}  (for {}, shape {want:?})", e.key, e.path));
            continue;
        };
        used.insert(e.key.as_str());
        match convert(t, e.convert) {
            Some((shape, data)) if &shape == want => {
                let n = data.len();
                report.values += n;
                if !e.path.ends_with("running_mean") && !e.path.ends_with("running_var") {
                    report.trainable += n;
                }
                report.matched.push((e.path.clone(), shape.clone()));
                let parts: Vec<String> = e.path.split('.').map(str::to_string).collect();
                snapshots.push(TensorSnapshot::from_data(
                    TensorData::new(data, shape),
                    parts,
                    Vec::new(),
                    ParamId::new(),
                ));
            }
            _ => shapes.push(format!(
                "{}: file {:?}, model needs {want:?} (as {})",
                e.key, t.shape, e.path
            )),
        }
    }
    let mut extra = Vec::new();
    for (k, _) in &source {
        if used.contains(k.as_str()) {
            continue;
        }
        if is_ignorable(k) {
            report.ignored.push(k.clone());
        } else {
            extra.push(k.clone());
        }
    }
    if !(missing.is_empty() && shapes.is_empty() && extra.is_empty() && unfilled.is_empty()) {
        let mut msg = format!(
            "{} does not fit {} ({} format): nothing was loaded",
            file.path().display(),
            arch.name(),
            file.format().name()
        );
        list("missing in the file", &missing, &mut msg);
        list("wrong shape", &shapes, &mut msg);
        list("in the file but not in the model", &extra, &mut msg);
        list("model tensors no file entry fills", &unfilled, &mut msg);
        if let Some(guess) = guess_architecture(&source) {
            if guess != arch {
                msg.push_str(&format!(
                    "\n  the file looks like {} weights: try --arch {}",
                    guess.name(),
                    guess.name()
                ));
            }
        }
        anyhow::bail!(msg);
    }
    let result = base.apply(snapshots, None, None, false);
    if !result.errors.is_empty() || !result.missing.is_empty() {
        anyhow::bail!(
            "applying {} failed: {:?}",
            file.path().display(),
            result.errors
        );
    }
    Ok(report)
}

fn guess_architecture(source: &[(String, &RawTensor)]) -> Option<Architecture> {
    let has = |needle: &str| source.iter().any(|(k, _)| k.contains(needle));
    if has("block14_sepconv") || has("block12.skipbn") {
        Some(Architecture::Xception)
    } else if has("conv5_block16") || has("denseblock4.denselayer16") {
        Some(Architecture::Densenet121)
    } else {
        None
    }
}
