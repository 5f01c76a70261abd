//! The faces a user names on the command line or drops on the window: image
//! files as they are, folders by the JPEG and PNG files below them.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The image files named: files as they are, folders by the JPEG and PNG
/// files anywhere below them (sorted).
pub fn face_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            images_below(path, &mut found)?;
            found.sort();
            anyhow::ensure!(!found.is_empty(), "{} holds no JPEG or PNG", path.display());
            files.extend(found);
        } else {
            anyhow::ensure!(path.is_file(), "{} does not exist", path.display());
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// The JPEG and PNG files in `dir` and its sub-folders (links not followed).
fn images_below(dir: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if kind.is_dir() {
            images_below(&path, found)?;
        } else if kind.is_file() && matches!(extension.as_str(), "jpg" | "jpeg" | "png") {
            found.push(path);
        }
    }
    Ok(())
}
