//! A corpus of hostile inputs for every loader but the weight readers (see
//! tests/weights_robustness.rs): images, presets and run folders (config.json,
//! metrics.jsonl, eval.json, checkpoint state), built from valid files by
//! seeded structured mutations (byte flips, truncations, splices) and random
//! bytes. For every case the same invariants hold: no panic, memory stays
//! bounded, and a failure is an error that names the file.

mod common;

use std::io::Cursor;
use std::path::Path;

use facebench::data::{decode_rgb8, probe_file, SkipReason};
use facebench::run::RunConfig;
use facebench::store::RunDir;
use image::{ImageFormat, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Default, Debug)]
struct Tally {
    tried: usize,
    accepted: usize,
    clear_errors: usize,
    unclear_errors: usize,
    panics: usize,
}

impl Tally {
    fn line(&self, what: &str) -> String {
        format!(
            "{what}: {} inputs, {} accepted, {} clear errors, {} unclear errors, {} panics",
            self.tried, self.accepted, self.clear_errors, self.unclear_errors, self.panics
        )
    }
}

/// Variants of `valid`: truncations at many lengths, byte flips, a spliced
/// block of random bytes, and pure random bytes.
fn mutations(valid: &[u8], rng: &mut ChaCha8Rng, count: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut m = valid.to_vec();
        match i % 4 {
            0 => m.truncate(rng.random_range(0..valid.len())),
            1 => {
                for _ in 0..rng.random_range(1..8) {
                    let at = rng.random_range(0..m.len());
                    m[at] ^= 1 << rng.random_range(0..8);
                }
            }
            2 => {
                let at = rng.random_range(0..m.len());
                let len = rng.random_range(1..64).min(m.len() - at);
                for b in &mut m[at..at + len] {
                    *b = rng.random();
                }
            }
            _ => {
                m = (0..rng.random_range(0..2048))
                    .map(|_| rng.random())
                    .collect();
            }
        }
        out.push(m);
    }
    out
}

fn face() -> RgbImage {
    RgbImage::from_fn(32, 32, |x, y| {
        Rgb([(x * 8) as u8, (y * 8) as u8, ((x + y) * 4) as u8])
    })
}

#[test]
fn hostile_images_never_panic_and_are_skipped_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut tally = Tally::default();
    let formats = [
        (ImageFormat::Png, "png"),
        (ImageFormat::Jpeg, "jpg"),
        (ImageFormat::Bmp, "bmp"),
        (ImageFormat::Gif, "gif"),
        (ImageFormat::Tiff, "tif"),
        (ImageFormat::WebP, "webp"),
    ];
    for (format, ext) in formats {
        let mut valid = Cursor::new(Vec::new());
        face().write_to(&mut valid, format).unwrap();
        for (i, bytes) in mutations(valid.get_ref(), &mut rng, 150)
            .into_iter()
            .enumerate()
        {
            let path = tmp.path().join(format!("case-{i}.{ext}"));
            std::fs::write(&path, &bytes).unwrap();
            tally.tried += 1;
            let outcome = std::panic::catch_unwind(|| (probe_file(&path), decode_rgb8(&path)));
            match outcome {
                Err(_) => tally.panics += 1,
                Ok((Ok(_), Ok(_))) => tally.accepted += 1,
                Ok((Err(e), _)) | Ok((Ok(_), Err(e))) => {
                    // "the decoder crashed" is contained, but counts as unclear
                    if e.path == path && !e.detail.contains("crashed") {
                        tally.clear_errors += 1;
                    } else {
                        tally.unclear_errors += 1;
                    }
                }
            }
        }
    }
    println!("{}", tally.line("images"));
    assert_eq!(tally.panics, 0, "{tally:?}");
    assert!(
        (common::peak_rss() >> 20) < 2048,
        "memory stays bounded: {} MiB",
        (common::peak_rss() >> 20)
    );
    assert!(tally.clear_errors > tally.tried / 2, "{tally:?}");
    // an empty file is reported as such
    let empty = tmp.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(probe_file(&empty).unwrap_err().reason, SkipReason::Empty);
}

fn load_preset(path: &Path, tally: &mut Tally) {
    tally.tried += 1;
    match std::panic::catch_unwind(|| RunConfig::load(path)) {
        Err(_) => tally.panics += 1,
        Ok(Ok(config)) => {
            tally.accepted += 1;
            assert!(config.problems().is_empty(), "an accepted preset is valid");
        }
        Ok(Err(e)) => {
            if format!("{e:#}").contains(&path.display().to_string()) {
                tally.clear_errors += 1;
            } else {
                tally.unclear_errors += 1;
            }
        }
    }
}

#[test]
fn hostile_presets_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let mut tally = Tally::default();
    let presets = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    let valid = std::fs::read(presets.join("resnet-tiny-cpu.json")).unwrap();
    let path = tmp.path().join("preset.json");
    for bytes in mutations(&valid, &mut rng, 400) {
        std::fs::write(&path, bytes).unwrap();
        load_preset(&path, &mut tally);
    }
    // structured: wrong types, absurd values, deep nesting, huge numbers
    let structured = [
        "[]",
        "null",
        "42",
        "\"resnet\"",
        "{\"train\": {\"epochs\": -1}}",
        "{\"train\": {\"epochs\": 1e300}}",
        "{\"train\": {\"batch_size\": 0}}",
        "{\"optimizer\": {\"lr\": \"fast\"}}",
        "{\"optimizer\": {\"lr\": -1}}",
        "{\"model\": {\"depths\": [1, 1]}}",
        "{\"model\": {\"architecture\": \"vgg\"}}",
        "{\"data\": {\"input_size\": 100000}}",
        "{\"unknown\": 1}",
        "{\"data\": {\"augment\": {\"crop_scale\": [1.0, 0.1]}}}",
    ];
    for text in structured {
        std::fs::write(&path, text).unwrap();
        load_preset(&path, &mut tally);
    }
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    std::fs::write(&path, deep).unwrap();
    load_preset(&path, &mut tally);
    println!("{}", tally.line("presets"));
    assert_eq!(tally.panics, 0, "{tally:?}");
    assert_eq!(tally.unclear_errors, 0, "{tally:?}");
}

#[test]
fn hostile_run_folders_are_errors_not_panics() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    // one real finished run to mutate
    let data = common::demo_dataset(tmp.path(), 3, 12, 48);
    let run_path = facebench::engine::train_blocking(
        facebench::engine::TrainRequest {
            config: common::tiny_config(1),
            data_root: data,
            runs_root: tmp.path().join("runs"),
            resume: None,
        },
        |_| {},
    )
    .unwrap();
    let run = RunDir::new(&run_path);
    let files = [
        "config.json",
        "metrics.jsonl",
        "eval.json",
        "checkpoints/last/state.json",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut tally = Tally::default();
    for name in files {
        let path = run_path.join(name);
        let valid = std::fs::read(&path).unwrap();
        for bytes in mutations(&valid, &mut rng, 60) {
            std::fs::write(&path, &bytes).unwrap();
            tally.tried += 1;
            let outcome = std::panic::catch_unwind(|| {
                let summary = run.summary().map(|_| ());
                let eval = run.read_eval().map(|_| ());
                let state =
                    facebench::engine::find_checkpoint(&run, facebench::run::CheckpointKind::Last)
                        .map(|d| {
                            std::fs::read_to_string(d.join("state.json")).ok().map(|t| {
                                serde_json::from_str::<facebench::engine::TrainerState>(&t).is_ok()
                            })
                        });
                (summary, eval, state)
            });
            match outcome {
                Err(_) => tally.panics += 1,
                Ok((summary, eval, _)) => match summary.and(eval) {
                    Ok(()) => tally.accepted += 1,
                    Err(e) => {
                        let text = format!("{e:#}");
                        if text.contains(&run_path.display().to_string()) {
                            tally.clear_errors += 1;
                        } else {
                            tally.unclear_errors += 1;
                            eprintln!("unclear for {name}: {text}");
                        }
                    }
                },
            }
        }
        std::fs::write(&path, &valid).unwrap();
    }
    println!("{}", tally.line("run folders"));
    assert_eq!(tally.panics, 0, "{tally:?}");
    assert_eq!(tally.unclear_errors, 0, "{tally:?}");
    // intact again, the run reads as before
    run.summary().unwrap();
}
