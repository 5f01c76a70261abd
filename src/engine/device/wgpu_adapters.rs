//! The wgpu adapters of this machine, numbered as `wgpu:N` names them: the
//! adapters of the graphics API cubecl uses here (Vulkan on Linux and
//! Windows, Metal on macOS), in the order wgpu lists them. Each maps to the
//! `WgpuDevice` cubecl selects the same adapter by (the k-th adapter of its
//! kind), so no index reaches cubecl that would make it panic.

use std::sync::OnceLock;

use burn::backend::wgpu::graphics::{AutoGraphicsApi, GraphicsApi};
use burn::backend::wgpu::WgpuDevice;

/// What kind of adapter wgpu reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    Discrete,
    Integrated,
    Virtual,
    /// A software rasteriser (Mesa's lavapipe, SwiftShader, WARP): correct
    /// but slower than facebench's own CPU kernels.
    Software,
    Other,
}

/// One adapter, as listed by `facebench doctor`.
#[derive(Debug, Clone)]
pub struct WgpuAdapter {
    pub name: String,
    pub kind: AdapterKind,
    /// "Vulkan", "Metal", ...
    pub api: String,
    /// The driver and its version, as the adapter reports them.
    pub driver: String,
    pub(crate) device: WgpuDevice,
}

impl WgpuAdapter {
    /// A real GPU (`auto` may pick it): discrete, or integrated on macOS
    /// (Apple silicon), never a software or virtual adapter.
    pub fn is_fast_gpu(&self) -> bool {
        match self.kind {
            AdapterKind::Discrete => true,
            AdapterKind::Integrated => cfg!(target_os = "macos"),
            _ => false,
        }
    }
}

impl std::fmt::Display for AdapterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdapterKind::Discrete => "discrete GPU",
            AdapterKind::Integrated => "integrated GPU",
            AdapterKind::Virtual => "virtual GPU",
            AdapterKind::Software => "software (CPU) adapter",
            AdapterKind::Other => "adapter",
        })
    }
}

/// The adapters, enumerated once per process (loading the Vulkan or Metal
/// driver takes a moment).
pub fn wgpu_adapters() -> &'static [WgpuAdapter] {
    static ADAPTERS: OnceLock<Vec<WgpuAdapter>> = OnceLock::new();
    ADAPTERS.get_or_init(enumerate)
}

fn enumerate() -> Vec<WgpuAdapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::all(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let backend = AutoGraphicsApi::backend();
    let adapters = burn::cubecl::future::block_on(instance.enumerate_adapters(backend.into()));
    let mut seen = [0usize; 5];
    adapters
        .into_iter()
        .map(|adapter| {
            let info = adapter.get_info();
            let (kind, slot) = match info.device_type {
                wgpu::DeviceType::DiscreteGpu => (AdapterKind::Discrete, 0),
                wgpu::DeviceType::IntegratedGpu => (AdapterKind::Integrated, 1),
                wgpu::DeviceType::VirtualGpu => (AdapterKind::Virtual, 2),
                wgpu::DeviceType::Cpu => (AdapterKind::Software, 3),
                wgpu::DeviceType::Other => (AdapterKind::Other, 4),
            };
            let k = seen[slot];
            seen[slot] += 1;
            let device = match kind {
                AdapterKind::Discrete => WgpuDevice::DiscreteGpu(k),
                AdapterKind::Integrated => WgpuDevice::IntegratedGpu(k),
                AdapterKind::Virtual => WgpuDevice::VirtualGpu(k),
                // cubecl selects the first of these kinds only
                AdapterKind::Software | AdapterKind::Other => WgpuDevice::Cpu,
            };
            let driver = [info.driver.as_str(), info.driver_info.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            WgpuAdapter {
                name: info.name,
                kind,
                api: format!("{:?}", info.backend),
                driver,
                device,
            }
        })
        // cubecl reaches only the first software adapter and none of `Other`
        .filter({
            let mut software = 0;
            move |a| match a.kind {
                AdapterKind::Software => {
                    software += 1;
                    software == 1
                }
                AdapterKind::Other => false,
                _ => true,
            }
        })
        .collect()
}
