//! Process-wide heap settings, applied once at start-up before any thread.

/// Memory freed at the top of the heap is kept for reuse up to this much
/// (`M_TRIM_THRESHOLD`) before it goes back to the system.
const KEEP_FREE_BYTES: libc::c_int = 128 << 20;

/// Tunes glibc's malloc for training, where every step allocates and frees
/// the same large tensors:
///
/// - **A few arenas** (`M_ARENA_MAX`): by default each thread that allocates
///   gets an arena of its own (up to 8 per core), and the kernels' worker
///   threads allocate tile buffers there, so memory freed in one arena sat
///   unused while another grew. Measured on ResNet-50 at 64 px (2 cores): a
///   train step's peak RSS rose by 513 MiB with the default and by 475 (one
///   arena) or 479 MiB (two) with the cap, at the same speed.
/// - **No `mmap` per allocation** (`M_MMAP_MAX = 0`, and `M_TRIM_THRESHOLD`):
///   glibc maps every block above 32 MiB afresh and unmaps it when freed, so
///   each such tensor paid one page fault per 4 KiB on first write, every
///   step (ResNet-50 at 224 px, batch 16: its 56x56 feature maps are 51 MB).
///   From the heap they are reused instead. One 64->256 1x1 convolution at
///   56x56 ran at 32-36 GFLOP/s with the default and at 80-95 with these
///   settings (`examples` timing, same build), and the peak RSS of a train
///   step did not rise (docs/performance.md).
pub fn tune_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = (cores / 4).max(2) as libc::c_int;
        // SAFETY: mallopt only changes malloc's tuning; called before any
        // other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREE_BYTES);
        }
    }
}
