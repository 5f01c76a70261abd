//! The three splits of a dataset, and one value per split (the images of
//! each, or how many there are).

use std::ops::{Index, IndexMut};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// One `T` per split, indexed by [`Split`]; serialised as the fields `train`,
/// `val` and `test` (flattened into the files that hold it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerSplit<T> {
    pub train: T,
    pub val: T,
    pub test: T,
}

impl<T> PerSplit<T> {
    /// `f` of each split's value.
    pub fn map<U>(&self, mut f: impl FnMut(&T) -> U) -> PerSplit<U> {
        PerSplit {
            train: f(&self.train),
            val: f(&self.val),
            test: f(&self.test),
        }
    }
}

impl<T> PerSplit<Vec<T>> {
    /// Every item of the three splits: train's, then val's, then test's.
    pub fn all(&self) -> impl Iterator<Item = &T> {
        self.train.iter().chain(&self.val).chain(&self.test)
    }
}

impl<T> Index<Split> for PerSplit<T> {
    type Output = T;
    fn index(&self, split: Split) -> &T {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
            Split::Test => &self.test,
        }
    }
}

impl<T> IndexMut<Split> for PerSplit<T> {
    fn index_mut(&mut self, split: Split) -> &mut T {
        match split {
            Split::Train => &mut self.train,
            Split::Val => &mut self.val,
            Split::Test => &mut self.test,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_reaches_each_split_and_map_keeps_them_apart() {
        let mut counts = PerSplit::<usize>::default();
        counts[Split::Val] += 2;
        counts[Split::Test] += 3;
        assert_eq!((counts.train, counts.val, counts.test), (0, 2, 3));
        let doubled = counts.map(|n| n * 2);
        assert_eq!(Split::ALL.map(|s| doubled[s]), [0, 4, 6]);
    }

    #[test]
    fn it_serialises_as_three_named_fields() {
        let counts = PerSplit {
            train: 1,
            val: 2,
            test: 3,
        };
        let json = serde_json::to_string(&counts).unwrap_or_default();
        assert_eq!(json, r#"{"train":1,"val":2,"test":3}"#);
    }
}
