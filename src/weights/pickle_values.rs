//! The values a pickle walk keeps: enough of each object to follow
//! burn-store's rebuild rules and to price its copies, and the tensors the
//! pickle declares.

use std::rc::Rc;

/// What to do about a pickle the walker refuses.
pub(super) const NOT_TORCH: &str =
    "the file is damaged or was not written by torch.save: download it again";

/// The fixed cost charged per pickle object, in bytes.
pub(super) const NODE: u64 = 48;

#[derive(Clone, Debug)]
pub(super) enum V {
    Int(i64),
    Str(Rc<str>),
    Tuple(Rc<Vec<Item>>),
    List(Rc<Vec<Item>>),
    Dict,
    Global {
        module: Rc<str>,
        name: Rc<str>,
    },
    Pid(Rc<Vec<Item>>),
    /// Index into the walker's tensors.
    Tensor(usize),
    /// NEWOBJ's result (burn-store keeps it as an unevaluated call).
    NewObj,
    Other,
    Mark,
}

#[derive(Clone, Debug)]
pub(super) struct Item {
    pub(super) v: V,
    /// Bytes a deep clone of this object costs burn-store.
    pub(super) cost: u64,
    pub(super) depth: u32,
}

impl Item {
    pub(super) fn leaf(v: V) -> Self {
        Item {
            v,
            cost: NODE,
            depth: 0,
        }
    }

    pub(super) fn seq(items: Vec<Item>, list: bool) -> Self {
        let cost = items.iter().fold(NODE, |a, i| a.saturating_add(i.cost));
        let depth = items.iter().map(|i| i.depth + 1).max().unwrap_or(0);
        let items = Rc::new(items);
        Item {
            v: if list {
                V::List(items)
            } else {
                V::Tuple(items)
            },
            cost,
            depth,
        }
    }
}

/// A tensor as the pickle declares it.
#[derive(Clone, Debug)]
pub(crate) struct TensorRef {
    pub name: Option<String>,
    pub storage: String,
    pub elem_size: u64,
    /// The storage's element count (the persistent id's 5th field), if given.
    pub storage_numel: Option<i64>,
    pub offset: i64,
    pub shape: Vec<i64>,
}

impl TensorRef {
    pub(super) fn label(&self, index: usize) -> String {
        match &self.name {
            Some(n) => format!("tensor '{n}'"),
            None => format!("tensor #{index}"),
        }
    }

    /// Elements of the shape, checked (burn-store reads at least one).
    pub(super) fn elements(&self, label: &str) -> Result<u64, String> {
        let mut n: u64 = 1;
        for &d in &self.shape {
            let d = u64::try_from(d).map_err(|_| {
                format!(
                    "{label} has a negative dimension in its shape {:?}; {NOT_TORCH}",
                    self.shape
                )
            })?;
            n = n.checked_mul(d).ok_or_else(|| {
                format!(
                    "{label} declares an impossible shape {:?}; {NOT_TORCH}",
                    self.shape
                )
            })?;
        }
        if n == 0 {
            return Err(format!(
                "{label} has an empty shape {:?}; facebench cannot load zero-sized tensors: remove it from the state dict",
                self.shape
            ));
        }
        Ok(n)
    }

    /// Bytes burn-store reads for this tensor from the start of its storage.
    pub(super) fn extent_bytes(&self, label: &str) -> Result<u64, String> {
        let offset = u64::try_from(self.offset).map_err(|_| {
            format!(
                "{label} has a negative storage offset {}; {NOT_TORCH}",
                self.offset
            )
        })?;
        offset
            .checked_add(self.elements(label)?)
            .and_then(|n| n.checked_mul(self.elem_size))
            .ok_or_else(|| format!("{label} declares an impossible size; {NOT_TORCH}"))
    }
}

pub(super) fn elem_size(storage_type: &str) -> Option<u64> {
    Some(match storage_type {
        "FloatStorage" | "IntStorage" => 4,
        "DoubleStorage" | "LongStorage" => 8,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "CharStorage" | "ByteStorage" | "BoolStorage" => 1,
        _ => return None,
    })
}
