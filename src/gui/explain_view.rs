//! Grad-CAM in the Results tab: the overlay's settings, the maps of the
//! faces on screen (computed by a background job from the run's best
//! checkpoint and cached in the run's `explain/` folder), and drawing them
//! over the faces.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use egui::{Color32, ColorImage, Rect, TextureHandle, TextureOptions, Ui};

use super::jobs::{take_finished, Job};
use crate::engine::{explain_run, explained_checkpoint, CamTarget, ExplainRequest};
use crate::eval::{jet, resize_bilinear, CamMethod};
use crate::model::{Architecture, CamLayer};
use crate::run::DeviceChoice;
use crate::store::{checkpoint_stamp, CachedMap, RunDir};

/// Side of the textures the maps are drawn from (they are stretched over
/// the face; bilinear filtering does the rest).
const HEAT_TEXTURE: usize = 64;

/// A face and the class its map explains.
type MapKey = (PathBuf, usize);

/// A job making maps: the set they belong to, and the maps or why not.
type MapsJob = Job<(MapSet, Result<Vec<CachedMap>, String>)>;

/// Which maps: a run's, by one method at one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MapSet {
    run: PathBuf,
    method: CamMethod,
    layer: CamLayer,
}

pub struct ExplainView {
    /// Draw the maps over the faces.
    pub overlay: bool,
    pub opacity: f32,
    pub method: CamMethod,
    /// `None`: the architecture's default layer.
    pub layer: Option<CamLayer>,
    set: Option<MapSet>,
    maps: HashMap<MapKey, CachedMap>,
    textures: HashMap<MapKey, TextureHandle>,
    /// The maps of one set, or why they could not be made.
    job: Option<MapsJob>,
    /// Faces done by the running job, and how many it has.
    progress: (Arc<AtomicUsize>, usize),
    /// Maps already asked for (a face that fails is not asked for again
    /// each frame).
    asked: HashSet<MapKey>,
    pub error: Option<String>,
}

impl Default for ExplainView {
    fn default() -> Self {
        Self {
            overlay: false,
            opacity: 0.5,
            method: CamMethod::GradCam,
            layer: None,
            set: None,
            maps: HashMap::new(),
            textures: HashMap::new(),
            job: None,
            progress: (Arc::new(AtomicUsize::new(0)), 0),
            asked: HashSet::new(),
            error: None,
        }
    }
}

impl ExplainView {
    /// Ask for the maps of `wanted` (face, class) of `run`: those neither
    /// drawn nor cached are computed in the background, one job at a time.
    pub fn request(
        &mut self,
        ctx: &egui::Context,
        run: &Path,
        arch: Architecture,
        wanted: &[MapKey],
    ) {
        let set = MapSet {
            run: run.to_path_buf(),
            method: self.method,
            layer: self.layer.unwrap_or(CamLayer::of(arch)[0]),
        };
        if self.set.as_ref() != Some(&set) {
            // another run, method or layer: other maps (a running job's
            // result is dropped when it arrives)
            self.set = Some(set.clone());
            self.maps.clear();
            self.textures.clear();
            self.asked.clear();
            self.error = None;
        }
        match take_finished(&mut self.job) {
            Some((of, Ok(maps))) if of == set => {
                for m in maps {
                    self.maps.insert((m.image.clone(), m.class), m);
                }
            }
            Some((of, Err(e))) if of == set => self.error = Some(e),
            _ => {}
        }
        if self.job.is_some() {
            return;
        }
        let missing: Vec<MapKey> = wanted
            .iter()
            .filter(|k| !self.maps.contains_key(*k) && !self.asked.contains(*k))
            .cloned()
            .collect();
        if missing.is_empty() {
            return;
        }
        self.asked.extend(missing.iter().cloned());
        let done = Arc::new(AtomicUsize::new(0));
        self.progress = (done.clone(), missing.len());
        self.job = Some(Job::spawn(ctx, move || {
            let maps = maps_of(&set, missing, done).map_err(|e| format!("Grad-CAM: {e:#}"));
            (set, maps)
        }));
    }

    /// "Grad-CAM: 12 / 40 faces" while a job runs.
    pub fn progress_text(&self) -> Option<String> {
        self.job.as_ref().filter(|j| j.is_pending()).map(|_| {
            let (done, total) = (&self.progress.0, self.progress.1);
            format!(
                "{}: {} / {total} faces",
                self.method.name(),
                done.load(Ordering::Relaxed).min(total)
            )
        })
    }

    /// The map of `image` for `class`, once computed.
    pub fn map(&self, image: &Path, class: usize) -> Option<&CachedMap> {
        self.maps.get(&(image.to_path_buf(), class))
    }

    /// Paint the map of `image` for `class` over `rect` (the face as drawn)
    /// at the view's opacity; false while it is not computed yet.
    pub fn paint_over(&mut self, ui: &Ui, rect: Rect, image: &Path, class: usize) -> bool {
        let key = (image.to_path_buf(), class);
        if !self.textures.contains_key(&key) {
            let Some(m) = self.maps.get(&key) else {
                return false;
            };
            let texture = ui.ctx().load_texture(
                format!("gradcam-{}-{class}", image.display()),
                heat_image(m),
                TextureOptions::LINEAR,
            );
            self.textures.insert(key.clone(), texture);
        }
        if let Some(texture) = self.textures.get(&key) {
            let alpha = (self.opacity.clamp(0.0, 1.0) * 255.0) as u8;
            let uv = Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
            ui.painter()
                .image(texture.id(), rect, uv, Color32::from_white_alpha(alpha));
        }
        true
    }

    /// The overlay's switches: on/off, opacity, method and layer.
    pub fn controls_ui(&mut self, ui: &mut Ui, arch: Architecture) {
        ui.checkbox(&mut self.overlay, "Grad-CAM")
            .on_hover_text("Draw where the network looked for the predicted class over each face");
        if !self.overlay {
            return;
        }
        ui.add(egui::Slider::new(&mut self.opacity, 0.0..=1.0).text("opacity"));
        egui::ComboBox::from_id_salt("cam-method")
            .selected_text(self.method.name())
            .show_ui(ui, |ui| {
                for m in [CamMethod::GradCam, CamMethod::GradCamPlusPlus] {
                    ui.selectable_value(&mut self.method, m, m.name());
                }
            });
        let layers = CamLayer::of(arch);
        if layers.len() > 1 {
            let current = self.layer.unwrap_or(layers[0]);
            egui::ComboBox::from_id_salt("cam-layer")
                .selected_text(current.name())
                .show_ui(ui, |ui| {
                    for &l in layers {
                        ui.selectable_value(&mut self.layer, Some(l), l.name());
                    }
                });
        }
        if let Some(text) = self.progress_text() {
            ui.spinner();
            ui.label(text);
        }
    }
}

/// The map as an RGBA texture: jet colours, the map's value as alpha too, so
/// cold places hardly tint the face.
fn heat_image(m: &CachedMap) -> ColorImage {
    let side = HEAT_TEXTURE;
    let heat = resize_bilinear(&m.map, m.size, (side, side));
    let mut rgba = Vec::with_capacity(side * side * 4);
    for &v in &heat {
        let [r, g, b] = jet(v);
        rgba.extend_from_slice(&[r, g, b, (64.0 + 191.0 * v.clamp(0.0, 1.0)) as u8]);
    }
    ColorImage::from_rgba_unmultiplied([side, side], &rgba)
}

/// The maps of `wanted` for `set`: from the run's cache where it has them
/// (for the same checkpoint), the rest computed on the CPU and added to it.
fn maps_of(
    set: &MapSet,
    wanted: Vec<MapKey>,
    done: Arc<AtomicUsize>,
) -> anyhow::Result<Vec<CachedMap>> {
    let run = RunDir::new(&set.run);
    let stamp = checkpoint_stamp(&explained_checkpoint(&run)?);
    let (method, layer) = (set.method.name(), set.layer.name());
    // a damaged or stale cache is recomputed and written again
    let mut cache = run
        .read_explain_cache(method, layer)
        .ok()
        .filter(|c| c.checkpoint == stamp)
        .unwrap_or_default();
    cache.checkpoint = stamp;
    let missing: Vec<&MapKey> = wanted
        .iter()
        .filter(|(image, class)| cache.get(image, *class).is_none())
        .collect();
    done.fetch_add(wanted.len() - missing.len(), Ordering::Relaxed);
    if !missing.is_empty() {
        let mut request = ExplainRequest::new(&run, missing.iter().map(|k| k.0.clone()).collect())?;
        request.target = CamTarget::PerFace(missing.iter().map(|k| k.1).collect());
        request.layer = set.layer;
        request.method = set.method;
        request.device = DeviceChoice::Cpu;
        request.progress = Some(done);
        for e in explain_run(&request)? {
            cache.maps.push(CachedMap {
                image: e.image,
                class: e.class,
                map: e.map,
                size: e.map_size,
            });
        }
        run.write_explain_cache(method, layer, &cache)?;
    }
    Ok(wanted
        .iter()
        .filter_map(|(image, class)| cache.get(image, *class).cloned())
        .collect())
}
