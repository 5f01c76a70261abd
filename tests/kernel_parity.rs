//! The CPU kernels (`facebench::kernels`) against burn's own operations and
//! generic backward passes, to 1e-4 relative (max abs difference / max abs
//! value):
//!
//! - convolutions: the output and the input, weight and bias gradients on
//!   every convolution shape of ResNet-50, Xception and DenseNet-121 (traced
//!   from the models themselves), plus grouped, dilated, biased and
//!   asymmetrically padded cases the models do not have;
//! - batch norm: training mode (batch statistics, running-statistics update)
//!   and fixed statistics (frozen layers, inference), output and gradients,
//!   against the same layer composed from tensor operations;
//!   The ReLU fused into batch norm likewise, against a separate ReLU;
//! - channel concatenation (DenseNet blocks): output and both gradients,
//!   against `Tensor::cat`;
//! - the residual sum and ReLU fused (ResNet blocks), against `relu(a + b)`.

mod common;

use burn::backend::flex::{Flex, FlexDevice};
use burn::backend::Autodiff;
use burn::prelude::*;
use burn::tensor::Distribution;
use facebench::kernels::{
    add_relu, cat_channels, conv2d, fast_batch_norms, fast_channel_cats, fast_max_pools,
    max_pool2d, trace_convolutions, ConvCall, ConvSpec,
};
use facebench::model::{Architecture, BatchNorm2d, ModelConfig};

type Ad = Autodiff<Flex>;

fn rel_err<const D: usize>(fast: Tensor<Flex, D>, reference: Tensor<Flex, D>) -> f32 {
    let a: Vec<f32> = fast.into_data().to_vec().unwrap();
    let b: Vec<f32> = reference.into_data().to_vec().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    let diff = a
        .iter()
        .zip(&b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

/// Output and gradients of one path: y, dx, dw, db.
type Outcome = (
    Tensor<Flex, 4>,
    Tensor<Flex, 4>,
    Tensor<Flex, 4>,
    Option<Tensor<Flex, 1>>,
);

fn run(
    path: fn(Tensor<Ad, 4>, Tensor<Ad, 4>, Option<Tensor<Ad, 1>>, ConvSpec) -> Tensor<Ad, 4>,
    x: &Tensor<Flex, 4>,
    w: &Tensor<Flex, 4>,
    b: Option<&Tensor<Flex, 1>>,
    dy_seed: u64,
    spec: ConvSpec,
) -> Outcome {
    let x = Tensor::<Ad, 4>::from_inner(x.clone()).require_grad();
    let w = Tensor::<Ad, 4>::from_inner(w.clone()).require_grad();
    let b = b.map(|b| Tensor::<Ad, 1>::from_inner(b.clone()).require_grad());
    let y = path(x.clone(), w.clone(), b.clone(), spec);
    // a fixed random upstream gradient: loss = sum(y * r)
    Flex::seed(&FlexDevice, dy_seed);
    let r = Tensor::<Ad, 4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &FlexDevice);
    let grads = (y.clone() * r).sum().backward();
    (
        y.inner(),
        x.grad(&grads).expect("x gradient"),
        w.grad(&grads).expect("weight gradient"),
        b.map(|b| b.grad(&grads).expect("bias gradient")),
    )
}

/// burn's own convolution, the reference.
fn burn_conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    spec: ConvSpec,
) -> Tensor<B, 4> {
    burn::tensor::module::conv2d(x, weight, bias, spec.burn_options())
}

fn check(name: &str, spec: ConvSpec, x_dims: [usize; 4], w_dims: [usize; 4], bias: bool) {
    let dev = FlexDevice;
    Flex::seed(&dev, 7);
    let x = Tensor::<Flex, 4>::random(x_dims, Distribution::Normal(0.0, 1.0), &dev);
    let w = Tensor::<Flex, 4>::random(w_dims, Distribution::Normal(0.0, 0.1), &dev);
    let b =
        bias.then(|| Tensor::<Flex, 1>::random([w_dims[0]], Distribution::Normal(0.0, 1.0), &dev));
    let (fast, calls) = trace_convolutions(|| run(conv2d, &x, &w, b.as_ref(), 11, spec));
    assert!(
        calls.len() == 1 && calls[0].fast,
        "{name}: the CPU kernels did not run this convolution: {calls:?}"
    );
    let reference = run(burn_conv2d, &x, &w, b.as_ref(), 11, spec);
    let errs = [
        ("output", rel_err(fast.0, reference.0)),
        ("input gradient", rel_err(fast.1, reference.1)),
        ("weight gradient", rel_err(fast.2, reference.2)),
    ];
    for (what, err) in errs {
        assert!(
            err <= 1e-4,
            "{name}: {what} differs from burn's by {err:e} (relative); x {x_dims:?}, w {w_dims:?}, {spec:?}"
        );
    }
    if let (Some(f), Some(r)) = (fast.3, reference.3) {
        let err = rel_err(f, r);
        assert!(
            err <= 1e-4,
            "{name}: bias gradient differs by {err:e}; {spec:?}"
        );
    }
}

/// Every distinct convolution (spec, channels, spatial size, kernel) of the
/// architecture at `size` px, batch 2.
fn model_convolutions(arch: Architecture, size: usize) -> Vec<(ConvSpec, [usize; 4], [usize; 4])> {
    let dev = FlexDevice;
    let config = ModelConfig {
        architecture: arch,
        ..ModelConfig::default()
    };
    let model = config.init::<Flex>(10, &dev);
    let x = Tensor::<Flex, 4>::zeros([1, 3, size, size], &dev);
    let (_, seen) = trace_convolutions(|| model.forward(x));
    let mut unique: Vec<(ConvSpec, [usize; 4], [usize; 4])> = Vec::new();
    for ConvCall {
        spec,
        x: mut xd,
        weight: wd,
        ..
    } in seen
    {
        xd[0] = 2;
        if !unique.contains(&(spec, xd, wd)) {
            unique.push((spec, xd, wd));
        }
    }
    unique
}

fn check_model(arch: Architecture, size: usize, expect_at_least: usize) {
    let convs = model_convolutions(arch, size);
    assert!(
        convs.len() >= expect_at_least,
        "{arch:?}: traced only {} distinct convolutions",
        convs.len()
    );
    for (i, (spec, xd, wd)) in convs.iter().enumerate() {
        check(
            &format!("{} conv #{i}", arch.name()),
            *spec,
            *xd,
            *wd,
            false,
        );
    }
}

#[test]
fn resnet50_convolutions_match_burn() {
    let _serial = common::serial();
    check_model(Architecture::Resnet, 64, 15);
}

#[test]
fn xception_convolutions_match_burn() {
    let _serial = common::serial();
    // 71 px, the smallest input: every layer's channels and strides, the
    // middle flow's 728-channel depthwise convolutions included
    check_model(Architecture::Xception, 71, 20);
}

#[test]
fn densenet121_convolutions_match_burn() {
    let _serial = common::serial();
    check_model(Architecture::Densenet121, 32, 60);
}

fn spec(stride: usize, pad: usize, dilation: usize, groups: usize) -> ConvSpec {
    ConvSpec {
        stride: [stride, stride],
        pad_start: [pad, pad],
        pad_end: [pad, pad],
        dilation: [dilation, dilation],
        groups,
    }
}

#[test]
fn grouped_dilated_biased_and_asymmetric_convolutions_match_burn() {
    let _serial = common::serial();
    let asym = ConvSpec {
        stride: [2, 2],
        pad_start: [0, 1],
        pad_end: [1, 0],
        dilation: [1, 1],
        groups: 1,
    };
    let asym_depthwise = ConvSpec { groups: 4, ..asym };
    // (name, spec, x, weight, bias)
    let cases = [
        (
            "grouped",
            spec(1, 1, 1, 4),
            [2, 8, 9, 7],
            [12, 2, 3, 3],
            true,
        ),
        (
            "grouped strided",
            spec(2, 1, 1, 2),
            [3, 6, 10, 11],
            [4, 3, 3, 3],
            false,
        ),
        (
            "depthwise stride 2",
            spec(2, 1, 1, 5),
            [2, 5, 9, 9],
            [5, 1, 3, 3],
            true,
        ),
        (
            "depthwise multiplier 2",
            spec(1, 1, 1, 3),
            [2, 3, 6, 6],
            [6, 1, 3, 3],
            false,
        ),
        (
            "dilated",
            spec(1, 2, 2, 1),
            [2, 3, 8, 8],
            [4, 3, 3, 3],
            true,
        ),
        (
            "5x5 stride 3",
            spec(3, 2, 1, 1),
            [2, 3, 13, 12],
            [5, 3, 5, 5],
            true,
        ),
        (
            "1x1 biased",
            spec(1, 0, 1, 1),
            [2, 7, 4, 5],
            [3, 7, 1, 1],
            true,
        ),
        (
            "1x1 biased, per-image path",
            spec(1, 0, 1, 1),
            [3, 5, 9, 8],
            [4, 5, 1, 1],
            true,
        ),
        (
            "channels-last biased",
            spec(1, 1, 1, 1),
            [2, 32, 6, 5],
            [16, 32, 3, 3],
            true,
        ),
        ("asymmetric padding", asym, [2, 3, 8, 9], [4, 3, 3, 3], true),
        (
            "asymmetric depthwise",
            asym_depthwise,
            [2, 4, 8, 9],
            [4, 1, 3, 3],
            false,
        ),
    ];
    for (name, spec, x, w, bias) in cases {
        check(name, spec, x, w, bias);
    }
}

/// A frozen layer (no gradient wanted) and inference take the forward only,
/// and give burn's output.
#[test]
fn inference_forward_matches_burn() {
    let _serial = common::serial();
    let dev = FlexDevice;
    Flex::seed(&dev, 3);
    let x = Tensor::<Flex, 4>::random([2, 16, 12, 12], Distribution::Normal(0.0, 1.0), &dev);
    let w = Tensor::<Flex, 4>::random([8, 16, 3, 3], Distribution::Normal(0.0, 0.1), &dev);
    let s = spec(2, 1, 1, 1);
    let fast = conv2d(x.clone(), w.clone(), None, s);
    let reference = burn_conv2d(x, w, None, s);
    assert!(rel_err(fast, reference) <= 1e-5);
}

/// Output and gradients (x, gamma, beta) of a batch norm, through `forward`
/// (the kernels) or `forward_composed` (tensor operations), and the running
/// statistics it leaves.
fn batch_norm_run(
    bn: &BatchNorm2d<Ad>,
    x: &Tensor<Flex, 4>,
    composed: bool,
    relu: bool,
) -> (
    Vec<Tensor<Flex, 4>>,
    Vec<Option<Tensor<Flex, 1>>>,
    [Tensor<Flex, 1>; 2],
) {
    let xa = Tensor::<Ad, 4>::from_inner(x.clone()).require_grad();
    let y = match (composed, relu) {
        (true, false) => bn.forward_composed(xa.clone()),
        (true, true) => burn::tensor::activation::relu(bn.forward_composed(xa.clone())),
        (false, false) => bn.forward(xa.clone()),
        (false, true) => bn.forward_relu(xa.clone()),
    };
    Flex::seed(&FlexDevice, 5);
    let r = Tensor::<Ad, 4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &FlexDevice);
    let grads = (y.clone() * r).sum().backward();
    (
        vec![y.inner(), xa.grad(&grads).expect("x gradient")],
        vec![bn.gamma.val().grad(&grads), bn.beta.val().grad(&grads)],
        [
            bn.running_mean.value().inner(),
            bn.running_var.value().inner(),
        ],
    )
}

#[test]
fn batch_norm_kernels_match_composed_operations() {
    let _serial = common::serial();
    let dev = FlexDevice;
    for (frozen, relu, dims) in [
        (false, false, [4, 6, 5, 7]),
        (false, false, [16, 3, 1, 1]),
        (true, false, [3, 5, 4, 4]),
        // the ReLU fused into the training form, and after a frozen one
        (false, true, [4, 6, 5, 7]),
        (false, true, [16, 3, 1, 1]),
        (true, true, [3, 5, 4, 4]),
    ] {
        Flex::seed(&dev, 9);
        // a large mean, as after a ReLU stack, checks the variance's precision
        let x = Tensor::<Flex, 4>::random(dims, Distribution::Normal(3.0, 2.0), &dev);
        let c = dims[1];
        let gamma = Tensor::<Flex, 1>::random([c], Distribution::Uniform(0.5, 1.5), &dev);
        let beta = Tensor::<Flex, 1>::random([c], Distribution::Normal(0.0, 1.0), &dev);
        let mean = Tensor::<Flex, 1>::random([c], Distribution::Normal(0.0, 1.0), &dev);
        let var = Tensor::<Flex, 1>::random([c], Distribution::Uniform(0.5, 2.0), &dev);
        // a fresh layer for each path: running statistics are shared by clones
        let layer = || {
            let mut bn = BatchNorm2d::<Ad>::with_epsilon(c, 1e-3, &dev);
            let leaf = |t: &Tensor<Flex, 1>| {
                let t = Tensor::<Ad, 1>::from_inner(t.clone());
                if frozen {
                    t
                } else {
                    t.require_grad()
                }
            };
            bn.gamma = bn.gamma.map(|_| leaf(&gamma));
            bn.beta = bn.beta.map(|_| leaf(&beta));
            bn.running_mean.update(Tensor::from_inner(mean.clone()));
            bn.running_var.update(Tensor::from_inner(var.clone()));
            bn
        };
        let before = fast_batch_norms();
        let fast = batch_norm_run(&layer(), &x, false, relu);
        assert_eq!(
            fast_batch_norms(),
            before + 1,
            "the batch-norm kernels did not run"
        );
        let reference = batch_norm_run(&layer(), &x, true, relu);
        for (i, (f, r)) in fast.0.into_iter().zip(reference.0).enumerate() {
            let err = rel_err(f, r);
            assert!(
                err <= 1e-4,
                "frozen {frozen}, relu {relu}, {dims:?}: output/x-gradient #{i} differs by {err:e}"
            );
        }
        for (i, (f, r)) in fast.1.into_iter().zip(reference.1).enumerate() {
            match (f, r) {
                (Some(f), Some(r)) => {
                    let err = rel_err(f, r);
                    assert!(err <= 1e-4, "frozen {frozen}, {dims:?}: parameter gradient #{i} differs by {err:e}");
                }
                (None, None) => assert!(frozen, "trainable batch norm without parameter gradients"),
                (f, r) => panic!(
                    "frozen {frozen}, {dims:?}: parameter gradient #{i} present: kernels {}, composed {}",
                    f.is_some(),
                    r.is_some()
                ),
            }
        }
        for (f, r) in fast.2.into_iter().zip(reference.2) {
            assert!(rel_err(f, r) <= 1e-5, "running statistics differ");
        }
    }
}

/// A DenseNet-like chain: `f1 = cat(x, relu(x) * 2)`, `f2 = cat(f1, f1 * 3)`,
/// so x and f1 each get a gradient both from a concatenation and from another
/// use (the gradient sums the kernels' backward must feed).
fn concatenation_run(
    cat: fn(Tensor<Ad, 4>, Tensor<Ad, 4>) -> Tensor<Ad, 4>,
    x: &Tensor<Flex, 4>,
) -> [Tensor<Flex, 4>; 2] {
    let xa = Tensor::<Ad, 4>::from_inner(x.clone()).require_grad();
    let f1 = cat(xa.clone(), burn::tensor::activation::relu(xa.clone()) * 2.0);
    let f2 = cat(f1.clone(), f1.clone() * 3.0);
    Flex::seed(&FlexDevice, 11);
    let r = Tensor::<Ad, 4>::random(f2.dims(), Distribution::Normal(0.0, 1.0), &FlexDevice);
    let grads = (f2.clone() * r).sum().backward();
    [f2.inner(), xa.grad(&grads).expect("x gradient")]
}

#[test]
fn channel_concatenation_matches_burn() {
    let _serial = common::serial();
    Flex::seed(&FlexDevice, 3);
    let x = Tensor::<Flex, 4>::random([3, 5, 4, 6], Distribution::Normal(0.0, 1.0), &FlexDevice);
    let before = fast_channel_cats();
    let fast = concatenation_run(cat_channels, &x);
    assert_eq!(
        fast_channel_cats(),
        before + 2,
        "the concatenation kernel did not run"
    );
    let reference = concatenation_run(|a, b| Tensor::cat(vec![a, b], 1), &x);
    for (i, (f, r)) in fast.into_iter().zip(reference).enumerate() {
        let err = rel_err(f, r);
        assert!(err <= 1e-6, "output/x-gradient #{i} differs by {err:e}");
    }
    // plain flex (inference) too
    let a = x.clone();
    let b = x.clone() * 2.0;
    let err = rel_err(
        cat_channels(a.clone(), b.clone()),
        Tensor::cat(vec![a, b], 1),
    );
    assert!(err <= 1e-6, "inference concatenation differs by {err:e}");
}

/// `relu(a + b)` where a and b each also feed another use, so their
/// gradients are sums: the output and both gradients.
fn add_relu_run(
    f: fn(Tensor<Ad, 4>, Tensor<Ad, 4>) -> Tensor<Ad, 4>,
    a: &Tensor<Flex, 4>,
    b: &Tensor<Flex, 4>,
) -> [Tensor<Flex, 4>; 3] {
    let a = Tensor::<Ad, 4>::from_inner(a.clone()).require_grad();
    let b = Tensor::<Ad, 4>::from_inner(b.clone()).require_grad();
    let y = f(a.clone(), b.clone()) + a.clone() * 0.5 - b.clone() * 2.0;
    Flex::seed(&FlexDevice, 13);
    let r = Tensor::<Ad, 4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &FlexDevice);
    let grads = (y.clone() * r).sum().backward();
    [
        y.inner(),
        a.grad(&grads).expect("a gradient"),
        b.grad(&grads).expect("b gradient"),
    ]
}

#[test]
fn fused_residual_relu_matches_burn() {
    let _serial = common::serial();
    Flex::seed(&FlexDevice, 4);
    let a = Tensor::<Flex, 4>::random([3, 4, 5, 5], Distribution::Normal(0.0, 1.0), &FlexDevice);
    let b = Tensor::<Flex, 4>::random([3, 4, 5, 5], Distribution::Normal(0.0, 1.0), &FlexDevice);
    let fast = add_relu_run(add_relu, &a, &b);
    let reference = add_relu_run(|a, b| burn::tensor::activation::relu(a + b), &a, &b);
    for (i, (f, r)) in fast.into_iter().zip(reference).enumerate() {
        let err = rel_err(f, r);
        assert!(err <= 1e-6, "output/gradient #{i} differs by {err:e}");
    }
}

/// Inference (plain flex, fixed statistics): the batch norm with and without
/// the fused ReLU against the composed layer.
#[test]
fn inference_batch_norm_with_fused_relu_matches_composed() {
    let _serial = common::serial();
    let dev = FlexDevice;
    Flex::seed(&dev, 21);
    let x = Tensor::<Flex, 4>::random([3, 5, 4, 6], Distribution::Normal(0.5, 1.0), &dev);
    let mut bn = BatchNorm2d::<Flex>::with_epsilon(5, 1e-3, &dev);
    let random = |d: Distribution| Tensor::<Flex, 1>::random([5], d, &dev);
    bn.gamma = bn.gamma.map(|_| random(Distribution::Uniform(0.5, 1.5)));
    bn.beta = bn.beta.map(|_| random(Distribution::Normal(0.0, 1.0)));
    bn.running_mean
        .update(random(Distribution::Normal(0.0, 1.0)));
    bn.running_var
        .update(random(Distribution::Uniform(0.5, 2.0)));
    let before = fast_batch_norms();
    let fused = bn.forward_relu(x.clone());
    let plain = bn.forward(x.clone());
    assert_eq!(
        fast_batch_norms(),
        before + 2,
        "the batch-norm kernels did not run"
    );
    let composed = bn.forward_composed(x);
    let err = rel_err(plain, composed.clone());
    assert!(err <= 1e-5, "inference batch norm differs by {err:e}");
    let err = rel_err(fused, burn::tensor::activation::relu(composed));
    assert!(
        err <= 1e-5,
        "inference batch norm + ReLU differs by {err:e}"
    );
}

/// burn's max pooling of `x` padded with `-inf` (padding never wins).
fn burn_max_pool<B: Backend>(
    x: Tensor<B, 4>,
    k: usize,
    s: usize,
    start: [usize; 2],
    end: [usize; 2],
) -> Tensor<B, 4> {
    let x = x.pad(
        (start[1], end[1], start[0], end[0]),
        burn::tensor::ops::PadMode::Constant(f32::NEG_INFINITY),
    );
    burn::tensor::module::max_pool2d(x, [k, k], [s, s], [0, 0], [1, 1], false)
}

#[test]
fn max_pooling_matches_burn() {
    let _serial = common::serial();
    let dev = FlexDevice;
    // (input, kernel, stride, padding before, padding after): ResNet's and
    // DenseNet's 3x3/2 with padding 1, Xception's "same" 3x3/2 (padding
    // after only at even sizes), a 2x2/2 and a 3x3/1 pool
    let cases = [
        ([2, 3, 9, 9], 3, 2, [1, 1], [1, 1]),
        ([2, 3, 8, 8], 3, 2, [1, 1], [1, 1]),
        ([2, 3, 8, 10], 3, 2, [0, 0], [1, 1]),
        ([2, 3, 7, 7], 3, 2, [1, 1], [1, 1]),
        ([1, 2, 6, 6], 2, 2, [0, 0], [0, 0]),
        ([1, 2, 5, 6], 3, 1, [1, 0], [1, 2]),
    ];
    for (seed, (dims, k, st, start, end)) in cases.into_iter().enumerate() {
        Flex::seed(&dev, 20 + seed as u64);
        let x = Tensor::<Flex, 4>::random(dims, Distribution::Normal(0.0, 1.0), &dev);
        // rounded to halves, so windows have ties (the first maximum in
        // row-major order takes the gradient in both)
        let x = (x * 2.0).round() / 2.0;
        let before = fast_max_pools();
        let fast = max_pool2d(x.clone(), [k, k], [st, st], start, end);
        assert_eq!(
            fast_max_pools(),
            before + 1,
            "case {seed}: the kernel did not run"
        );
        let reference = burn_max_pool(x.clone(), k, st, start, end);
        assert_eq!(fast.dims(), reference.dims(), "case {seed}: shape");
        assert_eq!(
            rel_err(fast, reference),
            0.0,
            "case {seed}: inference output"
        );

        let run = |pool: &dyn Fn(Tensor<Ad, 4>) -> Tensor<Ad, 4>| {
            let xa = Tensor::<Ad, 4>::from_inner(x.clone()).require_grad();
            // x has another use, so its gradient is a sum
            let y = pool(xa.clone());
            Flex::seed(&dev, 99);
            let r = Tensor::<Ad, 4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &dev);
            let grads = ((y.clone() * r).sum() + (xa.clone() * 0.25).sum()).backward();
            (y.inner(), xa.grad(&grads).expect("x gradient"))
        };
        let (y_fast, dx_fast) = run(&|x| max_pool2d(x, [k, k], [st, st], start, end));
        let (y_ref, dx_ref) = run(&|x| burn_max_pool(x, k, st, start, end));
        assert_eq!(rel_err(y_fast, y_ref), 0.0, "case {seed}: training output");
        let err = rel_err(dx_fast, dx_ref);
        assert!(
            err <= 1e-6,
            "case {seed}: input gradient differs by {err:e}"
        );
    }
}
