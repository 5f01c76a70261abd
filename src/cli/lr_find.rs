//! `facebench lr-find`: the learning-rate finder from the command line.

use indicatif::{ProgressBar, ProgressStyle};

use super::config_args::ConfigArgs;
use super::progress::stop_on_interrupt;
use crate::engine::{find_lr, LrFindRequest, LrPoint, TrainControl};
use crate::run::DeviceChoice;

/// The options of `facebench lr-find`.
#[derive(Debug, Clone, clap::Args)]
pub struct LrFindArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// First learning rate of the sweep.
    #[arg(long, default_value_t = 1e-7)]
    pub start_lr: f64,
    /// Last learning rate of the sweep.
    #[arg(long, default_value_t = 10.0)]
    pub end_lr: f64,
    /// Steps at most (the sweep stops early when the loss diverges).
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,
    /// auto, cpu, cuda[:N] or wgpu[:N] (see `facebench doctor`) (overrides the preset's `device`).
    #[arg(long)]
    pub device: Option<DeviceChoice>,
}

pub fn lr_find_command(args: LrFindArgs) -> anyhow::Result<()> {
    let mut config = args.config.config()?;
    if let Some(d) = args.device {
        config.device = d;
    }
    let mut request = LrFindRequest::new(config, args.config.data.clone());
    request.start_lr = args.start_lr;
    request.end_lr = args.end_lr;
    request.iterations = args.iterations;
    let control = TrainControl::default();
    let stop = control.clone();
    stop_on_interrupt(
        stop,
        "stopping the sweep after this step (Ctrl-C again to quit now)...",
    );
    let bar = ProgressBar::new(request.iterations as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} steps {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut on_point = |p: &LrPoint| {
        bar.inc(1);
        bar.set_message(format!("lr {:.2e} loss {:.4}", p.lr, p.smoothed));
    };
    let result = find_lr(&request, &control, &mut on_point)?;
    bar.finish_and_clear();
    let scratch = result.save_scratch()?;
    let end = result.end.describe();
    println!(
        "{} steps from {:.1e} to {:.1e} ({end})",
        result.points.len(),
        request.start_lr,
        result.points.last().map_or(0.0, |p| p.lr)
    );
    let show = |v: Option<f64>| v.map_or("none (too few steps)".into(), |lr| format!("{lr:.2e}"));
    println!(
        "suggested learning rate (valley):           {}",
        show(result.valley)
    );
    println!(
        "suggested learning rate (steepest descent): {}",
        show(result.steepest)
    );
    println!("curve: {}", scratch.display());
    Ok(())
}
