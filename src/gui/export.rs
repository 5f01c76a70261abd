//! Exports: tables to CSV, and the window (or one part of it) to PNG. A plot
//! is saved whole (title, legend, axes and plot: the block's rect cut from the
//! next frame's pixels) into its run folder; the status line names the file.

use std::path::{Path, PathBuf};

pub enum ExportRequest {
    /// A file was written (or not).
    Done(Result<PathBuf, String>),
    /// Save the next frame's pixels inside `rect` (the whole window if `None`).
    /// A relative `path` is taken inside the runs folder.
    Screenshot {
        path: PathBuf,
        rect: Option<egui::Rect>,
    },
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Write a CSV file (atomically) and return its path.
pub fn write_csv(
    path: &Path,
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<PathBuf, String> {
    let mut text = header
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for row in rows {
        text.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        text.push('\n');
    }
    crate::files::atomic_write(path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

/// A "save as PNG" button for the block at `rect`, saving `<dir>/<name>.png`
/// (disabled, saying why, without a folder). Returns the request when clicked.
pub fn png_button_ui(
    ui: &mut egui::Ui,
    dir: Option<&Path>,
    name: &str,
    rect: egui::Rect,
) -> Option<ExportRequest> {
    let button = ui
        .horizontal(|ui| ui.add_enabled(dir.is_some(), egui::Button::new("save as PNG").small()))
        .inner;
    let button = match dir {
        Some(d) => button.on_hover_text(format!("save {name}.png into {}", d.display())),
        None => button.on_disabled_hover_text("no run folder to save into"),
    };
    let dir = dir.filter(|_| button.clicked())?;
    let path = dir.join(format!("{name}.png"));
    Some(ExportRequest::Screenshot {
        path: std::path::absolute(&path).unwrap_or(path),
        rect: Some(rect),
    })
}

/// Crop a screenshot to `rect` (in points) and save it as PNG.
pub fn save_screenshot(
    image: &egui::ColorImage,
    rect: Option<egui::Rect>,
    pixels_per_point: f32,
    path: &Path,
) -> Result<PathBuf, String> {
    let [w, h] = image.size;
    // a few points of margin, so text at the block's edge is not cut
    let (x0, y0, x1, y1) = match rect.map(|r| r.expand(4.0)) {
        Some(r) => (
            ((r.min.x.max(0.0) * pixels_per_point) as usize).min(w),
            ((r.min.y.max(0.0) * pixels_per_point) as usize).min(h),
            ((r.max.x * pixels_per_point) as usize).min(w),
            ((r.max.y * pixels_per_point) as usize).min(h),
        ),
        None => (0, 0, w, h),
    };
    let (cw, ch) = (x1.saturating_sub(x0).max(1), y1.saturating_sub(y0).max(1));
    let mut out = image::RgbaImage::new(cw as u32, ch as u32);
    for y in 0..ch {
        for x in 0..cw {
            let c = image.pixels[(y0 + y).min(h - 1) * w + (x0 + x).min(w - 1)];
            out.put_pixel(x as u32, y as u32, image::Rgba(c.to_array()));
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    out.save(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_quotes_what_needs_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        super::write_csv(
            &p,
            &["a", "b"],
            vec![vec!["x,y".into(), "say \"hi\"".into()]],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(p).unwrap(),
            "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n"
        );
    }
}
