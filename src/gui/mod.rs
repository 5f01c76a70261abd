//! The egui workbench. It reads the engine's events and the run store; it never
//! touches burn tensors.

mod app;
mod config_form;
mod confusion;
mod dataset_tab;
mod decimate;
mod diff_view;
mod embedding_view;
mod experiment_panel;
mod explain_view;
mod export;
mod finetune_form;
mod fonts;
mod form_rows;
mod gallery;
mod jobs;
mod live_run;
mod lr_finder;
mod plots;
mod queue_view;
mod results_tab;
mod resume;
mod run_row;
mod runs_tab;
mod state;
mod status;
mod theme;
mod thumbnails;
mod train_session;
mod training_tab;
mod try_it;

pub use app::WorkbenchApp;
pub use confusion::{confusion_order, confusion_ui, ConfusionView};
pub use decimate::{ema, min_max_envelope, Envelope, GrowingSeries, SmoothedSeries};
pub use diff_view::DiffView;
pub use embedding_view::{embedding_ui, EmbeddingView, MapAction, MapChoice};
pub use explain_view::ExplainView;
pub use fonts::{fallback_fonts, FallbackFonts, SCRIPT_SAMPLES};
pub use gallery::face_label;
pub use jobs::Job;
pub use live_run::LiveRun;
pub use lr_finder::{LrFinderAction, LrFinderView};
pub use queue_view::{QueueCommand, QueueView};
pub use results_tab::{LoadedRun, ResultsView, WRONG_PREDICTION};
pub use run_row::RunRow;
pub use runs_tab::RunTail;
pub use state::{AppState, Tab};
pub use status::{Status, StatusTopic};
pub use thumbnails::ThumbnailCache;
pub use train_session::TrainSession;
pub use training_tab::training_tab_ui;

/// What the command line asks the window to start with (over the saved state).
#[derive(Debug, Default)]
pub struct StartOptions {
    pub data: Option<std::path::PathBuf>,
    pub preset: Option<(crate::run::RunConfig, std::path::PathBuf)>,
    pub runs: Option<std::path::PathBuf>,
    /// Show this tab first.
    pub tab: Option<Tab>,
    /// Start training at launch (with the dataset and preset given).
    pub train: bool,
    /// Close the window when the run started at launch has ended.
    pub exit_when_done: bool,
}

/// Open the workbench window.
pub fn run_gui(start: StartOptions) -> eframe::Result {
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1500.0, 950.0])
            .with_title("facebench"),
        ..Default::default()
    };
    eframe::run_native(
        "facebench",
        options,
        Box::new(move |cc| Ok(Box::new(WorkbenchApp::from_creation(cc, start)))),
    )
}
