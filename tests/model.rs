//! Model shapes and parameter counts.

use burn::backend::flex::FlexDevice;
use burn::backend::Flex;
use burn::module::AutodiffModule;
use burn::prelude::*;
use facebench::model::{layer_table, trainable_params, ModelConfig};

#[test]
fn resnet50_has_torchvisions_parameter_count() {
    let device = FlexDevice;
    let model = ModelConfig::default().init::<Flex>(1000, &device);
    assert_eq!(trainable_params::<Flex, _>(&model), 25_557_032);
    // burn's own count includes the batch-norm running statistics
    let buffers: usize = layer_table::<Flex, _>(&model)
        .iter()
        .filter(|r| !r.trainable)
        .map(|r| r.params)
        .sum();
    assert_eq!(
        buffers,
        2 * 26_560,
        "ResNet-50 has 26,560 batch-norm channels"
    );
    assert_eq!(model.num_params(), 25_557_032 + buffers);
}

#[test]
fn small_resnet_maps_images_to_class_logits() {
    let device = FlexDevice;
    let config = ModelConfig {
        depths: [1, 1, 1, 1],
        base_planes: 8,
        ..ModelConfig::default()
    };
    let model = config.init::<Flex>(5, &device);
    for size in [64, 75, 112] {
        let x = Tensor::<Flex, 4>::random(
            [2, 3, size, size],
            burn::tensor::Distribution::Default,
            &device,
        );
        assert_eq!(model.forward(x).dims(), [2, 5], "input {size}px");
    }
    // [9,9,9,9] (the reference notebook) builds and counts 4 stages x 9 blocks
    let deep = ModelConfig {
        depths: [9, 9, 9, 9],
        base_planes: 8,
        ..ModelConfig::default()
    };
    let m = deep.init::<Flex>(3, &device);
    let blocks = layer_table::<Flex, _>(&m)
        .iter()
        .filter(|r| r.path.ends_with("conv3.weight"))
        .count();
    assert_eq!(blocks, 36);
}

#[test]
fn fast_batch_norm_matches_burns_batch_norm() {
    use burn::backend::Autodiff;
    use burn::nn::BatchNormConfig;
    use facebench::model::BatchNorm2d;
    type A = Autodiff<Flex>;
    let device = FlexDevice;
    let x = Tensor::<A, 4>::random(
        [4, 3, 5, 6],
        burn::tensor::Distribution::Normal(2.0, 3.0),
        &device,
    );
    let ours = BatchNorm2d::<A>::new(3, &device);
    let reference = BatchNormConfig::new(3).init::<A>(&device);
    let close = |a: Tensor<A, 4>, b: Tensor<A, 4>| {
        let d: f32 = (a - b).abs().max().into_scalar();
        assert!(d < 1e-4, "max difference {d}");
    };
    // training mode: batch statistics
    close(ours.forward(x.clone()), reference.forward(x.clone()));
    // running mean follows the same momentum; running var is PyTorch's unbiased one
    let m: Vec<f32> = ours.running_mean.value_sync().into_data().to_vec().unwrap();
    let rm: Vec<f32> = reference
        .running_mean
        .value_sync()
        .into_data()
        .to_vec()
        .unwrap();
    for (a, b) in m.iter().zip(&rm) {
        assert!((a - b).abs() < 1e-5);
    }
    let n = (4 * 5 * 6) as f32;
    let v: Vec<f32> = ours.running_var.value_sync().into_data().to_vec().unwrap();
    let rv: Vec<f32> = reference
        .running_var
        .value_sync()
        .into_data()
        .to_vec()
        .unwrap();
    for (a, b) in v.iter().zip(&rv) {
        // both start at 1: 0.9 + 0.1 * var, with var unbiased (ours) or biased
        let unbiased_from_ref = 0.9 + (b - 0.9) * n / (n - 1.0);
        assert!(
            (a - unbiased_from_ref).abs() < 1e-4,
            "{a} vs {unbiased_from_ref}"
        );
    }
    // inference mode: running statistics (copy ours into the reference)
    let mut reference = reference;
    reference.running_var = burn::module::RunningState::new(ours.running_var.value_sync());
    let xi = x.inner();
    close_inner(
        ours.valid().forward(xi.clone()),
        reference.valid().forward(xi),
    );
}

fn close_inner(a: Tensor<Flex, 4>, b: Tensor<Flex, 4>) {
    let d: f32 = (a - b).abs().max().into_scalar();
    assert!(d < 1e-4, "max difference {d}");
}
