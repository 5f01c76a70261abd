//! `facebench embed RUN`: the embedding map of a split as CSV and PNG, and
//! cached in the run folder (`embeddings.json`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use image::{Rgb, RgbImage};

use super::run_args::RunArg;
use crate::data::Split;
use crate::engine::{embed_run, EmbedRequest};
use crate::eval::{class_colour, Projection};
use crate::files::{csv_quote, write_file};
use crate::run::DeviceChoice;
use crate::store::EmbeddingMap;

/// Side of the PNG, and the margin around the points.
const SIDE: u32 = 800;
const MARGIN: f32 = 20.0;

pub fn embed_command(
    run: &RunArg,
    split: &str,
    method: &str,
    out: &Path,
    device: DeviceChoice,
) -> anyhow::Result<()> {
    let run = run.open()?;
    let split = match split {
        "test" => Split::Test,
        "val" => Split::Val,
        "train" => Split::Train,
        other => anyhow::bail!("unknown split {other:?}; use test, val or train"),
    };
    let request = EmbedRequest {
        run: run.path.clone(),
        split,
        method: Projection::parse(method).map_err(anyhow::Error::msg)?,
        device,
    };
    let map = embed_run(&request)?;
    run.write_embeddings(&map)?;
    write_file(out, map_csv(&map).as_bytes())?;
    let png: PathBuf = out.with_extension("png");
    map_image(&map)
        .save(&png)
        .with_context(|| format!("cannot write {}", png.display()))?;
    let wrong = map
        .faces
        .iter()
        .filter(|f| f.predicted != f.true_class)
        .count();
    println!(
        "{} faces of the {} split ({} misclassified), {}: wrote {}, {} and {}",
        map.faces.len(),
        map.split,
        wrong,
        map.method.name(),
        out.display(),
        png.display(),
        run.embeddings_path().display()
    );
    Ok(())
}

fn map_csv(map: &EmbeddingMap) -> String {
    let mut out = String::from("path,true,predicted,confidence,x,y\n");
    for f in &map.faces {
        out += &format!(
            "{},{},{},{},{},{}\n",
            csv_quote(&f.path.to_string_lossy()),
            csv_quote(&map.classes[f.true_class]),
            csv_quote(&map.classes[f.predicted]),
            f.confidence,
            f.x,
            f.y
        );
    }
    out
}

/// The points on a dark square, coloured by true class; a misclassified
/// face is a white-ringed dot.
fn map_image(map: &EmbeddingMap) -> RgbImage {
    let mut img = RgbImage::from_pixel(SIDE, SIDE, Rgb([24, 24, 28]));
    let (xs, ys): (Vec<f32>, Vec<f32>) = map.faces.iter().map(|f| (f.x, f.y)).unzip();
    let range = |v: &[f32]| {
        let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (lo, (hi - lo).max(1e-6))
    };
    let ((x0, xw), (y0, yw)) = (range(&xs), range(&ys));
    let span = SIDE as f32 - 2.0 * MARGIN;
    for f in &map.faces {
        let cx = MARGIN + (f.x - x0) / xw * span;
        let cy = MARGIN + (1.0 - (f.y - y0) / yw) * span;
        let colour = class_colour(f.true_class, map.classes.len());
        let wrong = f.predicted != f.true_class;
        for dy in -5i32..=5 {
            for dx in -5i32..=5 {
                let d2 = dx * dx + dy * dy;
                let pixel = match (d2 <= 9, wrong && (16..=25).contains(&d2)) {
                    (true, _) => colour,
                    (false, true) => [255, 255, 255],
                    _ => continue,
                };
                let (px, py) = (cx as i32 + dx, cy as i32 + dy);
                if (0..SIDE as i32).contains(&px) && (0..SIDE as i32).contains(&py) {
                    img.put_pixel(px as u32, py as u32, Rgb(pixel));
                }
            }
        }
    }
    img
}
