//! What each subcommand does.

use std::io::Write;
use std::path::PathBuf;

use super::bench;
use super::config_args::preset_config;
use super::diff::diff_command;
use super::embed::embed_command;
use super::explain::explain_command;
use super::progress::{stop_on_interrupt, TrainProgress};
use super::run_args::{RunArg, RunsFolder};
use super::{BenchArgs, Cli, Command, WeightsAction};
use crate::data::demo::{generate_demo_dataset, DemoConfig};
use crate::data::{DatasetReport, SplitConfig};
use crate::engine::{evaluate_run, start_training, TrainRequest};
use crate::model::{layer_table, trainable_params, Architecture, ModelConfig};
use crate::numbers::thousands;
use crate::run::{DeviceChoice, RunConfig, TrainEvent};

/// Run the parsed command line.
pub fn run_cli(cli: Cli) -> anyhow::Result<()> {
    if let Some(threads) = cli.threads {
        if threads == 0 {
            anyhow::bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(|e| anyhow::anyhow!("cannot set up {threads} threads: {e}"))?;
    }
    match cli.command.unwrap_or(Command::Gui {
        data: None,
        preset: None,
        runs: None,
        train: false,
        exit_when_done: false,
        tab: None,
    }) {
        Command::Gui {
            data,
            preset,
            runs,
            train,
            exit_when_done,
            tab,
        } => gui(data, preset, runs, tab, train, exit_when_done),
        Command::Train {
            data,
            preset,
            set,
            runs,
            resume,
            device,
            json,
        } => train(data, preset, set, runs.path, resume, device, json),
        Command::Eval { run, data, device } => eval(&run, data, device),
        Command::Runs { runs, json } => list_runs(runs, json),
        Command::DataReport {
            dir,
            val_fraction,
            test_fraction,
            seed,
            json,
        } => {
            let split = SplitConfig {
                val_fraction,
                test_fraction,
                seed,
            };
            data_report(&dir, &split, json)
        }
        Command::DemoData {
            dir,
            people,
            images,
            size,
            seed,
        } => demo_data(
            &dir,
            &DemoConfig {
                people,
                images_per_person: images,
                size,
                seed,
            },
        ),
        Command::Bench(args) => bench_command(args),
        Command::Doctor(args) => super::doctor::doctor_command(args),
        Command::ModelInfo {
            arch,
            classes,
            depths,
            base_planes,
            layers,
        } => model_info_command(&arch, classes, depths, base_planes, layers),
        Command::Explain(args) => explain_command(args),
        Command::Predict(args) => super::predict::predict_command(args),
        Command::Export(args) => super::export::export_command(args),
        Command::LrFind(args) => super::lr_find::lr_find_command(args),
        Command::Sweep(args) => super::queue::sweep_command(args),
        Command::Queue { action, runs } => super::queue::queue_command(runs, action),
        Command::Diff {
            run_a,
            run_b,
            runs,
            csv,
        } => diff_command(&runs.store(), &run_a, &run_b, csv.as_deref()),
        Command::Embed {
            run,
            split,
            method,
            out,
            device,
        } => embed_command(&run, &split, &method, &out, device),
        Command::Cache { clear } => cache_command(clear),
        Command::Weights {
            action:
                WeightsAction::Check {
                    file,
                    arch,
                    tensors,
                },
        } => weights_check(&file, &arch, tensors),
    }
}

/// `facebench` / `facebench gui`: the window.
fn gui(
    data: Option<PathBuf>,
    preset: Option<PathBuf>,
    runs: Option<PathBuf>,
    tab: Option<String>,
    train: bool,
    exit_when_done: bool,
) -> anyhow::Result<()> {
    let preset = match preset {
        Some(p) => Some((RunConfig::load(&p)?, p)),
        None => None,
    };
    let tab = tab.and_then(|t| {
        crate::gui::Tab::ALL
            .into_iter()
            .find(|x| x.title().eq_ignore_ascii_case(&t))
    });
    crate::gui::run_gui(crate::gui::StartOptions {
        data,
        preset,
        runs,
        tab,
        train,
        exit_when_done,
    })
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}; use the CLI subcommands (facebench --help) on a machine without a display"))
}

/// `facebench eval`: evaluate a run's best checkpoint and write eval.json.
fn eval(run: &RunArg, data: Option<PathBuf>, device: DeviceChoice) -> anyhow::Result<()> {
    let run = run.open()?;
    let report = evaluate_run(&run, data.as_deref(), device)?;
    println!(
        "{} on {} ({} images, {} checkpoint): accuracy {:.2}%  macro F1 {:.4}  weighted F1 {:.4}  macro AUC {}  micro AUC {}",
        run.name(),
        report.split,
        report.images,
        report.checkpoint,
        report.accuracy * 100.0,
        report.macro_avg.f1,
        report.weighted_avg.f1,
        fmt_opt(report.auc_macro),
        fmt_opt(report.auc_micro)
    );
    println!("wrote {}", run.eval_path().display());
    Ok(())
}

/// `facebench data-report`.
fn data_report(dir: &std::path::Path, split: &SplitConfig, json: bool) -> anyhow::Result<()> {
    let (report, _) = DatasetReport::scan(dir, split)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    anyhow::ensure!(
        report.problems.is_empty(),
        "{} problem(s) in {} stop training on it (listed above)",
        report.problems.len(),
        dir.display()
    );
    Ok(())
}

/// `facebench demo-data`.
fn demo_data(dir: &std::path::Path, config: &DemoConfig) -> anyhow::Result<()> {
    generate_demo_dataset(dir, config)?;
    let (people, images, size) = (config.people, config.images_per_person, config.size);
    println!(
        "wrote {people} people x {images} images ({size}x{size} PNG) to {}",
        dir.display()
    );
    println!(
        "train on it: facebench train --data {} --preset presets/resnet-tiny-cpu.json",
        dir.display()
    );
    Ok(())
}

/// `facebench bench`: the loader and/or the model's train step and inference,
/// beside PyTorch with --compare-pytorch.
fn bench_command(args: BenchArgs) -> anyhow::Result<()> {
    let depths: [usize; 4] = args
        .depths
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("--depths needs four numbers, e.g. 3,4,6,3"))?;
    let architecture = Architecture::parse(&args.arch).map_err(anyhow::Error::msg)?;
    if args.frozen_base && !architecture.is_transfer() {
        anyhow::bail!("--frozen-base needs a pretrained architecture (xception or densenet121); a ResNet trains from scratch");
    }
    let device = args.device.resolve().map_err(anyhow::Error::msg)?;
    println!(
        "machine: {} cores; device {device}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if args.loader || args.loader_only || args.data.is_some() {
        let tmp;
        let root = match args.data {
            Some(d) => d,
            None => {
                tmp = tempfile::tempdir()?;
                generate_demo_dataset(
                    tmp.path(),
                    &DemoConfig {
                        size: 128,
                        ..DemoConfig::default()
                    },
                )?
            }
        };
        bench::print_table(&bench::bench_loader(&root, &args.sizes, args.batch)?);
    }
    if args.loader_only {
        return Ok(());
    }
    let spec = bench::ModelBench {
        model: ModelConfig {
            architecture,
            depths,
            ..ModelConfig::default()
        },
        frozen_base: args.frozen_base,
        sizes: args.sizes,
        batch: args.batch,
        steps: args.steps,
        classes: args.classes,
    };
    let ours = bench::bench_model(&spec, device);
    let peer = if args.compare_pytorch {
        bench::compare_pytorch(&spec, device)
    } else {
        None
    };
    bench::print_model_table(&spec, device, &ours, peer.as_ref());
    Ok(())
}

/// `facebench model-info`.
fn model_info_command(
    arch: &str,
    classes: usize,
    depths: Option<Vec<usize>>,
    base_planes: Option<usize>,
    layers: bool,
) -> anyhow::Result<()> {
    let mut config = ModelConfig {
        architecture: Architecture::parse(arch).map_err(anyhow::Error::msg)?,
        ..ModelConfig::default()
    };
    if let Some(d) = depths {
        config.depths = d.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!("--depths needs four numbers, one per stage, e.g. 3,4,6,3")
        })?;
    }
    if let Some(b) = base_planes {
        config.base_planes = b;
    }
    let run = RunConfig {
        model: config.clone(),
        ..RunConfig::default()
    };
    if let Some(p) = run.problems().into_iter().find(|p| p.field.is_model()) {
        anyhow::bail!("{p}");
    }
    anyhow::ensure!(classes >= 2, "--classes must be at least 2");
    model_info(&config, classes, layers);
    Ok(())
}

/// `facebench weights check`.
fn weights_check(file: &std::path::Path, arch: &str, tensors: bool) -> anyhow::Result<()> {
    let arch = Architecture::parse(arch).map_err(anyhow::Error::msg)?;
    let report = crate::weights::check_weights(file, arch)?;
    println!(
        "{}: {} weights for {} fit",
        report.file.display(),
        report.format.name(),
        arch.name()
    );
    println!("  tensors matched: {}", report.matched.len());
    println!(
        "  parameters: {} (Keras count, with batch-norm statistics); {} trainable",
        thousands(report.values),
        thousands(report.trainable)
    );
    if !report.ignored.is_empty() {
        println!(
            "  ignored (ImageNet top / counters): {}",
            report.ignored.join(", ")
        );
    }
    if tensors {
        for (path, shape) in &report.matched {
            println!("  {path:<48} {shape:?}");
        }
    }
    Ok(())
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |a| format!("{a:.4}"))
}

fn train(
    data: Option<PathBuf>,
    preset: Option<PathBuf>,
    set: Vec<String>,
    runs: PathBuf,
    resume: Option<String>,
    device: Option<DeviceChoice>,
    json: bool,
) -> anyhow::Result<()> {
    let mut config = preset_config(preset.as_deref(), &set)?;
    if let Some(d) = device {
        config.device = d;
    }
    config.check()?;
    let request = TrainRequest {
        config,
        data_root: data.unwrap_or_default(),
        runs_root: runs,
        resume: resume.map(PathBuf::from),
    };
    let handle = start_training(request);
    // first Ctrl-C (or SIGTERM / SIGHUP): stop after this batch and
    // checkpoint; a second one: quit at once
    let control = handle.control.clone();
    stop_on_interrupt(
        control.clone(),
        "stopping after this batch and saving a checkpoint (Ctrl-C again to quit now)...",
    );
    let mut progress = TrainProgress::new();
    let mut failure = None;
    let mut run_dir = None;
    // a closed stdout (`| head -1`) ends the output, never the training
    let mut stdout_open = true;
    for event in handle.events.iter() {
        if json {
            if stdout_open {
                let mut out = std::io::stdout().lock();
                stdout_open = serde_json::to_writer(&mut out, &event).is_ok()
                    && out.write_all(b"\n").is_ok()
                    && out.flush().is_ok();
            }
        } else {
            progress.on_event(&event);
        }
        match event {
            TrainEvent::Failed { error } => failure = Some(error),
            TrainEvent::Started { run_dir: d, .. } => run_dir = Some(d),
            _ => {}
        }
    }
    handle.join();
    if let Some(e) = failure {
        anyhow::bail!(e);
    }
    if let Some(d) = run_dir {
        if control.is_stopping() {
            let _ = writeln!(
                std::io::stderr(),
                "continue with: facebench train --resume {}",
                d.display()
            );
        }
    }
    Ok(())
}

fn list_runs(runs: RunsFolder, json: bool) -> anyhow::Result<()> {
    let store = runs.store();
    let mut summaries = Vec::new();
    for run in store.list()? {
        match run.summary() {
            Ok(s) => summaries.push(s),
            Err(e) => eprintln!("skipping {}: {e:#}", run.path.display()),
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
        return Ok(());
    }
    if summaries.is_empty() {
        println!("no runs in {}", runs.path.display());
        return Ok(());
    }
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |a| format!("{:.2}%", a * 100.0));
    // a column is as wide as its widest cell or its heading
    let width = |cells: &mut dyn Iterator<Item = &str>, heading: &str| {
        cells
            .map(|c| c.chars().count())
            .fold(heading.len(), usize::max)
    };
    let datasets: Vec<String> = summaries.iter().map(|s| s.dataset_label()).collect();
    let name_w = width(&mut summaries.iter().map(|s| s.name.as_str()), "name");
    let arch_w = width(
        &mut summaries.iter().map(|s| s.architecture.as_str()),
        "architecture",
    );
    let data_w = width(&mut datasets.iter().map(String::as_str), "dataset");
    println!(
        "{:<name_w$}  {:<data_w$}  {:<arch_w$}  {:>7}  {:>12}  {:>9}  {:>8}  {:>11}  {:>8}  status",
        "name",
        "dataset",
        "architecture",
        "epochs",
        "best val acc",
        "test acc",
        "macro F1",
        "params",
        "time"
    );
    for (s, data) in summaries.into_iter().zip(datasets) {
        println!(
            "{:<name_w$}  {:<data_w$}  {:<arch_w$}  {:>7}  {:>12}  {:>9}  {:>8}  {:>11}  {:>8}  {}",
            s.name,
            data,
            s.architecture,
            format!("{}/{}", s.epochs_completed, s.epochs_planned),
            pct(s.best_val_accuracy),
            pct(s.test.map(|t| t.accuracy)),
            s.test.map_or("-".into(), |t| format!("{:.4}", t.macro_f1)),
            thousands(s.params),
            format!("{:.0}s", s.seconds),
            s.status
        );
    }
    Ok(())
}

fn model_info(config: &ModelConfig, classes: usize, layers: bool) {
    type B = burn::backend::Flex;
    let device = burn::backend::flex::FlexDevice;
    let model = config.init::<B>(classes, &device);
    let table = layer_table::<B, _>(&model);
    if layers {
        let w = table.iter().map(|r| r.path.len()).max().unwrap_or(4);
        for r in &table {
            println!(
                "{:<w$}  {:<20}  {:>10}{}",
                r.path,
                format!("{:?}", r.shape),
                r.params,
                if r.trainable { "" } else { "  (buffer)" }
            );
        }
        println!();
    }
    let buffers: usize = table
        .iter()
        .filter(|r| !r.trainable)
        .map(|r| r.params)
        .sum();
    println!("architecture  {}", config.display_name());
    println!("classes       {classes}");
    println!("tensors       {}", table.len());
    println!(
        "parameters    {} trainable",
        thousands(trainable_params::<B, _>(&model))
    );
    println!(
        "buffers       {} (batch-norm running statistics)",
        thousands(buffers)
    );
    if config.architecture.is_transfer() {
        let base = |r: &&crate::model::LayerRow| r.path.starts_with("base");
        let base_trainable: usize = table
            .iter()
            .filter(base)
            .filter(|r| r.trainable)
            .map(|r| r.params)
            .sum();
        let base_all: usize = table.iter().filter(base).map(|r| r.params).sum();
        let features = match config.architecture {
            Architecture::Xception => crate::model::XCEPTION_FEATURES,
            _ => crate::model::DENSENET121_FEATURES,
        };
        println!(
            "base          {} trainable, {} with statistics (Keras count_params of the no-top model)",
            thousands(base_trainable),
            thousands(base_all)
        );
        println!(
            "              with a plain linear classifier instead of the head: {} (the torchvision/timm count)",
            thousands(base_trainable + features * classes + classes)
        );
    }
}

/// `facebench cache [--clear]`: where the image cache is, its files and size.
fn cache_command(clear: bool) -> anyhow::Result<()> {
    use crate::loader::{cache_folder, cache_usage, clear_cache};
    let Some(folder) = cache_folder() else {
        println!("no image cache: FACEBENCH_IMAGE_CACHE is off; splits are decoded into memory");
        return Ok(());
    };
    if clear {
        let freed = clear_cache(&folder)?;
        println!(
            "deleted {} cache files ({}) in {}",
            freed.files,
            crate::numbers::human_bytes(freed.bytes),
            folder.display()
        );
        return Ok(());
    }
    let usage = cache_usage(&folder);
    println!(
        "image cache: {}\n{} files, {} (delete with `facebench cache --clear`; FACEBENCH_CACHE_DIR moves it)",
        folder.display(),
        usage.files,
        crate::numbers::human_bytes(usage.bytes)
    );
    Ok(())
}
