//! Classification metrics, as scikit-learn defines them, and class
//! activation maps (Grad-CAM) from activations and gradients.

mod cam;
mod metrics;
mod roc;

pub use cam::{
    channel_weights, class_activation_map, jet, weighted_map, mass_share, normalised, overlay, resize_bilinear, CamMethod,
};
pub use metrics::{classification_report, Averages, ClassMetrics, EvalReport, Prediction};
pub use roc::{auc, roc_curve, RocCurve};
