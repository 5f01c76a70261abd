//! Wall time spent in each CPU kernel, for profiling (`FACEBENCH_OP_TIMES=1`,
//! printed by `facebench bench`). Off by default: one relaxed load per kernel.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static ENABLED: OnceLock<AtomicBool> = OnceLock::new();
static TIMES: Mutex<BTreeMap<&'static str, (Duration, u64)>> = Mutex::new(BTreeMap::new());

fn enabled() -> &'static AtomicBool {
    ENABLED.get_or_init(|| AtomicBool::new(std::env::var_os("FACEBENCH_OP_TIMES").is_some()))
}

/// Whether kernel times are being recorded.
pub fn op_times_enabled() -> bool {
    enabled().load(Ordering::Relaxed)
}

/// Run `f`, adding its wall time to `name` when recording.
pub fn timed<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    if !op_times_enabled() {
        return f();
    }
    let start = Instant::now();
    let out = f();
    let spent = start.elapsed();
    if let Ok(mut times) = TIMES.lock() {
        let entry = times.entry(name).or_default();
        entry.0 += spent;
        entry.1 += 1;
    }
    out
}

/// The recorded (kernel, seconds, calls), longest first, and a fresh start.
pub fn take_op_times() -> Vec<(&'static str, f64, u64)> {
    let times = TIMES
        .lock()
        .map(|mut t| std::mem::take(&mut *t))
        .unwrap_or_default();
    let mut rows: Vec<_> = times
        .into_iter()
        .map(|(name, (d, n))| (name, d.as_secs_f64(), n))
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    rows
}
