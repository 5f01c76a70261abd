//! Pretrained weights: reading Keras `.h5`, PyTorch `.pth` and `.safetensors`
//! files (no Python at run time) and loading them into the transfer bases.

mod import;
mod pickle_values;
mod pickle_walk;
mod pth_write;
mod source;
mod torch_check;
mod torch_layout;

use std::path::{Path, PathBuf};

use burn::prelude::*;

pub use import::{import_into, ImportReport};
pub use pth_write::{write_pth, NamedTensor};
pub use source::{
    max_weights_bytes, read_safetensors, H5Layer, RawTensor, WeightFile, WeightFormat,
    DEFAULT_MAX_WEIGHTS_BYTES,
};
pub use torch_layout::TorchLayout;

use crate::model::{Architecture, DenseNet, Network, Xception};

/// Where a bare weight file name is looked up, in order.
pub fn weight_search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("FACEBENCH_WEIGHTS_DIR").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(crate::data::cache_dir().join("weights"));
    dirs
}

/// Find the weight file a config names: the path itself, or a bare name in
/// `$FACEBENCH_WEIGHTS_DIR` or the cache's `weights/` folder.
pub fn resolve_weights(spec: &str) -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(spec);
    if path.is_file() {
        return Ok(path);
    }
    let mut looked = vec![path.display().to_string()];
    if let Some(name) = path.file_name() {
        for dir in weight_search_dirs() {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
            looked.push(candidate.display().to_string());
        }
    }
    anyhow::bail!(
        "weight file '{spec}' not found (looked at: {}); download it there, set FACEBENCH_WEIGHTS_DIR to its folder, or set model.weights to its path (or to null to start from random weights)",
        looked.join(", ")
    )
}

/// Load pretrained base weights into a transfer network (the head is left as
/// initialised).
pub fn load_pretrained<B: Backend>(
    net: Network<B>,
    path: &Path,
) -> anyhow::Result<(Network<B>, ImportReport)> {
    let file = WeightFile::read(path)?;
    match net {
        Network::Xception(mut m) => {
            let report = import_into(&mut m.base, Architecture::Xception, &file)?;
            Ok((Network::Xception(m), report))
        }
        Network::Densenet121(mut m) => {
            let report = import_into(&mut m.base, Architecture::Densenet121, &file)?;
            Ok((Network::Densenet121(m), report))
        }
        Network::Resnet(_) => {
            anyhow::bail!("pretrained weights apply to xception and densenet121, not resnet")
        }
    }
}

/// Check that a file fits an architecture's base by loading it into one on
/// the CPU.
pub fn check_weights(path: &Path, arch: Architecture) -> anyhow::Result<ImportReport> {
    type Cpu = burn::backend::Flex;
    let device = Default::default();
    let file = WeightFile::read(path)?;
    match arch {
        Architecture::Xception => import_into(&mut Xception::<Cpu>::new(&device), arch, &file),
        Architecture::Densenet121 => {
            import_into(&mut DenseNet::<Cpu>::densenet121(&device), arch, &file)
        }
        Architecture::Resnet => {
            anyhow::bail!("resnet trains from scratch; check weights for xception or densenet121")
        }
    }
}
