//! Classification metrics, as scikit-learn defines them, and class
//! activation maps (Grad-CAM) from activations and gradients.

mod cam;
mod confusion;
mod diff;
mod metrics;
mod projection;
mod roc;

pub use cam::{
    channel_weights, jet, mass_share, normalised, overlay, resize_bilinear, weighted_map, CamMethod,
};
pub use confusion::Confusion;
pub use diff::{diff_evaluations, ClassDelta, EvalDiff, FacePair, Flip};
pub use metrics::{
    classification_report, ranked, top_class, Averages, ClassMetrics, EvalReport, Prediction,
};
pub use projection::{class_colour, principal_components, project, Projection};
pub use roc::{auc, roc_curve, RocCurve, MANY_CLASSES};
