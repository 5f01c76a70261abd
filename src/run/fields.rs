//! The run config's fields as typed paths, and for each numeric one its
//! valid values, label and help, declared once: [`RunConfig::problems`]
//! checks against them and the form's rows are drawn from them, so the two
//! cannot disagree.

use std::fmt;
use std::ops::RangeInclusive;

use super::{RunConfig, SchedulerKind};

/// A field (or a group of fields) of [`RunConfig`], named by its path in
/// run.json. Problems are keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Model,
    DataInputSize,
    DataSplit,
    DataAugment,
    DataPrefetchBatches,
    OptimizerLr,
    OptimizerWeightDecay,
    OptimizerMomentum,
    SchedulerStepSize,
    SchedulerGamma,
    SchedulerFactor,
    SchedulerMinLr,
    EarlyStoppingPatience,
    TrainEpochs,
    TrainBatchSize,
    FinetunePhase1Epochs,
    FinetunePhase2Lr,
    FinetunePhase2WeightDecay,
    FinetunePhase2FrozenLayers,
}

impl Field {
    /// Every field, in the order of run.json.
    pub const ALL: [Field; 19] = [
        Field::Model,
        Field::DataInputSize,
        Field::DataSplit,
        Field::DataAugment,
        Field::DataPrefetchBatches,
        Field::OptimizerLr,
        Field::OptimizerWeightDecay,
        Field::OptimizerMomentum,
        Field::SchedulerStepSize,
        Field::SchedulerGamma,
        Field::SchedulerFactor,
        Field::SchedulerMinLr,
        Field::EarlyStoppingPatience,
        Field::TrainEpochs,
        Field::TrainBatchSize,
        Field::FinetunePhase1Epochs,
        Field::FinetunePhase2Lr,
        Field::FinetunePhase2WeightDecay,
        Field::FinetunePhase2FrozenLayers,
    ];

    /// The path in run.json (and for `--set`).
    pub fn path(self) -> &'static str {
        match self {
            Field::Model => "model",
            Field::DataInputSize => "data.input_size",
            Field::DataSplit => "data.split",
            Field::DataAugment => "data.augment",
            Field::DataPrefetchBatches => "data.prefetch_batches",
            Field::OptimizerLr => "optimizer.lr",
            Field::OptimizerWeightDecay => "optimizer.weight_decay",
            Field::OptimizerMomentum => "optimizer.momentum",
            Field::SchedulerStepSize => "scheduler.step_size",
            Field::SchedulerGamma => "scheduler.gamma",
            Field::SchedulerFactor => "scheduler.factor",
            Field::SchedulerMinLr => "scheduler.min_lr",
            Field::EarlyStoppingPatience => "early_stopping.patience",
            Field::TrainEpochs => "train.epochs",
            Field::TrainBatchSize => "train.batch_size",
            Field::FinetunePhase1Epochs => "finetune.phase1_epochs",
            Field::FinetunePhase2Lr => "finetune.phase2_lr",
            Field::FinetunePhase2WeightDecay => "finetune.phase2_weight_decay",
            Field::FinetunePhase2FrozenLayers => "finetune.phase2_frozen_layers",
        }
    }

    /// The valid values of a numeric field (one whose valid values are a
    /// plain interval), its form label and its help; `None` for the others.
    pub fn spec(self) -> Option<FieldSpec> {
        use Bounds as B;
        const PHASE1_HELP: &str = "Epochs training the head on the frozen base at the \
                                   optimizer's lr; train.epochs counts both phases";
        #[rustfmt::skip]
        let (label, help, bounds) = match self {
            Field::DataInputSize => ("input size", "Side of the square input, in pixels (64-299)", B::count(64, 299)),
            Field::DataPrefetchBatches => ("prefetch", "Batches prepared ahead of the model on a background thread", B::count(1, 64)),
            Field::OptimizerLr => ("learning rate", "Initial learning rate", B::RATE),
            Field::OptimizerWeightDecay => ("weight decay", "Decoupled for AdamW, L2 otherwise", B::FRACTION),
            Field::OptimizerMomentum => ("momentum", "SGD momentum", B::FRACTION),
            Field::SchedulerStepSize => ("step / gamma", "Multiply by gamma every step epochs", B::count(1, 1000)),
            Field::SchedulerGamma => ("step / gamma", "Multiply by gamma every step epochs", B::real(0.0, 1.0, true, false)),
            Field::SchedulerFactor => ("factor / patience", "Multiply by factor after patience epochs without improvement", B::real(0.0, 1.0, true, true)),
            Field::SchedulerMinLr => ("min lr / monitor", "Lower bound and the value watched", B::real(0.0, f64::INFINITY, false, false)),
            Field::EarlyStoppingPatience => ("early stopping", "Stop after patience epochs without a better val accuracy", B::count(1, 1000)),
            Field::TrainEpochs => ("epochs", "Passes over the train split", B::count(1, 10_000)),
            Field::TrainBatchSize => ("batch size", "Images per step (at least 2 for batch norm)", B::count(2, 4096)),
            Field::FinetunePhase1Epochs => ("phase 1 epochs", PHASE1_HELP, B::count(0, 10_000)),
            Field::FinetunePhase2Lr => ("phase 2 lr", "Learning rate once the base is unfrozen (reference: 1e-5)", B::RATE),
            Field::FinetunePhase2WeightDecay => ("phase 2 decay", "Weight decay in phase 2", B::FRACTION),
            Field::Model | Field::DataSplit | Field::DataAugment | Field::FinetunePhase2FrozenLayers => return None,
        };
        Some(FieldSpec {
            label,
            help,
            bounds,
        })
    }

    /// The field's value in `config`, as a number, when the config uses it
    /// (a step size only with the step schedule, say).
    pub fn value(self, config: &RunConfig) -> Option<f64> {
        let (s, f) = (&config.scheduler, &config.finetune);
        let v = match self {
            Field::DataInputSize => config.data.input_size as f64,
            Field::DataPrefetchBatches => config.data.prefetch_batches as f64,
            Field::OptimizerLr => config.optimizer.lr,
            Field::OptimizerWeightDecay => config.optimizer.weight_decay,
            Field::OptimizerMomentum => config.optimizer.momentum,
            Field::SchedulerStepSize if s.kind == SchedulerKind::Step => s.step_size as f64,
            Field::SchedulerGamma => s.gamma,
            Field::SchedulerFactor => s.factor,
            Field::SchedulerMinLr => s.min_lr,
            Field::EarlyStoppingPatience if config.early_stopping.enabled => {
                config.early_stopping.patience as f64
            }
            Field::TrainEpochs => config.train.epochs as f64,
            Field::TrainBatchSize => config.train.batch_size as f64,
            Field::FinetunePhase1Epochs => f.phase1_epochs as f64,
            Field::FinetunePhase2Lr => f.phase2_lr,
            Field::FinetunePhase2WeightDecay => f.phase2_weight_decay,
            _ => return None,
        };
        Some(v)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

/// What the form shows for a numeric field, and what it may hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldSpec {
    pub label: &'static str,
    pub help: &'static str,
    pub bounds: Bounds,
}

/// An interval of valid values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min: f64,
    pub max: f64,
    /// The ends themselves are invalid.
    pub min_open: bool,
    pub max_open: bool,
    /// Whole numbers (counts), written `a..=b`.
    pub integer: bool,
}

impl Bounds {
    /// A learning rate: (0, 10].
    pub const RATE: Bounds = Bounds::real(0.0, 10.0, true, false);
    /// A decay or momentum: [0, 1).
    pub const FRACTION: Bounds = Bounds::real(0.0, 1.0, false, true);

    pub const fn real(min: f64, max: f64, min_open: bool, max_open: bool) -> Self {
        Bounds {
            min,
            max,
            min_open,
            max_open,
            integer: false,
        }
    }

    pub const fn count(min: usize, max: usize) -> Self {
        Bounds {
            min: min as f64,
            max: max as f64,
            min_open: false,
            max_open: false,
            integer: true,
        }
    }

    pub fn contains(&self, v: f64) -> bool {
        let above = if self.min_open {
            v > self.min
        } else {
            v >= self.min
        };
        let below = if self.max_open {
            v < self.max
        } else {
            v <= self.max
        };
        above && below
    }

    /// What a form may drag the value over (the closed interval).
    pub fn drag_range(&self) -> RangeInclusive<f64> {
        self.min..=self.max
    }

    /// Why `v` is not valid, or `None` when it is.
    pub fn problem(&self, v: f64) -> Option<String> {
        if self.contains(v) {
            return None;
        }
        Some(if self.integer {
            format!("{v} must be in {}..={}", self.min, self.max)
        } else if self.max.is_infinite() {
            format!("{v} must not be negative")
        } else {
            format!(
                "{v} must be in {}{}, {}{}",
                if self.min_open { '(' } else { '[' },
                self.min,
                self.max,
                if self.max_open { ')' } else { ']' }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_say_what_is_wrong_in_their_own_notation() {
        assert_eq!(
            Bounds::RATE.problem(0.0).as_deref(),
            Some("0 must be in (0, 10]")
        );
        assert_eq!(Bounds::RATE.problem(10.0), None);
        assert_eq!(
            Bounds::FRACTION.problem(1.0).as_deref(),
            Some("1 must be in [0, 1)")
        );
        assert_eq!(
            Bounds::count(2, 4096).problem(1.0).as_deref(),
            Some("1 must be in 2..=4096")
        );
        assert_eq!(
            Bounds::real(0.0, f64::INFINITY, false, false)
                .problem(-1.0)
                .as_deref(),
            Some("-1 must not be negative")
        );
    }

    #[test]
    fn every_numeric_field_has_a_value_valid_in_the_default_config() {
        let mut config = RunConfig::default();
        // the fields that count only with a setting on
        config.scheduler.kind = SchedulerKind::Step;
        config.early_stopping.enabled = true;
        let mut numeric = 0;
        for field in Field::ALL {
            match (field.spec(), field.value(&config)) {
                (Some(spec), Some(v)) => {
                    numeric += 1;
                    assert!(spec.bounds.contains(v), "default {field} = {v} is invalid");
                }
                (None, None) => {}
                (spec, value) => panic!("{field}: spec {spec:?} but value {value:?}"),
            }
        }
        assert_eq!(numeric, 15);
    }
}
