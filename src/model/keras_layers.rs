//! The Keras Applications layer lists of the pretrained bases, in Keras' own
//! order, with the module of ours that holds each layer's weights. Used to read
//! Keras `.h5` files and to count layers the way Keras does when freezing "the
//! first K layers".

use super::densenet::DENSENET121_BLOCKS;
use super::Architecture;

/// How a layer's weights are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A convolution kernel (`kernel`; PyTorch `weight`).
    Conv,
    /// `depthwise_kernel` + `pointwise_kernel` (PyTorch: two convs).
    SeparableConv,
    /// gamma, beta, moving mean and variance.
    BatchNorm,
}

/// One Keras layer.
#[derive(Debug, Clone, PartialEq)]
pub struct KerasLayer {
    /// The name in the published `.h5` file (Keras 2 naming: `conv1/conv`).
    pub name: String,
    /// Our module holding its weights (dotted path inside the base) and layout,
    /// or None for layers without weights (activations, pools, adds...).
    pub target: Option<(String, SlotKind)>,
}

fn plain(name: impl Into<String>) -> KerasLayer {
    KerasLayer {
        name: name.into(),
        target: None,
    }
}

fn weighted(name: impl Into<String>, path: impl Into<String>, kind: SlotKind) -> KerasLayer {
    KerasLayer {
        name: name.into(),
        target: Some((path.into(), kind)),
    }
}

/// The base's layers in Keras order, the input layer first. Empty for ResNet,
/// which has no Keras counterpart.
pub fn keras_layers(arch: Architecture) -> Vec<KerasLayer> {
    match arch {
        Architecture::Resnet => Vec::new(),
        Architecture::Xception => xception_layers(),
        Architecture::Densenet121 => densenet121_layers(),
    }
}

/// Just the names, e.g. to compare with a file's `layer_names`.
pub fn keras_layer_names(arch: Architecture) -> Vec<String> {
    keras_layers(arch).into_iter().map(|l| l.name).collect()
}

fn xception_layers() -> Vec<KerasLayer> {
    use SlotKind::*;
    let mut v = vec![plain("input_1")];
    for (i, c) in ["block1_conv1", "block1_conv2"].iter().enumerate() {
        v.push(weighted(*c, *c, Conv));
        v.push(weighted(format!("{c}_bn"), format!("{c}_bn"), BatchNorm));
        v.push(plain(format!("block1_conv{}_act", i + 1)));
    }
    let mut shortcut = 0;
    let mut adds = 0;
    let add_name = |adds: &mut usize| {
        let n = if *adds == 0 {
            "add".to_string()
        } else {
            format!("add_{adds}")
        };
        *adds += 1;
        n
    };
    // entry blocks 2-4 (ours: entry.0-2) and exit block 13 (ours: exit)
    let down = |v: &mut Vec<KerasLayer>, block: usize, path: &str, relu_first: bool, k: usize| {
        let b = format!("block{block}");
        if relu_first {
            v.push(plain(format!("{b}_sepconv1_act")));
        }
        v.push(weighted(
            format!("{b}_sepconv1"),
            format!("{path}.sepconv1"),
            SeparableConv,
        ));
        v.push(weighted(
            format!("{b}_sepconv1_bn"),
            format!("{path}.sepconv1_bn"),
            BatchNorm,
        ));
        v.push(plain(format!("{b}_sepconv2_act")));
        v.push(weighted(
            format!("{b}_sepconv2"),
            format!("{path}.sepconv2"),
            SeparableConv,
        ));
        v.push(weighted(
            format!("{b}_sepconv2_bn"),
            format!("{path}.sepconv2_bn"),
            BatchNorm,
        ));
        v.push(weighted(
            format!("conv2d_{k}"),
            format!("{path}.shortcut"),
            Conv,
        ));
        v.push(plain(format!("{b}_pool")));
        v.push(weighted(
            format!("batch_normalization_{k}"),
            format!("{path}.shortcut_bn"),
            BatchNorm,
        ));
    };
    for (i, block) in [2, 3, 4].into_iter().enumerate() {
        shortcut += 1;
        down(&mut v, block, &format!("entry.{i}"), block != 2, shortcut);
        v.push(plain(add_name(&mut adds)));
    }
    for i in 0..8 {
        let b = format!("block{}", i + 5);
        for j in 0..3 {
            v.push(plain(format!("{b}_sepconv{}_act", j + 1)));
            v.push(weighted(
                format!("{b}_sepconv{}", j + 1),
                format!("middle.{i}.sepconvs.{j}"),
                SeparableConv,
            ));
            v.push(weighted(
                format!("{b}_sepconv{}_bn", j + 1),
                format!("middle.{i}.bns.{j}"),
                BatchNorm,
            ));
        }
        v.push(plain(add_name(&mut adds)));
    }
    shortcut += 1;
    down(&mut v, 13, "exit", true, shortcut);
    v.push(plain(add_name(&mut adds)));
    for j in 1..=2 {
        let n = format!("block14_sepconv{j}");
        v.push(weighted(n.clone(), n.clone(), SeparableConv));
        v.push(weighted(format!("{n}_bn"), format!("{n}_bn"), BatchNorm));
        v.push(plain(format!("{n}_act")));
    }
    v
}

fn densenet121_layers() -> Vec<KerasLayer> {
    use SlotKind::*;
    let mut v = vec![
        plain("input_1"),
        plain("zero_padding2d"),
        weighted("conv1/conv", "conv0", Conv),
        weighted("conv1/bn", "norm0", BatchNorm),
        plain("conv1/relu"),
        plain("zero_padding2d_1"),
        plain("pool1"),
    ];
    for (b, &n) in DENSENET121_BLOCKS.iter().enumerate() {
        for l in 0..n {
            let k = format!("conv{}_block{}", b + 2, l + 1);
            let p = format!("blocks.{b}.layers.{l}");
            // BN-ReLU-conv twice: Keras's `_0_bn, _0_relu, _1_conv`, then
            // `_1_bn, _1_relu, _2_conv`; ours `norm1, conv1`, then `norm2, conv2`
            for half in 0..2 {
                let (bn, relu) = (format!("{k}_{half}_bn"), format!("{k}_{half}_relu"));
                v.push(weighted(bn, format!("{p}.norm{}", half + 1), BatchNorm));
                v.push(plain(relu));
                let conv = format!("{k}_{}_conv", half + 1);
                v.push(weighted(conv, format!("{p}.conv{}", half + 1), Conv));
            }
            v.push(plain(format!("{k}_concat")));
        }
        if b + 1 < DENSENET121_BLOCKS.len() {
            let k = format!("pool{}", b + 2);
            let p = format!("transitions.{b}");
            v.push(weighted(format!("{k}_bn"), format!("{p}.norm"), BatchNorm));
            v.push(plain(format!("{k}_relu")));
            v.push(weighted(format!("{k}_conv"), format!("{p}.conv"), Conv));
            v.push(plain(format!("{k}_pool")));
        }
    }
    v.push(weighted("bn", "norm5", BatchNorm));
    v.push(plain("relu"));
    v
}

/// torchvision's state-dict prefix for one of our DenseNet modules, e.g.
/// `blocks.0.layers.2.norm1` -> `features.denseblock1.denselayer3.norm1`.
pub fn densenet_torch_prefix(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let n = |i: usize| parts[i].parse::<usize>().map(|x| x + 1).unwrap_or(0);
    match parts.as_slice() {
        ["blocks", _, "layers", _, rest @ ..] => format!(
            "features.denseblock{}.denselayer{}.{}",
            n(1),
            n(3),
            rest.join(".")
        ),
        ["transitions", _, rest @ ..] => {
            format!("features.transition{}.{}", n(1), rest.join("."))
        }
        _ => format!("features.{path}"),
    }
}

/// timm `legacy_xception`'s state-dict prefix for one of our Xception modules,
/// e.g. `entry.1.sepconv2_bn` -> `block2.rep.5`, `middle.0.sepconvs.1` ->
/// `block4.rep.4`, `exit.shortcut` -> `block12.skip`.
pub fn xception_timm_prefix(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let index = |i: usize| {
        parts
            .get(i)
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(0)
    };
    // timm's rep lists [ReLU,] sep, BN, ReLU, sep, BN[, ReLU, sep, BN]
    let down = |block: usize, relu_first: bool, part: &str| {
        let a = usize::from(relu_first);
        let local = match part {
            "shortcut" => return format!("block{block}.skip"),
            "shortcut_bn" => return format!("block{block}.skipbn"),
            "sepconv1" => a,
            "sepconv1_bn" => a + 1,
            "sepconv2" => a + 3,
            _ => a + 4, // sepconv2_bn
        };
        format!("block{block}.rep.{local}")
    };
    match parts.as_slice() {
        ["block1_conv1"] => "conv1".into(),
        ["block1_conv1_bn"] => "bn1".into(),
        ["block1_conv2"] => "conv2".into(),
        ["block1_conv2_bn"] => "bn2".into(),
        ["block14_sepconv1"] => "conv3".into(),
        ["block14_sepconv1_bn"] => "bn3".into(),
        ["block14_sepconv2"] => "conv4".into(),
        ["block14_sepconv2_bn"] => "bn4".into(),
        ["entry", _, part] => down(index(1) + 1, index(1) > 0, part),
        ["exit", part] => down(12, true, part),
        ["middle", _, kind, _] => {
            let j = index(3);
            let local = if *kind == "sepconvs" {
                3 * j + 1
            } else {
                3 * j + 2
            };
            format!("block{}.rep.{local}", index(1) + 4)
        }
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_counts_match_keras() {
        // Keras: len(Xception(include_top=False).layers) == 132,
        // len(DenseNet121(include_top=False).layers) == 427
        assert_eq!(keras_layers(Architecture::Xception).len(), 132);
        assert_eq!(keras_layers(Architecture::Densenet121).len(), 427);
    }

    #[test]
    fn timm_prefixes() {
        assert_eq!(xception_timm_prefix("entry.0.sepconv1"), "block1.rep.0");
        assert_eq!(xception_timm_prefix("entry.1.sepconv2_bn"), "block2.rep.5");
        assert_eq!(xception_timm_prefix("middle.7.bns.2"), "block11.rep.8");
        assert_eq!(xception_timm_prefix("exit.shortcut_bn"), "block12.skipbn");
        assert_eq!(xception_timm_prefix("block14_sepconv2_bn"), "bn4");
    }

    #[test]
    fn torch_prefixes() {
        assert_eq!(
            densenet_torch_prefix("blocks.0.layers.2.norm1"),
            "features.denseblock1.denselayer3.norm1"
        );
        assert_eq!(
            densenet_torch_prefix("transitions.2.conv"),
            "features.transition3.conv"
        );
        assert_eq!(densenet_torch_prefix("norm5"), "features.norm5");
    }
}
