//! Property-based fuzzing (proptest) of the readers that take files from
//! users: the weight readers (.pth, .safetensors, .h5, gzipped) and the image
//! scanner/decoder. Inputs are arbitrary bytes and mutations of small valid
//! files; the property is always the same: the reader returns (an error
//! naming the file, or a value), never panics. CI runs a bounded number of
//! cases (FUZZ_CASES, default 256 per property) with a fixed seed, so failures
//! reproduce; raise FUZZ_CASES to fuzz longer.

use std::io::{Cursor, Read};
use std::path::Path;

use facebench::data::{decode_rgb8, probe_file};
use facebench::weights::WeightFile;
use image::{ImageFormat, Rgb, RgbImage};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn runner() -> TestRunner {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]))
}

/// A valid file with up to 6 bytes changed and maybe cut short.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    (
        proptest::collection::vec((0..len, any::<u8>()), 0..6),
        prop_oneof![Just(len), 0..len],
    )
        .prop_map(move |(edits, cut)| {
            let mut bytes = valid.clone();
            for (at, b) in edits {
                bytes[at] = b;
            }
            bytes.truncate(cut);
            bytes
        })
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Read `bytes` as the weight file `name`: an error must name the file.
fn read_weights(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    match WeightFile::read(&path) {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = format!("{e:#}");
            prop_assert!(text.contains(name), "the error names the file: {text}");
            Ok(())
        }
    }
}

#[test]
fn weight_readers_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transfer");
    let safetensors = gunzip(&fixtures.join("densenet121_random.safetensors.gz"));
    // the header and the first tensors: where the structure is
    let head = safetensors[..safetensors.len().min(64 * 1024)].to_vec();
    let pth = gunzip(&fixtures.join("densenet121_random.pth.gz"));
    let pth_head = pth[..pth.len().min(64 * 1024)].to_vec();
    let mut runner = runner();
    runner
        .run(&mutated(head), |bytes| {
            read_weights(tmp.path(), "fuzz.safetensors", &bytes)
        })
        .unwrap();
    runner
        .run(&mutated(pth_head), |bytes| {
            read_weights(tmp.path(), "fuzz.pth", &bytes)
        })
        .unwrap();
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..4096), |bytes| {
            for name in ["any.pth", "any.safetensors", "any.h5", "any.pth.gz"] {
                read_weights(tmp.path(), name, &bytes)?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn image_scanner_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let face = RgbImage::from_fn(24, 24, |x, y| Rgb([(x * 10) as u8, (y * 10) as u8, 90]));
    let mut runner = runner();
    for (format, name) in [
        (ImageFormat::Jpeg, "fuzz.jpg"),
        (ImageFormat::Png, "fuzz.png"),
        (ImageFormat::Gif, "fuzz.gif"),
        (ImageFormat::WebP, "fuzz.webp"),
    ] {
        let mut valid = Cursor::new(Vec::new());
        face.write_to(&mut valid, format).unwrap();
        let path = tmp.path().join(name);
        runner
            .run(&mutated(valid.into_inner()), |bytes| {
                std::fs::write(&path, &bytes).unwrap();
                let probed = probe_file(&path);
                let decoded = decode_rgb8(&path);
                if let Err(e) = probed
                    .as_ref()
                    .map(|_| ())
                    .and(decoded.as_ref().map(|_| ()))
                {
                    prop_assert_eq!(&e.path, &path);
                }
                Ok(())
            })
            .unwrap();
    }
}
