//! `embeddings.json`: a run's faces placed on a 2-D map of its penultimate
//! features, so the map draws again without recomputing.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::run_dir::{read_json, write_json};
use super::RunDir;
use crate::eval::Projection;

/// One face on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedFace {
    pub path: PathBuf,
    pub true_class: usize,
    pub predicted: usize,
    /// The probability of the predicted class.
    pub confidence: f32,
    pub x: f32,
    pub y: f32,
}

/// The map of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingMap {
    /// "test", "val" or "train".
    pub split: String,
    pub method: Projection,
    /// The checkpoint the features came from (see
    /// [`super::checkpoint_stamp`]).
    pub checkpoint: String,
    pub classes: Vec<String>,
    pub faces: Vec<EmbeddedFace>,
}

impl EmbeddingMap {
    /// Why the map cannot be drawn, when a face's class is out of range or
    /// a coordinate is not finite.
    fn problem(&self) -> Option<String> {
        let k = self.classes.len();
        self.faces.iter().find_map(|f| {
            let bad = f.true_class >= k || f.predicted >= k || !f.x.is_finite() || !f.y.is_finite();
            bad.then(|| format!("the entry of {} is damaged", f.path.display()))
        })
    }
}

impl RunDir {
    pub fn embeddings_path(&self) -> PathBuf {
        self.path.join("embeddings.json")
    }

    /// The cached map; `None` when there is none.
    pub fn read_embeddings(&self) -> anyhow::Result<Option<EmbeddingMap>> {
        let path = self.embeddings_path();
        if !path.exists() {
            return Ok(None);
        }
        let map: EmbeddingMap = read_json(&path)?;
        if let Some(why) = map.problem() {
            anyhow::bail!(
                "{} is damaged: {why}; `facebench embed` writes it again",
                path.display()
            );
        }
        Ok(Some(map))
    }

    pub fn write_embeddings(&self, map: &EmbeddingMap) -> anyhow::Result<()> {
        write_json(&self.embeddings_path(), map)
    }
}
