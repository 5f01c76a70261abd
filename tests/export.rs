//! `facebench export`: a run's weights as .safetensors (burn-store) or .pth
//! under torchvision / timm key names with a JSON sidecar, and
//! `examples/load_in_pytorch.py` loading them into PyTorch with the same
//! outputs (where torch is importable).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use burn::backend::flex::FlexDevice;
use burn::backend::Flex;
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_store::{ModuleStore, PytorchStore};
use facebench::engine::{
    explained_checkpoint, load_model, torch_tensors, ExportFormat, ExportSidecar, Preprocessing,
};
use facebench::model::{Architecture, ModelConfig};
use facebench::store::RunDir;

fn export(run: &Path, format: &str) -> (PathBuf, ExportSidecar) {
    let out = Command::new(env!("CARGO_BIN_EXE_facebench"))
        .arg("export")
        .arg(run)
        .args(["--format", format])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let weights = run.join("export").join(format!("model.{format}"));
    let sidecar: ExportSidecar =
        serde_json::from_slice(&std::fs::read(weights.with_extension("json")).unwrap()).unwrap();
    (weights, sidecar)
}

/// Every tensor of a safetensors file by key.
fn safetensors_of(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(k, v)| {
            let values = v
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (k, (v.shape().to_vec(), values))
        })
        .collect()
}

#[test]
fn a_resnet_run_exports_torchvision_keys_as_safetensors_and_pth() {
    let tmp = tempfile::tempdir().unwrap();
    let run = common::train_tiny(tmp.path(), 1);
    let record = RunDir::new(&run).read_record().unwrap();
    let (st_path, sidecar) = export(&run, "safetensors");
    assert_eq!(sidecar.architecture, Architecture::Resnet);
    assert_eq!(sidecar.classes, record.dataset.classes);
    assert_eq!(sidecar.preprocessing.input_size, 64);
    assert_eq!(sidecar.preprocessing.mean, record.dataset.mean);
    assert_eq!(sidecar.depths, Some([1, 1, 1, 1]));
    assert_eq!(sidecar.format, ExportFormat::Safetensors);
    let tensors = safetensors_of(&st_path);
    let classes = record.dataset.classes.len();
    // torchvision's names and layouts: downsample.0/1, BN weight/bias,
    // fc.weight as [classes, features]
    assert_eq!(tensors["fc.weight"].0, vec![classes, 8 * 32]);
    assert_eq!(tensors["layer1.0.downsample.0.weight"].0, vec![32, 8, 1, 1]);
    for key in [
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
    ] {
        assert!(tensors.contains_key(key), "{key}");
    }
    assert!(!tensors
        .keys()
        .any(|k| k.contains("gamma") || k.contains(".conv.")));

    // the .pth holds the same tensors, as burn-store's PyTorch reader sees them
    let (pth_path, pth_sidecar) = export(&run, "pth");
    assert_eq!(pth_sidecar.format, ExportFormat::Pth);
    let mut store = PytorchStore::from_file(&pth_path);
    let snapshots = store.get_all_snapshots().unwrap().clone();
    assert_eq!(
        snapshots.keys().collect::<Vec<_>>(),
        tensors.keys().collect::<Vec<_>>()
    );
    for (key, snapshot) in snapshots {
        let data = snapshot.to_data().unwrap();
        assert_eq!(data.shape.to_vec(), tensors[&key].0, "{key}");
        assert_eq!(
            data.convert::<f32>().into_vec::<f32>().unwrap(),
            tensors[&key].1,
            "{key}"
        );
    }
    if let Some(python) = torch_python() {
        let input = fixed_input(2, 64);
        let model = record.config.model.init::<Flex>(classes, &FlexDevice);
        let checkpoint = explained_checkpoint(&RunDir::new(&run)).unwrap();
        let model = load_model(&checkpoint, model, &FlexDevice).unwrap();
        for weights in [&st_path, &pth_path] {
            compare_in_pytorch(
                &python,
                &weights.with_extension("json"),
                &model,
                &input,
                tmp.path(),
            );
        }
    } else {
        eprintln!("torch is not importable: the PyTorch comparison was not run");
    }
}

/// Random values on every tensor (batch-norm statistics included, kept
/// positive), so a tensor loaded into the wrong place changes the output.
struct Perturb;

impl<B: Backend> ModuleMapper<B> for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        param.map(|t| {
            let shape = t.shape();
            let device = t.device();
            let scale = Tensor::random(shape.clone(), Distribution::Uniform(0.8, 1.2), &device);
            let shift = Tensor::random(shape, Distribution::Uniform(-0.05, 0.05), &device);
            t * scale + shift
        })
    }
}

#[test]
fn transfer_networks_load_into_timm_and_torchvision_with_the_same_outputs() {
    let Some(python) = torch_python() else {
        eprintln!("torch, torchvision and timm are not importable: nothing to compare with");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // Xception at 77 px pools an even side, where TF's "same" padding is
    // asymmetric; DenseNet-121 at 64 px
    for (arch, size) in [
        (Architecture::Xception, 77),
        (Architecture::Densenet121, 64),
    ] {
        let mut config = ModelConfig {
            architecture: arch,
            ..ModelConfig::default()
        };
        config.head.dense1 = 64;
        config.head.dense2 = 32;
        let classes: Vec<String> = (0..5).map(|i| format!("person_{i}")).collect();
        let model = config
            .init::<Flex>(classes.len(), &FlexDevice)
            .map(&mut Perturb);
        let (bytes, _) = torch_tensors(&model, arch).unwrap();
        let weights = tmp.path().join(format!("{}.safetensors", arch.name()));
        std::fs::write(&weights, bytes).unwrap();
        let sidecar = ExportSidecar::new(
            &config,
            classes,
            Preprocessing {
                input_size: size,
                resize: String::new(),
                mean: [0.5; 3],
                std: [0.5; 3],
                layout: "NCHW, RGB".into(),
            },
            weights.file_name().unwrap().to_string_lossy().into_owned(),
            ExportFormat::Safetensors,
        );
        let sidecar_path = weights.with_extension("json");
        std::fs::write(&sidecar_path, serde_json::to_vec(&sidecar).unwrap()).unwrap();
        compare_in_pytorch(
            &python,
            &sidecar_path,
            &model,
            &fixed_input(2, size),
            tmp.path(),
        );
    }
}

/// A python with torch, torchvision, timm and safetensors, if there is one.
fn torch_python() -> Option<String> {
    let python = std::env::var("FACEBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import torch, torchvision, timm, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

/// `n` faces of `size` px, values in [-1, 1], always the same.
fn fixed_input(n: usize, size: usize) -> (Vec<f32>, [usize; 4]) {
    let len = n * 3 * size * size;
    let values = (0..len)
        .map(|i| (i as f32 * 0.618_034).fract() * 2.0 - 1.0)
        .collect();
    (values, [n, 3, size, size])
}

/// Run examples/load_in_pytorch.py on the sidecar with our logits for
/// `input`: it fails when PyTorch's differ by more than 1e-4.
fn compare_in_pytorch(
    python: &str,
    sidecar: &Path,
    model: &facebench::model::Network<Flex>,
    input: &(Vec<f32>, [usize; 4]),
    dir: &Path,
) {
    let images =
        Tensor::<Flex, 4>::from_data(TensorData::new(input.0.clone(), input.1), &FlexDevice);
    let logits: Vec<f32> = model
        .forward(images)
        .into_data()
        .convert::<f32>()
        .into_vec()
        .unwrap();
    let case = dir.join("case.json");
    std::fs::write(
        &case,
        serde_json::json!({"shape": input.1, "input": input.0, "logits": logits}).to_string(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/load_in_pytorch.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(sidecar)
        .arg("--compare")
        .arg(&case)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {text}", sidecar.display());
    assert!(text.contains("max |logit difference|"), "{text}");
    eprintln!("{}: {text}", sidecar.display());
}
