//! Peak resident memory of a stretch of work, measured the same way as the
//! PyTorch peer script does: free heap memory is returned to the system
//! (glibc's malloc_trim), then the rise of the process's peak RSS (VmHWM) over
//! its RSS at the start is read, after resetting the peak through
//! `/proc/self/clear_refs` (Linux). Elsewhere nothing is measured.

/// A started measurement.
pub struct PeakMemory {
    baseline: u64,
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl PeakMemory {
    /// Reset the process's peak and remember its current RSS; None where the
    /// peak cannot be reset (not Linux, no /proc).
    pub fn start() -> Option<Self> {
        // give freed heap memory back first, so it is not reused unseen
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases free memory of glibc's heap.
        unsafe {
            libc::malloc_trim(0);
        }
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
        Some(Self {
            baseline: status_kib("VmRSS:")? * 1024,
        })
    }

    /// Bytes of peak RSS above the baseline since [`PeakMemory::start`].
    pub fn peak_rise(&self) -> Option<u64> {
        Some((status_kib("VmHWM:")? * 1024).saturating_sub(self.baseline))
    }
}
