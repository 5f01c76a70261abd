//! Reading weight files into plain named tensors: Keras HDF5 (`.h5`), PyTorch
//! (`.pth`, `.pt`) and `.safetensors`, each optionally gzipped (`.gz`). Files are
//! parsed, never executed: the PyTorch reader interprets the pickle's data
//! opcodes only.

use crate::numbers::human_bytes;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The default limit on a weight file, unpacked, and on its tensors as f32:
/// about 20 times the largest supported base (Xception, 88 MB).
pub const DEFAULT_MAX_WEIGHTS_BYTES: u64 = 2 << 30;

/// A chunked (possibly compressed) HDF5 dataset may decode to at most this
/// many times the file's size: deflate, the best ratio HDF5 filters reach on
/// real data, stops at about 1,032.
const MAX_H5_INFLATION: u64 = 1100;

/// What to do about a file a reader rejects.
const DAMAGED: &str = "the file is damaged, truncated or not in this format: download it again, or check that its extension matches its format";

/// The limit on weight files: `FACEBENCH_MAX_WEIGHTS_BYTES` (bytes, or with a
/// K/M/G suffix), else [`DEFAULT_MAX_WEIGHTS_BYTES`].
pub fn max_weights_bytes() -> anyhow::Result<u64> {
    match std::env::var("FACEBENCH_MAX_WEIGHTS_BYTES") {
        Ok(v) if !v.trim().is_empty() => parse_size(&v).ok_or_else(|| {
            anyhow::anyhow!(
                "FACEBENCH_MAX_WEIGHTS_BYTES='{v}' is not a size; write bytes or a number with K, M or G (such as 4G), or unset it for the default {}",
                human_bytes(DEFAULT_MAX_WEIGHTS_BYTES)
            )
        }),
        _ => Ok(DEFAULT_MAX_WEIGHTS_BYTES),
    }
}

/// `123`, `512K`, `64M`, `4G`, `4GiB`, `4GB` (binary units).
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_uppercase();
    let t = t
        .strip_suffix("IB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(&t);
    let (num, shift) = match t.chars().last()? {
        'K' => (&t[..t.len() - 1], 10),
        'M' => (&t[..t.len() - 1], 20),
        'G' => (&t[..t.len() - 1], 30),
        'T' => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = num.trim().parse().ok()?;
    n.checked_mul(1u64 << shift)
}

/// A zeroed buffer of `n` values, or an error instead of an abort when the
/// memory is not there.
fn zeroed<T: Clone + Default>(n: u64, what: &str) -> anyhow::Result<Vec<T>> {
    let n = usize::try_from(n).map_err(|_| anyhow::anyhow!("{what} is too large"))?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        anyhow::anyhow!(
            "not enough memory for {what} ({}); free some memory or lower FACEBENCH_MAX_WEIGHTS_BYTES",
            human_bytes((n as u64).saturating_mul(std::mem::size_of::<T>() as u64))
        )
    })?;
    v.resize(n, T::default());
    Ok(v)
}

/// Run a third-party reader, turning a panic inside it into an error. Inputs
/// are validated first; this is the last line of defence.
fn contained<T>(reader: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_string());
            bail!("the {reader} reader crashed on it ({msg}); the file is damaged or not a weight file: download it again")
        }
    }
}

/// One tensor as stored in the file, in the file's own layout.
#[derive(Debug, Clone)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    KerasH5,
    Pytorch,
    Safetensors,
}

impl WeightFormat {
    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::KerasH5 => "Keras HDF5",
            WeightFormat::Pytorch => "PyTorch",
            WeightFormat::Safetensors => "safetensors",
        }
    }

    /// From the file name (a trailing `.gz` is looked through).
    pub fn detect(path: &Path) -> anyhow::Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit('.').next().unwrap_or("");
        Ok(match ext {
            "h5" | "hdf5" | "keras" => WeightFormat::KerasH5,
            "pth" | "pt" | "bin" => WeightFormat::Pytorch,
            "safetensors" => WeightFormat::Safetensors,
            _ => bail!(
                "{}: unknown weight format; use a Keras .h5, a PyTorch .pth/.pt or a .safetensors file (optionally .gz)",
                path.display()
            ),
        })
    }
}

/// A Keras layer and its weights, in the file's order.
#[derive(Debug, Clone)]
pub struct H5Layer {
    pub name: String,
    /// (short weight name such as `kernel` or `moving_mean`, tensor)
    pub weights: Vec<(String, RawTensor)>,
}

/// The contents of a weight file.
#[derive(Debug, Clone)]
pub enum WeightFile {
    /// Layers in `layer_names` order (layers without weights included).
    Keras { path: PathBuf, layers: Vec<H5Layer> },
    /// Flat `key -> tensor` (PyTorch and safetensors), sorted by key.
    Flat {
        path: PathBuf,
        format: WeightFormat,
        tensors: Vec<(String, RawTensor)>,
    },
}

impl WeightFile {
    pub fn path(&self) -> &Path {
        match self {
            WeightFile::Keras { path, .. } | WeightFile::Flat { path, .. } => path,
        }
    }

    pub fn format(&self) -> WeightFormat {
        match self {
            WeightFile::Keras { .. } => WeightFormat::KerasH5,
            WeightFile::Flat { format, .. } => *format,
        }
    }

    /// Number of tensors in the file.
    pub fn tensor_count(&self) -> usize {
        match self {
            WeightFile::Keras { layers, .. } => layers.iter().map(|l| l.weights.len()).sum(),
            WeightFile::Flat { tensors, .. } => tensors.len(),
        }
    }

    /// Read and parse a weight file.
    ///
    /// Every size the file declares is checked against its real size and
    /// against [`max_weights_bytes`] before anything is allocated for it, so a
    /// damaged or hostile file gives an error naming it, never an abort.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let format = WeightFormat::detect(path)?;
        let max = max_weights_bytes()?;
        let bytes = read_bytes(path, max)?;
        let parsed = match format {
            WeightFormat::KerasH5 => {
                contained("HDF5", || read_keras(bytes, max)).map(|layers| WeightFile::Keras {
                    path: path.to_path_buf(),
                    layers,
                })
            }
            WeightFormat::Pytorch => {
                read_pytorch(path, bytes, max).map(|tensors| WeightFile::Flat {
                    path: path.to_path_buf(),
                    format,
                    tensors,
                })
            }
            WeightFormat::Safetensors => contained("safetensors", || read_safetensors(&bytes, max))
                .map(|tensors| WeightFile::Flat {
                    path: path.to_path_buf(),
                    format,
                    tensors,
                }),
        };
        parsed.with_context(|| {
            format!(
                "{} is not a readable {} weight file",
                path.display(),
                format.name()
            )
        })
    }
}

/// The file's bytes, a `.gz` inflated with a bound: never more than `max`.
fn read_bytes(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let too_big = |what: &str, n: &str| {
        anyhow::anyhow!(
            "{} {what} {n}, over the {} limit on weight files (the largest supported base is under 100 MB); if the file is genuine, raise FACEBENCH_MAX_WEIGHTS_BYTES (for example to 8G)",
            path.display(),
            human_bytes(max)
        )
    };
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read weight file {}", path.display()))?
        .len();
    if len > max {
        return Err(too_big("is", &human_bytes(len)));
    }
    let raw = std::fs::read(path)
        .with_context(|| format!("cannot read weight file {}", path.display()))?;
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        return Ok(raw);
    }
    let not_gzip = || {
        format!(
            "{} is not valid gzip (damaged or truncated); download it again, or drop the .gz suffix if it is not compressed",
            path.display()
        )
    };
    // First measure the inflated size, keeping nothing and stopping past the
    // limit, so that a gzip bomb costs no memory; then inflate into a buffer
    // of exactly that size.
    let mut counter = flate2::read::GzDecoder::new(raw.as_slice()).take(max.saturating_add(1));
    let mut buf = vec![0u8; 1 << 16];
    let mut size: u64 = 0;
    loop {
        let n = match counter.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context(not_gzip())),
        };
        size += n as u64;
    }
    if size > max {
        return Err(too_big(
            "inflates to",
            &format!("more than {} (a gzip bomb?)", human_bytes(max)),
        ));
    }
    let mut out: Vec<u8> = Vec::new();
    out.try_reserve_exact(size as usize).map_err(|_| {
        anyhow::anyhow!(
            "not enough memory to inflate {} ({}); free some memory",
            path.display(),
            human_bytes(size)
        )
    })?;
    flate2::read::GzDecoder::new(raw.as_slice())
        .take(size)
        .read_to_end(&mut out)
        .with_context(not_gzip)?;
    Ok(out)
}

/// A string-list attribute; h5py writes an empty list as an empty float array.
fn h5_strings(attr: hdf5_reader::Attribute) -> anyhow::Result<Vec<String>> {
    let read = || -> Result<Vec<String>, hdf5_reader::error::Error> {
        if attr.num_elements()? == 0 {
            return Ok(Vec::new());
        }
        attr.read_strings()
    };
    read().map_err(|e| anyhow::anyhow!("a name list cannot be read ({e}); {DAMAGED}"))
}

/// The legacy Keras weights layout: root attribute `layer_names`; per layer a
/// group with attribute `weight_names`, each a dataset path inside the group.
/// Each dataset's declared size is checked against the file before it is
/// read: an uncompressed one must lie inside the file, a chunked one within
/// [`MAX_H5_INFLATION`] times it, and all of them together under `max` as f32.
fn read_keras(bytes: Vec<u8>, max: u64) -> anyhow::Result<Vec<H5Layer>> {
    let file_len = bytes.len() as u64;
    let options = hdf5_reader::OpenOptions::default()
        .with_max_read_bytes(usize::try_from(max).unwrap_or(usize::MAX))
        .with_max_chunk_bytes(usize::try_from(max.min(256 << 20)).unwrap_or(usize::MAX));
    let file = hdf5_reader::Hdf5File::from_vec_with_options(bytes, options)
        .map_err(|e| anyhow::anyhow!("{e}; {DAMAGED}"))?;
    let mut budget = max;
    let mut root = file.root_group()?;
    // full-model files keep the weights under /model_weights
    if root.attribute("layer_names").is_err() {
        if let Ok(g) = file.group("/model_weights") {
            root = g;
        }
    }
    let prefix = if root.name() == "/" || root.name().is_empty() {
        String::new()
    } else {
        format!("/{}", root.name().trim_start_matches('/'))
    };
    let names = root
        .attribute("layer_names")
        .map_err(|_| {
            anyhow::anyhow!(
                "no 'layer_names' attribute: not a Keras weights file; save the base with model.save_weights(path) to an .h5"
            )
        })
        .and_then(h5_strings)?;
    let mut layers = Vec::with_capacity(names.len());
    for name in names {
        let group = file
            .group(&format!("{prefix}/{name}"))
            .with_context(|| format!("layer '{name}' is listed but has no group; {DAMAGED}"))?;
        let weight_names = match group.attribute("weight_names") {
            Ok(a) => h5_strings(a)?,
            Err(_) => Vec::new(),
        };
        let mut weights = Vec::with_capacity(weight_names.len());
        for w in weight_names {
            let ds = file
                .dataset(&format!("{prefix}/{name}/{w}"))
                .with_context(|| format!("weight '{w}' of layer '{name}' is missing; {DAMAGED}"))?;
            let declared = ds.shape().to_vec();
            let what = format!("weight '{w}' of layer '{name}'");
            let elements = declared
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d))
                .ok_or_else(|| {
                    anyhow::anyhow!("{what} declares an impossible shape {declared:?}; {DAMAGED}")
                })?;
            let elem = ds
                .raw_element_size()
                .map_err(|e| anyhow::anyhow!("{what} has an unreadable type ({e}); {DAMAGED}"))?;
            let stored = elements.saturating_mul(elem as u64);
            let (room, how) = if ds.chunks().is_some() {
                (file_len.saturating_mul(MAX_H5_INFLATION), "even compressed")
            } else {
                (file_len, "uncompressed")
            };
            if stored > room {
                bail!(
                    "{what} declares shape {declared:?} ({}, {how}), which a {} file cannot hold; the file is truncated or damaged: download it again",
                    human_bytes(stored),
                    human_bytes(file_len)
                );
            }
            let as_f32 = elements.saturating_mul(4);
            budget = budget.checked_sub(as_f32).ok_or_else(|| {
                anyhow::anyhow!(
                    "the weights pass the {} limit at {what} (shape {declared:?}); if the file is genuine, raise FACEBENCH_MAX_WEIGHTS_BYTES",
                    human_bytes(max)
                )
            })?;
            let shape: Vec<usize> = declared.iter().map(|&d| d as usize).collect();
            let mut data = zeroed::<f32>(elements, &what)?;
            ds.read_into(&mut data).with_context(|| {
                format!("cannot read '{w}' of layer '{name}' as f32; {DAMAGED}")
            })?;
            let short = w
                .rsplit('/')
                .next()
                .unwrap_or(&w)
                .trim_end_matches(":0")
                .to_string();
            weights.push((short, RawTensor { shape, data }));
        }
        layers.push(H5Layer { name, weights });
    }
    Ok(layers)
}

/// burn-store reads the zip container of modern `.pth` files from a path, so
/// a gzipped file is unpacked to a temporary file first.
///
/// burn-store trusts the sizes a file declares, so the file's bytes are
/// checked first (see `torch_check`), and each tensor again before it is read.
fn read_pytorch(path: &Path, bytes: Vec<u8>, max: u64) -> anyhow::Result<Vec<(String, RawTensor)>> {
    use burn_store::pytorch::PytorchReader;
    super::torch_check::check_pytorch(&bytes, max).map_err(anyhow::Error::msg)?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    // tensors load lazily from the file: keep the temporary file until the end
    let mut _unpacked = None;
    let source = if gz {
        let mut tmp = tempfile::NamedTempFile::new().context(
            "cannot create a temporary file to unpack it; check the temporary folder's space",
        )?;
        std::io::Write::write_all(&mut tmp, &bytes)
            .context("cannot unpack it to a temporary file; check the temporary folder's space")?;
        let p = tmp.path().to_path_buf();
        _unpacked = Some(tmp);
        p
    } else {
        path.to_path_buf()
    };
    drop(bytes);
    let reader = contained("PyTorch", || {
        PytorchReader::new(&source).map_err(|e| anyhow::anyhow!("{e}; {DAMAGED}"))
    })?;
    let mut out = Vec::new();
    let mut budget = max;
    for (key, snap) in reader.into_tensors() {
        // integer buffers such as num_batches_tracked carry no weights
        if !snap.dtype.is_float() {
            continue;
        }
        // checked above against the storage; again here, before the read
        let as_f32 = snap
            .shape
            .iter()
            .try_fold(4u64, |a, &d| a.checked_mul(d as u64))
            .unwrap_or(u64::MAX);
        budget = budget.checked_sub(as_f32).ok_or_else(|| {
            anyhow::anyhow!(
                "the weights pass the {} limit at tensor '{key}' (shape {:?}); if the file is genuine, raise FACEBENCH_MAX_WEIGHTS_BYTES",
                human_bytes(max),
                snap.shape
            )
        })?;
        let data = contained("PyTorch", || {
            snap.to_data()
                .map_err(|e| anyhow::anyhow!("tensor '{key}': {e:?}"))
        })?;
        let shape = data.shape.to_vec();
        let values = data
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("tensor '{key}': {e:?}"))?;
        out.push((
            key,
            RawTensor {
                shape,
                data: values,
            },
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Every floating-point tensor of a safetensors file as f32, sorted by
/// key. The safetensors crate checks the header's length and every tensor's
/// offsets against the buffer; the f32 copies are bounded by `max` too.
pub fn read_safetensors(bytes: &[u8], max: u64) -> anyhow::Result<Vec<(String, RawTensor)>> {
    use safetensors::Dtype;
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| anyhow::anyhow!("{e}; {DAMAGED}"))?;
    let mut out = Vec::new();
    let mut budget = max;
    for (key, view) in st.tensors() {
        let raw = view.data();
        let elements = view
            .shape()
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .unwrap_or(u64::MAX);
        budget = budget
            .checked_sub(elements.saturating_mul(4))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the weights pass the {} limit at tensor '{key}' (shape {:?}); if the file is genuine, raise FACEBENCH_MAX_WEIGHTS_BYTES",
                    human_bytes(max),
                    view.shape()
                )
            })?;
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => raw
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    f64::from_le_bytes(b) as f32
                })
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                .collect(),
            // integer tensors (num_batches_tracked) carry no weights
            _ => continue,
        };
        out.push((
            key,
            RawTensor {
                shape: view.shape().to_vec(),
                data,
            },
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn half_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match exp {
        0 if frac == 0 => sign,
        0 => {
            // subnormal: normalise
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
        31 => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("512 MiB"), Some(512 << 20));
        assert_eq!(parse_size("2gb"), Some(2 << 30));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn formats_from_names() {
        let f = |n: &str| WeightFormat::detect(Path::new(n)).ok();
        assert_eq!(f("x_notop.h5"), Some(WeightFormat::KerasH5));
        assert_eq!(f("d.pth.gz"), Some(WeightFormat::Pytorch));
        assert_eq!(f("d.safetensors"), Some(WeightFormat::Safetensors));
        assert_eq!(f("d.onnx"), None);
    }
}
