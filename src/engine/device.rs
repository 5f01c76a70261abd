//! Choosing where to train: the CPU (burn-flex) or, with feature `cuda`, a CUDA
//! GPU when a driver is actually present.

use crate::run::DeviceChoice;

/// What the run will use. A build without the `cuda` feature has no CUDA
/// variant, so no code has to handle one it cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedDevice {
    Cpu,
    #[cfg(feature = "cuda")]
    Cuda(usize),
}

/// Work that runs on whichever autodiff backend a device resolves to (the
/// backend's inner, non-autodiff backend serves inference).
pub trait OnBackend {
    type Output;
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

impl ResolvedDevice {
    /// Run `job` on this device's backend: the one place that maps a device
    /// to a burn backend type.
    pub fn dispatch<J: OnBackend>(self, job: J) -> J::Output {
        match self {
            ResolvedDevice::Cpu => job.run::<burn::backend::Autodiff<burn::backend::Flex>>(
                burn::backend::flex::FlexDevice,
            ),
            #[cfg(feature = "cuda")]
            ResolvedDevice::Cuda(n) => job.run::<burn::backend::Autodiff<burn::backend::Cuda>>(
                burn::backend::cuda::CudaDevice::new(n),
            ),
        }
    }
}

impl std::fmt::Display for ResolvedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolvedDevice::Cpu => write!(
                f,
                "cpu (burn-flex, {} threads)",
                rayon::current_num_threads()
            ),
            #[cfg(feature = "cuda")]
            ResolvedDevice::Cuda(n) => write!(f, "cuda:{n} (burn-cuda)"),
        }
    }
}

impl DeviceChoice {
    /// Pick the device. `Auto` takes CUDA only when this build has it and the
    /// driver library loads; an explicit `cuda` that cannot work is an error.
    pub fn resolve(self) -> Result<ResolvedDevice, String> {
        match self {
            DeviceChoice::Cpu => Ok(ResolvedDevice::Cpu),
            DeviceChoice::Auto => Ok(Self::cuda_if_present(0).unwrap_or(ResolvedDevice::Cpu)),
            DeviceChoice::Cuda(n) => {
                if !cfg!(feature = "cuda") {
                    Err("this facebench was built without CUDA; rebuild with `--features cuda` or use --device cpu".into())
                } else {
                    Self::cuda_if_present(n).ok_or_else(|| {
                        "no CUDA driver found (libcuda.so.1 does not load); install the NVIDIA driver or use --device cpu".into()
                    })
                }
            }
        }
    }

    /// CUDA device `n`, when this build has CUDA and the driver loads.
    fn cuda_if_present(n: usize) -> Option<ResolvedDevice> {
        #[cfg(feature = "cuda")]
        {
            cuda_driver_available().then_some(ResolvedDevice::Cuda(n))
        }
        #[cfg(not(feature = "cuda"))]
        {
            let _ = n;
            None
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
