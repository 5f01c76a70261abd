//! ResNet with bottleneck blocks (He et al. 2016; torchvision's v1.5 layout with
//! the stride on the 3x3 convolution).

use burn::module::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};

use super::batch_norm::BatchNorm2d;
use burn::prelude::*;

use crate::kernels::{add_relu, conv2d_module};

const EXPANSION: usize = 4;

fn conv(cin: usize, cout: usize, k: usize, stride: usize) -> Conv2dConfig {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
        .with_bias(false)
        // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu")
        .with_initializer(Initializer::KaimingNormal {
            gain: std::f64::consts::SQRT_2,
            fan_out_only: true,
        })
}

#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm2d<B>,
}

/// 1x1 reduce, 3x3 (strided), 1x1 expand by 4, plus the shortcut.
#[derive(Module, Debug)]
pub struct Bottleneck<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm2d<B>,
    conv2: Conv2d<B>,
    bn2: BatchNorm2d<B>,
    conv3: Conv2d<B>,
    bn3: BatchNorm2d<B>,
    downsample: Option<Downsample<B>>,
}

impl<B: Backend> Bottleneck<B> {
    fn new(cin: usize, planes: usize, stride: usize, device: &B::Device) -> Self {
        let cout = planes * EXPANSION;
        let downsample = (stride != 1 || cin != cout).then(|| Downsample {
            conv: conv(cin, cout, 1, stride).init(device),
            bn: BatchNorm2d::new(cout, device),
        });
        Self {
            conv1: conv(cin, planes, 1, 1).init(device),
            bn1: BatchNorm2d::new(planes, device),
            conv2: conv(planes, planes, 3, stride).init(device),
            bn2: BatchNorm2d::new(planes, device),
            conv3: conv(planes, cout, 1, 1).init(device),
            bn3: BatchNorm2d::new(cout, device),
            downsample,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(conv2d_module(&d.conv, x.clone())),
            None => x.clone(),
        };
        let out = self.bn1.forward_relu(conv2d_module(&self.conv1, x));
        let out = self.bn2.forward_relu(conv2d_module(&self.conv2, out));
        let out = self.bn3.forward(conv2d_module(&self.conv3, out));
        add_relu(out, identity)
    }
}

#[derive(Debug, Clone)]
pub struct ResNetConfig {
    pub depths: [usize; 4],
    pub base_planes: usize,
    pub num_classes: usize,
}

/// 7x7/2 conv + BN + ReLU, 3x3/2 max pool, four bottleneck stages, global average
/// pool, linear head.
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm2d<B>,
    layer1: Vec<Bottleneck<B>>,
    layer2: Vec<Bottleneck<B>>,
    layer3: Vec<Bottleneck<B>>,
    layer4: Vec<Bottleneck<B>>,
    avgpool: AdaptiveAvgPool2d,
    fc: Linear<B>,
}

impl ResNetConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> ResNet<B> {
        let b = self.base_planes;
        let mut cin = b;
        let mut stage = |planes: usize, blocks: usize, stride: usize| {
            let mut layers = Vec::with_capacity(blocks);
            for i in 0..blocks {
                layers.push(Bottleneck::new(
                    cin,
                    planes,
                    if i == 0 { stride } else { 1 },
                    device,
                ));
                cin = planes * EXPANSION;
            }
            layers
        };
        let layer1 = stage(b, self.depths[0], 1);
        let layer2 = stage(b * 2, self.depths[1], 2);
        let layer3 = stage(b * 4, self.depths[2], 2);
        let layer4 = stage(b * 8, self.depths[3], 2);
        ResNet {
            conv1: conv(3, b, 7, 2).init(device),
            bn1: BatchNorm2d::new(b, device),
            layer1,
            layer2,
            layer3,
            layer4,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(b * 8 * EXPANSION, self.num_classes).init(device),
        }
    }
}

impl<B: Backend> ResNet<B> {
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.logits_after(4, self.activations_after(images, 4))
    }

    /// The classifier after global average pooling.
    pub fn fc(&self) -> &Linear<B> {
        &self.fc
    }

    fn stages(&self) -> [&[Bottleneck<B>]; 4] {
        [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
    }

    /// The output of stage `last` (1 to 4: `layer1`..`layer4`) for `images`.
    pub fn activations_after(&self, images: Tensor<B, 4>, last: usize) -> Tensor<B, 4> {
        let x = self.bn1.forward_relu(conv2d_module(&self.conv1, images));
        let mut x = crate::kernels::max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1]);
        for block in self.stages()[..last.min(4)].iter().flat_map(|s| s.iter()) {
            x = block.forward(x);
        }
        x
    }

    /// The logits from the output of stage `last` (see
    /// [`ResNet::activations_after`]).
    pub fn logits_after(&self, last: usize, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = x;
        for block in self.stages()[last.min(4)..].iter().flat_map(|s| s.iter()) {
            x = block.forward(x);
        }
        self.fc.forward(self.pooled(x))
    }

    /// The last stage's output averaged over positions: `[N, C]`.
    pub fn pooled(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = self.avgpool.forward(x);
        let [n, c, _, _] = x.dims();
        x.reshape([n, c])
    }
}
