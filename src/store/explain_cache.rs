//! `explain/`: the Grad-CAM maps computed for a run, one file per method and
//! layer, so the Results tab draws them again without recomputing. Each file
//! names the checkpoint its maps came from; maps of another checkpoint (the
//! run trained on since) are stale and not used.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::run_dir::{read_json, write_json};
use super::RunDir;

/// The map of one face for one class, as computed (rows x columns of the
/// layer, in `[0, 1]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedMap {
    pub image: PathBuf,
    pub class: usize,
    pub map: Vec<f32>,
    pub size: (usize, usize),
}

/// One cache file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExplainCache {
    /// The checkpoint the maps came from (see [`checkpoint_stamp`]).
    pub checkpoint: String,
    pub maps: Vec<CachedMap>,
}

impl ExplainCache {
    /// The cached map of `image` for `class`.
    pub fn get(&self, image: &Path, class: usize) -> Option<&CachedMap> {
        self.maps
            .iter()
            .find(|m| m.class == class && m.image == image)
    }

    /// Why the file cannot be used, when its maps do not fit their sizes.
    fn problem(&self) -> Option<String> {
        self.maps.iter().find_map(|m| {
            let fits = m.map.len() == m.size.0 * m.size.1;
            let in_range = m.map.iter().all(|v| (0.0..=1.0).contains(v));
            (!fits || !in_range).then(|| format!("the map of {} is damaged", m.image.display()))
        })
    }
}

/// Names a checkpoint folder and when it was written, so maps of an older
/// checkpoint with the same name are told apart.
pub fn checkpoint_stamp(checkpoint: &Path) -> String {
    let modified = std::fs::metadata(checkpoint.join("model.mpk"))
        .or_else(|_| std::fs::metadata(checkpoint))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    let name = checkpoint
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{name}@{modified}")
}

impl RunDir {
    pub fn explain_dir(&self) -> PathBuf {
        self.path.join("explain")
    }

    /// `explain/METHOD-LAYER.json`.
    pub fn explain_cache_path(&self, method: &str, layer: &str) -> PathBuf {
        let method = method.replace('+', "p");
        self.explain_dir().join(format!("{method}-{layer}.json"))
    }

    /// The cached maps of `method` at `layer`; empty when there are none. A
    /// damaged file is an error that names it (it is then recomputed and
    /// written again).
    pub fn read_explain_cache(&self, method: &str, layer: &str) -> anyhow::Result<ExplainCache> {
        let path = self.explain_cache_path(method, layer);
        if !path.exists() {
            return Ok(ExplainCache::default());
        }
        let cache: ExplainCache = read_json(&path)?;
        if let Some(why) = cache.problem() {
            anyhow::bail!("{} is damaged: {why}", path.display());
        }
        Ok(cache)
    }

    pub fn write_explain_cache(
        &self,
        method: &str,
        layer: &str,
        cache: &ExplainCache,
    ) -> anyhow::Result<()> {
        let dir = self.explain_dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        write_json(&self.explain_cache_path(method, layer), cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip_and_a_damaged_file_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::new(tmp.path());
        assert_eq!(
            run.read_explain_cache("gradcam", "layer4").unwrap(),
            ExplainCache::default()
        );
        let cache = ExplainCache {
            checkpoint: "best@1".into(),
            maps: vec![CachedMap {
                image: "a.png".into(),
                class: 2,
                map: vec![0.0, 0.5, 1.0, 0.25],
                size: (2, 2),
            }],
        };
        run.write_explain_cache("gradcam++", "layer4", &cache)
            .unwrap();
        let back = run.read_explain_cache("gradcam++", "layer4").unwrap();
        assert_eq!(back, cache);
        assert!(back.get(Path::new("a.png"), 2).is_some());
        assert!(back.get(Path::new("a.png"), 1).is_none());
        let mut bad = cache.clone();
        bad.maps[0].size = (3, 3);
        run.write_explain_cache("gradcam", "layer4", &bad).unwrap();
        let err = run
            .read_explain_cache("gradcam", "layer4")
            .unwrap_err()
            .to_string();
        assert!(err.contains("gradcam-layer4.json is damaged"), "{err}");
    }
}
