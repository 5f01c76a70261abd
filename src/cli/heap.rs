//! Process-wide heap settings, applied once at start-up before any thread.

/// Caps glibc's malloc at a few heap arenas (`M_ARENA_MAX`): by default each
/// thread that allocates gets an arena of its own (up to 8 per core), and the
/// kernels' worker threads allocate tile buffers there, so memory freed in one
/// arena sat unused while another grew. Measured on ResNet-50 at 64 px (2
/// cores): a train step's peak RSS rose by 513 MiB with the default and by 475
/// (one arena) or 479 MiB (two) with the cap, at the same speed.
pub fn limit_heap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = (cores / 4).max(2) as libc::c_int;
        // SAFETY: mallopt only changes malloc's tuning; called before any
        // other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
