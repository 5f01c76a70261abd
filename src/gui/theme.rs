//! The workbench's colours and sizes, named by what they mean, so every view
//! says "error" or "warning" the same way.

use egui::Color32;

/// Invalid input, failed runs, errors.
pub const ERROR: Color32 = Color32::from_rgb(230, 80, 70);
/// Paused, stopped or incomplete: needs attention, nothing is lost.
pub const WARNING: Color32 = Color32::from_rgb(230, 150, 60);
/// Completed runs and passed checks.
pub const SUCCESS: Color32 = Color32::from_rgb(90, 190, 100);
/// Something running now.
pub const ACTIVE: Color32 = Color32::from_rgb(80, 150, 240);
/// Width of the label column of the configuration forms.
pub const FORM_LABEL_WIDTH: f32 = 118.0;
