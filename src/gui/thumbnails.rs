//! Face thumbnails loaded lazily on a background thread: a view asks for a path
//! when it comes into sight and draws a placeholder until the texture is ready.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crossbeam_channel::{unbounded, Receiver, Sender};
use egui::{ColorImage, TextureHandle, TextureOptions};

use crate::data::decode_rgb8;

enum Slot {
    Loading,
    Ready(TextureHandle),
    Failed,
}

pub struct ThumbnailCache {
    slots: HashMap<PathBuf, Slot>,
    requests: Sender<PathBuf>,
    done: Receiver<(PathBuf, Option<ColorImage>)>,
}

/// An RGB8 image as an egui image.
pub fn color_image(img: &image::RgbImage) -> ColorImage {
    ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}

impl ThumbnailCache {
    /// Thumbnails whose longer side is `size` pixels.
    pub fn new(ctx: &egui::Context, size: u32) -> Self {
        let (requests, rx) = unbounded::<PathBuf>();
        let (tx, done) = unbounded();
        let ctx = ctx.clone();
        std::thread::Builder::new()
            .name("facebench-thumbnails".into())
            .spawn(move || {
                for path in rx {
                    let img = decode_rgb8(&path).ok().map(|img| {
                        let (w, h) = img.dimensions();
                        let scale = size as f32 / w.max(h) as f32;
                        let small = if scale < 1.0 {
                            image::imageops::thumbnail(
                                &img,
                                ((w as f32 * scale) as u32).max(1),
                                ((h as f32 * scale) as u32).max(1),
                            )
                        } else {
                            img
                        };
                        color_image(&small)
                    });
                    if tx.send((path, img)).is_err() {
                        return;
                    }
                    ctx.request_repaint();
                }
            })
            .ok();
        Self {
            slots: HashMap::new(),
            requests,
            done,
        }
    }

    /// Move finished decodes into textures; call once per frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        for (path, img) in self.done.try_iter() {
            let slot = match img {
                Some(img) => Slot::Ready(ctx.load_texture(
                    path.to_string_lossy(),
                    img,
                    TextureOptions::LINEAR,
                )),
                None => Slot::Failed,
            };
            self.slots.insert(path, slot);
        }
    }

    /// The texture if loaded; otherwise queue it (once) and return `None`.
    pub fn get(&mut self, path: &Path) -> Option<&TextureHandle> {
        if !self.slots.contains_key(path) {
            self.slots.insert(path.to_path_buf(), Slot::Loading);
            let _ = self.requests.send(path.to_path_buf());
        }
        match self.slots.get(path) {
            Some(Slot::Ready(t)) => Some(t),
            _ => None,
        }
    }

    /// Thumbnails asked for and not yet decoded.
    pub fn pending(&self) -> usize {
        self.slots
            .values()
            .filter(|s| matches!(s, Slot::Loading))
            .count()
    }

    pub fn failed(&self, path: &Path) -> bool {
        matches!(self.slots.get(path), Some(Slot::Failed))
    }

    /// Where the thumbnail of `path` is drawn inside `square` (centred, its
    /// aspect kept), once it is loaded.
    pub fn fitted_rect(&self, path: &Path, square: egui::Rect) -> Option<egui::Rect> {
        let Some(Slot::Ready(tex)) = self.slots.get(path) else {
            return None;
        };
        let [w, h] = tex.size();
        let s = square.width().min(square.height()) / w.max(h).max(1) as f32;
        Some(egui::Rect::from_center_size(
            square.center(),
            egui::vec2(w as f32 * s, h as f32 * s),
        ))
    }

    /// Draw a thumbnail of `path` in a `size` square, or a placeholder.
    pub fn show(&mut self, ui: &mut egui::Ui, path: &Path, size: f32) -> egui::Response {
        let (rect, response) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::click());
        if ui.is_rect_visible(rect) {
            match self.get(path).map(|tex| tex.id()) {
                Some(id) => {
                    let Some(r) = self.fitted_rect(path, rect) else {
                        return response;
                    };
                    ui.painter().image(
                        id,
                        r,
                        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                        egui::Color32::WHITE,
                    );
                }
                None => {
                    let color = if self.failed(path) {
                        egui::Color32::from_rgb(90, 30, 30)
                    } else {
                        ui.visuals().faint_bg_color
                    };
                    ui.painter().rect_filled(rect, 2.0, color);
                }
            }
        }
        response
    }
}
