//! Times one training step of the transfer networks on the CPU (flex).
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use facebench::model::{trainable_params, Architecture, FreezePlan, ModelConfig};

type B = Autodiff<Flex>;

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(96);
    let batch: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let device = Default::default();
    for arch in [Architecture::Xception, Architecture::Densenet121] {
        let config = ModelConfig {
            architecture: arch,
            ..Default::default()
        };
        for plan in [FreezePlan::base(), FreezePlan::default()] {
            let net = config.init::<B>(23, &device).with_freeze(&plan);
            let params = trainable_params(&net);
            let x = Tensor::<B, 4>::random(
                [batch, 3, size, size],
                burn::tensor::Distribution::Default,
                &device,
            );
            for i in 0..3 {
                let t = Instant::now();
                let y = net.forward(x.clone());
                let loss = y.square().mean();
                let grads = loss.backward();
                drop(grads);
                println!("{arch:?} {plan:?} {size}px batch {batch}: step {i} {:.2}s ({:.1} img/s) params {params}", t.elapsed().as_secs_f64(), batch as f64 / t.elapsed().as_secs_f64());
            }
        }
    }
}
