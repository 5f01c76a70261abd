//! What the experiment panel's commands do: open a dataset, pick a folder,
//! write the demo set, load and save presets, start or resume a run, find
//! the learning rate, queue a config.

use std::path::PathBuf;

use super::WorkbenchApp;
use crate::data::demo::{generate_demo_dataset, DemoConfig};
use crate::engine::{start_training, TrainRequest};
use crate::gui::experiment_panel::{list_presets, PanelCommand};
use crate::gui::jobs::Job;
use crate::gui::live_run::LiveRun;
use crate::gui::lr_finder::LrFinderView;
use crate::gui::resume::spawn_resume;
use crate::gui::state::{demo_dataset_dir, user_preset_dir, Tab};
use crate::gui::status::StatusTopic;
use crate::gui::train_session::TrainSession;
use crate::run::RunConfig;
use crate::store::QueueFile;

impl WorkbenchApp {
    pub fn open_dataset(&mut self, ctx: &egui::Context) {
        self.clear_status(StatusTopic::Dataset);
        let path = self.state.dataset_path.clone();
        self.dataset
            .open(ctx, &path, self.state.config.data.split.clone());
        self.state.tab = Tab::Dataset;
    }

    /// The learning-rate finder on the form's config and dataset folder;
    /// with a sweep already running, its window comes back.
    pub fn find_lr(&mut self, ctx: &egui::Context) {
        let path = self.state.dataset_path.trim().to_string();
        if path.is_empty() {
            self.set_status(
                StatusTopic::Dataset,
                "the learning-rate finder needs a dataset: choose a folder (or use the demo dataset)",
            );
            return;
        }
        if self.lr_finder.is_running() {
            self.lr_finder.open = true;
            return;
        }
        self.lr_finder
            .start(ctx, self.state.config.clone(), PathBuf::from(path));
    }

    /// The last sweep's window (the scratch file the form remembers).
    pub fn show_last_lr_sweep(&mut self, ctx: &egui::Context) {
        if let Some(path) = self.state.lr_find_scratch.clone() {
            self.lr_finder.open_saved(ctx, path);
        }
    }

    /// The learning-rate finder's window state (tests read it).
    pub fn lr_finder(&self) -> &LrFinderView {
        &self.lr_finder
    }

    /// The native folder dialog, on its own thread (never on the UI thread).
    pub fn pick_folder(&mut self, ctx: &egui::Context) {
        self.folder_pick = Some(Job::spawn(ctx, || {
            rfd::FileDialog::new()
                .set_title("Folder of faces")
                .pick_folder()
        }));
    }

    /// The native file dialog for a dataset CSV, on its own thread.
    pub fn pick_csv(&mut self, ctx: &egui::Context) {
        self.folder_pick = Some(Job::spawn(ctx, || {
            rfd::FileDialog::new()
                .set_title("Dataset CSV (path,label[,split])")
                .add_filter("CSV", &["csv"])
                .pick_file()
        }));
    }

    pub fn use_demo_dataset(&mut self, ctx: &egui::Context) {
        let dir = demo_dataset_dir();
        if dir.join("person_08").is_dir() {
            self.state.dataset_path = dir.display().to_string();
            self.open_dataset(ctx);
            return;
        }
        self.set_status(StatusTopic::Dataset, "writing the demo dataset…");
        self.demo_job = Some(Job::spawn(ctx, move || {
            generate_demo_dataset(&dir, &DemoConfig::default()).map_err(|e| format!("{e:#}"))
        }));
    }

    pub fn load_preset(&mut self, path: &std::path::Path) {
        match RunConfig::load(path) {
            Ok(c) => {
                self.state.start_from_preset(path.to_path_buf(), c);
                self.set_status(
                    StatusTopic::Preset,
                    format!("loaded preset {}", path.display()),
                );
            }
            Err(e) => self.set_status(StatusTopic::Preset, format!("{e:#}")),
        }
    }

    pub fn save_preset(&mut self) {
        let name = crate::files::file_name_from(&self.save_as_name);
        let path = user_preset_dir().join(format!("{name}.json"));
        let result = serde_json::to_vec_pretty(&self.state.config)
            .map_err(|e| e.to_string())
            .and_then(|b| crate::files::atomic_write(&path, &b).map_err(|e| e.to_string()));
        let text = match result {
            Ok(()) => {
                self.presets = list_presets();
                let saved = self.state.config.clone();
                self.state.start_from_preset(path.clone(), saved);
                format!("saved {}", path.display())
            }
            Err(e) => format!("cannot save {}: {e}", path.display()),
        };
        self.set_status(StatusTopic::Preset, text);
    }

    /// Continue a stopped or failed run from its last checkpoint, in its own
    /// folder (as `facebench train --resume RUN`).
    pub fn resume_run(&mut self, ctx: &egui::Context, run: PathBuf) {
        if self.is_busy() {
            self.set_status(
                StatusTopic::Run,
                "a run is in progress: stop it before resuming another",
            );
            return;
        }
        self.set_status(StatusTopic::Run, format!("resuming {}…", run.display()));
        self.resume_job = Some(spawn_resume(ctx, run));
        self.state.tab = Tab::Training;
    }

    /// Do what the experiment panel asked for.
    pub(super) fn run_command(&mut self, ctx: &egui::Context, command: PanelCommand) {
        match command {
            PanelCommand::OpenDataset => self.open_dataset(ctx),
            PanelCommand::PickFolder => self.pick_folder(ctx),
            PanelCommand::PickCsv => self.pick_csv(ctx),
            PanelCommand::UseDemoDataset => self.use_demo_dataset(ctx),
            PanelCommand::LoadPreset(path) => self.load_preset(&path),
            PanelCommand::SavePreset => self.save_preset(),
            PanelCommand::StartTraining => self.start_training(ctx),
            PanelCommand::FindLr => self.find_lr(ctx),
            PanelCommand::AddToQueue => {
                let runs = self.state.runs_dir.clone();
                let data = PathBuf::from(self.state.dataset_path.trim());
                self.runs
                    .queue
                    .add(ctx, &runs, self.state.config.clone(), data);
                self.set_status(
                    StatusTopic::File,
                    format!("queued in {}", QueueFile::of(&runs).path.display()),
                );
            }
            PanelCommand::ShowLastLrSweep => self.show_last_lr_sweep(ctx),
            PanelCommand::ClearStatus(topic) => self.clear_status(topic),
        }
    }

    /// A run is training in this window, or about to.
    pub fn is_busy(&self) -> bool {
        self.resume_job.is_some() || self.session.as_ref().is_some_and(|s| s.live.is_running())
    }

    pub fn start_training(&mut self, _ctx: &egui::Context) {
        self.clear_status(StatusTopic::Run);
        let handle = start_training(TrainRequest {
            config: self.state.config.clone(),
            data_root: PathBuf::from(self.state.dataset_path.trim()),
            runs_root: self.state.runs_dir.clone(),
            resume: None,
        });
        self.session = Some(TrainSession {
            handle,
            live: LiveRun::default(),
            run_dir: None,
        });
        self.state.tab = Tab::Training;
    }
}
