//! Checking a PyTorch file before burn-store reads it.
//!
//! burn-store trusts what a `.pth` declares: a tensor's shape is allocated
//! (and zero-padded) whatever its storage really holds, a legacy storage's
//! element count is allocated before it is read, pickle strings are allocated
//! at their declared length, and memo gets clone whole objects. A file of a
//! few hundred bytes can therefore ask for tens of gigabytes, and a truncated
//! file loads as zeros without a word. So before burn-store sees a file, this
//! module walks its pickle with the same opcodes and the same rebuild rules,
//! bounding every length, nesting depth and clone, and checks each tensor the
//! pickle declares against the bytes the file really holds for its storage.

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};
use std::rc::Rc;

/// Deepest nesting of tuples, lists and dicts (a state dict needs about 5).
const MAX_DEPTH: u32 = 64;
/// Bytes burn-store may spend cloning pickle objects (memo gets, reduces).
const MAX_CLONE_BYTES: u64 = 256 << 20;
/// Objects between a MARK and the opcode that takes them (torch writes 1,000).
const MAX_GROUP: usize = 10_000;
/// Tensors in one file and members in one archive.
const MAX_TENSORS: usize = 20_000;
const MAX_MEMBERS: usize = 20_000;
/// burn-store re-opens the archive for every tensor it reads.
const MAX_TENSOR_MEMBER_PRODUCT: usize = 20_000_000;
/// The pickle itself (densenet121's is about 40 KB).
const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// What to do about a pickle the walker refuses.
const NOT_TORCH: &str = "the file is damaged or was not written by torch.save: download it again";

/// The fixed cost charged per pickle object, in bytes.
const NODE: u64 = 48;

/// The legacy (PyTorch < 1.6) magic-number pickle burn-store looks for.
const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];

#[derive(Clone, Debug)]
enum V {
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
struct Item {
    v: V,
    /// Bytes a deep clone of this object costs burn-store.
    cost: u64,
    depth: u32,
}

impl Item {
    fn leaf(v: V) -> Self {
        Item {
            v,
            cost: NODE,
            depth: 0,
        }
    }

    fn seq(items: Vec<Item>, list: bool) -> Self {
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
    fn label(&self, index: usize) -> String {
        match &self.name {
            Some(n) => format!("tensor '{n}'"),
            None => format!("tensor #{index}"),
        }
    }

    /// Elements of the shape, checked (burn-store reads at least one).
    fn elements(&self, label: &str) -> Result<u64, String> {
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
    fn extent_bytes(&self, label: &str) -> Result<u64, String> {
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

fn elem_size(storage_type: &str) -> Option<u64> {
    Some(match storage_type {
        "FloatStorage" | "IntStorage" => 4,
        "DoubleStorage" | "LongStorage" => 8,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "CharStorage" | "ByteStorage" | "BoolStorage" => 1,
        _ => return None,
    })
}

/// The end of a pickle and what it built.
struct Walked {
    top: Item,
    end: usize,
}

/// Walks pickles with burn-store's opcode set, bounding what its reader
/// would allocate and recording every tensor it would create.
struct Walker<'a> {
    bytes: &'a [u8],
    pos: usize,
    clone_bytes: u64,
    tensors: Vec<TensorRef>,
}

impl<'a> Walker<'a> {
    fn new(bytes: &'a [u8]) -> Self {
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
    fn walk(&mut self) -> Result<Walked, String> {
        let mut stack: Vec<Item> = Vec::new();
        let mut memo: HashMap<u32, Item> = HashMap::new();
        fn pop(stack: &mut Vec<Item>) -> Result<Item, String> {
            match stack.pop() {
                Some(Item { v: V::Mark, .. }) | None => {
                    Err("the pickle's stack underflows".to_string())
                }
                Some(i) => Ok(i),
            }
        }
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
        loop {
            let at = self.pos;
            let op = self.u8()?;
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
                b')' => stack.push(Item::seq(Vec::new(), false)),
                b']' => stack.push(Item::seq(Vec::new(), true)),
                b'}' => stack.push(Item::leaf(V::Dict)),
                b't' | b'l' => {
                    let items = pop_mark(&mut stack)?;
                    let item = Item::seq(items, op == b'l');
                    Self::check_depth(&item)?;
                    stack.push(item);
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(pop(&mut stack)?);
                    }
                    items.reverse();
                    let item = Item::seq(items, false);
                    Self::check_depth(&item)?;
                    stack.push(item);
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![pop(&mut stack)?]
                    } else {
                        pop_mark(&mut stack)?
                    };
                    let list = stack.last_mut().ok_or("the pickle's stack underflows")?;
                    for i in &items {
                        list.cost = list.cost.saturating_add(i.cost);
                        list.depth = list.depth.max(i.depth + 1);
                    }
                    match &mut list.v {
                        V::List(l) => Rc::make_mut(l).extend(items),
                        _ => {
                            return Err(format!(
                                "APPEND onto something not a list at offset {at}"
                            ))
                        }
                    }
                    Self::check_depth(list)?;
                }
                b's' | b'u' | b'd' => {
                    let items = if op == b's' {
                        let v = pop(&mut stack)?;
                        let k = pop(&mut stack)?;
                        vec![k, v]
                    } else {
                        pop_mark(&mut stack)?
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
                b'(' => stack.push(Item {
                    v: V::Mark,
                    cost: NODE,
                    depth: 0,
                }),
                b'Q' => {
                    let pid = pop(&mut stack)?;
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
                    let args = pop(&mut stack)?;
                    let callable = pop(&mut stack)?;
                    // burn-store clones the call and its arguments a few times
                    self.charge(args.cost.saturating_add(callable.cost).saturating_mul(4))?;
                    let item = self.reduce(callable, args)?;
                    stack.push(item);
                }
                b'b' => {
                    let args = pop(&mut stack)?;
                    let obj = pop(&mut stack)?;
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
                    let args = pop(&mut stack)?;
                    let cls = pop(&mut stack)?;
                    let item = Item {
                        v: V::NewObj,
                        cost: NODE.saturating_add(args.cost).saturating_add(cls.cost),
                        depth: args.depth.max(cls.depth) + 1,
                    };
                    Self::check_depth(&item)?;
                    stack.push(item);
                }
                b'.' => {
                    let top = pop(&mut stack)?;
                    return Ok(Walked { top, end: self.pos });
                }
                other => {
                    return Err(format!(
                        "the pickle uses opcode 0x{other:02x} at offset {at}, which torch.save does not write"
                    ))
                }
            }
            if self.tensors.len() > MAX_TENSORS {
                return Err(format!(
                    "the pickle declares more than {MAX_TENSORS} tensors"
                ));
            }
        }
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

/// Check a PyTorch file's bytes (already unpacked from any `.gz`) before
/// burn-store reads it. `max_bytes` bounds the tensors' total size as f32.
/// The error says what is wrong; the caller names the file.
pub(crate) fn check_pytorch(bytes: &[u8], max_bytes: u64) -> Result<(), String> {
    // burn-store tries a zip archive first, then TAR, the legacy format and a
    // bare pickle, in that order
    if let Ok(archive) = zip::ZipArchive::new(Cursor::new(bytes)) {
        return check_zip(archive, bytes.len() as u64, max_bytes);
    }
    if bytes.len() >= 263 && &bytes[257..262] == b"ustar" {
        return Err("this is an old TAR-format PyTorch file, which facebench does not read; re-save it with torch.save(torch.load(path), new_path)".into());
    }
    if bytes.starts_with(&LEGACY_MAGIC) {
        return check_legacy(bytes, max_bytes);
    }
    let mut w = Walker::new(bytes);
    w.walk().map_err(|e| format!("{e}; {NOT_TORCH}"))?;
    if !w.tensors.is_empty() {
        return Err("this pickle declares tensors but holds no tensor data: it is not a file torch.save wrote".into());
    }
    Ok(())
}

/// The tensors' total size as f32 must stay under the cap.
fn check_total(tensors: &[TensorRef], max_bytes: u64) -> Result<(), String> {
    let mut total: u64 = 0;
    for (i, t) in tensors.iter().enumerate() {
        let label = t.label(i);
        total = total.saturating_add(t.elements(&label)?.saturating_mul(4));
    }
    if total > max_bytes {
        return Err(format!(
            "its tensors add up to {} as f32, over the {} limit on weights; if the file is genuine, raise FACEBENCH_MAX_WEIGHTS_BYTES",
            super::source::human_bytes(total),
            super::source::human_bytes(max_bytes)
        ));
    }
    Ok(())
}

fn check_zip(
    mut archive: zip::ZipArchive<Cursor<&[u8]>>,
    file_len: u64,
    max_bytes: u64,
) -> Result<(), String> {
    let damaged = "the archive is damaged or truncated: download the file again";
    if archive.len() > MAX_MEMBERS {
        return Err(format!(
            "the archive holds {} members, over the {MAX_MEMBERS} facebench reads",
            archive.len()
        ));
    }
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut names = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut f = archive
            .by_index(i)
            .map_err(|e| format!("member {i} of the archive cannot be read ({e}); {damaged}"))?;
        let name = f.name().to_string();
        if f.compression() != zip::CompressionMethod::Stored {
            return Err(format!(
                "archive member '{name}' is compressed ({:?}); torch.save stores members uncompressed, so re-save the weights with torch.save",
                f.compression()
            ));
        }
        let start = f
            .data_start()
            .ok_or_else(|| format!("archive member '{name}' has no data offset; {damaged}"))?;
        let fits = f.size() == f.compressed_size()
            && start
                .checked_add(f.size())
                .is_some_and(|end| end <= file_len);
        if !fits {
            return Err(format!(
                "archive member '{name}' claims {} bytes at offset {start} of a {file_len}-byte file; {damaged}",
                f.size()
            ));
        }
        // burn-store loads a member that fails its checksum as zeros, without
        // a word: read each one through (stored, inside the file, so bounded)
        // to its end, where the zip reader compares the checksum
        let size = f.size();
        std::io::copy(&mut f, &mut std::io::sink()).map_err(|e| {
            format!("archive member '{name}' does not match its checksum ({e}); {damaged}")
        })?;
        if sizes.insert(name.clone(), size).is_some() {
            return Err(format!("the archive holds '{name}' twice; {damaged}"));
        }
        names.push(name);
    }
    let pickle_name = ["data.pkl", "archive/data.pkl"]
        .into_iter()
        .map(str::to_string)
        .find(|n| sizes.contains_key(n))
        .or_else(|| names.iter().find(|n| n.ends_with("data.pkl")).cloned())
        .ok_or("the archive has no data.pkl: it is not a PyTorch state dict saved by torch.save")?;
    let pickle_size = sizes[&pickle_name];
    if pickle_size > MAX_PICKLE_BYTES {
        return Err(format!(
            "its {pickle_name} is {}, over the {} facebench reads",
            super::source::human_bytes(pickle_size),
            super::source::human_bytes(MAX_PICKLE_BYTES)
        ));
    }
    let mut pickle = Vec::new();
    archive
        .by_name(&pickle_name)
        .map_err(|e| format!("cannot open {pickle_name} ({e}); {damaged}"))?
        .take(pickle_size)
        .read_to_end(&mut pickle)
        .map_err(|e| format!("cannot read {pickle_name} ({e}); {damaged}"))?;
    let mut w = Walker::new(&pickle);
    w.walk()
        .map_err(|e| format!("{pickle_name}: {e}; {NOT_TORCH}"))?;
    let tensors = w.tensors;
    if tensors.len().saturating_mul(names.len()) > MAX_TENSOR_MEMBER_PRODUCT {
        return Err(format!(
            "{} tensors in {} archive members is more than facebench reads",
            tensors.len(),
            names.len()
        ));
    }
    // burn-store's data key lookup: `data/KEY`, else a member under some
    // `.../data/` whose last segment is KEY
    let data_files: Vec<&String> = names
        .iter()
        .filter(|n| {
            (n.starts_with("data/") || n.contains("/data/"))
                && !n.ends_with(".pkl")
                && !n.ends_with('/')
        })
        .collect();
    for (i, t) in tensors.iter().enumerate() {
        let label = t.label(i);
        let exact = format!("data/{}", t.storage);
        let suffix = format!("/data/{}", t.storage);
        let member = if sizes.contains_key(&exact) {
            Some(&exact)
        } else {
            data_files.iter().copied().find(|k| {
                k.ends_with(&suffix)
                    || (k.contains("/data/") && k.rsplit('/').next() == Some(&t.storage))
            })
        };
        let Some(member) = member else {
            return Err(format!(
                "{label} reads storage '{}', which the archive does not hold; the file is truncated or damaged: download it again",
                t.storage
            ));
        };
        let have = sizes[member];
        let need = t.extent_bytes(&label)?;
        if need > have {
            return Err(format!(
                "{label} declares shape {:?} ({}) but its storage '{member}' holds only {}; the file is truncated or damaged: download it again",
                t.shape,
                super::source::human_bytes(need),
                super::source::human_bytes(have)
            ));
        }
    }
    check_total(&tensors, max_bytes)
}

fn check_legacy(bytes: &[u8], max_bytes: u64) -> Result<(), String> {
    let mut w = Walker::new(bytes);
    // magic number, protocol version, system info
    for what in ["magic number", "protocol version", "system info"] {
        w.walk()
            .map_err(|e| format!("legacy {what}: {e}; {NOT_TORCH}"))?;
    }
    w.walk()
        .map_err(|e| format!("legacy state dict: {e}; {NOT_TORCH}"))?;
    let tensors = std::mem::take(&mut w.tensors);
    let walked = w
        .walk()
        .map_err(|e| format!("legacy storage list: {e}; {NOT_TORCH}"))?;
    let V::List(keys_list) = &walked.top.v else {
        return Err("the legacy storage list is missing; the file is truncated or damaged: download it again".into());
    };
    let keys: Vec<String> = keys_list
        .iter()
        .map(|k| match &k.v {
            V::Str(s) => Ok(s.to_string()),
            _ => Err("the legacy storage list holds something not a key".to_string()),
        })
        .collect::<Result<_, _>>()?;
    // burn-store's storage map: per key the largest size a tensor claims;
    // built only when every listed key is used by some tensor
    let mut usage: HashMap<&str, (u64, u64)> = HashMap::new();
    for (i, t) in tensors.iter().enumerate() {
        let label = t.label(i);
        let extent = t.extent_bytes(&label)?;
        let claimed = match t.storage_numel {
            Some(n) => u64::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(t.elem_size))
                .ok_or_else(|| format!("{label}'s storage declares {n} elements; {NOT_TORCH}"))?,
            None => extent,
        };
        if extent > claimed {
            return Err(format!(
                "{label} declares shape {:?} past the end of its storage '{}'; the file is damaged: download it again",
                t.shape, t.storage
            ));
        }
        let e = usage.entry(t.storage.as_str()).or_insert((0, t.elem_size));
        e.0 = e.0.max(claimed);
    }
    let listed: HashSet<&str> = keys.iter().map(String::as_str).collect();
    if let Some(k) = keys.iter().find(|k| !usage.contains_key(k.as_str())) {
        return Err(format!(
            "the legacy storage list names '{k}', which no tensor uses; the file is damaged: download it again"
        ));
    }
    if let Some(k) = usage.keys().find(|k| !listed.contains(*k)) {
        return Err(format!(
            "a tensor uses storage '{k}', which the legacy storage list does not hold; the file is damaged: download it again"
        ));
    }
    // the data: per key an 8-byte element count, then the elements
    let mut pos = walked.end as u64;
    let len = bytes.len() as u64;
    for k in &keys {
        let (size, elem) = usage[k.as_str()];
        let end = pos
            .checked_add(8)
            .and_then(|p| p.checked_add(size))
            .filter(|&e| e <= len)
            .ok_or_else(|| {
                format!(
                    "storage '{k}' ({}) runs past the end of the {len}-byte file; the file is truncated: download it again",
                    super::source::human_bytes(size)
                )
            })?;
        let at = pos as usize;
        let mut count = [0u8; 8];
        count.copy_from_slice(&bytes[at..at + 8]);
        let count = u64::from_le_bytes(count);
        if count.checked_mul(elem) != Some(size) {
            return Err(format!(
                "storage '{k}' holds {count} elements where its tensors say {}; the file is damaged: download it again",
                size / elem.max(1)
            ));
        }
        pos = end;
    }
    check_total(&tensors, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto2(body: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 2];
        p.extend_from_slice(body);
        p.push(b'.');
        p
    }

    #[test]
    fn memo_bombs_are_refused() {
        // a list doubled by memo gets, 40 times
        let mut body = vec![b']'];
        for _ in 0..40 {
            body.extend_from_slice(&[b'q', 0, b'h', 0, 0x86]);
        }
        let err = Walker::new(&proto2(&body)).walk().err();
        assert!(err.is_some_and(|e| e.contains("pickle bomb")));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut body = vec![b')'];
        body.extend(std::iter::repeat_n(0x85, 1000));
        let err = Walker::new(&proto2(&body)).walk().err();
        assert!(err.is_some_and(|e| e.contains("deep")));
    }

    #[test]
    fn long_strings_must_fit() {
        let body = [b'X', 0xff, 0xff, 0xff, 0xff, b'a'];
        let err = Walker::new(&proto2(&body)).walk().err();
        assert!(err.is_some_and(|e| e.contains("cut short")));
    }
}
