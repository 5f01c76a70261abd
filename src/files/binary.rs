//! Little-endian fields of facebench's own binary files (the header memo,
//! the image cache's table and tail).

/// The u64 at byte `at` of `bytes` (0 past the end, which callers rule out
/// by checking lengths first).
pub fn u64_le(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// The u32 at byte `at` of `bytes` (0 past the end).
pub fn u32_le(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}
