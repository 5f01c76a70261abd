//! Writing a PyTorch state dict (`torch.save` of an `OrderedDict` of float32
//! tensors, zip format) without Python: burn-store 0.21 reads `.pth` files
//! but cannot write them. `torch.load(path, weights_only=True)` accepts what
//! this writes: a pickle that only names `collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2` and `torch.FloatStorage`, and one
//! 64-byte-aligned storage record per tensor.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use super::RawTensor;

/// One tensor: its key, and its shape (row-major) and values.
pub type NamedTensor = (String, RawTensor);

/// Pickle opcodes used (protocol 2).
mod op {
    pub const PROTO: u8 = 0x80;
    pub const GLOBAL: u8 = b'c';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const REDUCE: u8 = b'R';
    pub const MARK: u8 = b'(';
    pub const SETITEMS: u8 = b'u';
    pub const TUPLE: u8 = b't';
    pub const BINUNICODE: u8 = b'X';
    pub const BININT: u8 = b'J';
    pub const BINPERSID: u8 = b'Q';
    pub const NEWFALSE: u8 = 0x89;
    pub const STOP: u8 = b'.';
}

struct Pickle(Vec<u8>);

impl Pickle {
    fn global(&mut self, module: &str, name: &str) {
        self.0.push(op::GLOBAL);
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn text(&mut self, s: &str) {
        self.0.push(op::BINUNICODE);
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, v: usize) -> anyhow::Result<()> {
        let v = i32::try_from(v).context("a tensor dimension over 2^31")?;
        self.0.push(op::BININT);
        self.0.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn tuple_of(&mut self, values: &[usize]) -> anyhow::Result<()> {
        self.0.push(op::MARK);
        for &v in values {
            self.int(v)?;
        }
        self.0.push(op::TUPLE);
        Ok(())
    }

    /// `collections.OrderedDict()`
    fn ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.0.push(op::EMPTY_TUPLE);
        self.0.push(op::REDUCE);
    }

    /// `_rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())`
    /// over storage record `record`.
    fn tensor(&mut self, record: usize, shape: &[usize], numel: usize) -> anyhow::Result<()> {
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.0.push(op::MARK);
        // the persistent id: ('storage', FloatStorage, key, location, numel)
        self.0.push(op::MARK);
        self.text("storage");
        self.global("torch", "FloatStorage");
        self.text(&record.to_string());
        self.text("cpu");
        self.int(numel)?;
        self.0.push(op::TUPLE);
        self.0.push(op::BINPERSID);
        self.int(0)?;
        self.tuple_of(shape)?;
        let mut stride = vec![1usize; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * shape[i + 1];
        }
        self.tuple_of(&stride)?;
        self.0.push(op::NEWFALSE);
        self.ordered_dict();
        self.0.push(op::TUPLE);
        self.0.push(op::REDUCE);
        Ok(())
    }
}

/// The pickle of an OrderedDict of `tensors`, tensor `i` in record `i`.
fn state_dict_pickle(tensors: &[NamedTensor]) -> anyhow::Result<Vec<u8>> {
    let mut p = Pickle(vec![op::PROTO, 2]);
    p.ordered_dict();
    p.0.push(op::MARK);
    for (
        i,
        (
            key,
            RawTensor {
                shape,
                data: values,
            },
        ),
    ) in tensors.iter().enumerate()
    {
        anyhow::ensure!(
            shape.iter().product::<usize>() == values.len(),
            "{key}: shape {shape:?} does not hold {} values",
            values.len()
        );
        p.text(key);
        p.tensor(i, shape, values.len())?;
    }
    p.0.push(op::SETITEMS);
    p.0.push(op::STOP);
    Ok(p.0)
}

/// Write `tensors` to `path` as `torch.save(OrderedDict(...))` would.
pub fn write_pth(path: &Path, tensors: &[NamedTensor]) -> anyhow::Result<()> {
    let stem = path
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "archive".into());
    let mut bytes = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut bytes);
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut record = |name: String, data: &[u8], align: u16| -> anyhow::Result<()> {
        zip.start_file(name, stored.with_alignment(align))?;
        zip.write_all(data)?;
        Ok(())
    };
    record(format!("{stem}/data.pkl"), &state_dict_pickle(tensors)?, 1)?;
    record(format!("{stem}/byteorder"), b"little", 1)?;
    for (i, (_, RawTensor { data: values, .. })) in tensors.iter().enumerate() {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        record(format!("{stem}/data/{i}"), &data, 64)?;
    }
    record(format!("{stem}/version"), b"3\n", 1)?;
    zip.finish()?;
    crate::files::write_file(path, bytes.get_ref())
        .with_context(|| format!("cannot write {}", path.display()))
}
