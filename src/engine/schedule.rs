//! Learning-rate schedules (StepLR, ReduceLROnPlateau) and early stopping, with
//! serialisable state so a resumed run continues exactly.

use serde::{Deserialize, Serialize};

use crate::run::{EarlyStoppingConfig, Monitor, SchedulerConfig, SchedulerKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub config: SchedulerConfig,
    pub base_lr: f64,
    pub lr: f64,
    /// ReduceLROnPlateau: best monitored value and epochs since it.
    pub best: Option<f64>,
    pub bad_epochs: usize,
}

impl LrSchedule {
    pub fn new(config: SchedulerConfig, base_lr: f64) -> Self {
        Self {
            config,
            base_lr,
            lr: base_lr,
            best: None,
            bad_epochs: 0,
        }
    }

    /// Start again at `lr` (a new phase with its own optimizer): the plateau
    /// count starts over; the best value seen is kept.
    pub fn restart(&mut self, lr: f64) {
        self.base_lr = lr;
        self.lr = lr;
        self.bad_epochs = 0;
    }

    /// Update after `epochs_done` epochs with the epoch's validation results.
    /// Returns `(old, new, reason)` when the learning rate changed.
    pub fn on_epoch_end(
        &mut self,
        epochs_done: usize,
        val_loss: f64,
        val_accuracy: f64,
    ) -> Option<(f64, f64, String)> {
        let old = self.lr;
        let reason = match self.config.kind {
            SchedulerKind::None => return None,
            SchedulerKind::Step => {
                let steps = epochs_done / self.config.step_size.max(1);
                self.lr = self.base_lr * self.config.gamma.powi(steps as i32);
                format!(
                    "StepLR: every {} epochs x{}",
                    self.config.step_size, self.config.gamma
                )
            }
            SchedulerKind::Plateau => {
                // higher is better for both, after flipping the loss
                let value = match self.config.monitor {
                    Monitor::ValLoss => -val_loss,
                    Monitor::ValAccuracy => val_accuracy,
                };
                let improved = self
                    .best
                    .is_none_or(|b| value > b + 1e-12 * b.abs().max(1.0));
                if improved {
                    self.best = Some(value);
                    self.bad_epochs = 0;
                } else {
                    self.bad_epochs += 1;
                }
                if self.bad_epochs > self.config.patience {
                    self.lr = (self.lr * self.config.factor).max(self.config.min_lr);
                    self.bad_epochs = 0;
                }
                format!(
                    "ReduceLROnPlateau: no better {:?} for {} epochs",
                    self.config.monitor, self.config.patience
                )
            }
        };
        ((self.lr - old).abs() > f64::EPSILON * old.abs()).then_some((old, self.lr, reason))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    pub config: EarlyStoppingConfig,
    pub best_accuracy: f64,
    pub best_epoch: usize,
    pub epochs_without_improvement: usize,
}

impl EarlyStopping {
    pub fn new(config: EarlyStoppingConfig) -> Self {
        Self {
            config,
            best_accuracy: f64::NEG_INFINITY,
            best_epoch: 0,
            epochs_without_improvement: 0,
        }
    }

    /// Record epoch `epoch`'s val accuracy. Returns whether it is the best so far.
    pub fn observe(&mut self, epoch: usize, val_accuracy: f64) -> bool {
        if val_accuracy > self.best_accuracy {
            self.best_accuracy = val_accuracy;
            self.best_epoch = epoch;
            self.epochs_without_improvement = 0;
            true
        } else {
            self.epochs_without_improvement += 1;
            false
        }
    }

    pub fn should_stop(&self) -> bool {
        self.config.enabled && self.epochs_without_improvement >= self.config.patience
    }
}
