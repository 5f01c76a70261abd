//! What burn-cuda needs at run time, looked for before CUDA is touched: the
//! driver (`libcuda`), NVRTC (cubecl compiles every kernel at run time with
//! it, loaded by name like the driver) and a CUDA directory with
//! `include/cuda_runtime.h` (cubecl hands it to NVRTC; found as cubecl finds
//! it: `$CUDA_PATH`, `/usr/local/cuda`, `/opt/cuda`, or `/usr` when
//! `/usr/bin/nvcc` exists). burn-cuda panics on its worker when any is
//! missing, so `auto` takes CUDA only when all three are found and an
//! explicit `cuda` says which is missing.
//!
//! `FACEBENCH_CUDA_DRIVER_LIB` and `FACEBENCH_NVRTC_LIB` name the libraries
//! to load instead of the usual names (a driver in an unusual place, and the
//! tests' way to simulate a missing or wrong library).

use std::ffi::{c_char, c_int, c_uint};
use std::path::PathBuf;

/// One NVIDIA GPU as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaGpu {
    pub name: String,
    pub memory_bytes: u64,
}

/// The three things burn-cuda needs, each found or the reason it was not.
#[derive(Debug, Clone)]
pub struct CudaProbe {
    /// The GPUs the driver sees (the driver loaded and initialised).
    pub driver: Result<Vec<CudaGpu>, String>,
    /// The NVRTC library that loaded.
    pub nvrtc: Result<String, String>,
    /// The CUDA directory whose `include/cuda_runtime.h` exists.
    pub toolkit: Result<PathBuf, String>,
}

impl CudaProbe {
    /// Look for the driver, NVRTC and the CUDA headers on this machine.
    pub fn run() -> Self {
        Self {
            driver: probe_driver(),
            nvrtc: probe_nvrtc(),
            toolkit: probe_toolkit(),
        }
    }

    /// Every missing piece, each with how to install it; empty when CUDA can
    /// run.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.driver {
            Err(e) => out.push(e.clone()),
            Ok(gpus) if gpus.is_empty() => {
                out.push("the NVIDIA driver loads but sees no GPU".into())
            }
            Ok(_) => {}
        }
        if let Err(e) = &self.nvrtc {
            out.push(e.clone());
        }
        if let Err(e) = &self.toolkit {
            out.push(e.clone());
        }
        out
    }

    /// The GPUs, when every piece was found.
    pub fn ready_gpus(&self) -> Option<&[CudaGpu]> {
        match &self.driver {
            Ok(gpus) if self.problems().is_empty() => Some(gpus),
            _ => None,
        }
    }
}

fn driver_names() -> Vec<String> {
    if let Ok(name) = std::env::var("FACEBENCH_CUDA_DRIVER_LIB") {
        return vec![name];
    }
    if cfg!(windows) {
        vec!["nvcuda.dll".into()]
    } else {
        vec!["libcuda.so.1".into(), "libcuda.so".into()]
    }
}

fn nvrtc_names() -> Vec<String> {
    if let Ok(name) = std::env::var("FACEBENCH_NVRTC_LIB") {
        return vec![name];
    }
    if cfg!(windows) {
        [
            "nvrtc64_130_0.dll",
            "nvrtc64_120_0.dll",
            "nvrtc64_12.dll",
            "nvrtc64.dll",
        ]
        .map(String::from)
        .to_vec()
    } else {
        // the names cudarc tries, newest first
        [
            "libnvrtc.so",
            "libnvrtc.so.13",
            "libnvrtc.so.12",
            "libnvrtc.so.11",
            "libnvrtc.so.1",
        ]
        .map(String::from)
        .to_vec()
    }
}

/// The first of `names` that loads, with its name.
fn load_first(names: &[String]) -> Option<(String, libloading::Library)> {
    names.iter().find_map(|name| {
        // SAFETY: loading a shared library runs its initialisers; the CUDA
        // driver's and NVRTC's have no preconditions.
        unsafe { libloading::Library::new(name) }
            .ok()
            .map(|lib| (name.clone(), lib))
    })
}

type CuResult = c_int;

fn probe_driver() -> Result<Vec<CudaGpu>, String> {
    let names = driver_names();
    let (name, lib) = load_first(&names).ok_or_else(|| {
        format!(
            "no NVIDIA driver ({} does not load): install the NVIDIA driver for your GPU",
            names.join(" or ")
        )
    })?;
    let not_driver = |symbol: &str| {
        format!("{name} loaded but has no {symbol}: it is not the NVIDIA driver library; reinstall the NVIDIA driver")
    };
    // SAFETY: the symbols are the CUDA driver API's, declared with its C
    // signatures (cuda.h); each is called with valid out-pointers.
    unsafe {
        let init: libloading::Symbol<unsafe extern "C" fn(c_uint) -> CuResult> =
            lib.get(b"cuInit\0").map_err(|_| not_driver("cuInit"))?;
        let count: libloading::Symbol<unsafe extern "C" fn(*mut c_int) -> CuResult> = lib
            .get(b"cuDeviceGetCount\0")
            .map_err(|_| not_driver("cuDeviceGetCount"))?;
        let get: libloading::Symbol<unsafe extern "C" fn(*mut c_int, c_int) -> CuResult> = lib
            .get(b"cuDeviceGet\0")
            .map_err(|_| not_driver("cuDeviceGet"))?;
        let get_name: libloading::Symbol<
            unsafe extern "C" fn(*mut c_char, c_int, c_int) -> CuResult,
        > = lib
            .get(b"cuDeviceGetName\0")
            .map_err(|_| not_driver("cuDeviceGetName"))?;
        let total_mem: libloading::Symbol<unsafe extern "C" fn(*mut usize, c_int) -> CuResult> =
            lib.get(b"cuDeviceTotalMem_v2\0")
                .map_err(|_| not_driver("cuDeviceTotalMem_v2"))?;
        let status = init(0);
        if status != 0 {
            return Err(format!(
                "the NVIDIA driver ({name}) failed to initialise (CUDA error {status}): check `nvidia-smi`"
            ));
        }
        let mut n: c_int = 0;
        if count(&mut n) != 0 {
            return Err(format!(
                "the NVIDIA driver ({name}) could not count the GPUs: check `nvidia-smi`"
            ));
        }
        let mut gpus = Vec::new();
        for ordinal in 0..n {
            let mut device: c_int = 0;
            if get(&mut device, ordinal) != 0 {
                continue;
            }
            let mut buf = [0 as c_char; 256];
            let name = if get_name(buf.as_mut_ptr(), buf.len() as c_int, device) == 0 {
                std::ffi::CStr::from_ptr(buf.as_ptr())
                    .to_string_lossy()
                    .into_owned()
            } else {
                format!("GPU {ordinal}")
            };
            let mut bytes: usize = 0;
            let _ = total_mem(&mut bytes, device);
            gpus.push(CudaGpu {
                name,
                memory_bytes: bytes as u64,
            });
        }
        Ok(gpus)
    }
}

fn probe_nvrtc() -> Result<String, String> {
    let names = nvrtc_names();
    load_first(&names).map(|(name, _)| name).ok_or_else(|| {
        format!(
            "no NVRTC ({} does not load; burn-cuda compiles its kernels with it at run time): install the CUDA toolkit 12.x or 13.x (or its `cuda-nvrtc` package) and put its lib64 folder on LD_LIBRARY_PATH",
            names.join(", ")
        )
    })
}

/// The CUDA directory cubecl will use, found the way cubecl-cuda finds it.
fn cuda_dir() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("CUDA_PATH") {
        return Some(PathBuf::from(path));
    }
    if cfg!(windows) {
        return Some(PathBuf::from(
            "C:/Program Files/NVIDIA GPU Computing Toolkit/CUDA/",
        ));
    }
    ["/usr/local/cuda", "/opt/cuda"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            std::path::Path::new("/usr/bin/nvcc")
                .exists()
                .then(|| PathBuf::from("/usr"))
        })
}

fn probe_toolkit() -> Result<PathBuf, String> {
    let Some(dir) = cuda_dir() else {
        return Err("no CUDA toolkit headers (no $CUDA_PATH, /usr/local/cuda, /opt/cuda or /usr/bin/nvcc; NVRTC needs include/cuda_runtime.h): install the CUDA toolkit 12.x or 13.x, or set CUDA_PATH to its folder".into());
    };
    let header = dir.join("include").join("cuda_runtime.h");
    if header.is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "{} is missing (NVRTC needs the CUDA headers): install the CUDA toolkit's headers there, or set CUDA_PATH to a CUDA folder that has them",
            header.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_each_missing_piece_and_nothing_when_all_are_found() {
        let all = CudaProbe {
            driver: Ok(vec![CudaGpu {
                name: "A".into(),
                memory_bytes: 1,
            }]),
            nvrtc: Ok("libnvrtc.so.12".into()),
            toolkit: Ok(PathBuf::from("/usr/local/cuda")),
        };
        assert!(all.problems().is_empty());
        assert_eq!(all.ready_gpus().map(<[CudaGpu]>::len), Some(1));
        let no_nvrtc = CudaProbe {
            nvrtc: Err("no NVRTC".into()),
            ..all.clone()
        };
        assert_eq!(no_nvrtc.problems(), vec!["no NVRTC".to_string()]);
        assert!(no_nvrtc.ready_gpus().is_none());
        let no_gpu = CudaProbe {
            driver: Ok(Vec::new()),
            ..all
        };
        assert!(no_gpu.problems()[0].contains("sees no GPU"));
    }

    #[test]
    fn a_library_that_is_not_the_driver_is_named() {
        // libc loads everywhere on Linux and has no cuInit
        if !cfg!(target_os = "linux") {
            return;
        }
        std::env::set_var("FACEBENCH_CUDA_DRIVER_LIB", "libc.so.6");
        let driver = probe_driver();
        std::env::remove_var("FACEBENCH_CUDA_DRIVER_LIB");
        let err = driver.unwrap_err();
        assert!(err.contains("libc.so.6 loaded but has no cuInit"), "{err}");
    }
}
