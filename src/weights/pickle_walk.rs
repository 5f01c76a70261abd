//! Walking a PyTorch pickle the way burn-store reads it, without building
//! anything: every length, nesting depth and clone is bounded, and every
//! tensor the pickle declares is recorded for [`super::torch_check`] to hold
//! against the bytes the file really has.

use std::collections::HashMap;
use std::rc::Rc;

use super::pickle_values::{elem_size, Item, TensorRef, NODE, V};

/// Deepest nesting of tuples, lists and dicts (a state dict needs about 5).
const MAX_DEPTH: u32 = 64;
/// Bytes burn-store may spend cloning pickle objects (memo gets, reduces).
const MAX_CLONE_BYTES: u64 = 256 << 20;
/// Objects between a MARK and the opcode that takes them (torch writes 1,000).
const MAX_GROUP: usize = 10_000;
/// Tensors in one file.
const MAX_TENSORS: usize = 20_000;

/// The top of the pickle's stack (never a MARK).
fn pop(stack: &mut Vec<Item>) -> Result<Item, String> {
    match stack.pop() {
        Some(Item { v: V::Mark, .. }) | None => Err("the pickle's stack underflows".to_string()),
        Some(i) => Ok(i),
    }
}

/// Everything above the topmost MARK, and the MARK off the stack.
fn pop_mark(stack: &mut Vec<Item>) -> Result<Vec<Item>, String> {
    let m = stack
        .iter()
        .rposition(|i| matches!(i.v, V::Mark))
        .ok_or("the pickle uses a MARK it never set")?;
    if stack.len() - m - 1 > MAX_GROUP {
        return Err(format!(
            "the pickle groups more than {MAX_GROUP} objects under one MARK"
        ));
    }
    let items = stack.split_off(m + 1);
    stack.pop();
    Ok(items)
}

/// The end of a pickle and what it built.
pub(super) struct Walked {
    pub(super) top: Item,
    pub(super) end: usize,
}

/// Walks pickles with burn-store's opcode set, bounding what its reader
/// would allocate and recording every tensor it would create.
pub(super) struct Walker<'a> {
    bytes: &'a [u8],
    pos: usize,
    clone_bytes: u64,
    pub(super) tensors: Vec<TensorRef>,
}

impl<'a> Walker<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Walker {
            bytes,
            pos: 0,
            clone_bytes: 0,
            tensors: Vec::new(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "the pickle is cut short: {n} bytes wanted at offset {} of {}",
                    self.pos,
                    self.bytes.len()
                )
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.bytes[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the pickle is cut short inside a text line")?;
        let line = &rest[..n];
        self.pos += n + 1;
        Ok(line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn utf8(b: &[u8]) -> Result<Rc<str>, String> {
        std::str::from_utf8(b)
            .map(Rc::from)
            .map_err(|_| "the pickle holds a string that is not UTF-8".to_string())
    }

    fn charge(&mut self, bytes: u64) -> Result<(), String> {
        self.clone_bytes = self.clone_bytes.saturating_add(bytes);
        if self.clone_bytes > MAX_CLONE_BYTES {
            return Err(format!(
                "the pickle copies its objects over and over (more than {} MiB of copies): a pickle bomb",
                MAX_CLONE_BYTES >> 20
            ));
        }
        Ok(())
    }

    fn check_depth(item: &Item) -> Result<(), String> {
        if item.depth > MAX_DEPTH {
            return Err(format!(
                "the pickle nests objects more than {MAX_DEPTH} deep; a state dict needs a handful"
            ));
        }
        Ok(())
    }

    /// Walk one pickle from `self.pos` to its STOP.
    pub(super) fn walk(&mut self) -> Result<Walked, String> {
        let mut stack: Vec<Item> = Vec::new();
        let mut memo: HashMap<u32, Item> = HashMap::new();
        loop {
            let at = self.pos;
            let op = self.u8()?;
            if op == b'.' {
                let top = pop(&mut stack)?;
                return Ok(Walked { top, end: self.pos });
            }
            let known = self.scalar_op(op, &mut stack)?
                || self.container_op(op, at, &mut stack)?
                || self.memo_op(op, &mut stack, &mut memo)?
                || self.call_op(op, &mut stack)?;
            if !known {
                return Err(format!(
                    "the pickle uses opcode 0x{op:02x} at offset {at}, which torch.save does not write"
                ));
            }
            if self.tensors.len() > MAX_TENSORS {
                return Err(format!(
                    "the pickle declares more than {MAX_TENSORS} tensors"
                ));
            }
        }
    }

    /// One opcode that pushes a value: protocol, global, int, float, string, None, bool. `Ok(false)`: not one of these.
    fn scalar_op(&mut self, op: u8, stack: &mut Vec<Item>) -> Result<bool, String> {
        match op {
            0x80 => {
                if self.u8()? > 5 {
                    return Err("the pickle's protocol is newer than 5".into());
                }
            }
            b'c' => {
                let module = Self::utf8(self.line()?)?;
                let name = Self::utf8(self.line()?)?;
                if &*module == "mark" {
                    return Err("the pickle names a global 'mark'".into());
                }
                stack.push(Item {
                    v: V::Global { module, name },
                    cost: NODE,
                    depth: 0,
                });
            }
            b'J' => {
                let v = self.u32()? as i32;
                stack.push(Item::leaf(V::Int(v as i64)));
            }
            b'K' => {
                let v = self.u8()?;
                stack.push(Item::leaf(V::Int(v as i64)));
            }
            b'M' => {
                let b = self.take(2)?;
                stack.push(Item::leaf(V::Int(u16::from_le_bytes([b[0], b[1]]) as i64)));
            }
            b'I' => {
                let s = Self::utf8(self.line()?)?;
                let v = s
                    .parse::<i64>()
                    .map_err(|_| format!("the pickle holds a bad INT '{s}'"))?;
                stack.push(Item::leaf(V::Int(v)));
            }
            0x8a => {
                let n = self.u8()? as usize;
                let b = self.take(n)?;
                let mut v = 0i64;
                for (i, &byte) in b.iter().enumerate().take(8) {
                    v |= (byte as i64).wrapping_shl((i as u32) * 8);
                }
                if n < 8 && b.last().is_some_and(|&x| x & 0x80 != 0) {
                    for i in n..8 {
                        v |= 0xffi64.wrapping_shl((i as u32) * 8);
                    }
                }
                stack.push(Item::leaf(V::Int(v)));
            }
            b'G' => {
                self.take(8)?;
                stack.push(Item::leaf(V::Other));
            }
            b'X' | b'U' => {
                let n = if op == b'X' {
                    self.u32()? as usize
                } else {
                    self.u8()? as usize
                };
                let s = Self::utf8(self.take(n)?)?;
                stack.push(Item {
                    cost: NODE + s.len() as u64,
                    v: V::Str(s),
                    depth: 0,
                });
            }
            b'N' | 0x88 | 0x89 => stack.push(Item::leaf(V::Other)),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// One opcode that builds a tuple, list or dict, or sets a MARK. `Ok(false)`: not one of these.
    fn container_op(&mut self, op: u8, at: usize, stack: &mut Vec<Item>) -> Result<bool, String> {
        match op {
            b')' => stack.push(Item::seq(Vec::new(), false)),
            b']' => stack.push(Item::seq(Vec::new(), true)),
            b'}' => stack.push(Item::leaf(V::Dict)),
            b't' | b'l' => {
                let items = pop_mark(stack)?;
                let item = Item::seq(items, op == b'l');
                Self::check_depth(&item)?;
                stack.push(item);
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(pop(stack)?);
                }
                items.reverse();
                let item = Item::seq(items, false);
                Self::check_depth(&item)?;
                stack.push(item);
            }
            b'a' | b'e' => {
                let items = if op == b'a' {
                    vec![pop(stack)?]
                } else {
                    pop_mark(stack)?
                };
                let list = stack.last_mut().ok_or("the pickle's stack underflows")?;
                for i in &items {
                    list.cost = list.cost.saturating_add(i.cost);
                    list.depth = list.depth.max(i.depth + 1);
                }
                match &mut list.v {
                    V::List(l) => Rc::make_mut(l).extend(items),
                    _ => return Err(format!("APPEND onto something not a list at offset {at}")),
                }
                Self::check_depth(list)?;
            }
            b's' | b'u' | b'd' => {
                let items = if op == b's' {
                    let v = pop(stack)?;
                    let k = pop(stack)?;
                    vec![k, v]
                } else {
                    pop_mark(stack)?
                };
                if items.len() % 2 != 0 {
                    return Err("a dict in the pickle has a key without a value".into());
                }
                self.name_tensors(&items);
                let (cost, depth) = items.iter().fold((0u64, 0u32), |(c, d), i| {
                    (c.saturating_add(i.cost), d.max(i.depth + 1))
                });
                if op == b'd' {
                    // DICT clones every key and value
                    self.charge(cost)?;
                    let item = Item {
                        v: V::Dict,
                        cost: NODE.saturating_add(cost),
                        depth,
                    };
                    Self::check_depth(&item)?;
                    stack.push(item);
                } else {
                    let dict = stack.last_mut().ok_or("the pickle's stack underflows")?;
                    if !matches!(dict.v, V::Dict) {
                        return Err(format!("SETITEM onto something not a dict at offset {at}"));
                    }
                    dict.cost = dict.cost.saturating_add(cost);
                    dict.depth = dict.depth.max(depth);
                    Self::check_depth(dict)?;
                }
            }
            b'(' => stack.push(Item {
                v: V::Mark,
                cost: NODE,
                depth: 0,
            }),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// One opcode that stores the top of the stack in the memo or reads it back. `Ok(false)`: not one of these.
    fn memo_op(
        &mut self,
        op: u8,
        stack: &mut Vec<Item>,
        memo: &mut HashMap<u32, Item>,
    ) -> Result<bool, String> {
        match op {
            b'q' | b'r' | 0x94 => {
                let idx = match op {
                    b'q' => self.u8()? as u32,
                    b'r' => self.u32()?,
                    _ => memo.len() as u32,
                };
                let top = stack
                    .last()
                    .filter(|i| !matches!(i.v, V::Mark))
                    .ok_or("the pickle's stack underflows")?
                    .clone();
                self.charge(top.cost)?;
                memo.insert(idx, top);
            }
            b'h' | b'j' => {
                let idx = if op == b'h' {
                    self.u8()? as u32
                } else {
                    self.u32()?
                };
                let item = memo
                    .get(&idx)
                    .ok_or_else(|| format!("the pickle reads memo {idx}, never stored"))?
                    .clone();
                self.charge(item.cost)?;
                stack.push(item);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// One opcode that calls something: persistent id, REDUCE, BUILD, NEWOBJ. `Ok(false)`: not one of these.
    fn call_op(&mut self, op: u8, stack: &mut Vec<Item>) -> Result<bool, String> {
        match op {
            b'Q' => {
                let pid = pop(stack)?;
                match pid.v {
                    V::Tuple(t) => stack.push(Item {
                        v: V::Pid(t),
                        cost: pid.cost,
                        depth: pid.depth,
                    }),
                    _ => {
                        return Err(
                            "the pickle has a persistent id that is not a storage tuple".into()
                        )
                    }
                }
            }
            b'R' => {
                let args = pop(stack)?;
                let callable = pop(stack)?;
                // burn-store clones the call and its arguments a few times
                self.charge(args.cost.saturating_add(callable.cost).saturating_mul(4))?;
                let item = self.reduce(callable, args)?;
                stack.push(item);
            }
            b'b' => {
                let args = pop(stack)?;
                let obj = pop(stack)?;
                let item = Item {
                    v: if matches!(obj.v, V::Dict) {
                        V::Dict
                    } else {
                        V::Other
                    },
                    cost: obj.cost.saturating_add(args.cost),
                    depth: obj.depth.max(args.depth + 1),
                };
                Self::check_depth(&item)?;
                stack.push(item);
            }
            0x81 => {
                let args = pop(stack)?;
                let cls = pop(stack)?;
                let item = Item {
                    v: V::NewObj,
                    cost: NODE.saturating_add(args.cost).saturating_add(cls.cost),
                    depth: args.depth.max(cls.depth) + 1,
                };
                Self::check_depth(&item)?;
                stack.push(item);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Give tensors stored straight under a string key that key as a name.
    fn name_tensors(&mut self, pairs: &[Item]) {
        for kv in pairs.chunks(2) {
            if let [Item { v: V::Str(k), .. }, Item {
                v: V::Tensor(i), ..
            }] = kv
            {
                if let Some(t) = self.tensors.get_mut(*i) {
                    if t.name.is_none() {
                        t.name = Some(k.to_string());
                    }
                }
            }
        }
    }

    /// burn-store's REDUCE: an OrderedDict, or one of torch's rebuild calls.
    fn reduce(&mut self, callable: Item, args: Item) -> Result<Item, String> {
        let cost = NODE.saturating_add(args.cost);
        let depth = args.depth + 1;
        if let V::Global { module, name } = &callable.v {
            if &**module == "collections" && &**name == "OrderedDict" {
                return Ok(Item {
                    v: V::Dict,
                    cost,
                    depth,
                });
            }
        }
        let v = self.rebuild(&[callable, args], 0)?;
        let item = Item { v, cost, depth };
        Self::check_depth(&item)?;
        Ok(item)
    }

    /// burn-store's `rebuild_from_type_v2` on `[func, args...]`.
    fn rebuild(&mut self, call: &[Item], level: u32) -> Result<V, String> {
        if level > MAX_DEPTH {
            return Err("the pickle nests rebuild calls too deep".into());
        }
        let Some((func, rest)) = call.split_first() else {
            return Err("the pickle calls a rebuild function without arguments".into());
        };
        let V::Global { module, name } = &func.v else {
            return Err("the pickle calls something that is not a function".into());
        };
        let actual: Rc<Vec<Item>> = match rest {
            [Item { v: V::Tuple(t), .. }] => t.clone(),
            _ => Rc::new(rest.to_vec()),
        };
        match (&**module, &**name) {
            ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
                let needed = if &**name == "_rebuild_tensor_v2" {
                    5
                } else {
                    4
                };
                if actual.len() < needed {
                    return Err(format!("{name} gets {} arguments", actual.len()));
                }
                self.tensor(&actual)
            }
            ("torch._tensor", "_rebuild_from_type_v2") => self.rebuild(&actual, level + 1),
            ("torch._utils", "_rebuild_parameter") => match actual.first() {
                None => Err("_rebuild_parameter gets no arguments".into()),
                Some(Item { v: V::NewObj, .. }) => {
                    Err("_rebuild_parameter of an object burn-store cannot rebuild".into())
                }
                Some(first) => Ok(first.v.clone()),
            },
            ("collections", "OrderedDict") => Ok(V::Dict),
            _ => Err(format!(
                "the pickle calls {module}.{name}; facebench reads tensors and dicts only"
            )),
        }
    }

    /// burn-store's `rebuild_tensor_impl`: (storage, offset, shape, ...).
    fn tensor(&mut self, args: &[Item]) -> Result<V, String> {
        let storage = match &args[0].v {
            V::Pid(t) | V::Tuple(t) => t.clone(),
            _ => return Err("a tensor in the pickle has no storage".into()),
        };
        if storage.len() < 3 {
            return Err("a tensor's storage id is too short".into());
        }
        let stype = match &storage[1].v {
            V::Str(s) => s.clone(),
            V::Global { name, .. } => name.clone(),
            _ => return Err("a tensor's storage type is not named".into()),
        };
        let elem_size = elem_size(&stype)
            .ok_or_else(|| format!("a tensor uses the unknown storage type '{stype}'"))?;
        let V::Str(key) = &storage[2].v else {
            return Err("a tensor's storage key is not a string".into());
        };
        let storage_numel = match storage.get(4).map(|i| &i.v) {
            Some(V::Int(n)) => Some(*n),
            _ => None,
        };
        let offset = match &args[1].v {
            V::Int(o) => *o,
            _ => 0,
        };
        let V::Tuple(shape) = &args[2].v else {
            return Err("a tensor's shape is not a tuple".into());
        };
        let shape = shape
            .iter()
            .map(|d| match d.v {
                V::Int(n) => Ok(n),
                _ => Err("a tensor's shape holds something not an integer".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.tensors.push(TensorRef {
            name: None,
            storage: key.to_string(),
            elem_size,
            storage_numel,
            offset,
            shape,
        });
        Ok(V::Tensor(self.tensors.len() - 1))
    }
}
