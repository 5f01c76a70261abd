//! Reading weight files into plain named tensors: Keras HDF5 (`.h5`), PyTorch
//! (`.pth`, `.pt`) and `.safetensors`, each optionally gzipped (`.gz`). Files are
//! parsed, never executed: the PyTorch reader interprets the pickle's data
//! opcodes only.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

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
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let format = WeightFormat::detect(path)?;
        let bytes = read_bytes(path)?;
        let parsed = match format {
            WeightFormat::KerasH5 => read_keras(&bytes).map(|layers| WeightFile::Keras {
                path: path.to_path_buf(),
                layers,
            }),
            WeightFormat::Pytorch => read_pytorch(path, bytes).map(|tensors| WeightFile::Flat {
                path: path.to_path_buf(),
                format,
                tensors,
            }),
            WeightFormat::Safetensors => read_safetensors(&bytes).map(|tensors| WeightFile::Flat {
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

fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let raw = std::fs::read(path)
        .with_context(|| format!("cannot read weight file {}", path.display()))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .with_context(|| format!("{} is not valid gzip", path.display()))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// A string-list attribute; h5py writes an empty list as an empty float array.
fn h5_strings(attr: hdf5_reader::Attribute) -> anyhow::Result<Vec<String>> {
    if attr.num_elements()? == 0 {
        return Ok(Vec::new());
    }
    Ok(attr.read_strings()?)
}

/// The legacy Keras weights layout: root attribute `layer_names`; per layer a
/// group with attribute `weight_names`, each a dataset path inside the group.
fn read_keras(bytes: &[u8]) -> anyhow::Result<Vec<H5Layer>> {
    let file = hdf5_reader::Hdf5File::from_bytes(bytes)?;
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
        .map_err(|_| anyhow::anyhow!("no 'layer_names' attribute: not a Keras weights file"))
        .and_then(h5_strings)?;
    let mut layers = Vec::with_capacity(names.len());
    for name in names {
        let group = file
            .group(&format!("{prefix}/{name}"))
            .with_context(|| format!("layer '{name}' is listed but has no group"))?;
        let weight_names = match group.attribute("weight_names") {
            Ok(a) => h5_strings(a)?,
            Err(_) => Vec::new(),
        };
        let mut weights = Vec::with_capacity(weight_names.len());
        for w in weight_names {
            let ds = file
                .dataset(&format!("{prefix}/{name}/{w}"))
                .with_context(|| format!("weight '{w}' of layer '{name}' is missing"))?;
            let shape: Vec<usize> = ds.shape().iter().map(|&d| d as usize).collect();
            let mut data = vec![0f32; shape.iter().product()];
            ds.read_into(&mut data)
                .with_context(|| format!("cannot read '{w}' of layer '{name}' as f32"))?;
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
fn read_pytorch(path: &Path, bytes: Vec<u8>) -> anyhow::Result<Vec<(String, RawTensor)>> {
    use burn_store::pytorch::PytorchReader;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    // tensors load lazily from the file: keep the temporary file until the end
    let mut _unpacked = None;
    let reader = if gz {
        let mut tmp = tempfile::NamedTempFile::new()?;
        std::io::Write::write_all(&mut tmp, &bytes)?;
        let reader = PytorchReader::new(tmp.path());
        _unpacked = Some(tmp);
        reader
    } else {
        drop(bytes);
        PytorchReader::new(path)
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::new();
    for (key, snap) in reader.into_tensors() {
        // integer buffers such as num_batches_tracked carry no weights
        if !snap.dtype.is_float() {
            continue;
        }
        let data = snap
            .to_data()
            .map_err(|e| anyhow::anyhow!("tensor '{key}': {e:?}"))?;
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

fn read_safetensors(bytes: &[u8]) -> anyhow::Result<Vec<(String, RawTensor)>> {
    use safetensors::Dtype;
    let st = safetensors::SafeTensors::deserialize(bytes)?;
    let mut out = Vec::new();
    for (key, view) in st.tensors() {
        let raw = view.data();
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
    fn formats_from_names() {
        let f = |n: &str| WeightFormat::detect(Path::new(n)).ok();
        assert_eq!(f("x_notop.h5"), Some(WeightFormat::KerasH5));
        assert_eq!(f("d.pth.gz"), Some(WeightFormat::Pytorch));
        assert_eq!(f("d.safetensors"), Some(WeightFormat::Safetensors));
        assert_eq!(f("d.onnx"), None);
    }
}
