//! Classification metrics, as scikit-learn defines them.

mod metrics;
mod roc;

pub use metrics::{classification_report, Averages, ClassMetrics, EvalReport, Prediction};
pub use roc::{auc, roc_curve, RocCurve};
