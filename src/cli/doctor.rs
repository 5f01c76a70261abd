//! `facebench doctor`: what this build can train on here, and whether a
//! device computes what the CPU computes. It lists the CUDA pieces (driver,
//! NVRTC, headers) and the wgpu adapters, says what `auto` picks, and runs
//! the layer parity check (`engine::layer_parity`) on the device asked for
//! (or the one `auto` picks, when that is a GPU). Exit status 1 when the
//! device cannot run or a layer differs from the CPU.

use std::time::Instant;

use crate::engine::{layer_parity, CudaProbe, PARITY_TOLERANCE};
use crate::run::DeviceChoice;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The device to check against the CPU: cuda[:N] or wgpu[:N] (default:
    /// the one `auto` picks, when it is a GPU).
    #[arg(long)]
    pub device: Option<DeviceChoice>,
}

pub fn doctor_command(args: DoctorArgs) -> anyhow::Result<()> {
    println!(
        "build: cpu (burn-flex){}{}",
        if cfg!(feature = "wgpu") {
            ", wgpu (burn-wgpu)"
        } else {
            ""
        },
        if cfg!(feature = "cuda") {
            ", cuda (burn-cuda)"
        } else {
            "; no cuda (rebuild with --features cuda)"
        }
    );
    print_cuda(&CudaProbe::run());
    print_wgpu();
    let auto = DeviceChoice::Auto.resolve().map_err(anyhow::Error::msg)?;
    println!("auto picks: {}", auto.describe());
    let device = match args.device {
        Some(choice) => choice.resolve().map_err(anyhow::Error::msg)?,
        None if auto.is_gpu() => auto,
        None => {
            println!("no GPU to check (give --device cuda or --device wgpu to check one)");
            return Ok(());
        }
    };
    println!(
        "\nparity of {} against the CPU (tolerance {PARITY_TOLERANCE:e}, relative to the CPU's largest value; output and every gradient):",
        device.describe()
    );
    let start = Instant::now();
    let checks = layer_parity(device);
    let secs = start.elapsed().as_secs_f64();
    println!("| layer | max relative error | tensors | |");
    println!("|---|---|---|---|");
    for c in &checks {
        println!(
            "| {} | {:.1e} | {} | {} |",
            c.name,
            c.max_rel,
            c.tensors,
            if c.passed() { "ok" } else { "DIFFERS" }
        );
    }
    println!(
        "{} layer families in {secs:.1} s (the first use of a GPU compiles its kernels)",
        checks.len()
    );
    if let Some(m) = device.memory() {
        println!(
            "device memory held by facebench after the check: {:.1} MiB in use, {:.1} MiB reserved",
            m.in_use as f64 / MIB,
            m.reserved as f64 / MIB
        );
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| c.name)
        .collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "{} differs from the CPU on: {} (results trained there may be wrong; train with --device cpu and report the table above)",
            device,
            failed.join(", ")
        );
    }
    println!("{device} agrees with the CPU");
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

fn print_cuda(probe: &CudaProbe) {
    let shown = |r: Result<String, String>| r.unwrap_or_else(|e| format!("MISSING: {e}"));
    println!("CUDA:");
    println!(
        "  driver:  {}",
        shown(probe.driver.clone().map(|gpus| {
            let names: Vec<String> = gpus
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    format!(
                        "cuda:{i} {} ({:.1} GiB)",
                        g.name,
                        g.memory_bytes as f64 / (1024.0 * MIB)
                    )
                })
                .collect();
            format!(
                "{} GPU(s){}{}",
                gpus.len(),
                if names.is_empty() { "" } else { ": " },
                names.join(", ")
            )
        }))
    );
    println!("  NVRTC:   {}", shown(probe.nvrtc.clone()));
    println!(
        "  headers: {}",
        shown(
            probe
                .toolkit
                .clone()
                .map(|p| p.join("include").display().to_string())
        )
    );
}

fn print_wgpu() {
    #[cfg(feature = "wgpu")]
    {
        let adapters = crate::engine::wgpu_adapters();
        println!(
            "wgpu adapters: {}",
            if adapters.is_empty() { "none" } else { "" }
        );
        for (i, a) in adapters.iter().enumerate() {
            println!(
                "  wgpu:{i}  {} ({}, {}, {})",
                a.name, a.kind, a.api, a.driver
            );
        }
    }
    #[cfg(not(feature = "wgpu"))]
    println!("wgpu: not built (rebuild with --features wgpu)");
}
