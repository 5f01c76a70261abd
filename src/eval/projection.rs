//! Features to 2-D for the embedding map: PCA (subspace iteration on the
//! centred features), t-SNE (bhtsne's Barnes-Hut) and UMAP (umap-rs, on
//! exact nearest neighbours), both of the latter on at most 50 principal
//! components, as is usual.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How features become 2-D points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Projection {
    /// The first two principal components.
    Pca,
    /// t-SNE of the first 50 principal components (perplexity 30, or less
    /// for small sets).
    #[default]
    Tsne,
    /// UMAP of the first 50 principal components (15 neighbours, min_dist
    /// 0.1, started from the first two components).
    Umap,
}

impl Projection {
    pub fn name(self) -> &'static str {
        match self {
            Projection::Pca => "pca",
            Projection::Tsne => "tsne",
            Projection::Umap => "umap",
        }
    }

    pub fn parse(text: &str) -> Result<Projection, String> {
        match text {
            "pca" => Ok(Projection::Pca),
            "tsne" | "t-sne" => Ok(Projection::Tsne),
            "umap" => Ok(Projection::Umap),
            other => Err(format!("unknown method {other:?}; use tsne, umap or pca")),
        }
    }
}

/// `features` (one row per image, all the same length) as 2-D points.
pub fn project(features: &[Vec<f32>], method: Projection, seed: u64) -> Vec<[f32; 2]> {
    if features.len() < 2 {
        return vec![[0.0, 0.0]; features.len()];
    }
    match method {
        Projection::Pca => plane(features, seed),
        Projection::Tsne => tsne(&principal_components(features, 50, seed), seed),
        Projection::Umap => umap(&principal_components(features, 50, seed), seed),
    }
}

/// The first two principal components as points.
fn plane(rows: &[Vec<f32>], seed: u64) -> Vec<[f32; 2]> {
    principal_components(rows, 2, seed)
        .into_iter()
        .map(|r| [r[0], r.get(1).copied().unwrap_or(0.0)])
        .collect()
}

/// The coordinates of each row on the top `k` principal components
/// (subspace iteration on the centred rows, 30 rounds).
pub fn principal_components(features: &[Vec<f32>], k: usize, seed: u64) -> Vec<Vec<f32>> {
    let (n, d) = (features.len(), features[0].len());
    let k = k.min(d).min(n).max(1);
    let mean: Vec<f64> = (0..d)
        .map(|j| features.iter().map(|r| r[j] as f64).sum::<f64>() / n as f64)
        .collect();
    let x: Vec<Vec<f64>> = features
        .iter()
        .map(|r| r.iter().zip(&mean).map(|(&v, m)| v as f64 - m).collect())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut basis: Vec<Vec<f64>> = (0..k)
        .map(|_| (0..d).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    orthonormalise(&mut basis);
    for _ in 0..30 {
        // basis <- orthonormalise(Xᵀ X basis)
        let projected: Vec<Vec<f64>> = x.iter().map(|row| dots(row, &basis)).collect();
        basis = (0..k)
            .map(|c| {
                let mut v = vec![0.0; d];
                for (row, p) in x.iter().zip(&projected) {
                    for (vj, &xj) in v.iter_mut().zip(row) {
                        *vj += p[c] * xj;
                    }
                }
                v
            })
            .collect();
        orthonormalise(&mut basis);
    }
    x.iter()
        .map(|row| dots(row, &basis).into_iter().map(|v| v as f32).collect())
        .collect()
}

fn dots(row: &[f64], basis: &[Vec<f64>]) -> Vec<f64> {
    basis
        .iter()
        .map(|b| b.iter().zip(row).map(|(a, c)| a * c).sum())
        .collect()
}

/// Gram-Schmidt, in order; a vector that vanishes becomes zero.
fn orthonormalise(vectors: &mut [Vec<f64>]) {
    for i in 0..vectors.len() {
        for j in 0..i {
            let (done, rest) = vectors.split_at_mut(i);
            let dot: f64 = done[j].iter().zip(&rest[0]).map(|(a, b)| a * b).sum();
            for (v, u) in rest[0].iter_mut().zip(&done[j]) {
                *v -= dot * u;
            }
        }
        let norm = vectors[i].iter().map(|v| v * v).sum::<f64>().sqrt();
        for v in &mut vectors[i] {
            *v = if norm > 1e-12 { *v / norm } else { 0.0 };
        }
    }
}

fn tsne(rows: &[Vec<f32>], seed: u64) -> Vec<[f32; 2]> {
    let n = rows.len();
    // bhtsne needs perplexity < (n - 1) / 3
    let perplexity = (((n - 1) as f32 / 3.0) - 1.0).clamp(2.0, 30.0);
    if n < 8 {
        return plane(rows, seed);
    }
    let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    // start from the first two principal components (bhtsne's gradient sums
    // run in parallel, so two runs still differ in their last digits)
    let start: Vec<f32> = principal_components(rows, 2, seed)
        .into_iter()
        .flat_map(|r| [r[0] * 1e-2, r.get(1).copied().unwrap_or(0.0) * 1e-2])
        .collect();
    let mut t: bhtsne::tSNE<f32, &[f32]> = bhtsne::tSNE::new(&slices);
    t.perplexity(perplexity)
        .epochs(1000)
        .initial_embedding(start)
        .barnes_hut(0.5, |a, b| {
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt()
        });
    t.embedding().chunks(2).map(|c| [c[0], c[1]]).collect()
}

/// Neighbours per face in UMAP's graph (umap-learn's default).
const UMAP_NEIGHBOURS: usize = 15;

fn umap(rows: &[Vec<f32>], seed: u64) -> Vec<[f32; 2]> {
    let n = rows.len();
    let k = UMAP_NEIGHBOURS.min(n.saturating_sub(2));
    if k < 2 {
        return plane(rows, seed);
    }
    let (indices, distances) = nearest_neighbours(rows, k);
    let d = rows[0].len();
    let data = ndarray::Array2::from_shape_fn((n, d), |(i, j)| rows[i][j]);
    let indices = ndarray::Array2::from_shape_fn((n, k), |(i, j)| indices[i][j]);
    let distances = ndarray::Array2::from_shape_fn((n, k), |(i, j)| distances[i][j]);
    // start from the first two principal components scaled to [0, 10], as
    // umap-learn scales its start (its SGD is Hogwild-parallel, so two runs
    // differ slightly, as with t-SNE)
    let start = plane(rows, seed);
    let extent = start
        .iter()
        .flat_map(|p| p.iter().map(|v| v.abs()))
        .fold(0.0f32, f32::max)
        .max(1e-12);
    let init = ndarray::Array2::from_shape_fn((n, 2), |(i, c)| 5.0 + 5.0 * start[i][c] / extent);
    let config = umap_rs::UmapConfig {
        graph: umap_rs::GraphParams {
            n_neighbors: k,
            ..Default::default()
        },
        ..Default::default()
    };
    let fitted = umap_rs::Umap::with_metrics(
        config,
        Box::new(PlaneDistance),
        Box::new(PlaneDistance),
    )
    .fit(data.view(), indices.view(), distances.view(), init.view());
    fitted
        .embedding()
        .rows()
        .into_iter()
        .zip(&start)
        // a face the graph left unconnected (umap-rs makes it NaN) stays
        // where it started
        .map(|(r, s)| {
            if r[0].is_finite() && r[1].is_finite() {
                [r[0], r[1]]
            } else {
                *s
            }
        })
        .collect()
}

/// Euclidean distance for umap-rs's general layout path. Its Euclidean fast
/// path (0.4.5) divides the attraction by `a·d^(2b)·d² + 1` where umap-learn
/// divides by `a·d^(2b) + 1`, and then fails to keep three well-separated
/// clusters apart (the test below); the general path follows umap-learn.
#[derive(Debug)]
struct PlaneDistance;

impl umap_rs::Metric for PlaneDistance {
    fn distance(
        &self,
        a: ndarray::ArrayView1<f32>,
        b: ndarray::ArrayView1<f32>,
    ) -> (f32, ndarray::Array1<f32>) {
        let d = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt();
        let gradient = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y) / (d + 1e-6))
            .collect();
        (d, gradient)
    }
}

/// Each row's `k` nearest rows (itself first, at distance 0, as umap-learn
/// gives them), by exact search, with their Euclidean distances.
pub fn nearest_neighbours(rows: &[Vec<f32>], k: usize) -> (Vec<Vec<u32>>, Vec<Vec<f32>>) {
    use rayon::prelude::*;
    rows.par_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut by_distance: Vec<(f32, u32)> = rows
                .iter()
                .enumerate()
                .map(|(j, other)| {
                    let d2: f32 = row.iter().zip(other).map(|(a, b)| (a - b) * (a - b)).sum();
                    // itself first even when another row is identical
                    (if i == j { -1.0 } else { d2 }, j as u32)
                })
                .collect();
            let k = k.min(by_distance.len());
            by_distance.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            by_distance.truncate(k);
            by_distance.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            by_distance
                .into_iter()
                .map(|(d2, j)| (j, d2.max(0.0).sqrt()))
                .unzip()
        })
        .unzip()
}

/// A class's colour: hues around the circle.
pub fn class_colour(class: usize, classes: usize) -> [u8; 3] {
    let h = class as f32 / classes.max(1) as f32 * 6.0;
    let x = 1.0 - (h % 2.0 - 1.0).abs();
    let (r, g, b) = match h as usize {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    [r, g, b].map(|v| (60.0 + 195.0 * v) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three tight clusters far apart in 20-D.
    fn clusters(per: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for c in 0..3 {
            for _ in 0..per {
                rows.push(
                    (0..20)
                        .map(|j| if j % 3 == c { 10.0 } else { 0.0 } + rng.random_range(-0.5..0.5))
                        .collect(),
                );
                labels.push(c);
            }
        }
        (rows, labels)
    }

    /// The share of points whose nearest other point has their label.
    fn nearest_neighbour_agreement(points: &[[f32; 2]], labels: &[usize]) -> f64 {
        let d = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
        let agree = (0..points.len())
            .filter(|&i| {
                let nearest = (0..points.len())
                    .filter(|&j| j != i)
                    .min_by(|&a, &b| d(points[i], points[a]).total_cmp(&d(points[i], points[b])));
                nearest.is_some_and(|j| labels[j] == labels[i])
            })
            .count();
        agree as f64 / points.len() as f64
    }

    #[test]
    fn nearest_neighbours_are_exact_and_start_with_the_row_itself() {
        let rows: Vec<Vec<f32>> = [0.0f32, 1.0, 3.0, 7.0, 7.5]
            .iter()
            .map(|&x| vec![x, 0.0])
            .collect();
        let (indices, distances) = nearest_neighbours(&rows, 3);
        assert_eq!(indices[0], vec![0, 1, 2]);
        assert_eq!(distances[0], vec![0.0, 1.0, 3.0]);
        assert_eq!(indices[3], vec![3, 4, 2]);
        assert_eq!(distances[3], vec![0.0, 0.5, 4.0]);
    }

    #[test]
    fn pca_finds_the_largest_variance_first() {
        // variance 100 along x, 1 along y, 0.01 along z
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let rows: Vec<Vec<f32>> = (0..200)
            .map(|_| {
                vec![
                    10.0 * rng.random_range(-1.0..1.0),
                    rng.random_range(-1.0..1.0),
                    0.1 * rng.random_range(-1.0..1.0),
                ]
            })
            .collect();
        let pcs = principal_components(&rows, 2, 3);
        let var = |c: usize| pcs.iter().map(|r| (r[c] as f64).powi(2)).sum::<f64>() / 200.0;
        assert!(
            var(0) > 20.0 && var(1) < 1.0 && var(1) > 0.1,
            "{} {}",
            var(0),
            var(1)
        );
    }

    #[test]
    fn both_methods_keep_clusters_apart() {
        let (rows, labels) = clusters(40);
        for method in [Projection::Pca, Projection::Tsne, Projection::Umap] {
            let points = project(&rows, method, 7);
            assert_eq!(points.len(), rows.len());
            assert!(
                nearest_neighbour_agreement(&points, &labels) > 0.95,
                "{method:?}: agreement {}, points {:?}",
                nearest_neighbour_agreement(&points, &labels),
                &points[..6]
            );
            if method == Projection::Pca {
                // (bhtsne sums its gradients in parallel, so t-SNE maps
                // differ in their last digits from run to run)
                assert_eq!(points, project(&rows, method, 7), "same input, same map");
            }
        }
    }
}
