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

use crate::numbers::human_bytes;
use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};

use super::pickle_values::{TensorRef, NOT_TORCH, V};
use super::pickle_walk::Walker;

/// What to do about an archive that does not hold together.
const DAMAGED_ARCHIVE: &str = "the archive is damaged or truncated: download the file again";

/// Members in one archive.
const MAX_MEMBERS: usize = 20_000;
/// burn-store re-opens the archive for every tensor it reads.
const MAX_TENSOR_MEMBER_PRODUCT: usize = 20_000_000;
/// The pickle itself (densenet121's is about 40 KB).
const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// The legacy (PyTorch < 1.6) magic-number pickle burn-store looks for.
const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];

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
            human_bytes(total),
            human_bytes(max_bytes)
        ));
    }
    Ok(())
}

fn check_zip(
    mut archive: zip::ZipArchive<Cursor<&[u8]>>,
    file_len: u64,
    max_bytes: u64,
) -> Result<(), String> {
    if archive.len() > MAX_MEMBERS {
        return Err(format!(
            "the archive holds {} members, over the {MAX_MEMBERS} facebench reads",
            archive.len()
        ));
    }
    let (sizes, names) = member_sizes(&mut archive, file_len)?;
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
            human_bytes(pickle_size),
            human_bytes(MAX_PICKLE_BYTES)
        ));
    }
    let mut pickle = Vec::new();
    archive
        .by_name(&pickle_name)
        .map_err(|e| format!("cannot open {pickle_name} ({e}); {DAMAGED_ARCHIVE}"))?
        .take(pickle_size)
        .read_to_end(&mut pickle)
        .map_err(|e| format!("cannot read {pickle_name} ({e}); {DAMAGED_ARCHIVE}"))?;
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
    check_storages(&tensors, &sizes, &names)?;
    check_total(&tensors, max_bytes)
}

/// Each member's size, in archive order, after checking that every member is
/// stored uncompressed inside the file, once, with a matching checksum.
fn member_sizes(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    file_len: u64,
) -> Result<(HashMap<String, u64>, Vec<String>), String> {
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut names = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(|e| {
            format!("member {i} of the archive cannot be read ({e}); {DAMAGED_ARCHIVE}")
        })?;
        let name = f.name().to_string();
        if f.compression() != zip::CompressionMethod::Stored {
            return Err(format!(
                "archive member '{name}' is compressed ({:?}); torch.save stores members uncompressed, so re-save the weights with torch.save",
                f.compression()
            ));
        }
        let start = f.data_start().ok_or_else(|| {
            format!("archive member '{name}' has no data offset; {DAMAGED_ARCHIVE}")
        })?;
        let fits = f.size() == f.compressed_size()
            && start
                .checked_add(f.size())
                .is_some_and(|end| end <= file_len);
        if !fits {
            return Err(format!(
                "archive member '{name}' claims {} bytes at offset {start} of a {file_len}-byte file; {DAMAGED_ARCHIVE}",
                f.size()
            ));
        }
        // burn-store loads a member that fails its checksum as zeros, without
        // a word: read each one through (stored, inside the file, so bounded)
        // to its end, where the zip reader compares the checksum
        let size = f.size();
        std::io::copy(&mut f, &mut std::io::sink()).map_err(|e| {
            format!("archive member '{name}' does not match its checksum ({e}); {DAMAGED_ARCHIVE}")
        })?;
        if sizes.insert(name.clone(), size).is_some() {
            return Err(format!(
                "the archive holds '{name}' twice; {DAMAGED_ARCHIVE}"
            ));
        }
        names.push(name);
    }
    Ok((sizes, names))
}

/// Every tensor's storage is a member of the archive, large enough for the
/// tensor's shape.
fn check_storages(
    tensors: &[TensorRef],
    sizes: &HashMap<String, u64>,
    names: &[String],
) -> Result<(), String> {
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
                human_bytes(need),
                human_bytes(have)
            ));
        }
    }
    Ok(())
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
                    human_bytes(size)
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
