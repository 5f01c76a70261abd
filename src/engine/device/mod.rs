//! Choosing where to train: the CPU (burn-flex), a CUDA GPU (feature `cuda`)
//! or a wgpu adapter (feature `wgpu`: Vulkan, Metal, DX12), each only when it
//! can actually run, and the one place that maps a device to a backend.

mod cuda_probe;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod stream_slots;
#[cfg(feature = "wgpu")]
mod wgpu_adapters;

pub use cuda_probe::{CudaGpu, CudaProbe};
#[cfg(any(feature = "cuda", feature = "wgpu"))]
use stream_slots::StreamSlot;
#[cfg(feature = "wgpu")]
pub use wgpu_adapters::{wgpu_adapters, AdapterKind, WgpuAdapter};

use crate::run::DeviceChoice;

/// What the run will use. A build without a GPU feature has no variant for
/// it, so no code has to handle a device it cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedDevice {
    Cpu,
    #[cfg(feature = "cuda")]
    Cuda(usize),
    /// The N-th adapter of [`wgpu_adapters`].
    #[cfg(feature = "wgpu")]
    Wgpu(usize),
}

/// Work that runs on whichever autodiff backend a device resolves to (the
/// backend's inner, non-autodiff backend serves inference).
pub trait OnBackend {
    type Output;
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

/// Device memory as cubecl's pools count it, summed over the device's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceMemory {
    /// Bytes held by live tensors.
    pub in_use: u64,
    /// Bytes the pools hold from the driver (in use or cached for reuse).
    pub reserved: u64,
}

impl ResolvedDevice {
    /// Run `job` on this device's backend: the one place that maps a device
    /// to a burn backend type. On a GPU the job runs on one of the device's
    /// stream slots (see `stream_slots`), and the slot's cached memory goes
    /// back to the driver when it ends.
    pub fn dispatch<J: OnBackend>(self, job: J) -> J::Output {
        match self {
            ResolvedDevice::Cpu => job.run::<burn::backend::Autodiff<burn::backend::Flex>>(
                burn::backend::flex::FlexDevice,
            ),
            #[cfg(feature = "cuda")]
            ResolvedDevice::Cuda(n) => on_slot::<burn::backend::Cuda, J>(
                self,
                burn::backend::cuda::CudaDevice::new(n),
                job,
            ),
            #[cfg(feature = "wgpu")]
            ResolvedDevice::Wgpu(n) => {
                let device = wgpu_adapters()
                    .get(n)
                    .map(|a| a.device.clone())
                    .unwrap_or_default();
                on_slot::<burn::backend::Wgpu, J>(self, device, job)
            }
        }
    }

    /// Whether this is a GPU (kernels compiled per shape: batches keep one size).
    pub fn is_gpu(self) -> bool {
        !matches!(self, ResolvedDevice::Cpu)
    }

    /// The device's name and memory, for the Training tab, the CLI and
    /// `doctor` ("cuda:0 (burn-cuda): NVIDIA H100, 79.6 GiB").
    pub fn describe(self) -> String {
        match self {
            ResolvedDevice::Cpu => self.to_string(),
            #[cfg(feature = "cuda")]
            ResolvedDevice::Cuda(n) => {
                match CudaProbe::run().driver.ok().and_then(|g| g.get(n).cloned()) {
                    Some(gpu) => format!(
                        "{self}: {}, {:.1} GiB",
                        gpu.name,
                        gpu.memory_bytes as f64 / GIB
                    ),
                    None => self.to_string(),
                }
            }
            #[cfg(feature = "wgpu")]
            ResolvedDevice::Wgpu(n) => match wgpu_adapters().get(n) {
                Some(a) => format!("{self}: {} ({}, {}, {})", a.name, a.kind, a.api, a.driver),
                None => self.to_string(),
            },
        }
    }

    /// The device memory cubecl holds now, over all of the device's streams;
    /// None on the CPU.
    pub fn memory(self) -> Option<DeviceMemory> {
        match self {
            ResolvedDevice::Cpu => None,
            #[cfg(feature = "cuda")]
            ResolvedDevice::Cuda(n) => Some(pool_memory::<burn::cubecl::cuda::CudaRuntime>(
                &burn::backend::cuda::CudaDevice::new(n),
            )),
            #[cfg(feature = "wgpu")]
            ResolvedDevice::Wgpu(n) => wgpu_adapters()
                .get(n)
                .map(|a| pool_memory::<burn::cubecl::wgpu::WgpuRuntime>(&a.device)),
        }
    }
}

#[cfg(feature = "cuda")]
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `job` on GPU backend `G` (wrapped in autodiff), on a stream slot of
/// `resolved`; the slot's free pages go back to the driver at the end.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn on_slot<G, J>(resolved: ResolvedDevice, device: G::Device, job: J) -> J::Output
where
    G: burn::tensor::backend::Backend,
    J: OnBackend,
{
    let slot = StreamSlot::take(resolved.to_string());
    slot.executes(|| {
        let out = job.run::<burn::backend::Autodiff<G>>(device.clone());
        let _ = G::sync(&device);
        G::memory_cleanup(&device);
        out
    })
}

/// Memory of every stream of `device` (cubecl keeps one pool per stream).
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn pool_memory<R: burn::cubecl::Runtime>(device: &R::Device) -> DeviceMemory {
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    let client = R::client(device);
    let streams = CubeClRuntimeConfig::get().streaming.max_streams as u64;
    let mut total = DeviceMemory::default();
    for value in 0..streams {
        let usage = burn::cubecl::stream_id::StreamId { value }.executes(|| client.memory_usage());
        if let Ok(u) = usage {
            total.in_use += u.bytes_in_use;
            total.reserved += u.bytes_reserved;
        }
    }
    total
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
            #[cfg(feature = "wgpu")]
            ResolvedDevice::Wgpu(n) => write!(f, "wgpu:{n} (burn-wgpu)"),
        }
    }
}

impl DeviceChoice {
    /// Pick the device. `Auto` takes CUDA when this build has it and the
    /// driver, NVRTC and the CUDA headers are all found, else a hardware wgpu
    /// adapter (discrete; integrated on macOS), else the CPU. An explicit
    /// device that cannot work is an error that says what is missing.
    pub fn resolve(self) -> Result<ResolvedDevice, String> {
        match self {
            DeviceChoice::Cpu => Ok(ResolvedDevice::Cpu),
            DeviceChoice::Auto => Ok(auto_gpu().unwrap_or(ResolvedDevice::Cpu)),
            DeviceChoice::Cuda(n) => resolve_cuda(n),
            DeviceChoice::Wgpu(n) => resolve_wgpu(n),
        }
    }
}

fn auto_gpu() -> Option<ResolvedDevice> {
    #[cfg(feature = "cuda")]
    if CudaProbe::run().ready_gpus().is_some_and(|g| !g.is_empty()) {
        return Some(ResolvedDevice::Cuda(0));
    }
    #[cfg(feature = "wgpu")]
    if let Some(n) = wgpu_adapters().iter().position(WgpuAdapter::is_fast_gpu) {
        return Some(ResolvedDevice::Wgpu(n));
    }
    None
}

fn resolve_cuda(n: usize) -> Result<ResolvedDevice, String> {
    let probe = CudaProbe::run();
    let problems = probe.problems();
    if !problems.is_empty() {
        return Err(format!("cuda:{n} cannot run: {}", problems.join("; ")));
    }
    let count = probe.ready_gpus().map_or(0, <[CudaGpu]>::len);
    if n >= count {
        return Err(format!(
            "cuda:{n} does not exist: the driver sees {count} GPU(s), cuda:0 to cuda:{}",
            count.saturating_sub(1)
        ));
    }
    #[cfg(feature = "cuda")]
    {
        Ok(ResolvedDevice::Cuda(n))
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err("this facebench was built without CUDA (the driver, NVRTC and headers are all here): rebuild with `cargo build --release --features cuda`, or use --device cpu".into())
    }
}

fn resolve_wgpu(n: usize) -> Result<ResolvedDevice, String> {
    #[cfg(feature = "wgpu")]
    {
        let adapters = wgpu_adapters();
        if adapters.is_empty() {
            return Err(format!(
                "wgpu:{n} cannot run: no {} adapter found: install your GPU's Vulkan driver (on Linux, Mesa's `mesa-vulkan-drivers` and `libvulkan1` for AMD and Intel, the NVIDIA driver for NVIDIA), or use --device cpu",
                if cfg!(target_os = "macos") { "Metal" } else { "Vulkan" }
            ));
        }
        if n >= adapters.len() {
            return Err(format!(
                "wgpu:{n} does not exist: there are {} wgpu adapter(s), wgpu:0 to wgpu:{} (`facebench doctor` lists them)",
                adapters.len(),
                adapters.len() - 1
            ));
        }
        Ok(ResolvedDevice::Wgpu(n))
    }
    #[cfg(not(feature = "wgpu"))]
    {
        Err(format!(
            "wgpu:{n} cannot run: this facebench was built without wgpu; rebuild with `--features wgpu` (on by default), or use --device cpu"
        ))
    }
}
