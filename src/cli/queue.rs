//! `facebench sweep` and `facebench queue`: the run queue from the command
//! line. The queue is `RUNS/queue.json`, shared with the window, which shows
//! a sweep started here as it trains.

use std::path::PathBuf;

use super::config_args::ConfigArgs;
use super::progress::{stop_on_interrupt, TrainProgress};
use super::run_args::RunsFolder;
use crate::engine::{run_queue, QueueEvent, TrainControl};
use crate::run::{default_sweep_name, expand_sweep, GridAxis};
use crate::store::{ItemState, QueueFile, QueueScope};

/// The options of `facebench sweep`.
#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// One axis of the grid, e.g. --grid optimizer.lr=1e-3,3e-4 (up to 3).
    #[arg(long = "grid", value_name = "KEY=V1,V2,...")]
    pub grid: Vec<String>,
    /// Runs per grid point, with seeds train.seed, +1, ...
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// The sweep's name (its runs are NAME-1, NAME-2, ...).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub runs: RunsFolder,
    /// Only add the runs to the queue; train them later (`facebench queue
    /// run`, or the window).
    #[arg(long)]
    pub no_run: bool,
}

/// What `facebench queue` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum QueueAction {
    /// List the queue (the default).
    List,
    /// Train the waiting runs, one at a time, until none is left.
    Run,
    /// Cancel a waiting run.
    Cancel { id: u64 },
}

pub fn sweep_command(args: SweepArgs) -> anyhow::Result<()> {
    let base = args.config.config()?;
    let axes = args
        .grid
        .iter()
        .map(|g| GridAxis::parse(g))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let name = args.name.clone().unwrap_or_else(default_sweep_name);
    let configs = expand_sweep(&name, &base, &axes, args.seeds)?;
    let data = &args.config.data;
    let data = crate::files::canonical(data);
    let file = QueueFile::of(&args.runs.path);
    let ids = file.update(|q| {
        configs
            .into_iter()
            .map(|(config, tag)| q.push(config, data.clone(), Some(tag)))
            .collect::<Vec<_>>()
    })?;
    println!(
        "sweep {name}: {} runs queued in {} (ids {}..={})",
        ids.len(),
        file.path.display(),
        ids.first().copied().unwrap_or_default(),
        ids.last().copied().unwrap_or_default()
    );
    if args.no_run {
        return Ok(());
    }
    work(&args.runs.path)
}

pub fn queue_command(runs: PathBuf, action: Option<QueueAction>) -> anyhow::Result<()> {
    let file = QueueFile::of(&runs);
    match action.unwrap_or(QueueAction::List) {
        QueueAction::List => {
            let queue = file.read()?;
            if queue.items.is_empty() {
                println!("the queue of {} is empty", runs.display());
            }
            for item in &queue.items {
                println!(
                    "{:>4}  {:<9} {}  {}",
                    item.id,
                    item.state.name(),
                    item.label(),
                    item.detail()
                );
            }
            Ok(())
        }
        QueueAction::Run => work(&runs),
        QueueAction::Cancel { id } => {
            if file.update(|q| q.cancel(id))? {
                println!("cancelled {id}");
                Ok(())
            } else {
                anyhow::bail!(
                    "{id} is not a waiting run of {}; see `facebench queue`",
                    file.path.display()
                )
            }
        }
    }
}

/// Train the queue here, with progress bars; Ctrl-C stops the current run
/// after its batch (it resumes with the queue).
fn work(runs: &std::path::Path) -> anyhow::Result<()> {
    let control = TrainControl::default();
    let stop = control.clone();
    stop_on_interrupt(stop, "stopping the queue after this batch; the run resumes with the queue (Ctrl-C again to quit now)...");
    let mut progress = TrainProgress::new();
    let mut failed = 0;
    let ended = run_queue(runs, QueueScope::All, &control, &mut |event| match event {
        QueueEvent::Started { id, label, resume } => match resume {
            Some(r) => println!("queue item {id} ({label}): resuming {}", r.display()),
            None => println!("queue item {id} ({label}): starting"),
        },
        QueueEvent::Train(e) => progress.on_event(&e),
        QueueEvent::Ended { id, state } => {
            failed += usize::from(matches!(state, ItemState::Failed { .. }));
            let detail = match &state {
                ItemState::Failed { reason, .. } => reason.clone(),
                s => s.run().map_or(String::new(), |r| r.display().to_string()),
            };
            println!("queue item {id}: {} {detail}", state.name());
        }
    })?;
    println!("{ended} queued runs ended ({failed} failed)");
    Ok(())
}
