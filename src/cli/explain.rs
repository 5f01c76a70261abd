//! `facebench explain`: Grad-CAM overlays and raw heatmaps for faces, from a
//! run's best checkpoint.

use std::path::{Path, PathBuf};

use anyhow::Context;
use image::{ImageBuffer, Luma, RgbImage};

use super::run_args::RunArg;
use crate::data::face_files;
use crate::engine::{explain_run, CamTarget, ExplainRequest, Explanation};
use crate::eval::{overlay, resize_bilinear, CamMethod};
use crate::files::file_name_from;
use crate::model::CamLayer;
use crate::run::DeviceChoice;

/// The options of `facebench explain`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub run: RunArg,
    /// Face images, or folders of them.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// The class to explain (default: the predicted class of each face).
    #[arg(long)]
    pub class: Option<String>,
    /// The layer whose activations are weighed (default: the last
    /// convolutional block; resnet: layer4, layer3; xception:
    /// block14_sepconv2_act, block14_sepconv1_act; densenet121: norm5_relu).
    #[arg(long)]
    pub layer: Option<String>,
    /// gradcam or gradcam++.
    #[arg(long, default_value = "gradcam")]
    pub method: String,
    /// Folder for the images written; created if missing.
    #[arg(long)]
    pub out: PathBuf,
    /// Opacity of the heatmap drawn over the face (0 to 1).
    #[arg(long, default_value_t = 0.5)]
    pub opacity: f32,
    /// auto, cpu, cuda[:N] or wgpu[:N] (see `facebench doctor`).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
}

pub fn explain_command(args: ExplainArgs) -> anyhow::Result<()> {
    let run = args.run.open()?;
    let record = run.read_record()?;
    let classes = &record.dataset.classes;
    let arch = record.config.model.architecture;
    let mut request = ExplainRequest::new(&run, face_files(&args.images)?)?;
    request.layer = CamLayer::parse(arch, args.layer.as_deref()).map_err(anyhow::Error::msg)?;
    request.method = CamMethod::parse(&args.method).map_err(anyhow::Error::msg)?;
    request.device = args.device;
    if let Some(name) = &args.class {
        let index = classes.iter().position(|c| c == name).ok_or_else(|| {
            anyhow::anyhow!(
                "{name:?} is not a class of {}; its classes are: {}",
                run.name(),
                classes.join(", ")
            )
        })?;
        request.target = CamTarget::Class(index);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let explanations = explain_run(&request)?;
    for e in &explanations {
        let (overlay_path, heatmap_path) = write_explanation(e, classes, &args.out, args.opacity)?;
        println!(
            "{}: predicted {} ({:.1}%), {} of {} at {}: {} (heatmap {})",
            e.image.display(),
            classes[e.predicted],
            e.probabilities[e.predicted] * 100.0,
            request.method.name(),
            classes[e.class],
            request.layer,
            overlay_path.display(),
            heatmap_path.display()
        );
    }
    Ok(())
}

/// Write the face with its map drawn over it (`NAME.CLASS.gradcam.png`) and
/// the map alone at the image's size as 16-bit grey
/// (`NAME.CLASS.heatmap.png`, 0 to 65535 for 0 to 1).
pub fn write_explanation(
    e: &Explanation,
    classes: &[String],
    out: &Path,
    opacity: f32,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let face: RgbImage = image::open(&e.image)
        .with_context(|| format!("cannot read {}", e.image.display()))?
        .to_rgb8();
    let (w, h) = face.dimensions();
    let heat = resize_bilinear(&e.map, e.map_size, (h as usize, w as usize));
    let stem = e
        .image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = format!(
        "{}.{}",
        file_name_from(&stem),
        file_name_from(&classes[e.class])
    );
    let overlay_path = out.join(format!("{name}.gradcam.png"));
    let heatmap_path = out.join(format!("{name}.heatmap.png"));
    let drawn = RgbImage::from_raw(w, h, overlay(face.as_raw(), &heat, opacity))
        .ok_or_else(|| anyhow::anyhow!("overlay of {} has the wrong size", e.image.display()))?;
    drawn
        .save(&overlay_path)
        .with_context(|| format!("cannot write {}", overlay_path.display()))?;
    let levels: Vec<u16> = heat
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 65535.0).round() as u16)
        .collect();
    let grey: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_raw(w, h, levels)
        .ok_or_else(|| anyhow::anyhow!("heatmap of {} has the wrong size", e.image.display()))?;
    grey.save(&heatmap_path)
        .with_context(|| format!("cannot write {}", heatmap_path.display()))?;
    Ok((overlay_path, heatmap_path))
}
