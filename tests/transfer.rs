//! Xception and DenseNet-121: parameter counts, weight import from Keras .h5,
//! PyTorch .pth and .safetensors, numerical parity with the reference
//! implementations (fixtures from tests/fixtures/make_transfer_fixtures.py), and
//! mismatch reports.

mod common;

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::prelude::*;
use facebench::model::{
    keras_layer_names, layer_table, trainable_params, Architecture, DenseNet, FreezePlan,
    ModelConfig, Xception,
};
use facebench::weights::{check_weights, import_into, WeightFile};
use serde_json::Value;

type B = Flex;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transfer")
}

fn meta() -> Value {
    let text = std::fs::read_to_string(fixtures().join("transfer_parity.json"))
        .expect("tests/fixtures/transfer/transfer_parity.json");
    serde_json::from_str(&text).unwrap()
}

fn xception_h5() -> PathBuf {
    common::shared_dir().join("weights/xception_weights_tf_dim_ordering_tf_kernels_notop.h5")
}

/// A little-endian f32 array from the fixtures and its shape.
fn array(entry: &Value) -> (Vec<f32>, Vec<usize>) {
    let file = fixtures().join(entry["file"].as_str().unwrap());
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let data = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let shape = entry["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    (data, shape)
}

/// NHWC fixture input to an NCHW tensor.
fn input(entry: &Value) -> Tensor<B, 4> {
    let (data, shape) = array(entry);
    let [n, h, w, c] = <[usize; 4]>::try_from(shape).unwrap();
    Tensor::<B, 4>::from_data(TensorData::new(data, [n, h, w, c]), &Default::default())
        .permute([0, 3, 1, 2])
}

/// Largest absolute difference over the largest reference magnitude.
fn relative_error(ours_nchw: Tensor<B, 4>, expected: &Value) -> f32 {
    let (want, shape) = array(expected);
    let got = ours_nchw.permute([0, 2, 3, 1]);
    assert_eq!(got.dims().to_vec(), shape, "output shape");
    let got: Vec<f32> = got.into_data().to_vec().unwrap();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "reference output is all zeros");
    let diff = got
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

fn densenet_from(file: &str) -> DenseNet<B> {
    let mut net = DenseNet::<B>::densenet121(&Default::default());
    let weights = WeightFile::read(&fixtures().join(file)).unwrap();
    let report = import_into(&mut net, Architecture::Densenet121, &weights).unwrap();
    assert_eq!(report.values, 7_037_504, "Keras count of the no-top base");
    net
}

fn densenet_parity(file: &str) {
    let net = densenet_from(file);
    for case in meta()["densenet121"]["cases"].as_array().unwrap() {
        let out = net.forward(input(&case["input"]));
        let rel = relative_error(out, &case["output"]);
        assert!(rel <= 1e-4, "{file}: relative error {rel} > 1e-4");
    }
}

#[test]
fn parameter_counts_equal_the_references() {
    let device = Default::default();
    let xception = Xception::<B>::new(&device);
    let all: usize = layer_table(&xception).iter().map(|r| r.params).sum();
    assert_eq!(all, 20_861_480, "Keras Xception no-top count_params");
    let densenet = DenseNet::<B>::densenet121(&device);
    let classifier = 1024 * 1000 + 1000;
    assert_eq!(
        trainable_params(&densenet) + classifier,
        7_978_856,
        "torchvision densenet121 with 1000 classes"
    );
    let all: usize = layer_table(&densenet).iter().map(|r| r.params).sum();
    assert_eq!(
        all as u64,
        meta()["keras_params"]["densenet121"].as_u64().unwrap()
    );
}

#[test]
fn keras_layer_lists_match_keras() {
    let m = meta();
    let norm = |s: &str| {
        let s = s.replace('/', "_");
        // Keras numbers unnamed layers per session; compare their kind only
        for base in ["conv2d", "batch_normalization", "add", "input"] {
            if s.starts_with(base) {
                return base.to_string();
            }
        }
        s
    };
    for arch in [Architecture::Xception, Architecture::Densenet121] {
        let theirs: Vec<String> = m["keras_layers"][arch.name()]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| norm(v.as_str().unwrap()))
            .collect();
        let ours: Vec<String> = keras_layer_names(arch).iter().map(|s| norm(s)).collect();
        assert_eq!(ours, theirs, "{} layer order", arch.name());
    }
}

#[test]
fn densenet_keras_h5_matches_keras_outputs() {
    densenet_parity("densenet121_random_notop.h5.gz");
}

#[test]
fn densenet_pth_matches_torchvision_outputs() {
    densenet_parity("densenet121_random.pth.gz");
}

#[test]
fn densenet_safetensors_matches_torchvision_outputs() {
    densenet_parity("densenet121_random.safetensors.gz");
}

#[test]
fn xception_real_imagenet_weights_match_keras_outputs() {
    let mut net = Xception::<B>::new(&Default::default());
    let file = WeightFile::read(&xception_h5()).unwrap();
    let report = import_into(&mut net, Architecture::Xception, &file).unwrap();
    assert_eq!(report.matched.len(), 234);
    assert_eq!(report.values, 20_861_480);
    for case in meta()["xception"]["cases"].as_array().unwrap() {
        let out = net.forward(input(&case["input"]));
        let rel = relative_error(out, &case["output"]);
        assert!(rel <= 1e-4, "relative error {rel} > 1e-4");
    }
}

#[test]
fn a_file_for_another_architecture_lists_the_mismatches() {
    let err = check_weights(&xception_h5(), Architecture::Densenet121)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nothing was loaded"), "{err}");
    assert!(err.contains("missing in the file (604)"), "{err}");
    assert!(
        err.contains("in the file but not in the model (234)"),
        "{err}"
    );
    assert!(err.contains("try --arch xception"), "{err}");
}

#[test]
fn missing_and_misshapen_tensors_are_each_named() {
    let mut file = WeightFile::read(&fixtures().join("densenet121_random.pth.gz")).unwrap();
    let WeightFile::Flat { tensors, .. } = &mut file else {
        panic!("a .pth reads as flat tensors");
    };
    tensors.retain(|(k, _)| k != "features.norm5.running_var");
    let conv = tensors
        .iter_mut()
        .find(|(k, _)| k == "features.conv0.weight")
        .unwrap();
    conv.1.shape = vec![32, 6, 7, 7];
    tensors.push((
        "features.extra.weight".into(),
        facebench::weights::RawTensor {
            shape: vec![1],
            data: vec![0.0],
        },
    ));
    let mut net = DenseNet::<B>::densenet121(&Default::default());
    let before: Vec<f32> = net.conv0.weight.val().into_data().to_vec().unwrap();
    let err = import_into(&mut net, Architecture::Densenet121, &file)
        .unwrap_err()
        .to_string();
    assert!(err.contains("features.norm5.running_var"), "{err}");
    assert!(
        err.contains("features.conv0.weight: file [32, 6, 7, 7], model needs [64, 3, 7, 7]"),
        "{err}"
    );
    assert!(err.contains("features.extra.weight"), "{err}");
    let after: Vec<f32> = net.conv0.weight.val().into_data().to_vec().unwrap();
    assert_eq!(before, after, "a failed import must not change the model");
}

#[test]
fn weights_check_command_prints_matches_and_counts() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_facebench"))
        .args(["weights", "check"])
        .arg(fixtures().join("densenet121_random_notop.h5.gz"))
        .args(["--arch", "densenet121"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("tensors matched: 604"), "{text}");
    assert!(text.contains("7,037,504"), "{text}");
    assert!(text.contains("6,953,856 trainable"), "{text}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_facebench"))
        .args(["weights", "check"])
        .arg(fixtures().join("densenet121_random.pth.gz"))
        .args(["--arch", "xception"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("densenet121"), "{err}");
}

#[test]
fn freeze_plans_follow_keras_layer_counts() {
    // DenseNet: Keras' first 100 layers end inside conv3_block7, after its 1x1
    // conv and BN, before its 3x3 conv
    let plan = FreezePlan {
        first_keras_layers: 100,
        ..FreezePlan::default()
    };
    let frozen = plan.frozen_prefixes(Architecture::Densenet121);
    assert!(frozen.contains(&"base.conv0".to_string()));
    assert!(frozen.contains(&"base.blocks.1.layers.6.norm2".to_string()));
    assert!(!frozen.contains(&"base.blocks.1.layers.6.conv2".to_string()));
    assert!(!frozen.iter().any(|p| p.starts_with("base.blocks.2")));
    assert_eq!(
        FreezePlan::base().frozen_prefixes(Architecture::Xception),
        ["base"]
    );
}

#[test]
fn a_frozen_base_gets_no_gradients_and_keeps_its_statistics() {
    type AB = burn::backend::Autodiff<Flex>;
    let device = Default::default();
    let config = ModelConfig {
        architecture: Architecture::Densenet121,
        ..ModelConfig::default()
    };
    let net = config
        .init::<AB>(5, &device)
        .with_freeze(&FreezePlan::base());
    let x = Tensor::<AB, 4>::random([4, 3, 40, 40], burn::tensor::Distribution::Default, &device);
    let loss = net.forward(x).square().mean();
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &net);
    let facebench::model::Network::Densenet121(m) = &net else {
        unreachable!()
    };
    assert!(grads.get::<Flex, 4>(m.base.conv0.weight.id).is_none());
    assert!(grads.get::<Flex, 2>(m.head.dense1.weight.id).is_some());
    // a frozen batch norm normalises with running statistics: unchanged
    let mean: Vec<f32> = m
        .base
        .norm0
        .running_mean
        .value_sync()
        .into_data()
        .to_vec()
        .unwrap();
    assert!(mean.iter().all(|v| *v == 0.0), "frozen BN statistics moved");
    let head_mean: Vec<f32> = m
        .head
        .bn0
        .running_mean
        .value_sync()
        .into_data()
        .to_vec()
        .unwrap();
    assert!(
        head_mean.iter().any(|v| *v != 0.0),
        "the head's BN should train"
    );
}

/// Write the real Keras Xception weights as a timm `legacy_xception`
/// safetensors file, using the key list the fixture script derived by walking
/// timm's and Keras' models side by side (independent of facebench's mapping).
fn timm_layout_safetensors(dir: &Path) -> PathBuf {
    let keys: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("xception_timm_keys.json")).unwrap(),
    )
    .unwrap();
    let WeightFile::Keras { layers, .. } = WeightFile::read(&xception_h5()).unwrap() else {
        panic!("an .h5 reads as Keras layers");
    };
    // Keras numbers the four shortcut layers per session: match them by order
    let shortcut = |n: &str| n.starts_with("conv2d") || n.starts_with("batch_normalization");
    let mut rename = std::collections::HashMap::new();
    let mut seen = Vec::new();
    for (_, v) in keys["keys"].as_object().unwrap() {
        let name = v[0].as_str().unwrap();
        if shortcut(name) && !seen.contains(&name.to_string()) {
            seen.push(name.to_string());
        }
    }
    // (serde_json's map is sorted by key, so order the names by their number)
    let number = |n: &str| {
        n.rsplit_once('_')
            .and_then(|(_, d)| d.parse::<usize>().ok())
            .map_or(0, |d| d + 1)
    };
    seen.sort_by_key(|n| (n.starts_with("batch"), number(n)));
    let mut file_shortcuts: Vec<&str> = layers
        .iter()
        .filter(|l| shortcut(&l.name) && !l.weights.is_empty())
        .map(|l| l.name.as_str())
        .collect();
    file_shortcuts.sort_by_key(|n| (n.starts_with("batch"), number(n)));
    for (json_name, file_name) in seen.iter().zip(&file_shortcuts) {
        rename.insert(json_name.clone(), file_name.to_string());
    }
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (key, v) in keys["keys"].as_object().unwrap() {
        let layer = v[0].as_str().unwrap();
        let layer = rename.get(layer).map(String::as_str).unwrap_or(layer);
        let (weight, how) = (v[1].as_str().unwrap(), v[2].as_str().unwrap());
        let t = &layers
            .iter()
            .find(|l| l.name == layer)
            .unwrap_or_else(|| panic!("layer {layer}"))
            .weights
            .iter()
            .find(|(w, _)| w == weight)
            .unwrap()
            .1;
        let (shape, data) = match how {
            "same" => (t.shape.clone(), t.data.clone()),
            _ => {
                // HWIO -> OIHW (depthwise: [kh, kw, C, 1] -> [C, 1, kh, kw])
                let [kh, kw, ci, co] = <[usize; 4]>::try_from(t.shape.clone()).unwrap();
                let mut out = vec![0f32; t.data.len()];
                let (o_n, i_n) = if how == "depthwise" {
                    (ci, co)
                } else {
                    (co, ci)
                };
                for y in 0..kh {
                    for x in 0..kw {
                        for i in 0..ci {
                            for o in 0..co {
                                let (oo, ii) = if how == "depthwise" { (i, o) } else { (o, i) };
                                out[((oo * i_n + ii) * kh + y) * kw + x] =
                                    t.data[((y * kw + x) * ci + i) * co + o];
                            }
                        }
                    }
                }
                (vec![o_n, i_n, kh, kw], out)
            }
        };
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((key.clone(), shape, bytes));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(k, shape, bytes)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .unwrap();
            (k.clone(), view)
        })
        .collect();
    let path = dir.join("legacy_xception.safetensors");
    safetensors::tensor::serialize_to_file(views, None, &path).unwrap();
    path
}

#[test]
fn xception_loads_timm_legacy_xception_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let path = timm_layout_safetensors(tmp.path());
    let mut net = Xception::<B>::new(&Default::default());
    let report = import_into(
        &mut net,
        Architecture::Xception,
        &WeightFile::read(&path).unwrap(),
    )
    .unwrap();
    assert_eq!(report.matched.len(), 234);
    // the weights came from Keras: in our Keras-layout network they reproduce
    // Keras' outputs (timm's own port differs: BN epsilon 1e-5, symmetric pooling)
    for case in meta()["xception"]["cases"].as_array().unwrap() {
        let out = net.forward(input(&case["input"]));
        let rel = relative_error(out, &case["output"]);
        assert!(rel <= 1e-4, "relative error {rel} > 1e-4");
    }
}

#[test]
fn both_namings_of_the_xception_shortcut_layers_load() {
    // this copy names them conv2d, conv2d_1..3; the Keras download conv2d_1..4
    let mut file = WeightFile::read(&xception_h5()).unwrap();
    let WeightFile::Keras { layers, .. } = &mut file else {
        panic!("an .h5 reads as Keras layers");
    };
    let mut renamed = 0;
    for layer in layers.iter_mut().rev() {
        for base in ["conv2d", "batch_normalization"] {
            let n = match layer.name.strip_prefix(base) {
                Some("") => 0,
                Some(rest) => match rest.strip_prefix('_').and_then(|d| d.parse().ok()) {
                    Some(d) => d,
                    None => continue,
                },
                None => continue,
            };
            layer.name = format!("{base}_{}", n + 1);
            renamed += 1;
        }
    }
    assert_eq!(renamed, 8);
    let mut net = Xception::<B>::new(&Default::default());
    import_into(&mut net, Architecture::Xception, &file).unwrap();
    let case = &meta()["xception"]["cases"][0];
    let rel = relative_error(net.forward(input(&case["input"])), &case["output"]);
    assert!(rel <= 1e-4, "relative error {rel}");
}

#[test]
fn keras3_layer_names_load_like_keras2_names() {
    // Keras 3 writes conv1_conv where the published file has conv1/conv
    let mut file = WeightFile::read(&fixtures().join("densenet121_random_notop.h5.gz")).unwrap();
    let WeightFile::Keras { layers, .. } = &mut file else {
        panic!("an .h5 reads as Keras layers");
    };
    let mut renamed = 0;
    for layer in layers.iter_mut().filter(|l| l.name.contains('/')) {
        layer.name = layer.name.replace('/', "_");
        renamed += 1;
    }
    assert!(renamed >= 2, "the fixture has Keras 2 names");
    let mut net = DenseNet::<B>::densenet121(&Default::default());
    import_into(&mut net, Architecture::Densenet121, &file).unwrap();
}
