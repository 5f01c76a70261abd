//! Augmentations are deterministic under a seed and stay in range.

use std::sync::Arc;

use facebench::loader::{AugmentConfig, AugmentDraw, BatchPlan, ImageBank, Pipeline};
use image::{Rgb, RgbImage};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
    })
}

fn everything_on() -> AugmentConfig {
    AugmentConfig {
        random_resized_crop: true,
        random_crop: true,
        horizontal_flip: true,
        vertical_flip: true,
        brightness: 0.4,
        contrast: 0.4,
        saturation: 0.4,
        ..AugmentConfig::default()
    }
}

fn pipeline(augment: Option<AugmentConfig>, seed: u64) -> Pipeline {
    Pipeline {
        input_size: 32,
        augment,
        mean: [0.5; 3],
        std: [0.5; 3],
        seed,
    }
}

#[test]
fn same_seed_same_output_other_seed_other_output() {
    let img = gradient(60, 50);
    let a = pipeline(Some(everything_on()), 1);
    let b = pipeline(Some(everything_on()), 2);
    let first = a.render(&img, &a.draw(&img, 3, 17));
    assert_eq!(
        first,
        a.render(&img, &a.draw(&img, 3, 17)),
        "deterministic under a seed"
    );
    assert_ne!(
        first,
        b.render(&img, &b.draw(&img, 3, 17)),
        "another seed draws differently"
    );
    assert_ne!(
        first,
        a.render(&img, &a.draw(&img, 4, 17)),
        "another epoch draws differently"
    );
}

#[test]
fn outputs_stay_in_the_normalised_range() {
    let img = gradient(80, 64);
    let p = pipeline(Some(everything_on()), 9);
    for pos in 0..200 {
        let out = p.render(&img, &p.draw(&img, 0, pos));
        assert_eq!(out.len(), 3 * 32 * 32);
        // [0, 1] pixels under mean 0.5 / std 0.5 land in [-1, 1]
        assert!(
            out.iter()
                .all(|v| (-1.0..=1.0).contains(v) && v.is_finite()),
            "draw {pos}"
        );
    }
}

#[test]
fn draws_respect_their_ranges() {
    let cfg = AugmentConfig {
        crop_scale: [0.2, 0.6],
        ..AugmentConfig::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..500 {
        let d = cfg.draw(100, 80, &mut rng);
        let [x, y, w, h] = d.crop;
        assert!(
            x >= 0.0 && y >= 0.0 && x + w <= 100.0 && y + h <= 80.0,
            "crop inside the image: {:?}",
            d.crop
        );
        let area = w * h / 8000.0;
        // rounding to whole pixels can move the area a little outside the range
        assert!((0.19..=0.61).contains(&area), "area {area}");
        let ratio = w / h;
        assert!((0.74..=1.35).contains(&ratio), "ratio {ratio}");
        assert_eq!(
            (d.brightness, d.contrast, d.saturation),
            (1.0, 1.0, 1.0),
            "jitter off by default"
        );
        assert!(!d.vflip);
    }
    let jitter = AugmentConfig {
        brightness: 0.3,
        contrast: 0.2,
        saturation: 0.1,
        ..AugmentConfig::none()
    };
    let mut seen_flip = false;
    for _ in 0..300 {
        let d = jitter.draw(10, 10, &mut rng);
        assert!(
            (0.7..=1.3).contains(&d.brightness)
                && (0.8..=1.2).contains(&d.contrast)
                && (0.9..=1.1).contains(&d.saturation)
        );
        assert_eq!(d.crop, [0.0, 0.0, 10.0, 10.0]);
        seen_flip |= d.hflip;
    }
    assert!(!seen_flip, "flips off in AugmentConfig::none()");
}

#[test]
fn horizontal_flip_mirrors_and_identity_resizes_exactly() {
    let img = gradient(32, 32);
    let plain = AugmentDraw::identity(32, 32);
    let flipped = AugmentDraw {
        hflip: true,
        ..plain
    };
    let (mut a, mut b) = (vec![0f32; 3 * 32 * 32], vec![0f32; 3 * 32 * 32]);
    plain.render(&img, 32, [0.0; 3], [1.0; 3], &mut a);
    flipped.render(&img, 32, [0.0; 3], [1.0; 3], &mut b);
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                let i = c * 1024 + y * 32 + x;
                assert!(
                    (a[i] - img.get_pixel(x as u32, y as u32).0[c] as f32 / 255.0).abs() < 1e-6
                );
                assert_eq!(a[i], b[c * 1024 + y * 32 + (31 - x)]);
            }
        }
    }
}

/// Augmented batches of `batch_size` from `bank`, two prepared ahead.
fn plan_of(bank: Arc<ImageBank>, batch_size: usize) -> BatchPlan {
    BatchPlan {
        bank,
        pipeline: Arc::new(pipeline(Some(everything_on()), 3)),
        batch_size,
        prefetch: 2,
        drop_last: false,
    }
}

#[test]
fn batches_are_identical_across_runs_and_cover_the_epoch() {
    let bank = Arc::new(ImageBank::in_memory(
        (0..10).map(|i| gradient(40 + i, 40)).collect(),
        (0..10).map(|i| i % 3).collect(),
        vec![Default::default(); 10],
    ));
    let plan = plan_of(bank, 4);
    let collect = || -> Vec<_> { plan.epoch(2, true).map(Result::unwrap).collect() };
    let (one, two) = (collect(), collect());
    assert_eq!(one.len(), 3);
    for (x, y) in one.iter().zip(&two) {
        assert_eq!(x.images, y.images);
        assert_eq!(x.indices, y.indices);
    }
    let mut seen: Vec<usize> = one.iter().flat_map(|b| b.indices.clone()).collect();
    seen.sort();
    assert_eq!(
        seen,
        (0..10).collect::<Vec<_>>(),
        "every image once per epoch"
    );
    let other_epoch: Vec<_> = plan.epoch(3, true).map(Result::unwrap).collect();
    assert_ne!(
        other_epoch[0].indices, one[0].indices,
        "each epoch reshuffles"
    );
}

#[test]
fn a_last_batch_of_one_joins_the_batch_before_it() {
    let bank = Arc::new(ImageBank::in_memory(
        (0..9).map(|i| gradient(40 + i, 40)).collect(),
        (0..9).map(|i| i % 3).collect(),
        vec![Default::default(); 9],
    ));
    let plan = plan_of(bank, 4);
    let batches: Vec<_> = plan.epoch(0, true).map(Result::unwrap).collect();
    let sizes: Vec<usize> = batches.iter().map(|b| b.len()).collect();
    assert_eq!(
        sizes,
        vec![4, 5],
        "no image is left out, no batch has one image"
    );
    // resuming after the first batch gives the same second batch
    let rest: Vec<_> = plan.epoch_from(0, true, 1).map(Result::unwrap).collect();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].indices, batches[1].indices);
    assert_eq!(rest[0].images, batches[1].images);
}

#[test]
fn a_gpu_plan_drops_the_short_last_training_batch_and_keeps_it_in_order() {
    let bank = Arc::new(ImageBank::in_memory(
        (0..10).map(|i| gradient(40 + i, 40)).collect(),
        (0..10).map(|i| i % 3).collect(),
        vec![Default::default(); 10],
    ));
    let plan = BatchPlan {
        drop_last: true,
        ..plan_of(bank, 4)
    };
    let sizes = |batches: Vec<facebench::loader::Batch>| -> Vec<usize> {
        batches.iter().map(|b| b.len()).collect()
    };
    assert_eq!(
        sizes(plan.epoch(0, true).map(Result::unwrap).collect()),
        vec![4, 4],
        "one batch size, so a GPU compiles its kernels once"
    );
    let (a, b): (Vec<_>, Vec<_>) = (
        plan.epoch(0, true).map(Result::unwrap).collect(),
        plan.epoch(1, true).map(Result::unwrap).collect(),
    );
    let left_out = |batches: &[facebench::loader::Batch]| {
        let seen: Vec<usize> = batches.iter().flat_map(|x| x.indices.clone()).collect();
        (0..10).filter(|i| !seen.contains(i)).collect::<Vec<_>>()
    };
    assert_ne!(
        left_out(&a),
        left_out(&b),
        "each epoch leaves out other faces"
    );
    assert_eq!(
        sizes(plan.in_order().map(Result::unwrap).collect()),
        vec![4, 4, 2],
        "evaluation sees every face"
    );
}
