//! The PyTorch side of `facebench bench --compare-pytorch`: runs
//! `benches/pytorch_reference.py model ...` (built into the binary, so it works
//! from any folder) with the same architecture, sizes, batch and steps, and
//! reads the JSON object on the last line of its stdout.

use std::process::Command;

use serde::Deserialize;

/// The script, as committed in `benches/`.
const SCRIPT: &str = include_str!("../../benches/pytorch_reference.py");

/// What the peer reported.
#[derive(Debug, Deserialize)]
pub struct PeerReport {
    pub torch: String,
    pub threads: usize,
    pub device: String,
    pub rows: Vec<PeerRow>,
}

#[derive(Debug, Deserialize)]
pub struct PeerRow {
    pub size: usize,
    pub mode: String,
    pub precision: String,
    pub images_per_sec: f64,
    pub peak_bytes: Option<u64>,
}

/// What to ask the peer for.
pub struct PeerRequest<'a> {
    pub arch: &'a str,
    pub sizes: &'a [usize],
    pub batch: usize,
    pub steps: usize,
    pub classes: usize,
    pub frozen_base: bool,
    pub threads: usize,
    pub cuda: bool,
}

fn python() -> String {
    std::env::var("FACEBENCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Why the comparison cannot run, with the fix; None when torch (and timm,
/// for Xception) import.
pub fn missing(arch: &str) -> Option<String> {
    let modules = if arch == "xception" {
        "torch, torchvision, timm"
    } else {
        "torch, torchvision"
    };
    let ok = Command::new(python())
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| {
        format!(
            "PyTorch comparison skipped: `{} -c \"import {modules}\"` fails; install the peer with `pip install torch torchvision timm` (or point FACEBENCH_PYTHON at a python that has it)",
            python()
        )
    })
}

/// Run the peer and parse its report.
pub fn run(req: &PeerRequest) -> anyhow::Result<PeerReport> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("pytorch_reference.py");
    std::fs::write(&script, SCRIPT)?;
    let sizes: Vec<String> = req.sizes.iter().map(|s| s.to_string()).collect();
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .args(["model", "--arch", req.arch, "--json"])
        .args(["--sizes", &sizes.join(",")])
        .args(["--batch", &req.batch.to_string()])
        .args(["--steps", &req.steps.to_string()])
        .args(["--classes", &req.classes.to_string()])
        .args(["--threads", &req.threads.to_string()])
        .args(["--device", if req.cuda { "cuda" } else { "cpu" }]);
    if req.cuda {
        cmd.args(["--precision", "fp32,tf32,amp"]);
    }
    if req.frozen_base {
        cmd.arg("--frozen-base");
    }
    let out = cmd.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!(
            "the PyTorch peer failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .map_err(|e| anyhow::anyhow!("cannot read the PyTorch peer's report ({e}): {last}"))
}
