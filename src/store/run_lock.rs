//! One process per run: an OS file lock on `<run>/lock`, held while a process
//! trains the run. The OS releases it when that process ends, a crash or
//! kill -9 included, so a stale lock never blocks a resume.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// Held while this process trains a run; dropping it releases the run.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // a run that is no longer trained names no holder (the OS releases
        // the lock itself when the file closes, a crash included)
        let _ = self.file.set_len(0);
    }
}

/// The lock file's name inside a run folder.
pub const LOCK_FILE: &str = "lock";

/// Take the run in `dir` for this process, or fail with who holds it.
pub fn lock_run(dir: &Path) -> anyhow::Result<RunLock> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            let holder = format!("pid {}", std::process::id());
            let written = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(holder.as_bytes()));
            written.map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            Ok(RunLock { file })
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = if holder.trim().is_empty() {
                "another process".to_string()
            } else {
                format!("another process, {}", holder.trim())
            };
            anyhow::bail!(
                "{} is being trained by {holder}; wait for it to finish, or stop it, before resuming",
                dir.display()
            )
        }
        Err(TryLockError::Error(e)) => anyhow::bail!("cannot lock {}: {e}", path.display()),
    }
}

/// Who trains the run in `dir` right now, as "pid N", when a live process
/// holds its lock; read without taking the lock, so a look never gets in a
/// trainer's way. (A pid the system has since reused reads as live.)
pub fn lock_holder(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(LOCK_FILE)).ok()?;
    let pid: u32 = text.trim().strip_prefix("pid ")?.parse().ok()?;
    let alive = Path::new(&format!("/proc/{pid}")).exists();
    alive.then(|| format!("pid {pid}"))
}
