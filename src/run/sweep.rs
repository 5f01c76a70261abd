//! Sweeps: a grid over one to three config keys (`optimizer.lr=1e-3,3e-4`)
//! and/or N seeds, expanded into one config per run.

use serde::{Deserialize, Serialize};

use super::RunConfig;

/// Which sweep a run belongs to and where in its grid it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepTag {
    /// The sweep's name (shared by its runs).
    pub sweep: String,
    /// The grid point, e.g. `optimizer.lr=0.001, train.batch_size=32`
    /// (empty for a seeds-only sweep).
    pub point: String,
    /// The seed of this run, when the sweep repeats seeds.
    pub seed: Option<u64>,
}

impl SweepTag {
    /// Where the run stands, for lists and tables: `sweep: point, seed N`,
    /// `sweep: seed N` in a seeds-only sweep, `sweep: point` without seeds.
    pub fn label(&self) -> String {
        let seed = self.seed.map(|s| format!("seed {s}"));
        let at: Vec<String> = [(!self.point.is_empty()).then(|| self.point.clone()), seed]
            .into_iter()
            .flatten()
            .collect();
        format!("{}: {}", self.sweep, at.join(", "))
    }
}

/// One axis of the grid: a key and its values, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridAxis {
    pub key: String,
    pub values: Vec<String>,
}

impl GridAxis {
    /// `key=v1,v2,...` (the CLI's `--grid`).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--grid '{text}' must look like key=v1,v2"))?;
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        anyhow::ensure!(!values.is_empty(), "--grid '{text}' lists no values");
        Ok(GridAxis {
            key: key.trim().to_string(),
            values,
        })
    }
}

/// A sweep name of its own when the user gives none: `sweep-` and the time,
/// so that two sweeps never share their table and group.
pub fn default_sweep_name() -> String {
    format!("sweep-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"))
}

/// Every config of the sweep named `name` over `base`: the product of the
/// axes (at most three), each point run with `seeds` seeds (base seed, +1,
/// ...; 0 or 1: the base seed only). Every config is checked.
pub fn expand_sweep(
    name: &str,
    base: &RunConfig,
    axes: &[GridAxis],
    seeds: usize,
) -> anyhow::Result<Vec<(RunConfig, SweepTag)>> {
    anyhow::ensure!(
        axes.len() <= 3,
        "a sweep takes at most 3 keys, not {}",
        axes.len()
    );
    anyhow::ensure!(
        !axes.is_empty() || seeds > 1,
        "a sweep needs a grid (--grid key=v1,v2) or more than one seed"
    );
    let mut points: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for axis in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut p = p.clone();
                    p.push((axis.key.clone(), v.clone()));
                    p
                })
            })
            .collect();
    }
    let repeats = seeds.max(1);
    let mut out = Vec::with_capacity(points.len() * repeats);
    for (i, point) in points.iter().enumerate() {
        let mut config = base.clone();
        let sets: Vec<String> = point.iter().map(|(k, v)| format!("{k}={v}")).collect();
        config
            .apply_overrides(&sets)
            .map_err(|e| anyhow::anyhow!("sweep point {}: {e:#}", sets.join(", ")))?;
        for s in 0..repeats {
            let mut c = config.clone();
            let seed = (repeats > 1).then(|| base.train.seed + s as u64);
            if let Some(seed) = seed {
                c.train.seed = seed;
            }
            let suffix = seed.map_or(String::new(), |s| format!("-s{s}"));
            c.name = Some(format!("{name}-{}{suffix}", i + 1));
            c.check()
                .map_err(|e| anyhow::anyhow!("sweep point {}: {e:#}", sets.join(", ")))?;
            out.push((
                c,
                SweepTag {
                    sweep: name.to_string(),
                    point: sets.join(", "),
                    seed,
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_reads_as_sweep_point_and_seed() {
        let tag = |point: &str, seed| SweepTag {
            sweep: "s".into(),
            point: point.into(),
            seed,
        };
        assert_eq!(tag("lr=1", Some(3)).label(), "s: lr=1, seed 3");
        assert_eq!(tag("", Some(3)).label(), "s: seed 3");
        assert_eq!(tag("lr=1", None).label(), "s: lr=1");
    }

    #[test]
    fn a_two_by_two_grid_with_three_seeds_makes_twelve_configs() {
        let base = RunConfig::default();
        let axes = [
            GridAxis::parse("optimizer.lr=1e-3, 3e-4").unwrap(),
            GridAxis::parse("train.batch_size=32,64").unwrap(),
        ];
        let runs = expand_sweep("lr-bs", &base, &axes, 3).unwrap();
        assert_eq!(runs.len(), 12);
        let (c, tag) = &runs[4];
        // second point (lr 1e-3, batch 64), second seed
        assert_eq!(c.optimizer.lr, 1e-3);
        assert_eq!(c.train.batch_size, 64);
        assert_eq!(c.train.seed, base.train.seed + 1);
        assert_eq!(tag.point, "optimizer.lr=1e-3, train.batch_size=64");
        assert_eq!(tag.seed, Some(base.train.seed + 1));
        assert_eq!(c.name.as_deref(), Some("lr-bs-2-s43"));
    }

    #[test]
    fn bad_sweeps_are_refused_with_the_point() {
        let base = RunConfig::default();
        let bad = [GridAxis::parse("optimizer.lr=1e-3,-1").unwrap()];
        let e = expand_sweep("x", &base, &bad, 1).unwrap_err().to_string();
        assert!(e.contains("optimizer.lr=-1"), "{e}");
        assert!(expand_sweep("x", &base, &[], 1).is_err());
        assert!(GridAxis::parse("optimizer.lr").is_err());
        let four: Vec<GridAxis> = (0..4)
            .map(|_| GridAxis::parse("train.epochs=1").unwrap())
            .collect();
        assert!(expand_sweep("x", &base, &four, 1).is_err());
    }
}
