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
    ModelDepths,
    ModelBasePlanes,
    ModelHeadDense1,
    ModelHeadDense2,
    ModelHeadDropout,
    ModelHeadL2,
    DataInputSize,
    DataSplit,
    DataAugmentCropScale,
    DataAugmentCropRatio,
    DataAugmentRandomCropFraction,
    DataAugmentBrightness,
    DataAugmentContrast,
    DataAugmentSaturation,
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
    pub const ALL: [Field; 29] = [
        Field::ModelDepths,
        Field::ModelBasePlanes,
        Field::ModelHeadDense1,
        Field::ModelHeadDense2,
        Field::ModelHeadDropout,
        Field::ModelHeadL2,
        Field::DataInputSize,
        Field::DataSplit,
        Field::DataAugmentCropScale,
        Field::DataAugmentCropRatio,
        Field::DataAugmentRandomCropFraction,
        Field::DataAugmentBrightness,
        Field::DataAugmentContrast,
        Field::DataAugmentSaturation,
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
            Field::ModelDepths => "model.depths",
            Field::ModelBasePlanes => "model.base_planes",
            Field::ModelHeadDense1 => "model.head.dense1",
            Field::ModelHeadDense2 => "model.head.dense2",
            Field::ModelHeadDropout => "model.head.dropout",
            Field::ModelHeadL2 => "model.head.l2",
            Field::DataInputSize => "data.input_size",
            Field::DataSplit => "data.split",
            Field::DataAugmentCropScale => "data.augment.crop_scale",
            Field::DataAugmentCropRatio => "data.augment.crop_ratio",
            Field::DataAugmentRandomCropFraction => "data.augment.random_crop_fraction",
            Field::DataAugmentBrightness => "data.augment.brightness",
            Field::DataAugmentContrast => "data.augment.contrast",
            Field::DataAugmentSaturation => "data.augment.saturation",
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
    /// plain interval; for a range field, those of both its ends), its form
    /// label and its help; `None` for the others.
    pub fn spec(self) -> Option<FieldSpec> {
        use Bounds as B;
        const PHASE1_HELP: &str = "Epochs training the head on the frozen base at the \
                                   optimizer's lr; train.epochs counts both phases";
        const JITTER_HELP: &str =
            "Brightness, contrast, saturation: factor in [1-x, 1+x]; 0 is off";
        #[rustfmt::skip]
        let (label, help, bounds) = match self {
            Field::ModelDepths => ("blocks per stage", "Bottleneck blocks in each of the 4 stages; 3,4,6,3 is ResNet-50", B::count(1, 64)),
            Field::ModelBasePlanes => ("base planes", "Planes of the first stage (64 in ResNet-50); later stages double it", B::count(4, 256)),
            Field::ModelHeadDense1 | Field::ModelHeadDense2 => ("head dense", "Units of the head's two dense layers (reference: 1024, 512)", B::count(8, 8192)),
            Field::ModelHeadDropout => ("head dropout", "After each dense block (reference: 0.3 Xception, 0.5 DenseNet)", B::real(0.0, 0.95, false, true)),
            Field::ModelHeadL2 => ("head L2", "L2 penalty on the first dense kernel, added to the loss (reference: 1e-4)", B::FRACTION),
            Field::DataInputSize => ("input size", "Side of the square input, in pixels (64-299)", B::count(64, 299)),
            Field::DataAugmentCropScale => ("crop area", "RandomResizedCrop on/off, and the range of its area as a fraction of the image (reference 0.08-1)", B::real(0.0, 1.0, true, false)),
            Field::DataAugmentCropRatio => ("crop ratio", "Range of the crop's aspect ratio w/h (reference 3/4-4/3)", B::real(0.0, 10.0, true, false)),
            Field::DataAugmentRandomCropFraction => ("random crop", "Crop this fraction of each side at a random place, then resize", B::real(0.0, 1.0, true, false)),
            Field::DataAugmentBrightness | Field::DataAugmentContrast | Field::DataAugmentSaturation => ("jitter b / c / s", JITTER_HELP, B::real(0.0, 1.0, false, false)),
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
            Field::DataSplit | Field::FinetunePhase2FrozenLayers => return None,
        };
        Some(FieldSpec {
            label,
            help,
            bounds,
        })
    }

    /// A field of `model` (the network's shape and head).
    pub fn is_model(self) -> bool {
        use Field as F;
        matches!(
            self,
            F::ModelDepths
                | F::ModelBasePlanes
                | F::ModelHeadDense1
                | F::ModelHeadDense2
                | F::ModelHeadDropout
                | F::ModelHeadL2
        )
    }

    /// A field of two numbers, the ends of a range (crop scale and ratio).
    pub fn is_range(self) -> bool {
        matches!(
            self,
            Field::DataAugmentCropScale | Field::DataAugmentCropRatio
        )
    }

    /// A field that holds one number (not a range, a list or a group), as a
    /// sweep's grid can vary it.
    pub fn is_one_number(self) -> bool {
        !self.is_list() && self != Field::DataSplit
    }

    /// A field of several numbers: a range, or ResNet's depths.
    pub fn is_list(self) -> bool {
        self.is_range() || self == Field::ModelDepths
    }

    /// The field's numbers in `config` (both ends of a range field, every
    /// stage's depth), when the config uses it (a step size only with the
    /// step schedule, the head only on a pretrained base, say).
    pub fn values(self, config: &RunConfig) -> Option<Vec<f64>> {
        let (a, m) = (&config.data.augment, &config.model);
        Some(match self {
            Field::DataAugmentCropScale => a.crop_scale.map(widen).to_vec(),
            Field::DataAugmentCropRatio => a.crop_ratio.map(widen).to_vec(),
            Field::ModelDepths if !m.architecture.is_transfer() => {
                m.depths.iter().map(|&d| d as f64).collect()
            }
            _ => vec![self.value(config)?],
        })
    }

    /// The number of a one-number field in `config`, when the config uses
    /// it; `None` for range fields (see [`Self::values`]).
    pub fn value(self, config: &RunConfig) -> Option<f64> {
        let (s, f, a) = (&config.scheduler, &config.finetune, &config.data.augment);
        let (m, transfer) = (&config.model, config.model.architecture.is_transfer());
        let v = match self {
            Field::ModelBasePlanes if !transfer => m.base_planes as f64,
            Field::ModelHeadDense1 if transfer => m.head.dense1 as f64,
            Field::ModelHeadDense2 if transfer => m.head.dense2 as f64,
            Field::ModelHeadDropout if transfer => m.head.dropout,
            Field::ModelHeadL2 if transfer => m.head.l2,
            Field::DataAugmentRandomCropFraction => widen(a.random_crop_fraction),
            Field::DataAugmentBrightness => widen(a.brightness),
            Field::DataAugmentContrast => widen(a.contrast),
            Field::DataAugmentSaturation => widen(a.saturation),
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

/// An f32 setting as the f64 of its shortest decimal form, so that a
/// message prints 0.9 and not 0.8999999761581421.
fn widen(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
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
    fn augmentation_ranges_are_checked_per_field_and_per_end() {
        let mut config = RunConfig::default();
        config.data.augment.crop_scale = [0.9, 0.2];
        config.data.augment.crop_ratio = [0.5, 12.0];
        config.data.augment.brightness = 1.5;
        config.data.augment.random_crop_fraction = 0.0;
        let problems: Vec<(Field, String)> = config
            .problems()
            .into_iter()
            .map(|p| (p.field, p.message))
            .collect();
        assert_eq!(
            problems,
            vec![
                (
                    Field::DataAugmentCropScale,
                    "its lower end 0.9 is above its upper end 0.2".to_string()
                ),
                (Field::DataAugmentCropRatio, "12 must be in (0, 10]".into()),
                (
                    Field::DataAugmentRandomCropFraction,
                    "0 must be in (0, 1]".into()
                ),
                (Field::DataAugmentBrightness, "1.5 must be in [0, 1]".into()),
            ]
        );
    }

    #[test]
    fn the_head_is_checked_on_a_pretrained_base_and_the_stages_on_a_resnet() {
        let problems = |c: &RunConfig| -> Vec<(Field, String)> {
            c.problems()
                .into_iter()
                .map(|p| (p.field, p.message))
                .collect()
        };
        let mut config = RunConfig::default();
        config.model.depths = [3, 0, 0, 3];
        // not used by a ResNet, so not its problem
        config.model.head.dropout = 2.0;
        assert_eq!(
            problems(&config),
            vec![(Field::ModelDepths, "0 must be in 1..=64".to_string())]
        );
        config.model.architecture = crate::model::Architecture::Xception;
        config.data.input_size = 96;
        assert_eq!(
            problems(&config),
            vec![(
                Field::ModelHeadDropout,
                "2 must be in [0, 0.95)".to_string()
            )]
        );
    }

    #[test]
    fn every_numeric_field_has_a_value_valid_in_the_default_config() {
        let mut resnet = RunConfig::default();
        // the fields that count only with a setting on
        resnet.scheduler.kind = SchedulerKind::Step;
        resnet.early_stopping.enabled = true;
        let mut transfer = resnet.clone();
        transfer.model.architecture = crate::model::Architecture::Xception;
        transfer.data.input_size = 96;
        let mut numeric = 0;
        for field in Field::ALL {
            let values = field.values(&resnet).or_else(|| field.values(&transfer));
            match (field.spec(), values) {
                (Some(spec), Some(values)) => {
                    numeric += 1;
                    for v in values {
                        assert!(spec.bounds.contains(v), "default {field} = {v} is invalid");
                    }
                }
                (None, None) => {}
                (spec, value) => panic!("{field}: spec {spec:?} but value {value:?}"),
            }
        }
        assert_eq!(numeric, 27);
        // ResNet's fields do not count on a pretrained base, and the head's
        // not on a ResNet
        assert!(Field::ModelDepths.values(&transfer).is_none());
        assert!(Field::ModelHeadDropout.values(&resnet).is_none());
    }
}
