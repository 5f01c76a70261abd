//! The phases of a run. ResNet runs have one. A transfer run (Xception,
//! DenseNet-121) has two: the head on a frozen base, then the base unfrozen at a
//! lower learning rate.

use crate::model::FreezePlan;
use crate::run::{OptimizerConfig, RunConfig};

/// The phase a new run starts in.
pub fn first_phase(config: &RunConfig) -> usize {
    if config.model.architecture.is_transfer() && config.finetune.phase1_epochs == 0 {
        2
    } else {
        1
    }
}

/// Whether the run should move to phase 2 before 0-based `epoch`.
pub fn enters_phase2(config: &RunConfig, phase: usize, epoch: usize) -> bool {
    config.model.architecture.is_transfer() && phase == 1 && epoch >= config.finetune.phase1_epochs
}

/// What trains in `phase`.
pub fn freeze_plan(config: &RunConfig, phase: usize) -> FreezePlan {
    if !config.model.architecture.is_transfer() {
        FreezePlan::default()
    } else if phase == 1 {
        FreezePlan::base()
    } else {
        FreezePlan {
            whole_base: false,
            first_keras_layers: config.finetune.phase2_frozen_layers,
            base_batch_norms: !config.finetune.phase2_train_batch_norm,
        }
    }
}

/// The optimizer settings of `phase` (phase 2 takes the fine-tuning lr and
/// weight decay).
pub fn optimizer_config(config: &RunConfig, phase: usize) -> OptimizerConfig {
    let mut o = config.optimizer.clone();
    if config.model.architecture.is_transfer() && phase == 2 {
        o.lr = config.finetune.phase2_lr;
        o.weight_decay = config.finetune.phase2_weight_decay;
    }
    o
}

/// One line for the event log and the plots' phase markers.
pub fn describe(config: &RunConfig, phase: usize) -> String {
    let o = optimizer_config(config, phase);
    if !config.model.architecture.is_transfer() {
        return format!("training at lr {:e}", o.lr);
    }
    let plan = freeze_plan(config, phase);
    if plan.whole_base {
        return format!(
            "base frozen (batch norms in inference mode), head trains at lr {:e}",
            o.lr
        );
    }
    let what = match plan.first_keras_layers {
        0 => "whole base unfrozen".to_string(),
        k => format!("base unfrozen except its first {k} Keras layers"),
    };
    let bn = if plan.base_batch_norms {
        ", its batch norms kept in inference mode"
    } else {
        ", its batch norms training"
    };
    format!(
        "{what}{bn}; lr {:e}, weight decay {:e}",
        o.lr, o.weight_decay
    )
}
