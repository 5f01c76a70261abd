//! Paths recorded for other processes and other working folders.

use std::path::{Path, PathBuf};

/// `path` made absolute with links resolved, as it is recorded in run
/// records and the queue; `path` itself when it cannot be (it does not
/// exist yet, say), so that the error comes from where it is used.
pub fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
