//! Hostile weight files: tiny files declaring huge tensors, gzip bombs,
//! truncations, random bytes and byte-level mutations of small valid files,
//! in every format facebench reads (.pth zip and legacy, .h5, .safetensors,
//! each also gzipped). Every input is generated here at test time.
//!
//! For each case: no panic, no abort, memory bounded, and an error that names
//! the file. The size bombs run through the CLI under `ulimit -v` (an abort
//! there is exit 134); everything else runs in-process, where the peak RSS
//! (VmHWM) is checked at the end. A summary line is printed; its totals are
//! recorded in docs/reliability.md.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use facebench::engine::{start_training, TrainRequest};
use facebench::model::Architecture;
use facebench::run::{RunConfig, TrainEvent};
use facebench::weights::{check_weights, WeightFile};

/// Virtual memory the CLI may use while checking a hostile file (KiB).
const CLI_VMEM_KIB: u64 = 2 << 20;
/// Peak resident memory this test process may reach.
const MAX_RSS_BYTES: u64 = 2 << 30;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transfer")
}

// ---------------------------------------------------------------------------
// generators

/// A protocol-2 pickle writer for torch state dicts.
#[derive(Default)]
struct Pickle(Vec<u8>);

impl Pickle {
    fn op(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.0.push(b'c');
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn int(&mut self, v: i64) -> &mut Self {
        if let Ok(v) = i32::try_from(v) {
            self.0.push(b'J');
            self.0.extend_from_slice(&v.to_le_bytes());
        } else {
            self.0.extend_from_slice(&[0x8a, 8]);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        self
    }
    fn tuple(&mut self, items: &[i64]) -> &mut Self {
        self.0.push(b'(');
        for &i in items {
            self.int(i);
        }
        self.0.push(b't');
        self
    }
}

/// One tensor of a state dict: name, storage key, storage elements, shape.
struct T<'a> {
    name: &'a str,
    key: &'a str,
    numel: i64,
    shape: &'a [i64],
}

/// The pickle torch.save writes for a flat state dict of f32 tensors.
fn state_dict_pickle(tensors: &[T]) -> Vec<u8> {
    let mut p = Pickle::default();
    p.op(&[0x80, 2])
        .global("collections", "OrderedDict")
        .op(b")Rq\x00(");
    for t in tensors {
        p.str(t.name).global("torch._utils", "_rebuild_tensor_v2");
        p.op(b"((").str("storage").global("torch", "FloatStorage");
        p.str(t.key).str("cpu").int(t.numel).op(b"tQ");
        p.int(0).tuple(t.shape);
        let mut stride = vec![1i64; t.shape.len()];
        for i in (0..t.shape.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * t.shape[i + 1];
        }
        p.tuple(&stride).op(&[0x89]);
        p.global("collections", "OrderedDict").op(b")RtR");
    }
    p.op(b"u.");
    p.0
}

/// A zip `.pth` as torch.save writes it (members stored, not compressed).
fn torch_zip(pickle: &[u8], storages: &[(&str, Vec<u8>)]) -> Vec<u8> {
    torch_zip_with(pickle, storages, zip::CompressionMethod::Stored)
}

fn torch_zip_with(
    pickle: &[u8],
    storages: &[(&str, Vec<u8>)],
    method: zip::CompressionMethod,
) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    let mut add = |name: &str, data: &[u8]| {
        zip.start_file(name, opts).expect("zip member");
        zip.write_all(data).expect("zip write");
    };
    add("archive/data.pkl", pickle);
    add("archive/byteorder", b"little");
    for (key, data) in storages {
        add(&format!("archive/data/{key}"), data);
    }
    add("archive/version", b"3\n");
    zip.finish().expect("zip finish").into_inner()
}

fn f32_bytes(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (i as f32 * 0.25).to_le_bytes())
        .collect()
}

/// A small valid zip `.pth`: two tensors, one sharing a storage at an offset.
fn valid_pth() -> Vec<u8> {
    let pickle = state_dict_pickle(&[
        T {
            name: "a.weight",
            key: "0",
            numel: 6,
            shape: &[2, 3],
        },
        T {
            name: "a.bias",
            key: "1",
            numel: 2,
            shape: &[2],
        },
    ]);
    torch_zip(&pickle, &[("0", f32_bytes(6)), ("1", f32_bytes(2))])
}

/// The issue's 652-byte `.pth`: a 100,000 x 100,000 tensor on 16 bytes.
fn huge_pth(shape: &[i64]) -> Vec<u8> {
    let pickle = state_dict_pickle(&[T {
        name: "features.conv0.weight",
        key: "0",
        numel: 4,
        shape,
    }]);
    torch_zip(&pickle, &[("0", f32_bytes(4))])
}

/// A legacy (PyTorch < 1.6) `.pth`: five pickles, then the raw storages.
fn legacy_pth(numel: i64, shape: &[i64], data_elems: usize) -> Vec<u8> {
    let mut out = vec![
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
    ];
    out.extend_from_slice(b"\x80\x02M\xe9\x03.");
    out.extend_from_slice(b"\x80\x02}q\x00(X\x0d\x00\x00\x00little_endianq\x01\x88u.");
    let mut p = Pickle::default();
    p.op(&[0x80, 2]).op(b"}q\x00(").str("w");
    p.global("torch._utils", "_rebuild_tensor");
    p.op(b"((").str("storage").global("torch", "FloatStorage");
    p.str("0").str("cpu").int(numel).op(b"NtQ");
    p.int(0).tuple(shape).tuple(&[1]).op(b"tRu.");
    out.extend_from_slice(&p.0);
    let mut keys = Pickle::default();
    keys.op(&[0x80, 2]).op(b"](").str("0").op(b"e.");
    out.extend_from_slice(&keys.0);
    out.extend_from_slice(&(data_elems as u64).to_le_bytes());
    out.extend_from_slice(&f32_bytes(data_elems));
    out
}

/// A safetensors file from a raw JSON header and data.
fn safetensors_raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn valid_safetensors() -> Vec<u8> {
    safetensors_raw(
        r#"{"a.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"a.bias":{"dtype":"F16","shape":[2],"data_offsets":[24,28]}}"#,
        &[f32_bytes(6), vec![0, 0x3c, 0, 0xc0]].concat(),
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// A gzip stream inflating to `size` zero bytes, built from one repeated
/// full-flush deflate block so that it costs milliseconds to make. The
/// trailer's CRC is not computed: readers must stop at their cap first.
fn gzip_bomb(size: u64) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK];
    let mut c = Compress::new(Compression::best(), false);
    let block = |c: &mut Compress, input: &[u8], flush| {
        let mut out = Vec::with_capacity(CHUNK);
        let before = c.total_in();
        c.compress_vec(input, &mut out, flush).expect("deflate");
        assert_eq!((c.total_in() - before) as usize, input.len());
        out
    };
    let first = block(&mut c, &zeros, FlushCompress::Full);
    let unit = block(&mut c, &zeros, FlushCompress::Full);
    let again = block(&mut c, &zeros, FlushCompress::Full);
    assert_eq!(unit, again, "full-flush blocks of zeros repeat");
    let chunks = size.div_ceil(CHUNK as u64);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend_from_slice(&first);
    for _ in 2..chunks.max(3) {
        out.extend_from_slice(&unit);
    }
    out.extend_from_slice(&again);
    out.extend_from_slice(&block(&mut c, &[], FlushCompress::Finish));
    out.extend_from_slice(&[0; 8]);
    out
}

/// The unpacked Keras fixture (DenseNet-121, random weights).
fn valid_h5() -> Vec<u8> {
    use std::io::Read;
    let gz = std::fs::read(fixtures().join("densenet121_random_notop.h5.gz")).expect("h5 fixture");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut out)
        .expect("h5 fixture inflates");
    out
}

/// The fixture with one dataset's dimensions (and max dimensions) replaced:
/// `conv1/conv/kernel:0`, [7, 7, 3, 64], becomes `dims`.
fn h5_with_dims(h5: &[u8], dims: [u64; 4]) -> Vec<u8> {
    let find: Vec<u8> = [7u64, 7, 3, 64]
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .collect();
    let with: Vec<u8> = dims.iter().flat_map(|d| d.to_le_bytes()).collect();
    let mut out = h5.to_vec();
    let mut hits = 0;
    let mut i = 0;
    while i + find.len() <= out.len() {
        if out[i..i + find.len()] == find[..] {
            out[i..i + find.len()].copy_from_slice(&with);
            hits += 1;
            i += find.len();
        } else {
            i += 1;
        }
    }
    assert!(
        hits > 0,
        "the fixture's conv1 kernel dataspace was not found"
    );
    out
}

/// A seeded xorshift generator (deterministic cases, no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

// ---------------------------------------------------------------------------
// running cases and keeping the tally

#[derive(Default)]
struct Tally {
    inputs: usize,
    accepted: usize,
    clear_errors: usize,
    unclear: Vec<String>,
    panics: Vec<String>,
    aborts: Vec<String>,
}

impl Tally {
    fn summary(&self) -> String {
        format!(
            "weights robustness: {} inputs, {} accepted, {} clear errors, {} unclear errors, {} panics, {} aborts, peak RSS {} MiB",
            self.inputs,
            self.accepted,
            self.clear_errors,
            self.unclear.len(),
            self.panics.len(),
            self.aborts.len(),
            common::peak_rss() >> 20
        )
    }

    fn assert_clean(&self) {
        println!("{}", self.summary());
        assert!(
            self.panics.is_empty(),
            "panics:\n{}",
            self.panics.join("\n")
        );
        assert!(
            self.aborts.is_empty(),
            "aborts:\n{}",
            self.aborts.join("\n")
        );
        assert!(
            self.unclear.is_empty(),
            "errors that do not name the file or say what to do:\n{}",
            self.unclear.join("\n")
        );
        assert!(
            common::peak_rss() < MAX_RSS_BYTES,
            "peak RSS {} MiB over the {} MiB bound",
            common::peak_rss() >> 20,
            MAX_RSS_BYTES >> 20
        );
    }

    /// Read `bytes` as a weight file named `name` in-process.
    fn read(&mut self, dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write case");
        self.inputs += 1;
        let outcome = std::panic::catch_unwind(|| WeightFile::read(&path).map(|_| ()));
        let shown = path.display().to_string();
        match outcome {
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                self.panics.push(format!("{name}: {msg}"));
                Err(msg)
            }
            Ok(Ok(())) => {
                self.accepted += 1;
                Ok(())
            }
            Ok(Err(e)) => {
                let text = format!("{e:#}");
                if text.contains("reader crashed") {
                    // a panic caught inside facebench still counts as a panic
                    self.panics.push(format!("{name}: {text}"));
                } else if text.contains(&shown) && says_what_to_do(&text) {
                    self.clear_errors += 1;
                } else {
                    self.unclear.push(format!("{name}: {text}"));
                }
                Err(text)
            }
        }
    }

    /// Check `bytes` through the CLI under `ulimit -v`; it must fail with a
    /// message naming the file. Returns stderr.
    fn cli(&mut self, dir: &Path, name: &str, bytes: &[u8], env: &[(&str, &str)]) -> String {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write case");
        self.inputs += 1;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -v {CLI_VMEM_KIB}; exec \"$0\" weights check \"$1\" --arch densenet121"
            ))
            .arg(env!("CARGO_BIN_EXE_facebench"))
            .arg(&path)
            .env("RAYON_NUM_THREADS", "2");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run facebench");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let code = out.status.code();
        let shown = path.display().to_string();
        println!("  {name}: exit {code:?}: {}", err.trim());
        if code.is_none() || code == Some(134) || err.contains("memory allocation") {
            self.aborts.push(format!("{name}: {:?} {err}", out.status));
        } else if code == Some(101) || err.contains("panicked") || err.contains("reader crashed") {
            self.panics.push(format!("{name}: {err}"));
        } else if code == Some(0) {
            self.accepted += 1;
        } else if err.contains(&shown) && says_what_to_do(&err) {
            self.clear_errors += 1;
        } else {
            self.unclear.push(format!("{name}: {err}"));
        }
        err
    }
}

/// A clear message says what to do about the file.
fn says_what_to_do(text: &str) -> bool {
    [
        "download", "re-save", "raise", "save", "use ", "check", "free", "remove", "unset",
    ]
    .iter()
    .any(|w| text.contains(w))
}

// ---------------------------------------------------------------------------
// the cases

/// The size bombs of issue 9, through the CLI under a memory limit.
#[test]
fn size_bombs_fail_cleanly_under_a_memory_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut t = Tally::default();
    // message checks, reported after the tally so that every case runs
    let mut wrong = Vec::new();
    let mut expect = |err: String, needle: &str| {
        if !err.contains(needle) {
            wrong.push(format!("expected '{needle}' in: {err}"));
        }
    };

    // .pth: a 100,000 x 100,000 tensor (40 GB) on a 16-byte storage
    let pth = huge_pth(&[100_000, 100_000]);
    assert!(pth.len() < 1024, "the bomb is tiny: {} bytes", pth.len());
    expect(
        t.cli(d, "huge_tensor.pth", &pth, &[]),
        "holds only 16 bytes",
    );
    t.cli(d, "huge_tensor.pth.gz", &gzip(&pth), &[]);
    // shapes that overflow, or are negative
    t.cli(d, "overflow_shape.pth", &huge_pth(&[1 << 40, 1 << 40]), &[]);
    t.cli(d, "negative_shape.pth", &huge_pth(&[-1, 4]), &[]);
    // pickle bombs: a memo-doubled tuple (2^40 objects once copied), and
    // tuples nested 100,000 deep
    let mut memo = b"\x80\x02]q\x00".to_vec();
    for _ in 0..40 {
        memo.extend_from_slice(b"h\x00h\x00\x86q\x00");
    }
    memo.push(b'.');
    expect(
        t.cli(d, "memo_bomb.pth", &torch_zip(&memo, &[]), &[]),
        "pickle bomb",
    );
    let mut deep = b"\x80\x02)".to_vec();
    deep.extend(std::iter::repeat_n(0x85u8, 100_000));
    deep.push(b'.');
    expect(t.cli(d, "deep.pth", &torch_zip(&deep, &[]), &[]), "deep");
    // a compressed member (a zip bomb's way in)
    let zeros = state_dict_pickle(&[T {
        name: "w",
        key: "0",
        numel: 1 << 24,
        shape: &[1 << 24],
    }]);
    let compressed = torch_zip_with(
        &zeros,
        &[("0", vec![0; 64 << 20])],
        zip::CompressionMethod::Deflated,
    );
    expect(
        t.cli(d, "compressed_member.pth", &compressed, &[]),
        "is compressed",
    );

    // legacy .pth: a storage of 10 billion elements allocated before reading
    let legacy = legacy_pth(10_000_000_000, &[4], 4);
    expect(
        t.cli(d, "legacy_huge_storage.pth", &legacy, &[]),
        "past the end",
    );
    t.cli(
        d,
        "legacy_huge_shape.pth",
        &legacy_pth(4, &[100_000, 100_000], 4),
        &[],
    );

    // .h5: the fixture with the conv1 kernel declared 100,000 x 100,000 x 1 x 1
    let h5 = valid_h5();
    let big = h5_with_dims(&h5, [100_000, 100_000, 1, 1]);
    expect(t.cli(d, "huge_dataset.h5", &big, &[]), "cannot hold");
    t.cli(
        d,
        "overflow_dataset.h5",
        &h5_with_dims(&h5, [1 << 40, 1 << 40, 1, 1]),
        &[],
    );
    drop((h5, big));

    // .safetensors: offsets past the end, a huge header length, a huge shape
    t.cli(
        d,
        "offsets_past_end.safetensors",
        &safetensors_raw(
            r#"{"w":{"dtype":"F32","shape":[100000,100000],"data_offsets":[0,40000000000]}}"#,
            &[0; 16],
        ),
        &[],
    );
    let mut huge_header = u64::MAX.to_le_bytes().to_vec();
    huge_header.extend_from_slice(b"{}");
    t.cli(d, "huge_header.safetensors", &huge_header, &[]);

    // gzip bombs: one past the default 2 GiB cap, one past a lowered cap
    let bomb = gzip_bomb((2 << 30) + (64 << 20));
    assert!(bomb.len() < 4 << 20, "bomb is {} bytes", bomb.len());
    expect(
        t.cli(d, "bomb.safetensors.gz", &bomb, &[]),
        "inflates to more than",
    );
    let small_bomb = gzip_bomb(96 << 20);
    expect(
        t.cli(
            d,
            "bomb.h5.gz",
            &small_bomb,
            &[("FACEBENCH_MAX_WEIGHTS_BYTES", "64M")],
        ),
        "inflates to more than 64.0 MiB",
    );
    t.cli(
        d,
        "bomb.pth.gz",
        &small_bomb,
        &[("FACEBENCH_MAX_WEIGHTS_BYTES", "64M")],
    );

    // a file over the cap is refused before it is read
    expect(
        t.cli(
            d,
            "too_big.safetensors",
            &valid_safetensors(),
            &[("FACEBENCH_MAX_WEIGHTS_BYTES", "100")],
        ),
        "over the 100 bytes limit",
    );
    t.assert_clean();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(t.clear_errors, t.inputs, "every bomb is refused");
}

/// The small valid files load, and their values come through.
#[test]
fn small_valid_files_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in [
        ("ok.pth", valid_pth()),
        ("ok.pth.gz", gzip(&valid_pth())),
        ("legacy.pth", legacy_pth(4, &[2, 2], 4)),
        ("ok.safetensors", valid_safetensors()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).expect("write");
        let file = WeightFile::read(&path).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let WeightFile::Flat { tensors, .. } = file else {
            panic!("{name} reads as flat tensors");
        };
        let first = &tensors.last().expect("a tensor").1;
        assert_eq!(first.data[1], 0.25, "{name}");
    }
}

/// burn-store fills a storage that is missing or too short with zeros, without
/// a word; facebench refuses such a file.
#[test]
fn missing_or_short_storages_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut t = Tally::default();
    let six = |key| T {
        name: "a.weight",
        key,
        numel: 6,
        shape: &[2, 3],
    };
    let missing = torch_zip(&state_dict_pickle(&[six("7")]), &[("0", f32_bytes(6))]);
    let err = t
        .read(d, "missing.pth", &missing)
        .expect_err("missing storage");
    assert!(err.contains("tensor 'a.weight' reads storage '7'"), "{err}");
    let short = torch_zip(&state_dict_pickle(&[six("0")]), &[("0", f32_bytes(2))]);
    let err = t.read(d, "short.pth", &short).expect_err("short storage");
    assert!(err.contains("holds only 8 bytes"), "{err}");
    let err = t
        .read(d, "short_legacy.pth", &legacy_pth(4, &[2, 2], 3))
        .expect_err("short legacy storage");
    assert!(err.contains("runs past the end"), "{err}");
    t.assert_clean();
}

/// Truncations, byte flips and random bytes in every format, in-process.
#[test]
fn mutated_and_random_files_fail_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut t = Tally::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    let small: [(&str, Vec<u8>); 4] = [
        ("pth", valid_pth()),
        ("legacy.pth", legacy_pth(4, &[2, 2], 4)),
        ("safetensors", valid_safetensors()),
        ("pth.gz", gzip(&valid_pth())),
    ];
    for (ext, valid) in &small {
        // every truncation of the small files
        for len in 0..valid.len() {
            let _ = t.read(d, &format!("cut_{len}.{ext}"), &valid[..len]);
        }
        // seeded mutations: 1-4 random bytes set, flipped or spliced with
        // boundary values, at random offsets
        for i in 0..400 {
            let mut m = valid.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(m.len());
                m[at] = match rng.below(4) {
                    0 => m[at] ^ (1 << rng.below(8)),
                    1 => 0xff,
                    2 => 0,
                    _ => rng.next() as u8,
                };
            }
            let _ = t.read(d, &format!("mut_{i}.{ext}"), &m);
        }
    }

    // mutations of the pickle inside an otherwise sound archive (the
    // archive's checksums hold, so the pickle reaches the readers)
    let pickle = state_dict_pickle(&[
        T {
            name: "a.weight",
            key: "0",
            numel: 6,
            shape: &[2, 3],
        },
        T {
            name: "a.bias",
            key: "1",
            numel: 2,
            shape: &[2],
        },
    ]);
    let storages = [("0", f32_bytes(6)), ("1", f32_bytes(2))];
    for len in 0..pickle.len() {
        let _ = t.read(
            d,
            &format!("pickle_cut_{len}.pth"),
            &torch_zip(&pickle[..len], &storages),
        );
    }
    for i in 0..600 {
        let mut m = pickle.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(m.len());
            m[at] = match rng.below(5) {
                0 => m[at] ^ (1 << rng.below(8)),
                1 => 0xff,
                2 => 0x7f,
                3 => 0,
                _ => rng.next() as u8,
            };
        }
        let _ = t.read(d, &format!("pickle_mut_{i}.pth"), &torch_zip(&m, &storages));
    }
    // a flipped byte in tensor data fails the member's checksum: burn-store
    // read that as zeros
    let mut flipped = valid_pth();
    let at = flipped
        .windows(4)
        .position(|w| w == 0.25f32.to_le_bytes())
        .expect("tensor data in the archive");
    flipped[at] ^= 1;
    let err = t
        .read(d, "flipped_data.pth", &flipped)
        .expect_err("checksum mismatch");
    assert!(err.contains("does not match its checksum"), "{err}");

    // the Keras fixture: truncations and flips in its metadata (the first
    // 64 KiB hold the superblock, root group and first object headers)
    let h5 = valid_h5();
    let _ = t.read(d, "valid.h5", &h5);
    for len in [0, 7, 8, 64, 512, 4096, 65536, h5.len() / 2, h5.len() - 1] {
        let _ = t.read(d, &format!("cut_{len}.h5"), &h5[..len]);
    }
    for i in 0..40 {
        let mut m = h5.clone();
        let at = rng.below(65536.min(m.len()));
        m[at] ^= 1 << rng.below(8);
        let _ = t.read(d, &format!("mut_{i}.h5"), &m);
    }
    drop(h5);

    // random bytes under every name
    for ext in [
        "pth",
        "h5",
        "safetensors",
        "pth.gz",
        "h5.gz",
        "safetensors.gz",
    ] {
        for i in 0..40 {
            let len = rng.below(4096);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = t.read(d, &format!("random_{i}.{ext}"), &bytes);
        }
    }
    t.assert_clean();
}

/// A file that reads but does not fit the base fails with its name, and the
/// CLI says so without loading anything.
#[test]
fn valid_but_foreign_files_name_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("foreign.safetensors");
    std::fs::write(&path, valid_safetensors()).expect("write");
    let err = format!(
        "{:#}",
        check_weights(&path, Architecture::Densenet121).expect_err("does not fit")
    );
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("nothing was loaded"), "{err}");
}

/// Training reads weights through the same checks: the issue's 652-byte
/// `.pth` fails the run with the file named instead of aborting the process.
#[test]
fn training_refuses_a_size_bomb_with_the_file_named() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = common::demo_dataset(tmp.path(), 3, 6, 64);
    let bomb = tmp.path().join("bomb.pth");
    std::fs::write(&bomb, huge_pth(&[100_000, 100_000])).expect("write bomb");
    let mut config = RunConfig::default();
    config.model.architecture = Architecture::Densenet121;
    config.model.weights = Some(bomb.display().to_string());
    config.data.input_size = 64;
    config.device = facebench::run::DeviceChoice::Cpu;
    let handle = start_training(TrainRequest {
        config,
        data_root: data,
        runs_root: tmp.path().join("runs"),
        resume: None,
    });
    let events: Vec<TrainEvent> = handle.events.iter().collect();
    handle.join();
    let Some(TrainEvent::Failed { error }) = events.last() else {
        panic!("expected a failure, got {events:?}");
    };
    assert!(error.contains(&bomb.display().to_string()), "{error}");
    assert!(error.contains("holds only 16 bytes"), "{error}");
}
