//! Parameter counting as torchvision does it (batch-norm running statistics are
//! buffers, not parameters) and a per-layer table for `model-info`.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// One parameter tensor: its dotted path, shape and element count.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRow {
    pub path: String,
    pub shape: Vec<usize>,
    pub params: usize,
    pub trainable: bool,
}

/// The dotted path of the module a visitor or mapper is in. Enum variants add
/// no level a user would recognise, so they are skipped.
#[derive(Default)]
pub(crate) struct ModulePath(Vec<String>);

impl ModulePath {
    pub(crate) fn enter(&mut self, name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.0.push(name.to_string());
        }
    }

    pub(crate) fn exit(&mut self, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.0.pop();
        }
    }

    pub(crate) fn joined(&self) -> String {
        self.0.join(".")
    }

    fn last(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }
}

#[derive(Default)]
struct Collector {
    path: ModulePath,
    rows: Vec<LayerRow>,
}

fn is_buffer(name: &str) -> bool {
    matches!(name, "running_mean" | "running_var")
}

impl<B: Backend> ModuleVisitor<B> for Collector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        self.path.exit(container_type);
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let shape = param.val().dims().to_vec();
        let trainable = !self.path.last().is_some_and(is_buffer);
        self.rows.push(LayerRow {
            path: self.path.joined(),
            params: shape.iter().product(),
            shape,
            trainable,
        });
    }
}

/// Every float tensor of the module, in definition order.
pub fn layer_table<B: Backend, M: Module<B>>(module: &M) -> Vec<LayerRow> {
    let mut c = Collector::default();
    module.visit(&mut c);
    c.rows
}

/// Number of trainable parameters, counted as torchvision counts them.
pub fn trainable_params<B: Backend, M: Module<B>>(module: &M) -> usize {
    layer_table(module)
        .iter()
        .filter(|r| r.trainable)
        .map(|r| r.params)
        .sum()
}
