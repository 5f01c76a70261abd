//! The confusion matrix, kept sparse: a classifier over 10,000 people puts
//! nearly every image on or near the diagonal, and the dense matrix (100
//! million cells) would be most of `eval.json` and of the window's memory.
//! Stored as `{"classes": k, "cells": [[true, predicted, count], ...]}`
//! (non-zero cells, sorted); an older `eval.json`'s dense `[[...], ...]`
//! still reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `count` of images of class `true` predicted as `predicted`, for every
/// non-zero cell of a `classes` x `classes` matrix.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Confusion {
    classes: usize,
    cells: BTreeMap<(usize, usize), usize>,
}

impl Confusion {
    /// An empty matrix over `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            cells: BTreeMap::new(),
        }
    }

    /// From a dense `m[true][predicted]` (its side is the class count).
    pub fn from_dense(m: &[Vec<usize>]) -> Self {
        let mut c = Self::new(m.len());
        for (t, row) in m.iter().enumerate() {
            for (p, &n) in row.iter().enumerate() {
                if n > 0 {
                    c.cells.insert((t, p), n);
                }
            }
        }
        c
    }

    /// One more image of class `t` predicted as `p`.
    pub fn add(&mut self, t: usize, p: usize) {
        *self.cells.entry((t, p)).or_default() += 1;
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The count in cell (`t`, `p`).
    pub fn get(&self, t: usize, p: usize) -> usize {
        self.cells.get(&(t, p)).copied().unwrap_or(0)
    }

    /// The non-zero cells as (true, predicted, count), row by row.
    pub fn cells(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.cells.iter().map(|(&(t, p), &n)| (t, p, n))
    }

    /// The dense matrix `m[true][predicted]`; for views of few classes.
    pub fn dense(&self) -> Vec<Vec<usize>> {
        let mut m = vec![vec![0; self.classes]; self.classes];
        for (t, p, n) in self.cells() {
            m[t][p] = n;
        }
        m
    }

    /// The off-diagonal cells, the largest count first (ties by position).
    pub fn most_confused(&self) -> Vec<(usize, usize, usize)> {
        let mut pairs: Vec<_> = self.cells().filter(|&(t, p, _)| t != p).collect();
        pairs.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        pairs
    }

    /// The first cell outside the matrix, if any (for validation).
    pub fn out_of_range(&self) -> Option<(usize, usize)> {
        self.cells
            .keys()
            .find(|&&(t, p)| t >= self.classes || p >= self.classes)
            .copied()
    }
}

#[derive(Serialize, Deserialize)]
struct Sparse {
    classes: usize,
    cells: Vec<(usize, usize, usize)>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Sparse(Sparse),
    Dense(Vec<Vec<usize>>),
}

impl Serialize for Confusion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Sparse {
            classes: self.classes,
            cells: self.cells().collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Confusion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Stored::deserialize(d)? {
            Stored::Sparse(s) => {
                let mut c = Confusion::new(s.classes);
                for (t, p, n) in s.cells {
                    if n > 0 {
                        *c.cells.entry((t, p)).or_default() += n;
                    }
                }
                c
            }
            Stored::Dense(m) => {
                if m.iter().any(|row| row.len() != m.len()) {
                    return Err(serde::de::Error::custom(format!(
                        "the confusion matrix is not square ({} rows)",
                        m.len()
                    )));
                }
                Confusion::from_dense(&m)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Confusion;

    #[test]
    fn sparse_cells_round_trip_and_dense_matrices_still_read() {
        let dense = vec![vec![3, 0, 1], vec![0, 2, 0], vec![2, 0, 0]];
        let c = Confusion::from_dense(&dense);
        assert_eq!(c.dense(), dense);
        assert_eq!(c.get(0, 2), 1);
        assert_eq!(c.get(1, 0), 0);
        assert_eq!(c.most_confused(), vec![(2, 0, 2), (0, 2, 1)]);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"classes":3,"cells":[[0,0,3],[0,2,1],[1,1,2],[2,0,2]]}"#
        );
        assert_eq!(serde_json::from_str::<Confusion>(&json).unwrap(), c);
        // an older eval.json's dense matrix
        let old = serde_json::to_string(&dense).unwrap();
        assert_eq!(serde_json::from_str::<Confusion>(&old).unwrap(), c);
        assert!(serde_json::from_str::<Confusion>("[[1, 2], [3]]").is_err());
        // a cell outside the matrix is found by validation
        let bad: Confusion = serde_json::from_str(r#"{"classes":2,"cells":[[0,5,1]]}"#).unwrap();
        assert_eq!(bad.out_of_range(), Some((0, 5)));
    }
}
