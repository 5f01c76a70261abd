//! One process per run: an OS file lock on `<run>/lock`, held while a process
//! trains the run. The OS releases it when that process ends, a crash or
//! kill -9 included, so a stale lock never blocks a resume.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// Held while this process trains a run; dropping it releases the run.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
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
            Ok(RunLock { _file: file })
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
