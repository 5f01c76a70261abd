//! The GPU path, run without a GPU: burn-wgpu on whatever Vulkan adapter is
//! here (Mesa's lavapipe in CI, which runs burn-cubecl's kernels, the ones
//! CUDA runs too, on the CPU). In CI (`CI` set) a machine without a Vulkan
//! device fails these tests; elsewhere they say so and return.
//!
//! - every layer family forward and backward against the CPU (the check
//!   `facebench doctor` runs);
//! - a whole run: train, stop mid-epoch, resume, evaluate, Grad-CAM,
//!   predict, embed and export, with the outcomes the CPU tests assert;
//! - ten runs and ten window-style jobs in one process, each on a thread of
//!   its own, leave the device's memory where the first left it;
//! - `--device cuda` without the driver or NVRTC is a one-line error.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use facebench::engine::{
    evaluate_run, explain_run, export_run, layer_parity, predict_run, start_training,
    train_blocking, AdapterKind, ExplainRequest, ExportFormat, ExportRequest, PredictRequest,
    ResolvedDevice, TrainRequest,
};
use facebench::run::{DeviceChoice, FinishStatus, RunConfig, TrainEvent};
use facebench::store::RunDir;

/// One wgpu test at a time: they share the device, and the memory test
/// counts everything on it.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The wgpu adapter to test on (the software one when there is one, as in
/// CI), or None outside CI when this machine has no Vulkan device.
fn wgpu_device() -> Option<DeviceChoice> {
    let adapters = facebench::engine::wgpu_adapters();
    let index = adapters
        .iter()
        .position(|a| a.kind == AdapterKind::Software)
        .or(if adapters.is_empty() { None } else { Some(0) });
    match index {
        Some(i) => Some(DeviceChoice::Wgpu(i)),
        None if std::env::var_os("CI").is_some() => panic!(
            "no Vulkan adapter: the wgpu tests need one in CI (Debian: apt-get install libvulkan1 mesa-vulkan-drivers; .ci/run installs them)"
        ),
        None => {
            eprintln!("skipped: no Vulkan adapter here (apt-get install libvulkan1 mesa-vulkan-drivers)");
            None
        }
    }
}

/// The largest |a - b| over two value lists (paired up to the shorter).
fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn resolved(choice: DeviceChoice) -> ResolvedDevice {
    choice.resolve().expect("the wgpu adapter resolves")
}

/// The tests' tiny ResNet (64 px, the smallest input a config accepts) on
/// `device`, batches of 8.
fn gpu_config(device: DeviceChoice, epochs: usize) -> RunConfig {
    let mut c = common::tiny_config(epochs);
    c.device = device;
    c.train.batch_size = 8;
    c
}

#[test]
fn every_layer_family_matches_the_cpu_forward_and_backward() {
    let _one = one_at_a_time();
    let Some(device) = wgpu_device() else { return };
    let pointwise_before = facebench::kernels::gpu_pointwise_calls();
    let checks = layer_parity(resolved(device));
    assert_eq!(checks.len(), 10);
    assert!(
        facebench::kernels::gpu_pointwise_calls() > pointwise_before,
        "the 1x1 convolutions ran as matrix products"
    );
    for c in &checks {
        println!("{:<55} {:.2e} ({} tensors)", c.name, c.max_rel, c.tensors);
    }
    let failed: Vec<_> = checks.iter().filter(|c| !c.passed()).collect();
    assert!(failed.is_empty(), "differs from the CPU: {failed:?}");
}

fn events_of(request: TrainRequest, stop_at: Option<(usize, usize)>) -> Vec<TrainEvent> {
    let handle = start_training(request);
    let mut events = Vec::new();
    for ev in handle.events.iter() {
        if let (TrainEvent::Iteration { epoch, batch, .. }, Some(at)) = (&ev, stop_at) {
            if (*epoch, *batch) == at {
                handle.control.stop();
            }
        }
        events.push(ev);
    }
    handle.join();
    events
}

fn test_faces(data: &Path, n: usize) -> Vec<PathBuf> {
    let mut faces: Vec<PathBuf> = std::fs::read_dir(data)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect();
    faces.sort();
    faces.into_iter().step_by(7).take(n).collect()
}

#[test]
fn a_whole_run_trains_stops_resumes_and_is_inspected_on_wgpu() {
    let _one = one_at_a_time();
    let Some(device) = wgpu_device() else { return };
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 4, 30, 48);
    let config = gpu_config(device, 6);
    let request = |resume: Option<PathBuf>| TrainRequest {
        config: config.clone(),
        data_root: data.clone(),
        runs_root: tmp.path().join("runs"),
        resume,
    };

    // stop in the middle of epoch 2
    let first = events_of(request(None), Some((2, 2)));
    let started_on = first.iter().find_map(|e| match e {
        TrainEvent::Started { device, .. } => Some(device.clone()),
        _ => None,
    });
    assert!(
        started_on
            .as_deref()
            .is_some_and(|d| d.starts_with("wgpu:") && d.contains(':')),
        "the run reports its device with its name: {started_on:?}"
    );
    let batches = common::batches_per_epoch(&first);
    // 4 people x 30 faces, 80% train: 96 faces, 12 full batches of 8; a
    // GPU drops no batch here, and the count is what the CPU would make
    assert_eq!(batches, Some(12));
    let saved = common::last_checkpoint(&first);
    assert!(
        matches!(saved, Some((1, Some(b))) if b >= 2),
        "a mid-epoch checkpoint of epoch 2: {saved:?}"
    );

    // resume it to the end
    let run = common::run_dir(&first);
    let second = events_of(request(Some(run.clone())), None);
    let losses: Vec<f64> = first
        .iter()
        .chain(&second)
        .filter_map(|e| match e {
            TrainEvent::Iteration { loss, .. } => Some(*loss),
            _ => None,
        })
        .collect();
    assert!(
        losses.iter().all(|l| l.is_finite()),
        "no NaN or inf loss on the GPU"
    );
    let (start, end) = (
        losses[..6].iter().sum::<f64>() / 6.0,
        losses[losses.len() - 6..].iter().sum::<f64>() / 6.0,
    );
    assert!(
        end < 0.7 * start,
        "train loss falls on the GPU: {start:.3} -> {end:.3}"
    );
    let test_accuracy = second.iter().find_map(|e| match e {
        TrainEvent::Finished {
            status: FinishStatus::Completed,
            test_accuracy,
            epochs_completed: 6,
            ..
        } => *test_accuracy,
        _ => None,
    });
    let test_accuracy =
        test_accuracy.unwrap_or_else(|| panic!("finished 6 epochs: {:?}", second.last()));
    assert!(
        test_accuracy >= 0.5,
        "test accuracy {test_accuracy:.3}, chance 0.25"
    );

    // evaluation on the GPU agrees with the CPU's on the same checkpoint
    // (with burn's autotune it did not, on some machines: in CI loss 1.737
    // against 0.691; see the_gpu_backends_are_built_without_autotune_or_fusion)
    let dir = RunDir::new(&run);
    let on_gpu = evaluate_run(&dir, None, device).unwrap();
    let on_cpu = evaluate_run(&dir, None, DeviceChoice::Cpu).unwrap();
    assert_eq!(on_gpu.images, on_cpu.images);
    assert!(
        (on_gpu.loss - on_cpu.loss).abs() < 1e-4 * on_cpu.loss.max(1.0),
        "test loss: wgpu {} cpu {}",
        on_gpu.loss,
        on_cpu.loss
    );
    assert!((on_gpu.accuracy - on_cpu.accuracy).abs() <= 1.0 / on_cpu.images as f64);

    // Grad-CAM and predict on the GPU, against the CPU
    let faces = test_faces(&data, 3);
    let explain = |device| {
        let mut request = ExplainRequest::new(&dir, faces.clone()).unwrap();
        request.device = device;
        explain_run(&request).unwrap()
    };
    let (cam_gpu, cam_cpu) = (explain(device), explain(DeviceChoice::Cpu));
    assert_eq!(cam_gpu.len(), 3);
    for (g, c) in cam_gpu.iter().zip(&cam_cpu) {
        assert_eq!(g.predicted, c.predicted);
        assert_eq!(g.map_size, c.map_size);
        let diff = max_abs_diff(&g.map, &c.map);
        assert!(diff < 1e-2, "Grad-CAM map differs by {diff}");
    }
    let predict = |device| {
        predict_run(&PredictRequest {
            run: run.clone(),
            images: faces.clone(),
            device,
            progress: None,
        })
        .unwrap()
    };
    for (g, c) in predict(device).iter().zip(&predict(DeviceChoice::Cpu)) {
        let diff = max_abs_diff(&g.probabilities, &c.probabilities);
        assert!(
            diff < 1e-3,
            "{}: probabilities differ by {diff}",
            g.image.display()
        );
    }

    // a GPU-trained run exports like any other
    let out = tmp.path().join("export/model.safetensors");
    let report = export_run(&ExportRequest {
        run: run.clone(),
        format: ExportFormat::Safetensors,
        out: out.clone(),
    })
    .unwrap();
    assert!(report.weights.exists() && out.with_extension("json").exists());
}

#[test]
fn ten_runs_and_ten_jobs_in_one_process_leave_device_memory_flat() {
    let _one = one_at_a_time();
    let Some(device) = wgpu_device() else { return };
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 12, 32);
    let gpu = resolved(device);
    let config = gpu_config(device, 1);
    let mut after = Vec::new();
    let mut last_run = None;
    for i in 0..10 {
        // each run on a thread of its own, as the window and the queue do
        let run = train_blocking(
            TrainRequest {
                config: RunConfig {
                    name: Some(format!("run{i}")),
                    ..config.clone()
                },
                data_root: data.clone(),
                runs_root: tmp.path().join("runs"),
                resume: None,
            },
            |_| {},
        )
        .unwrap();
        // ... and a window job (predict) on another new thread
        let faces = test_faces(&data, 2);
        let job_run = run.clone();
        std::thread::spawn(move || {
            predict_run(&PredictRequest {
                run: job_run,
                images: faces,
                device,
                progress: None,
            })
            .unwrap()
        })
        .join()
        .unwrap();
        let memory = gpu.memory().expect("a GPU reports its memory");
        println!("after run and job {i}: {memory:?}");
        after.push(memory);
        last_run = Some(run);
    }
    assert!(last_run.is_some());
    // the measurement sees memory while a job holds it
    let held = gpu.dispatch(HoldFourMib { gpu });
    assert!(held.in_use >= 4 << 20, "4 MiB held, measured {held:?}");
    let first = after[0];
    for (i, m) in after.iter().enumerate() {
        assert_eq!(
            m.in_use, first.in_use,
            "live device memory after run {i}: {after:?}"
        );
        assert!(
            m.reserved <= first.reserved,
            "device memory held after run {i} grew: {after:?}"
        );
    }
}

#[test]
fn doctor_checks_a_wgpu_adapter_against_the_cpu() {
    let _one = one_at_a_time();
    let Some(device) = wgpu_device() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = common::facebench(&["doctor", "--device", &device.to_string()], tmp.path());
    assert!(ok, "{out}");
    assert!(
        out.contains("wgpu adapters:") && out.contains("auto picks:"),
        "{out}"
    );
    assert!(
        out.contains("| depthwise conv 3x3 (Xception separable) |"),
        "{out}"
    );
    assert!(out.contains("agrees with the CPU"), "{out}");
    assert_eq!(out.matches("| ok |").count(), 10, "{out}");
}

#[test]
fn an_adapter_past_the_last_is_an_error_not_a_panic() {
    let err = DeviceChoice::Wgpu(99).resolve().unwrap_err();
    assert!(err.contains("wgpu:99"), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = common::facebench(&["doctor", "--device", "wgpu:99"], tmp.path());
    assert!(!ok);
    assert!(!out.contains("panicked"), "{out}");
}

/// `--device cuda` with a driver and an NVRTC that do not load (named by the
/// overrides, so this holds on a machine with CUDA too): one line, exit 1.
#[test]
fn cuda_without_its_driver_or_nvrtc_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 2, 6, 32);
    for (driver, expected) in [
        (
            "libcuda-not-here.so.1",
            "no NVIDIA driver (libcuda-not-here.so.1 does not load)",
        ),
        // a library that loads but is not the driver (libc has no cuInit)
        ("libc.so.6", "libc.so.6 loaded but has no cuInit"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_facebench"))
            .args(["train", "--data"])
            .arg(&data)
            .args(["--device", "cuda", "--runs"])
            .arg(tmp.path().join("runs"))
            .env("FACEBENCH_CUDA_DRIVER_LIB", driver)
            .env("FACEBENCH_NVRTC_LIB", "libnvrtc-not-here.so")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(
            lines[0].starts_with("error: cuda:0 cannot run: "),
            "{stderr}"
        );
        assert!(lines[0].contains(expected), "{stderr}");
        assert!(
            lines[0].contains("no NVRTC (libnvrtc-not-here.so does not load"),
            "{stderr}"
        );
        assert!(
            !tmp.path().join("runs").exists()
                || std::fs::read_dir(tmp.path().join("runs"))
                    .unwrap()
                    .next()
                    .is_none(),
            "no run folder is left"
        );
    }
}

/// Holds a 4 MiB tensor on the device and measures the memory meanwhile.
struct HoldFourMib {
    gpu: ResolvedDevice,
}

impl facebench::engine::OnBackend for HoldFourMib {
    type Output = facebench::engine::DeviceMemory;
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let t = burn::tensor::Tensor::<B, 2>::ones([1024, 1024], &device);
        let _ = B::sync(&device);
        let memory = self.gpu.memory().expect("a GPU reports its memory");
        drop(t);
        memory
    }
}

/// Every depthwise convolution of Xception (traced from the model at 71 px,
/// batch 2): output, input gradient and weight gradient on wgpu, through
/// facebench's depthwise op, against the CPU.
#[test]
fn every_xception_depthwise_shape_matches_the_cpu_through_facebench_weight_gradient() {
    use burn::backend::{Autodiff, Flex};
    use burn::prelude::*;
    use facebench::kernels::{gpu_depthwise_calls, trace_convolutions, ConvCall};
    use facebench::model::{Architecture, ModelConfig};
    use rand::{Rng, SeedableRng};
    let _one = one_at_a_time();
    let Some(device) = wgpu_device() else { return };
    let config = ModelConfig {
        architecture: Architecture::Xception,
        ..ModelConfig::default()
    };
    let model = config.init::<Flex>(10, &Default::default());
    let (_, seen) =
        trace_convolutions(|| model.forward(Tensor::zeros([1, 3, 71, 71], &Default::default())));
    let mut shapes = Vec::new();
    for ConvCall {
        spec, x, weight, ..
    } in seen
    {
        if spec.groups > 1 && spec.groups == x[1] && !shapes.contains(&(spec, x, weight)) {
            shapes.push((spec, x, weight));
        }
    }
    assert!(shapes.len() >= 8, "Xception's depthwise shapes: {shapes:?}");
    let gpu = resolved(device);
    let before = gpu_depthwise_calls();
    for (k, (spec, mut xd, wd)) in shapes.iter().copied().enumerate() {
        xd[0] = 2;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(k as u64);
        let mut draw =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.random_range(-1.0..1.0)).collect() };
        // stride 1 and "same" padding: the output has the input's size
        let job = DepthwiseJob {
            x: draw(xd.iter().product()),
            w: draw(wd.iter().product()),
            r: draw(xd.iter().product()),
            xd,
            wd,
            spec,
        };
        let cpu = conv_and_grads::<Autodiff<Flex>>(&job, &Default::default());
        let on_gpu = gpu.dispatch(job);
        let what = ["output", "input gradient", "weight gradient"];
        for (what, (g, c)) in what.iter().zip(on_gpu.iter().zip(&cpu)) {
            let scale = c.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let diff = max_abs_diff(g, c);
            assert!(
                g.len() == c.len() && diff / scale <= 1e-4,
                "x {xd:?} w {wd:?}: {what} differs by {:e}",
                diff / scale
            );
        }
    }
    assert_eq!(
        gpu_depthwise_calls() - before,
        shapes.len(),
        "facebench's depthwise op ran every shape"
    );
}

/// One depthwise convolution's inputs, on the host.
struct DepthwiseJob {
    x: Vec<f32>,
    w: Vec<f32>,
    /// Each output element's weight in the summed loss.
    r: Vec<f32>,
    xd: [usize; 4],
    wd: [usize; 4],
    spec: facebench::kernels::ConvSpec,
}

impl facebench::engine::OnBackend for DepthwiseJob {
    type Output = [Vec<f32>; 3];
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: B::Device) -> Self::Output {
        conv_and_grads::<B>(&self, &device)
    }
}

/// y, dx and dw of `facebench::kernels::conv2d` on backend `A`.
fn conv_and_grads<A: burn::tensor::backend::AutodiffBackend>(
    job: &DepthwiseJob,
    device: &A::Device,
) -> [Vec<f32>; 3] {
    use burn::prelude::*;
    let tensor = |v: &[f32], d: [usize; 4]| {
        Tensor::<A, 4>::from_data(TensorData::new(v.to_vec(), d), device)
    };
    let x = tensor(&job.x, job.xd).require_grad();
    let w = tensor(&job.w, job.wd).require_grad();
    let y = facebench::kernels::conv2d(x.clone(), w.clone(), None, job.spec);
    let grads = (y.clone() * tensor(&job.r, y.dims())).sum().backward();
    let host = |t: Tensor<A::InnerBackend, 4>| t.into_data().to_vec::<f32>().unwrap();
    [
        host(y.inner()),
        host(x.grad(&grads).unwrap()),
        host(w.grad(&grads).unwrap()),
    ]
}

/// The GPU backends are built without burn's autotune and fusion. Autotune
/// picks each kernel by timing the candidates on the machine at hand, so the
/// kernels these tests check need not be the ones another machine runs: in
/// CI it picked one that evaluated the whole-run test's network at loss 1.74
/// where the CPU gives 0.69, a choice this machine never made. burn's default
/// features turn both on; this fails if they come back.
#[test]
fn the_gpu_backends_are_built_without_autotune_or_fusion() {
    for features in ["wgpu", "cuda"] {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["tree", "--locked", "-e", "features", "-i", "burn-cubecl"])
            .args(["--features", features])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && tree.contains("burn-cubecl v0.21.0"),
            "cargo tree --features {features}: {}{tree}",
            String::from_utf8_lossy(&out.stderr)
        );
        for off in ["autotune", "fusion"] {
            assert!(
                !tree.contains(&format!("burn-cubecl feature \"{off}\"")),
                "--features {features} builds burn-cubecl with {off}:\n{tree}"
            );
        }
    }
}
