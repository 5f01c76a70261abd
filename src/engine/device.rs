//! Choosing where to train: the CPU (burn-flex) or, with feature `cuda`, a CUDA
//! GPU when a driver is actually present.

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda(usize),
}

/// What the run will use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedDevice {
    Cpu,
    Cuda(usize),
}

impl std::fmt::Display for ResolvedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolvedDevice::Cpu => write!(
                f,
                "cpu (burn-flex, {} threads)",
                rayon::current_num_threads()
            ),
            ResolvedDevice::Cuda(n) => write!(f, "cuda:{n} (burn-cuda)"),
        }
    }
}

impl DeviceChoice {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "auto" | "" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            _ => t
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| format!("unknown device '{text}'; use auto, cpu, cuda or cuda:N")),
        }
    }

    /// Pick the device. `Auto` takes CUDA only when this build has it and the
    /// driver library loads; an explicit `cuda` that cannot work is an error.
    pub fn resolve(self) -> Result<ResolvedDevice, String> {
        match self {
            DeviceChoice::Cpu => Ok(ResolvedDevice::Cpu),
            DeviceChoice::Auto => Ok(if cuda_driver_available() {
                ResolvedDevice::Cuda(0)
            } else {
                ResolvedDevice::Cpu
            }),
            DeviceChoice::Cuda(n) => {
                if !cfg!(feature = "cuda") {
                    Err("this facebench was built without CUDA; rebuild with `--features cuda` or use --device cpu".into())
                } else if !cuda_driver_available() {
                    Err("no CUDA driver found (libcuda.so.1 does not load); install the NVIDIA driver or use --device cpu".into())
                } else {
                    Ok(ResolvedDevice::Cuda(n))
                }
            }
        }
    }
}

/// Whether the CUDA driver library can be loaded. burn-cuda panics on a worker
/// thread without it, so this is checked before CUDA is ever touched.
pub fn cuda_driver_available() -> bool {
    #[cfg(feature = "cuda")]
    {
        // SAFETY: loading the NVIDIA driver library runs its initialisers only;
        // the handle is dropped at once.
        unsafe { libloading::Library::new("libcuda.so.1").is_ok() }
    }
    #[cfg(not(feature = "cuda"))]
    {
        false
    }
}
