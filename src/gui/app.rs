//! The workbench window: the experiment panel on the left, the four tabs in the
//! middle. All slow work (scanning, decoding, dialogs, training) runs elsewhere
//! and reports back; the UI thread only polls.

use std::path::PathBuf;
use std::time::Duration;

use egui::{RichText, Ui};

use super::dataset_tab::{dataset_tab_ui, DatasetView};
use super::experiment_panel::{experiment_ui, list_presets, ExperimentPanel};
use super::export::{save_screenshot, ExportRequest};
use super::jobs::{take_finished, Job};
use super::lr_finder::{lr_finder_window, LrFinderAction, LrFinderView};
use super::results_tab::{results_tab_ui, ResultsView};
use super::resume::{resume_bar_ui, Resumed};
use super::runs_tab::{runs_tab_ui, RunsCommand, RunsView};
use super::state::{AppState, Tab};
use super::status::{Status, StatusTopic};
use super::thumbnails::ThumbnailCache;
use super::train_session::TrainSession;
use super::training_tab::training_tab_ui;
use crate::run::TrainEvent;

mod actions;

/// The window's state. Its fields are the app's own; tests and the
/// screenshot examples reach the views through the accessors below.
pub struct WorkbenchApp {
    state: AppState,
    dataset: DatasetView,
    session: Option<TrainSession>,
    results: ResultsView,
    runs: RunsView,
    folder_pick: Option<Job<Option<PathBuf>>>,
    demo_job: Option<Job<Result<PathBuf, String>>>,
    presets: Vec<PathBuf>,
    save_as_name: String,
    status: Option<Status>,
    /// Reading a stopped run's history before it trains again.
    resume_job: Option<Job<Result<Resumed, String>>>,
    /// Made on the first frame (they need the context to wake the UI).
    thumbs: Option<(ThumbnailCache, ThumbnailCache)>,
    open_on_first_frame: bool,
    export: Option<ExportRequest>,
    shots: (
        crossbeam_channel::Sender<Result<PathBuf, String>>,
        crossbeam_channel::Receiver<Result<PathBuf, String>>,
    ),
    /// `facebench gui --train` / `--exit-when-done`.
    train_at_launch: bool,
    exit_when_done: bool,
    /// How long until the next look at the engine's channel (see `poll`).
    poll_every: Duration,
    lr_finder: LrFinderView,
    /// The search for fonts that draw class names in other scripts (see
    /// `fonts`), started by the window, not by tests.
    fonts: Option<Job<super::FallbackFonts>>,
}

/// While a run trains on the Training tab, a frame that finds new points asks
/// for the next one this much later: the plots update about 4 times a second.
const TRAINING_FRAME: Duration = Duration::from_millis(250);
/// The slowest look at the engine's channel: on other tabs (where nothing of
/// the run is drawn but its end), or on the Training tab while no points come.
const SLOW_POLL: Duration = Duration::from_secs(1);

/// When to look at a training run's channel next: soon after new points on
/// the Training tab, backing off while none come, slowly on other tabs.
fn next_poll(on_training_tab: bool, points_arrived: bool, previous: Duration) -> Duration {
    match (on_training_tab, points_arrived) {
        (true, true) => TRAINING_FRAME,
        (true, false) => (previous * 2).clamp(TRAINING_FRAME, SLOW_POLL),
        (false, _) => SLOW_POLL,
    }
}

impl WorkbenchApp {
    /// The persisted settings: dataset path, config, tab.
    pub fn app_state(&self) -> &AppState {
        &self.state
    }

    pub fn app_state_mut(&mut self) -> &mut AppState {
        &mut self.state
    }

    pub fn dataset(&self) -> &DatasetView {
        &self.dataset
    }

    /// The run training now (or last trained) in this window.
    pub fn session(&self) -> Option<&TrainSession> {
        self.session.as_ref()
    }

    pub fn results(&self) -> &ResultsView {
        &self.results
    }

    pub fn results_mut(&mut self) -> &mut ResultsView {
        &mut self.results
    }

    pub fn runs(&self) -> &RunsView {
        &self.runs
    }

    pub fn runs_mut(&mut self) -> &mut RunsView {
        &mut self.runs
    }

    /// The status line.
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    /// A folder dialog answered by `job` (tests stand in for the dialog).
    pub fn set_folder_pick(&mut self, job: Job<Option<PathBuf>>) {
        self.folder_pick = Some(job);
    }

    pub fn new(state: AppState) -> Self {
        Self {
            open_on_first_frame: !state.dataset_path.trim().is_empty(),
            runs: RunsView::new(state.runs_dir.clone()),
            state,
            dataset: DatasetView::default(),
            session: None,
            results: ResultsView::default(),
            folder_pick: None,
            demo_job: None,
            presets: list_presets(),
            save_as_name: String::new(),
            status: None,
            resume_job: None,
            thumbs: None,
            export: None,
            shots: crossbeam_channel::unbounded(),
            train_at_launch: false,
            exit_when_done: false,
            poll_every: TRAINING_FRAME,
            lr_finder: LrFinderView::default(),
            fonts: None,
        }
    }

    /// Restore the last dataset, config and tab.
    pub fn from_creation(cc: &eframe::CreationContext<'_>, start: super::StartOptions) -> Self {
        let mut state = cc
            .storage
            .and_then(|s| eframe::get_value::<AppState>(s, eframe::APP_KEY))
            .unwrap_or_default();
        if let Some(d) = start.data {
            state.dataset_path = d.display().to_string();
        }
        if let Some((config, path)) = start.preset {
            state.start_from_preset(path, config);
        }
        if let Some(r) = start.runs {
            state.runs_dir = r;
        }
        if let Some(tab) = start.tab {
            state.tab = tab;
        }
        let mut app = Self::new(state);
        app.fonts = Some(Job::spawn(&cc.egui_ctx, super::fallback_fonts));
        app.train_at_launch = start.train;
        app.exit_when_done = start.exit_when_done;
        app
    }

    /// Show `text` under the Train button.
    pub fn set_status(&mut self, topic: StatusTopic, text: impl Into<String>) {
        self.status = Some(Status::new(topic, text));
    }

    /// Drop the status line if it is about `topic` (which just changed).
    pub fn clear_status(&mut self, topic: StatusTopic) {
        if self.status.as_ref().is_some_and(|s| s.topic == topic) {
            self.status = None;
        }
    }

    /// What happens between frames: take in what background work has
    /// finished and the training run's events. eframe calls it before each
    /// frame (`App::logic`); a test harness calls it before `frame_ui`.
    pub fn logic(&mut self, ctx: &egui::Context) {
        self.poll(ctx);
    }

    fn poll(&mut self, ctx: &egui::Context) {
        if let Some(fonts) = take_finished(&mut self.fonts) {
            ctx.set_fonts(fonts.definitions);
        }
        self.dataset.poll();
        self.results.poll();
        let busy = self.is_busy();
        self.runs.poll_queue(ctx, busy);
        if self.open_on_first_frame {
            // restore the last session's dataset without leaving its tab
            self.open_on_first_frame = false;
            let path = self.state.dataset_path.clone();
            self.dataset
                .open(ctx, &path, self.state.config.data.split.clone());
        }
        let (small, big) = self
            .thumbs
            .get_or_insert_with(|| (ThumbnailCache::new(ctx, 96), ThumbnailCache::new(ctx, 320)));
        small.poll(ctx);
        big.poll(ctx);
        if let Some(picked) = take_finished(&mut self.folder_pick) {
            match picked {
                Some(p) => {
                    self.state.dataset_path = p.display().to_string();
                    self.open_dataset(ctx);
                }
                None => self.set_status(
                    StatusTopic::Dataset,
                    "no folder chosen (if no dialog appeared, type or paste the path)",
                ),
            }
        }
        if let Some(r) = take_finished(&mut self.demo_job) {
            match r {
                Ok(p) => {
                    self.state.dataset_path = p.display().to_string();
                    self.open_dataset(ctx);
                    self.set_status(
                        StatusTopic::Dataset,
                        format!("demo dataset in {}", p.display()),
                    );
                }
                Err(e) => self.set_status(StatusTopic::Dataset, e),
            }
        }
        if let Some(r) = take_finished(&mut self.resume_job) {
            match r {
                Ok(Resumed { run, live, handle }) => {
                    self.clear_status(StatusTopic::Run);
                    self.session = Some(TrainSession {
                        handle,
                        live,
                        run_dir: Some(run),
                    });
                }
                Err(e) => self.set_status(StatusTopic::Run, e),
            }
        }
        if std::mem::take(&mut self.train_at_launch) {
            let tab = self.state.tab;
            self.start_training(ctx);
            self.state.tab = tab;
        }
        let mut finished = None;
        if let Some(s) = &mut self.session {
            let mut arrived = false;
            for ev in s.handle.events.try_iter() {
                arrived = true;
                if let TrainEvent::Started { run_dir, .. } = &ev {
                    s.run_dir = Some(run_dir.clone());
                }
                if let TrainEvent::Evaluated { .. } = &ev {
                    finished = s.run_dir.clone();
                }
                s.live.apply(&ev);
            }
            if s.live.is_running() {
                // Each frame repaints the whole window (in software, on a
                // machine without a GPU), so frames come only as often as
                // something visible changes: new points on the Training tab at
                // most every TRAINING_FRAME, backing off to SLOW_POLL while none
                // arrive; on other tabs a slow poll, for the end of the run.
                self.poll_every =
                    next_poll(self.state.tab == Tab::Training, arrived, self.poll_every);
                ctx.request_repaint_after(self.poll_every);
            } else if self.exit_when_done {
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
        if let Some(run) = finished {
            self.results.open(ctx, run);
            self.runs.refresh(ctx, true);
        }
        for saved in self.shots.1.try_iter().collect::<Vec<_>>() {
            let text = match saved {
                Ok(p) => format!("saved {}", p.display()),
                Err(e) => e,
            };
            self.set_status(StatusTopic::File, text);
        }
    }

    /// Thumbnails still being decoded (for tests that wait for a settled view).
    pub fn thumbnails_pending(&self) -> usize {
        self.thumbs
            .as_ref()
            .map_or(0, |(a, b)| a.pending() + b.pending())
    }

    /// Ask for a PNG of the window (or the part inside `rect`); it is written
    /// when the renderer hands the pixels over, off the UI thread.
    pub fn request_screenshot(
        &mut self,
        ctx: &egui::Context,
        path: PathBuf,
        rect: Option<egui::Rect>,
    ) {
        let tx = self.shots.0.clone();
        let ppp = ctx.pixels_per_point();
        let repaint = ctx.clone();
        ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
            egui::ScreenshotCallback::new(move |image| {
                let _ = tx.send(save_screenshot(&image, rect, ppp, &path));
                repaint.request_repaint();
            }),
        ));
    }

    /// The whole window. Used by eframe and by the UI tests.
    /// Draws the window (after [`Self::logic`] has brought the state up to date).
    pub fn frame_ui(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new("facebench").strong());
                ui.separator();
                for tab in Tab::ALL {
                    ui.selectable_value(&mut self.state.tab, tab, tab.title());
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui
                        .button("Save screenshot")
                        .on_hover_text("Save the window to screenshots/")
                        .clicked()
                    {
                        let name = format!(
                            "{}-{}",
                            self.state.tab.title().to_lowercase(),
                            chrono::Local::now().format("%Y%m%d-%H%M%S")
                        );
                        self.request_screenshot(
                            &ctx,
                            PathBuf::from("screenshots").join(format!("{name}.png")),
                            None,
                        );
                    }
                });
            });
        });
        egui::Panel::left("experiment")
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                // one run at a time: the queue's runs count too
                let busy = self.is_busy() || self.runs.queue.is_working();
                let commands = experiment_ui(
                    ui,
                    ExperimentPanel {
                        state: &mut self.state,
                        save_as_name: &mut self.save_as_name,
                        presets: &self.presets,
                        dataset: &self.dataset,
                        session: self.session.as_ref(),
                        status: self.status.as_ref(),
                        picking_folder: self.folder_pick.as_ref().is_some_and(|j| j.is_pending()),
                        busy,
                    },
                );
                for command in commands {
                    self.run_command(ui.ctx(), command);
                }
            });
        // the thumbnail loaders are made by the first poll, before any frame
        let Some((thumbs, big_thumbs)) = self.thumbs.as_mut() else {
            return;
        };
        let mut resume = None;
        self.runs.busy =
            self.resume_job.is_some() || self.session.as_ref().is_some_and(|s| s.live.is_running());
        egui::CentralPanel::default().show(ui, |ui| match self.state.tab {
            Tab::Dataset => dataset_tab_ui(
                ui,
                &mut self.dataset,
                thumbs,
                &self.state.config,
                &mut self.export,
            ),
            Tab::Training => {
                resume = resume_bar_ui(ui, self.session.as_ref(), self.resume_job.is_some());
                training_tab_ui(
                    ui,
                    self.session.as_ref().map(|s| &s.live),
                    &mut self.state.smoothing,
                    &mut self.export,
                )
            }
            Tab::Results => {
                results_tab_ui(ui, &mut self.results, thumbs, big_thumbs, &mut self.export)
            }
            Tab::Runs => match runs_tab_ui(
                ui,
                &mut self.runs,
                thumbs,
                &mut self.export,
                (&self.state.config, &self.state.dataset_path),
            ) {
                Some(RunsCommand::OpenResults(run)) => {
                    self.results.open(&ctx, run);
                    self.state.tab = Tab::Results;
                }
                Some(RunsCommand::Resume(run)) => resume = Some(run),
                Some(RunsCommand::OpenInForm(config)) => self.state.config = *config,
                None => {}
            },
        });
        if let Some(run) = resume {
            self.resume_run(&ctx, run);
        }
        self.windows_and_requests(&ctx);
    }

    /// After the tabs: the learning-rate finder's window, then the files a
    /// view asked to write this frame.
    fn windows_and_requests(&mut self, ctx: &egui::Context) {
        match lr_finder_window(ctx, &mut self.lr_finder) {
            Some(LrFinderAction::UseLr(lr)) => self.state.config.optimizer.lr = lr,
            Some(LrFinderAction::Saved(path)) => self.state.lr_find_scratch = Some(path),
            None => {}
        }
        match self.export.take() {
            Some(ExportRequest::Done(r)) => {
                let text = match r {
                    Ok(p) => format!("wrote {}", p.display()),
                    Err(e) => e,
                };
                self.set_status(StatusTopic::File, text);
            }
            Some(ExportRequest::Screenshot { path, rect }) => {
                // a bare file name goes into the runs folder
                let path = if path.is_relative() {
                    self.state.runs_dir.join(path)
                } else {
                    path
                };
                self.request_screenshot(ctx, path, rect)
            }
            None => {}
        }
    }
}

impl eframe::App for WorkbenchApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll(ctx);
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_fast_only_while_the_training_plots_get_points() {
        assert_eq!(next_poll(true, true, SLOW_POLL), TRAINING_FRAME);
        // no new points: back off to the slow poll
        let mut d = TRAINING_FRAME;
        for _ in 0..10 {
            d = next_poll(true, false, d);
        }
        assert_eq!(d, SLOW_POLL);
        assert!(next_poll(true, false, TRAINING_FRAME) > TRAINING_FRAME);
        // another tab: slow, points or not
        assert_eq!(next_poll(false, true, TRAINING_FRAME), SLOW_POLL);
        assert_eq!(next_poll(false, false, TRAINING_FRAME), SLOW_POLL);
    }
}
