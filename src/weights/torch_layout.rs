//! Our tensor paths as PyTorch names, for export: torchvision's ResNet
//! layout (ResNet), torchvision's densenet121 and timm's legacy_xception
//! (the transfer bases, the same names import reads), and the reference
//! head as `head.*` with PyTorch's batch-norm names.

use std::collections::HashMap;

use super::import::base_torch_keys;
use crate::model::Architecture;

/// Our name of a batch norm's scale and shift, as PyTorch names them.
fn norm_name(name: &str) -> &str {
    match name {
        "gamma" => "weight",
        "beta" => "bias",
        other => other,
    }
}

/// Maps our paths (enum variants skipped, as `model-info` prints them) to
/// PyTorch keys.
pub struct TorchLayout {
    arch: Architecture,
    base: HashMap<String, String>,
}

impl TorchLayout {
    pub fn new(arch: Architecture) -> anyhow::Result<Self> {
        let base = if arch.is_transfer() {
            base_torch_keys(arch)?.into_iter().collect()
        } else {
            HashMap::new()
        };
        Ok(Self { arch, base })
    }

    /// The PyTorch key of our tensor `path`; `None` for a path outside the
    /// layout (the export then fails naming it).
    pub fn key(&self, path: &str) -> Option<String> {
        let (module, name) = path.rsplit_once('.')?;
        if self.arch.is_transfer() {
            if let Some(inner) = path.strip_prefix("base.") {
                return self.base.get(inner).cloned();
            }
            return path
                .starts_with("head.")
                .then(|| format!("{module}.{}", norm_name(name)));
        }
        // torchvision's ResNet: the shortcut is `downsample.0` (conv) and
        // `downsample.1` (batch norm)
        let module = module
            .replace(".downsample.conv", ".downsample.0")
            .replace(".downsample.bn", ".downsample.1");
        Some(format!("{module}.{}", norm_name(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet_paths_follow_torchvision() {
        let layout = TorchLayout::new(Architecture::Resnet).unwrap();
        let key = |p: &str| layout.key(p).unwrap();
        assert_eq!(key("conv1.weight"), "conv1.weight");
        assert_eq!(key("bn1.gamma"), "bn1.weight");
        assert_eq!(key("layer2.0.bn3.beta"), "layer2.0.bn3.bias");
        assert_eq!(
            key("layer1.0.downsample.conv.weight"),
            "layer1.0.downsample.0.weight"
        );
        assert_eq!(
            key("layer1.0.downsample.bn.running_var"),
            "layer1.0.downsample.1.running_var"
        );
        assert_eq!(key("fc.bias"), "fc.bias");
    }

    #[test]
    fn transfer_bases_use_the_import_names_and_the_head_keeps_its_own() {
        let densenet = TorchLayout::new(Architecture::Densenet121).unwrap();
        assert_eq!(
            densenet
                .key("base.blocks.0.layers.0.norm1.gamma")
                .as_deref(),
            Some("features.denseblock1.denselayer1.norm1.weight")
        );
        assert_eq!(
            densenet.key("head.bn0.gamma").as_deref(),
            Some("head.bn0.weight")
        );
        assert_eq!(
            densenet.key("head.dense1.weight").as_deref(),
            Some("head.dense1.weight")
        );
        assert_eq!(densenet.key("elsewhere.weight"), None);
        let xception = TorchLayout::new(Architecture::Xception).unwrap();
        assert_eq!(
            xception.key("base.block1_conv1.weight").as_deref(),
            Some("conv1.weight")
        );
    }
}
