//! The Dataset tab: the report (images per class and split, sizes, mean/std,
//! skipped files), sample faces per class, and an augmentation preview.

use std::path::PathBuf;

use egui::{RichText, Ui};
use egui_plot::{AxisHints, Bar, BarChart, GridMark, Plot};

use super::export::ExportRequest;
use super::jobs::Job;
use super::plots::{legend_ui, linear_label, palette, TRAIN, VAL};
use super::theme;
use super::thumbnails::{color_image, ThumbnailCache};
use crate::data::{
    decode_working_size, natural_cmp, natural_order, DatasetReport, Split, SplitConfig,
};
use crate::loader::{cache_folder, cache_usage, AugmentConfig, CacheSource, CacheUsage, Pipeline};
use crate::run::RunConfig;

pub struct ScanResult {
    pub report: DatasetReport,
    /// Up to 8 train images per class.
    pub samples: Vec<(String, Vec<PathBuf>)>,
    /// The image cache, as the scan found it.
    pub cache: Option<CacheState>,
}

/// Where the image cache is, what it held when the dataset was scanned, and
/// what names the train split's cache files (whether the split is cached at
/// the input size in the form is asked when drawn, so it follows the form
/// and a run that builds the cache).
#[derive(Clone)]
pub struct CacheState {
    pub folder: PathBuf,
    pub usage: CacheUsage,
    pub train: CacheSource,
}

pub enum ScanState {
    Idle,
    Scanning(Job<Result<ScanResult, String>>),
    Ready(Box<ScanResult>),
    Failed(String),
}

pub struct DatasetView {
    pub state: ScanState,
    pub scanned_path: String,
    preview_source: Option<Job<Option<image::RgbImage>>>,
    preview_key: Option<(AugmentConfig, usize, u64)>,
    preview: Vec<egui::TextureHandle>,
    preview_round: u64,
    /// Set when a new dataset arrives: its report starts at the top.
    scroll_to_top: bool,
}

impl Default for DatasetView {
    fn default() -> Self {
        Self {
            state: ScanState::Idle,
            scanned_path: String::new(),
            preview_source: None,
            preview_key: None,
            preview: Vec::new(),
            preview_round: 0,
            scroll_to_top: false,
        }
    }
}

impl DatasetView {
    /// Scan `path` in the background (report, full decode check, statistics).
    pub fn open(&mut self, ctx: &egui::Context, path: &str, split: SplitConfig) {
        let root = PathBuf::from(path.trim());
        self.scanned_path = path.trim().to_string();
        self.preview_source = None;
        self.preview_key = None;
        self.preview.clear();
        self.state = ScanState::Scanning(Job::spawn(ctx, move || {
            let (mut report, dataset) =
                DatasetReport::scan(&root, &split).map_err(|e| e.to_string())?;
            // shown in natural order (s2 before s10); this report is only drawn
            report
                .classes
                .sort_by(|a, b| natural_cmp(&a.class, &b.class));
            let samples = natural_order(&dataset.classes)
                .into_iter()
                .map(|c| (c, &dataset.classes[c]))
                .map(|(c, name)| {
                    let paths = dataset
                        .images
                        .train
                        .iter()
                        .filter(|e| e.class == c)
                        .take(8)
                        .map(|e| e.path.clone())
                        .collect();
                    (name.clone(), paths)
                })
                .collect();
            let cache = cache_folder().map(|folder| CacheState {
                usage: cache_usage(&folder),
                train: CacheSource::of(&dataset.images.train),
                folder,
            });
            Ok(ScanResult {
                report,
                samples,
                cache,
            })
        }));
    }

    pub fn poll(&mut self) {
        if let ScanState::Scanning(job) = &mut self.state {
            if let Some(result) = job.try_take() {
                self.scroll_to_top = true;
                self.state = match result {
                    Ok(r) => ScanState::Ready(Box::new(r)),
                    Err(e) => ScanState::Failed(e),
                };
            }
        }
    }

    pub fn error(&self) -> Option<String> {
        match &self.state {
            ScanState::Failed(e) => Some(e.clone()),
            _ => None,
        }
    }

    /// Why training cannot start on this dataset: the scan's error, or the
    /// problems its report lists.
    pub fn blocking_problem(&self) -> Option<String> {
        match &self.state {
            ScanState::Failed(e) => Some(e.clone()),
            ScanState::Ready(r) => match r.report.problems.as_slice() {
                [] => None,
                [one] => Some(one.clone()),
                [first, rest @ ..] => Some(format!(
                    "{first} (and {} more problem(s) listed in the Dataset tab)",
                    rest.len()
                )),
            },
            _ => None,
        }
    }

    pub fn report(&self) -> Option<&DatasetReport> {
        match &self.state {
            ScanState::Ready(r) => Some(&r.report),
            _ => None,
        }
    }
}

pub fn dataset_tab_ui(
    ui: &mut Ui,
    view: &mut DatasetView,
    thumbs: &mut ThumbnailCache,
    config: &RunConfig,
    export: &mut Option<ExportRequest>,
) {
    let result = match &view.state {
        ScanState::Idle => {
            ui.label("Choose a dataset folder on the left (Browse, type a path, or use the demo dataset).");
            return;
        }
        ScanState::Scanning(_) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Scanning and decoding {} …", view.scanned_path));
            });
            return;
        }
        ScanState::Failed(e) => {
            ui.colored_label(theme::ERROR, format!("Cannot use this dataset: {e}"));
            return;
        }
        ScanState::Ready(r) => r,
    };
    let report = result.report.clone();
    let report = &report;
    let samples = result.samples.clone();
    let cache = result.cache.clone();
    let first_sample = samples.iter().find_map(|(_, p)| p.first().cloned());
    let mut area = egui::ScrollArea::vertical().id_salt("dataset-scroll");
    if std::mem::take(&mut view.scroll_to_top) {
        area = area.vertical_scroll_offset(0.0);
    }
    area.show(ui, |ui| {
        summary_ui(ui, report);
        cache_ui(ui, cache.as_ref(), config.data.input_size as u32);
        ui.separator();
        let chart = counts_chart_ui(ui, report);
        if ui.small_button("save chart as PNG").clicked() {
            // a bare name: into the runs folder
            let path = PathBuf::from("dataset-class-counts.png");
            *export = Some(ExportRequest::Screenshot {
                path,
                rect: Some(chart),
            });
        }
        if !report.skipped.is_empty() || !report.warnings.is_empty() || !report.problems.is_empty()
        {
            ui.separator();
            problems_ui(ui, report);
        }
        ui.separator();
        ui.heading("Sample faces");
        for (class, paths) in &samples {
            ui.horizontal(|ui| {
                ui.add_sized([140.0, 20.0], egui::Label::new(class).truncate());
                for p in paths {
                    thumbs
                        .show(ui, p, 56.0)
                        .on_hover_text(p.display().to_string());
                }
            });
        }
        ui.separator();
        if let Some(path) = first_sample {
            augmentation_preview_ui(ui, view, &path, config);
        }
    });
}

fn summary_ui(ui: &mut Ui, r: &DatasetReport) {
    ui.heading(r.root.display().to_string());
    egui::Grid::new("summary").num_columns(2).show(ui, |ui| {
        ui.label("layout");
        ui.label(r.layout.describe());
        ui.end_row();
        ui.label("classes");
        ui.label(r.classes.len().to_string());
        ui.end_row();
        ui.label("images");
        ui.label(format!(
            "train {}   val {}   test {}",
            r.totals.train, r.totals.val, r.totals.test
        ));
        ui.end_row();
        if let Some(s) = r.sizes {
            ui.label("sizes");
            ui.label(format!(
                "{}x{} … {}x{}",
                s.min_width, s.min_height, s.max_width, s.max_height
            ));
            ui.end_row();
        }
        let st = &r.stats;
        ui.label("mean / std (train)");
        ui.label(format!(
            "[{:.3}, {:.3}, {:.3}] / [{:.3}, {:.3}, {:.3}]",
            st.mean[0], st.mean[1], st.mean[2], st.std[0], st.std[1], st.std[2]
        ));
        ui.end_row();
        ui.label("skipped files");
        ui.label(r.skipped.len().to_string());
        ui.end_row();
    });
}

/// Where the decoded faces go and whether this dataset is there yet.
fn cache_ui(ui: &mut Ui, cache: Option<&CacheState>, input_size: u32) {
    let Some(c) = cache else {
        ui.label(
            RichText::new(
                "image cache off (FACEBENCH_IMAGE_CACHE=off): each run decodes into memory",
            )
            .weak(),
        );
        return;
    };
    // one `stat`, and only in frames that draw this tab
    let state = if c.train.file_in(&c.folder, input_size).is_file() {
        format!("train split cached at {input_size} px")
    } else {
        format!("the first run at {input_size} px decodes the train split into it")
    };
    ui.label(RichText::new(format!(
        "image cache {}: {} files, {}; {state}",
        c.folder.display(),
        c.usage.files,
        crate::numbers::human_bytes(c.usage.bytes)
    )))
    .on_hover_text("`facebench cache --clear` deletes it; FACEBENCH_CACHE_DIR moves it");
}

/// Horizontal stacked bars, one row per class, so every class is labelled
/// (23 celeb23 names need the height, not the width).
fn counts_chart_ui(ui: &mut Ui, r: &DatasetReport) -> egui::Rect {
    let block = ui.vertical(|ui| {
        ui.heading("Images per class and split");
        let splits = [
            (Split::Train, TRAIN),
            (Split::Val, VAL),
            (Split::Test, palette(2)),
        ];
        let entries: Vec<_> = splits
            .iter()
            .map(|(s, c)| (s.name().to_string(), *c))
            .collect();
        let hidden = legend_ui(ui, "class-counts", &entries);
        let n = r.classes.len();
        let mut charts: Vec<BarChart> = Vec::new();
        for (split, color) in splits {
            let name = split.name();
            if hidden.contains(name) {
                continue;
            }
            let bars = r
                .classes
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    // the first class on top
                    let v = c.images[split] as f64;
                    Bar::new((n - 1 - i) as f64, v).width(0.7).name(&c.class)
                })
                .collect();
            let below: Vec<&BarChart> = charts.iter().collect();
            let chart = BarChart::new(name, bars)
                .color(color)
                .horizontal()
                .stack_on(&below);
            charts.push(chart);
        }
        let names: Vec<String> = r.classes.iter().map(|c| c.class.clone()).collect();
        Plot::new("class-counts")
            .height((n as f32 * 22.0 + 50.0).max(160.0))
            .allow_scroll(false)
            .x_axis_label("images")
            .x_axis_formatter(|m, _| linear_label(m))
            .y_grid_spacer(move |g| {
                (0..n)
                    .map(|i| i as f64)
                    .filter(|&v| v >= g.bounds.0 && v <= g.bounds.1)
                    .map(|value| GridMark {
                        value,
                        step_size: 1.0,
                    })
                    .collect()
            })
            // one label per 22 px row: full strength from 16 px apart
            .custom_y_axes(vec![AxisHints::new_y()
                .label_spacing(12.0..=16.0)
                .formatter(move |mark, _| {
                    let i = mark.value.round();
                    if (mark.value - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                        names[n - 1 - i as usize].clone()
                    } else {
                        String::new()
                    }
                })])
            .show(ui, |plot| {
                for chart in charts {
                    plot.bar_chart(chart);
                }
            });
    });
    block.response.rect
}

fn problems_ui(ui: &mut Ui, r: &DatasetReport) {
    if !r.problems.is_empty() {
        ui.colored_label(
            theme::ERROR,
            RichText::new(format!(
                "{} problem(s): training refuses this dataset until each is fixed",
                r.problems.len()
            ))
            .strong(),
        );
        for p in &r.problems {
            ui.colored_label(theme::ERROR, format!("• {p}"));
        }
    }
    for w in &r.warnings {
        ui.colored_label(theme::WARNING, format!("warning: {w}"));
    }
    egui::CollapsingHeader::new(format!("Skipped files ({})", r.skipped.len()))
        .default_open(r.skipped.len() <= 10)
        .show(ui, |ui| {
            egui::Grid::new("skipped").striped(true).show(ui, |ui| {
                for s in &r.skipped {
                    ui.label(s.path.display().to_string());
                    ui.label(RichText::new(s.reason.describe()).strong());
                    ui.label(RichText::new(&s.detail).weak());
                    ui.end_row();
                }
            });
        });
}

/// One face under 12 random draws of the current augmentation settings,
/// redrawn whenever the settings change.
fn augmentation_preview_ui(
    ui: &mut Ui,
    view: &mut DatasetView,
    path: &std::path::Path,
    config: &RunConfig,
) {
    ui.horizontal(|ui| {
        ui.heading("Augmentation preview");
        if ui.button("new draws").clicked() {
            view.preview_round += 1;
        }
    });
    let size = config.data.input_size.clamp(32, 299);
    if view.preview_source.is_none() {
        let p = path.to_path_buf();
        let working = size as u32;
        view.preview_source = Some(Job::spawn(ui.ctx(), move || {
            decode_working_size(&p, working).ok()
        }));
    }
    let Some(source) = view
        .preview_source
        .as_mut()
        .and_then(|j| j.poll())
        .and_then(|s| s.clone())
    else {
        ui.spinner();
        return;
    };
    let key = (config.data.augment.clone(), size, view.preview_round);
    if view.preview_key.as_ref() != Some(&key) {
        let pipeline = Pipeline {
            input_size: size,
            augment: Some(config.data.augment.clone()),
            mean: [0.0; 3],
            std: [1.0; 3],
            seed: 1000 + view.preview_round,
        };
        view.preview = (0..12)
            .map(|i| {
                let draw = pipeline.draw(&source, 0, i);
                let chw = pipeline.render(&source, &draw);
                let plane = size * size;
                let rgb = image::RgbImage::from_fn(size as u32, size as u32, |x, y| {
                    let i = y as usize * size + x as usize;
                    let px = |c: usize| (chw[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8;
                    image::Rgb([px(0), px(1), px(2)])
                });
                ui.ctx().load_texture(
                    format!("aug-{i}"),
                    color_image(&rgb),
                    egui::TextureOptions::LINEAR,
                )
            })
            .collect();
        view.preview_key = Some(key);
    }
    ui.horizontal_wrapped(|ui| {
        for tex in &view.preview {
            ui.add(egui::Image::new(tex).fit_to_exact_size(egui::vec2(96.0, 96.0)));
        }
    });
    ui.label(RichText::new(format!("{} at {size} px", path.display())).weak());
}
