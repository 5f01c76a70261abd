//! Freezing parts of a network for fine-tuning. A frozen parameter records no
//! gradient (the optimizer leaves it alone) and a frozen batch norm normalises
//! with its running statistics.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;

use super::keras_layers::{keras_layers, SlotKind};
use super::params::ModulePath;
use super::{Architecture, Network};

/// Which parameters train in a phase. The default freezes nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FreezePlan {
    /// The whole pretrained base is frozen; only the head trains (phase 1).
    pub whole_base: bool,
    /// The base's first Keras layers that stay frozen (DenseNet phase 2).
    pub first_keras_layers: usize,
    /// Every batch norm of the base stays frozen, so it keeps normalising with
    /// its ImageNet statistics (the Keras fine-tuning guide's advice).
    pub base_batch_norms: bool,
}

impl FreezePlan {
    /// Freeze the base, train the head.
    pub fn base() -> Self {
        Self {
            whole_base: true,
            ..Self::default()
        }
    }

    /// Dotted module prefixes (relative to the whole network) that stay frozen.
    pub fn frozen_prefixes(&self, arch: Architecture) -> Vec<String> {
        if !arch.is_transfer() {
            return Vec::new();
        }
        if self.whole_base {
            return vec!["base".into()];
        }
        keras_layers(arch)
            .into_iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let (path, kind) = l.target?;
                let frozen = i < self.first_keras_layers
                    || (self.base_batch_norms && kind == SlotKind::BatchNorm);
                frozen.then(|| format!("base.{path}"))
            })
            .collect()
    }
}

struct TrainableMapper<'a> {
    path: ModulePath,
    frozen: &'a [String],
}

impl TrainableMapper<'_> {
    fn is_frozen(&self) -> bool {
        let path = self.path.joined();
        self.frozen
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}.")))
    }
}

impl<B: Backend> ModuleMapper<B> for TrainableMapper<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        self.path.exit(container_type);
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let trainable = !self.is_frozen();
        if param.val().is_require_grad() == trainable {
            return param;
        }
        // a parameter fresh from a record may not be a leaf of the autodiff
        // graph yet, and burn refuses to re-mark those: detach it first
        param.map(|t| t.detach().set_require_grad(trainable))
    }
}

/// Make every parameter under `frozen` (dotted prefixes) untrainable and every
/// other one trainable.
pub fn set_trainable<B: Backend, M: Module<B>>(module: M, frozen: &[String]) -> M {
    let mut mapper = TrainableMapper {
        path: ModulePath::default(),
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
