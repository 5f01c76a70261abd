//! `facebench predict RUN PATH...`: the top classes of any faces with a
//! run's best checkpoint, preprocessed as its evaluation was.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::run_args::RunArg;
use crate::data::face_files;
use crate::engine::{predict_run, FacePrediction, PredictRequest};
use crate::files::{csv_quote, write_file};
use crate::run::DeviceChoice;

/// The options of `facebench predict`.
#[derive(Debug, Clone, clap::Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub run: RunArg,
    /// Face images, or folders of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// How many classes to list per face.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Also write one row per face and rank (path, rank, class, probability).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// auto, cpu, cuda[:N] or wgpu[:N] (see `facebench doctor`).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
}

pub fn predict_command(args: PredictArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.top >= 1, "--top must be at least 1");
    let run = args.run.open()?;
    let classes = run.read_record()?.dataset.classes;
    let images = face_files(&args.paths)?;
    let progress = Arc::new(AtomicUsize::new(0));
    let request = PredictRequest {
        run: run.path.clone(),
        images,
        device: args.device,
        progress: Some(progress.clone()),
    };
    let bar = ProgressBar::new(request.images.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} faces {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let predictions = std::thread::scope(|scope| {
        let worker = scope.spawn(|| predict_run(&request));
        while !worker.is_finished() {
            bar.set_position(progress.load(Ordering::Relaxed) as u64);
            std::thread::sleep(Duration::from_millis(100));
        }
        worker
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the prediction thread panicked")))
    })?;
    bar.finish_and_clear();
    for p in &predictions {
        let top: Vec<String> = p
            .top(args.top)
            .iter()
            .map(|&(c, probability)| format!("{} {:.1}%", classes[c], probability * 100.0))
            .collect();
        println!("{}: {}", p.image.display(), top.join(", "));
    }
    if let Some(path) = &args.csv {
        write_file(
            path,
            predictions_csv(&predictions, &classes, args.top).as_bytes(),
        )?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn predictions_csv(predictions: &[FacePrediction], classes: &[String], top: usize) -> String {
    let mut out = String::from("path,rank,class,probability\n");
    for p in predictions {
        for (rank, (c, probability)) in p.top(top).into_iter().enumerate() {
            out += &format!(
                "{},{},{},{}\n",
                csv_quote(&p.image.to_string_lossy()),
                rank + 1,
                csv_quote(&classes[c]),
                probability
            );
        }
    }
    out
}
