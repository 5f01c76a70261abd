//! Decoding one file into 8-bit RGB, and classifying why a file cannot be used.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{imageops::FilterType, DynamicImage, ImageDecoder, ImageError, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};

/// Why a file in a class folder was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Zero bytes long.
    Empty,
    /// Could not be opened or read (permissions, I/O error).
    Unreadable,
    /// Not in any image format we can decode.
    NotAnImage,
    /// Recognised as an image but its data ends early.
    Truncated,
    /// Recognised as an image but its data is damaged.
    Corrupt,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::Empty => "empty file",
            SkipReason::Unreadable => "unreadable",
            SkipReason::NotAnImage => "not an image",
            SkipReason::Truncated => "truncated",
            SkipReason::Corrupt => "corrupt",
        }
    }
}

/// A file that was left out of the dataset, with the reason and the decoder's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: SkipReason,
    pub detail: String,
}

impl SkippedFile {
    fn new(path: &Path, reason: SkipReason, detail: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            reason,
            detail: detail.into(),
        }
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, SkippedFile> {
    let bytes = std::fs::read(path)
        .map_err(|e| SkippedFile::new(path, SkipReason::Unreadable, e.to_string()))?;
    if bytes.is_empty() {
        return Err(SkippedFile::new(path, SkipReason::Empty, "0 bytes"));
    }
    Ok(bytes)
}

fn classify(path: &Path, err: ImageError) -> SkippedFile {
    let text = err.to_string();
    let lower = text.to_lowercase();
    let reason = match &err {
        ImageError::Unsupported(_) => SkipReason::NotAnImage,
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            SkipReason::Truncated
        }
        _ if lower.contains("eof")
            || lower.contains("end of file")
            || lower.contains("truncat")
            || lower.contains("no more bytes")
            || lower.contains("not enough") =>
        {
            SkipReason::Truncated
        }
        _ => SkipReason::Corrupt,
    };
    SkippedFile::new(path, reason, text)
}

fn reader(path: &Path, bytes: Vec<u8>) -> Result<ImageReader<Cursor<Vec<u8>>>, SkippedFile> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| SkippedFile::new(path, SkipReason::Unreadable, e.to_string()))?;
    if reader.format().is_none() {
        return Err(SkippedFile::new(
            path,
            SkipReason::NotAnImage,
            "no known image signature (JPEG, PNG, BMP, WebP, TIFF, GIF)",
        ));
    }
    Ok(reader)
}

/// Read only the header: the image's width and height, or why it is unusable.
pub fn probe_file(path: &Path) -> Result<(u32, u32), SkippedFile> {
    let bytes = read_bytes(path)?;
    reader(path, bytes)?
        .into_dimensions()
        .map_err(|e| classify(path, e))
}

/// Decode a file fully into 8-bit RGB, honouring EXIF orientation. Grayscale,
/// alpha, 16-bit and CMYK inputs all come out as plain RGB8.
pub fn decode_rgb8(path: &Path) -> Result<RgbImage, SkippedFile> {
    let bytes = read_bytes(path)?;
    let mut decoder = reader(path, bytes)?
        .into_decoder()
        .map_err(|e| classify(path, e))?;
    let orientation = decoder.orientation().map_err(|e| classify(path, e))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| classify(path, e))?;
    image.apply_orientation(orientation);
    Ok(match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

/// Decode and shrink so the shorter side is at most `max_short_side` (never
/// enlarges). This is the form kept in memory for training.
pub fn decode_working_size(path: &Path, max_short_side: u32) -> Result<RgbImage, SkippedFile> {
    let image = decode_rgb8(path)?;
    let (w, h) = image.dimensions();
    let short = w.min(h);
    if short <= max_short_side || max_short_side == 0 {
        return Ok(image);
    }
    let scale = max_short_side as f64 / short as f64;
    let nw = ((w as f64 * scale).round() as u32).max(1);
    let nh = ((h as f64 * scale).round() as u32).max(1);
    Ok(image::imageops::resize(
        &image,
        nw,
        nh,
        FilterType::Triangle,
    ))
}
