//! Freezing parts of a network for fine-tuning. A frozen parameter records no
//! gradient (the optimizer leaves it alone) and a frozen batch norm normalises
//! with its running statistics.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;

use super::keras_layers::keras_layers;
use super::{Architecture, Network};

/// Which parameters train in a phase.
#[derive(Debug, Clone, PartialEq)]
pub enum FreezePlan {
    /// Everything trains.
    None,
    /// The whole pretrained base is frozen; only the head trains (phase 1).
    Base,
    /// The base's first `k` Keras layers are frozen (phase 2 of DenseNet; k = 0
    /// unfreezes everything).
    FirstKerasLayers(usize),
}

impl FreezePlan {
    /// Dotted module prefixes (relative to the whole network) that stay frozen.
    pub fn frozen_prefixes(&self, arch: Architecture) -> Vec<String> {
        if !arch.is_transfer() {
            return Vec::new();
        }
        match self {
            FreezePlan::None => Vec::new(),
            FreezePlan::Base => vec!["base".into()],
            FreezePlan::FirstKerasLayers(k) => keras_layers(arch)
                .into_iter()
                .take(*k)
                .filter_map(|l| l.target.map(|(path, _)| format!("base.{path}")))
                .collect(),
        }
    }
}

struct TrainableMapper<'a> {
    path: Vec<String>,
    frozen: &'a [String],
}

impl TrainableMapper<'_> {
    fn is_frozen(&self) -> bool {
        let path = self.path.join(".");
        self.frozen
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}.")))
    }
}

impl<B: Backend> ModuleMapper<B> for TrainableMapper<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let trainable = !self.is_frozen();
        param.set_require_grad(trainable)
    }
}

/// Make every parameter under `frozen` (dotted prefixes) untrainable and every
/// other one trainable.
pub fn set_trainable<B: Backend, M: Module<B>>(module: M, frozen: &[String]) -> M {
    let mut mapper = TrainableMapper {
        path: Vec::new(),
        frozen,
    };
    module.map(&mut mapper)
}

impl<B: Backend> Network<B> {
    /// Apply a freeze plan to this network.
    pub fn with_freeze(self, plan: &FreezePlan) -> Self {
        let arch = match &self {
            Network::Resnet(_) => Architecture::Resnet,
            Network::Xception(_) => Architecture::Xception,
            Network::Densenet121(_) => Architecture::Densenet121,
        };
        set_trainable(self, &plan.frozen_prefixes(arch))
    }
}
