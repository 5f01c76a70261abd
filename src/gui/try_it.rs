//! The Try-it panel of the Results tab: new faces (dropped on the window,
//! chosen in a dialog, or a typed file or folder path) scored by the run's
//! best checkpoint, preprocessed as at its evaluation, each with its top 5
//! and, with Grad-CAM on, where the network looked for its top class.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use egui::{RichText, Ui};

use super::explain_view::ExplainView;
use super::jobs::{take_finished, Job};
use super::theme;
use super::thumbnails::ThumbnailCache;
use crate::data::face_files;
use crate::engine::{predict_run, FacePrediction, PredictRequest};
use crate::model::Architecture;
use crate::run::DeviceChoice;

/// Side of a tried face.
const FACE: f32 = 112.0;
/// Width of a face's card: the face and its five bars.
const CARD: f32 = FACE + 190.0;

/// The predictions of one request, for one run.
type Scored = (PathBuf, Result<Vec<FacePrediction>, String>);

#[derive(Default)]
pub struct TryItView {
    /// A file or folder typed in (the fallback when no dialog opens).
    pub typed: String,
    pick: Option<Job<Option<Vec<PathBuf>>>>,
    job: Option<Job<Scored>>,
    /// Faces done by the running job, and how many it has.
    progress: (Arc<AtomicUsize>, usize),
    /// The faces scored last, and the run that scored them.
    pub scored: Option<(PathBuf, Vec<FacePrediction>)>,
    pub error: Option<String>,
}

impl TryItView {
    /// Score `paths` (files, or folders of faces) with `run` in the
    /// background.
    pub fn start(&mut self, ctx: &egui::Context, run: &Path, paths: Vec<PathBuf>) {
        self.error = None;
        let images = match face_files(&paths) {
            Ok(images) => images,
            Err(e) => {
                self.error = Some(format!("{e:#}"));
                return;
            }
        };
        let done = Arc::new(AtomicUsize::new(0));
        self.progress = (done.clone(), images.len());
        let request = PredictRequest {
            run: run.to_path_buf(),
            images,
            device: DeviceChoice::Cpu,
            progress: Some(done),
        };
        self.job = Some(Job::spawn(ctx, move || {
            let scored = predict_run(&request).map_err(|e| format!("{e:#}"));
            (request.run, scored)
        }));
    }

    pub fn is_scoring(&self) -> bool {
        self.job.is_some()
    }

    fn poll(&mut self, ctx: &egui::Context, run: &Path) {
        if let Some(Some(paths)) = take_finished(&mut self.pick) {
            self.start(ctx, run, paths);
        }
        match take_finished(&mut self.job) {
            Some((of, Ok(faces))) => self.scored = Some((of, faces)),
            Some((_, Err(e))) => self.error = Some(e),
            None => {}
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if !dropped.is_empty() && self.job.is_none() {
            self.start(ctx, run, dropped);
        }
    }
}

/// The panel; `classes` are the run's, `arch` its architecture.
pub fn try_it_ui(
    ui: &mut Ui,
    view: &mut TryItView,
    explain: &mut ExplainView,
    big: &mut ThumbnailCache,
    run: &Path,
    classes: &[String],
    arch: Architecture,
) {
    view.poll(ui.ctx(), run);
    ui.label(
        RichText::new("Drop face images or a folder on the window, choose them, or type a path.")
            .weak(),
    );
    ui.horizontal(|ui| {
        let busy = view.job.is_some() || view.pick.is_some();
        if ui
            .add_enabled(!busy, egui::Button::new("Choose images…"))
            .clicked()
        {
            // the native dialog on its own thread, never on the UI thread
            view.pick = Some(Job::spawn(ui.ctx(), || {
                rfd::FileDialog::new()
                    .set_title("Faces to try")
                    .add_filter("images", &["jpg", "jpeg", "png"])
                    .pick_files()
            }));
        }
        let field = ui.add(
            egui::TextEdit::singleline(&mut view.typed)
                .hint_text("/path/to/face.jpg or a folder")
                .desired_width(360.0),
        );
        let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let typed = view.typed.trim().to_string();
        let predict = ui.add_enabled(!busy && !typed.is_empty(), egui::Button::new("Predict"));
        if (predict.clicked() || entered) && !typed.is_empty() && !busy {
            view.start(ui.ctx(), run, vec![PathBuf::from(typed)]);
        }
        if let Some(job) = &view.job {
            if job.is_pending() {
                ui.spinner();
                let (done, total) = (&view.progress.0, view.progress.1);
                ui.label(format!(
                    "{} / {total} faces",
                    done.load(Ordering::Relaxed).min(total)
                ));
            }
        }
    });
    if let Some(e) = &view.error {
        ui.colored_label(theme::ERROR, e);
    }
    let Some((of, faces)) = &view.scored else {
        return;
    };
    if of != run {
        return;
    }
    ui.horizontal(|ui| explain.controls_ui(ui, arch));
    if explain.overlay {
        let wanted: Vec<(PathBuf, usize)> = faces
            .iter()
            .map(|f| (f.image.clone(), f.top(1)[0].0))
            .collect();
        explain.request(ui.ctx(), run, arch, &wanted);
    }
    // as many cards a row as fit
    let per_row = ((ui.available_width() / (CARD + 12.0)) as usize).max(1);
    for row in faces.chunks(per_row) {
        ui.horizontal_top(|ui| {
            for face in row {
                face_ui(ui, face, explain, big, classes);
            }
        });
    }
}

/// One tried face: the picture (with its Grad-CAM when on) and its top 5.
fn face_ui(
    ui: &mut Ui,
    face: &FacePrediction,
    explain: &mut ExplainView,
    big: &mut ThumbnailCache,
    classes: &[String],
) {
    let top = face.top(5);
    ui.group(|ui| {
        ui.set_width(CARD);
        ui.horizontal_top(|ui| {
            let r = big.show(ui, &face.image, FACE);
            if explain.overlay {
                if let Some(rect) = big.fitted_rect(&face.image, r.rect) {
                    explain.paint_over(ui, rect, &face.image, top[0].0);
                }
            }
            ui.vertical(|ui| {
                let name = face
                    .image
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                ui.label(RichText::new(name).small().weak())
                    .on_hover_text(face.image.display().to_string());
                for (c, p) in top {
                    ui.add(egui::ProgressBar::new(p).desired_width(180.0).text(format!(
                        "{} {:.1}%",
                        classes.get(c).map_or("?", String::as_str),
                        p * 100.0
                    )));
                }
            });
        });
    });
}
