//! Grad-CAM: the maps equal references computed independently of the
//! engine's autodiff, and a network trained on faces whose identity is only
//! a mark in one quadrant looks at that quadrant.

mod common;

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module, ModuleMapper, Param};
use burn::prelude::*;
use facebench::data::demo::{generate_marked_dataset, DemoConfig, Quadrant};
use facebench::engine::{explain_run, grad_cam, train_blocking, ExplainRequest, TrainRequest};
use facebench::eval::{mass_share, normalised, resize_bilinear, weighted_map, CamMethod};
use facebench::loader::AugmentConfig;
use facebench::model::{CamLayer, ModelConfig, Network};
use facebench::run::TrainEvent;
use facebench::store::RunDir;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type Ad = Autodiff<Flex>;

/// A tiny ResNet with seeded random weights, frozen as the engine freezes
/// a model it explains, and three noise images at 64 px.
fn fixed_model_and_faces() -> (Network<Ad>, Tensor<Ad, 4>) {
    // the backend's generator is shared: one test at a time draws from it
    let _one_at_a_time = common::serial();
    let device = Default::default();
    Ad::seed(&device, 11);
    let config = ModelConfig {
        depths: [1, 1, 1, 1],
        base_planes: 8,
        ..ModelConfig::default()
    };
    // random batch-norm shifts, as training leaves them: with the fresh
    // zeros, a position where every input is 0 sits exactly on a ReLU's
    // kink, where no finite difference agrees with a gradient
    let model = config
        .init::<Ad>(5, &device)
        .map(&mut JitterVectors(ChaCha8Rng::seed_from_u64(3)))
        .no_grad();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let pixels: Vec<f32> = (0..3 * 3 * 64 * 64)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let images = Tensor::<Ad, 4>::from_data(TensorData::new(pixels, [3, 3, 64, 64]), &device);
    (model, images)
}

/// Adds uniform noise in ±0.2 to every one-dimensional parameter
/// (batch-norm scales and shifts, biases).
struct JitterVectors(ChaCha8Rng);

impl ModuleMapper<Ad> for JitterVectors {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<Ad, D>>) -> Param<Tensor<Ad, D>> {
        let (id, tensor, mapper) = param.consume();
        let tensor = if D == 1 {
            let shape = tensor.shape();
            let noise: Vec<f32> = (0..shape.num_elements())
                .map(|_| self.0.random_range(-0.2..0.2))
                .collect();
            tensor.clone() + Tensor::from_data(TensorData::new(noise, shape), &tensor.device())
        } else {
            tensor
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}

fn values<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec().unwrap()
}

fn assert_maps_close(ours: &[f32], reference: &[f32], tolerance: f32, what: &str) {
    assert_eq!(ours.len(), reference.len(), "{what}");
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert!(
            (a - b).abs() <= tolerance,
            "{what}: position {i}: {a} vs {b}"
        );
    }
}

/// For ResNet's last stage, the class score is `Σk W[c,k]·mean(Ak) + b[c]`,
/// so Grad-CAM's channel weight is `W[c,k] / (h·w)`: the map written out
/// plainly from the classifier's weights, with no gradient taken.
#[test]
fn grad_cam_of_resnets_last_stage_equals_its_closed_form() {
    let (model, images) = fixed_model_and_faces();
    let targets = [Some(0), Some(3), None];
    let layer = CamLayer::ResnetLayer4;
    let maps = grad_cam(&model, images.clone(), &targets, layer, CamMethod::GradCam).unwrap();
    let Network::Resnet(resnet) = &model else {
        unreachable!("a ResNet config")
    };
    let weight = values(resnet.fc().weight.val().inner()); // [in, out]
    let classes = 5;
    let activations = model.valid().activations(images.inner(), layer);
    let activations = values(activations.unwrap());
    let (k, h, w) = (weight.len() / classes, 2, 2);
    let mut nonzero = 0;
    for (i, face) in maps.iter().enumerate() {
        assert_eq!(face.size, (h, w));
        if let Some(c) = targets[i] {
            assert_eq!(face.class, c);
        }
        let a = &activations[i * k * h * w..][..k * h * w];
        let mut cam = vec![0.0f32; h * w];
        for ch in 0..k {
            let alpha = weight[ch * classes + face.class] / (h * w) as f32;
            for p in 0..h * w {
                cam[p] += alpha * a[ch * h * w + p];
            }
        }
        let cam: Vec<f32> = cam.into_iter().map(|v| v.max(0.0)).collect();
        nonzero += cam.iter().any(|&v| v > 0.0) as usize;
        assert_maps_close(&face.map, &normalised(&cam), 1e-4, &format!("face {i}"));
    }
    assert!(nonzero >= 2, "the references are not all empty maps");
}

/// Through a stage (layer3 -> layer4 -> classifier), Grad-CAM's channel
/// weight is the mean gradient, which is the derivative of the score along
/// a shift of the whole channel: a central difference per channel.
#[test]
fn grad_cam_through_a_stage_matches_finite_differences() {
    let (model, images) = fixed_model_and_faces();
    let layer = CamLayer::ResnetLayer3;
    let images = images.slice([0..1, 0..3, 0..64, 0..64]);
    let class = 2;
    let face = grad_cam(
        &model,
        images.clone(),
        &[Some(class)],
        layer,
        CamMethod::GradCam,
    )
    .unwrap()
    .remove(0);
    let inner = model.valid();
    let a = inner.activations(images.inner(), layer).unwrap();
    let [_, k, h, w] = a.dims();
    let score = |x: Tensor<Flex, 4>| values(inner.logits_from(layer, x).unwrap())[class] as f64;
    let eps = 1e-2f32;
    let reference: Vec<f32> = (0..k)
        .map(|ch| {
            let mut shift = vec![0.0f32; k * h * w];
            shift[ch * h * w..][..h * w].fill(eps);
            let shift = TensorData::new(shift, [1, k, h, w]);
            let shift = Tensor::<Flex, 4>::from_data(shift, &a.device());
            let up = score(a.clone() + shift.clone());
            let down = score(a.clone() - shift);
            ((up - down) / (2.0 * eps as f64) / (h * w) as f64) as f32
        })
        .collect();
    // f32 central differences scatter by about 1% of the largest weight
    // (roundoff: the score's last digits over 2·eps; below eps = 1e-2 it
    // grows, above it ReLU kinks are crossed), so this check is looser than
    // the closed form's 1e-4; a gradient that missed the shortcut or a batch
    // norm, or another class's, is off by the size of the weights themselves
    let largest = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(largest > 0.0, "a network whose score depends on layer3");
    assert_maps_close(
        &face.weights,
        &reference,
        2e-2 * largest,
        "layer3 channel weights",
    );
    // and the map is those weights applied to the activations
    let plain = weighted_map(&values(a), &face.weights, (h, w));
    assert_maps_close(&face.map, &normalised(&plain), 1e-6, "layer3 map");
}

/// Trains a tiny ResNet on faces whose class is only a coloured square in
/// the top-left quadrant, then explains its test faces: for the faces it
/// gets right, most of the Grad-CAM mass lies in that quadrant.
#[test]
fn a_network_that_reads_a_mark_in_one_quadrant_is_shown_looking_there() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let size = 128;
    let demo = DemoConfig {
        people: 6,
        images_per_person: 50,
        size: size as u32,
        seed: 5,
    };
    let data =
        generate_marked_dataset(&tmp.path().join("marked"), &demo, Quadrant::TopLeft).unwrap();
    let mut config = common::tiny_config(12);
    config.data.input_size = size;
    // no flips or crops: they would move the mark out of its quadrant
    config.data.augment = AugmentConfig {
        random_resized_crop: false,
        horizontal_flip: false,
        ..AugmentConfig::default()
    };
    config.data.split.val_fraction = 0.15;
    config.data.split.test_fraction = 0.25;
    let run_dir = train_blocking(
        TrainRequest {
            config,
            data_root: data,
            runs_root: tmp.path().join("runs"),
            resume: None,
        },
        |e| {
            if let TrainEvent::Failed { error } = e {
                panic!("training failed: {error}");
            }
        },
    )
    .unwrap();
    let run = RunDir::new(&run_dir);
    let eval = run.read_eval().unwrap().expect("the run wrote eval.json");
    let faces: Vec<PathBuf> = eval.predictions.iter().map(|p| p.path.clone()).collect();
    let (rows, cols) = Quadrant::TopLeft.area(size);
    // the share of the top-left quadrant in each correctly classified face's
    // map at `layer`, upsampled to the image as it is drawn
    let shares_at = |layer: CamLayer| -> Vec<f64> {
        let mut request = ExplainRequest::new(&run, faces.clone()).unwrap();
        request.layer = layer;
        let explanations = explain_run(&request).unwrap();
        assert_eq!(explanations.len(), eval.predictions.len());
        let mut shares = Vec::new();
        for (e, p) in explanations.iter().zip(&eval.predictions) {
            assert_eq!(e.image, p.path);
            assert_eq!(
                e.predicted,
                p.predicted,
                "{}: as in eval.json",
                p.path.display()
            );
            if e.predicted == p.true_class {
                let heat = resize_bilinear(&e.map, e.map_size, (size, size));
                shares.push(mass_share(&heat, size, rows.clone(), cols.clone()));
            }
        }
        shares
    };
    let fine = shares_at(CamLayer::ResnetLayer3);
    assert!(
        fine.len() * 4 > faces.len() * 3,
        "the network learned the marks: {} of {} test faces right",
        fine.len(),
        faces.len()
    );
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let above = fine.iter().filter(|&&s| s > 0.6).count();
    eprintln!(
        "layer3: top-left share of the Grad-CAM mass over {} correct faces: mean {:.3}, {above} above 0.6",
        fine.len(),
        mean(&fine)
    );
    assert!(mean(&fine) > 0.6, "layer3 shares: {fine:?}");
    assert!(
        above * 4 >= fine.len() * 3,
        "most faces above 0.6: {fine:?}"
    );
    // layer4's map is 4 x 4 at 128 px: a cell straddles the quadrant's edge
    // once upsampled (a map of one cell at (1, 1) puts 77% in the quadrant),
    // and the class that wins by the absence of the other colours (the
    // first) lights up everywhere; its maps still favour the quadrant
    let coarse = shares_at(CamLayer::ResnetLayer4);
    eprintln!("layer4: mean share {:.3}", mean(&coarse));
    assert!(
        mean(&coarse) > 0.4,
        "layer4 shares (0.25 by chance): {coarse:?}"
    );

    explain_from_the_cli(&run_dir, &faces[0], tmp.path());
}

/// `facebench explain` writes the overlay and a 16-bit heatmap per face.
fn explain_from_the_cli(run: &Path, face: &Path, tmp: &Path) {
    let out = tmp.join("explained");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_facebench"))
        .args(["explain", &run.to_string_lossy(), &face.to_string_lossy()])
        .args(["--class", "person_01", "--method", "gradcam++", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("gradcam++ of person_01 at layer4"), "{text}");
    let stem = face.file_stem().unwrap().to_string_lossy().into_owned();
    let overlay = image::open(out.join(format!("{stem}.person_01.gradcam.png"))).unwrap();
    let heatmap = image::open(out.join(format!("{stem}.person_01.heatmap.png"))).unwrap();
    let original = image::open(face).unwrap();
    assert_eq!(overlay.width(), original.width());
    assert_eq!(heatmap.height(), original.height());
    assert!(
        matches!(heatmap, image::DynamicImage::ImageLuma16(_)),
        "16-bit grey"
    );

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_facebench"))
        .args(["explain", &run.to_string_lossy(), &face.to_string_lossy()])
        .args(["--layer", "block14_sepconv2_act", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(text.contains("use one of: layer4, layer3"), "{text}");
}
