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
    /// Larger than a face photo can be (see [`ImageLimits`]).
    TooLarge,
    /// Its name (or its folder's) is not valid UTF-8, which run files cannot record.
    NameNotUtf8,
    /// A symbolic link that loops, leaves the dataset folder, or reaches a file
    /// or folder already scanned through another path.
    Link,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::Empty => "empty file",
            SkipReason::Unreadable => "unreadable",
            SkipReason::NotAnImage => "not an image",
            SkipReason::Truncated => "truncated",
            SkipReason::Corrupt => "corrupt",
            SkipReason::TooLarge => "too large",
            SkipReason::NameNotUtf8 => "name not UTF-8",
            SkipReason::Link => "link skipped",
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
    pub(crate) fn new(path: &Path, reason: SkipReason, detail: impl Into<String>) -> Self {
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
        ImageError::Limits(_) => return ImageLimits::from_env().too_large(path, &text),
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

/// The largest image a face photo may be: anything bigger is skipped before a
/// pixel is decoded, so a small file whose header claims a huge image never
/// allocates gigabytes. `FACEBENCH_MAX_IMAGE_SIDE` (pixels) raises or lowers the
/// side limit; the pixel limit is the side limit squared, at least 64 Mpx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    pub max_side: u32,
    pub max_pixels: u64,
}

impl ImageLimits {
    pub const DEFAULT_MAX_SIDE: u32 = 8_000;
    pub const DEFAULT_MAX_PIXELS: u64 = 64_000_000;

    /// The defaults, or the side limit from `FACEBENCH_MAX_IMAGE_SIDE`.
    pub fn from_env() -> Self {
        let side = std::env::var("FACEBENCH_MAX_IMAGE_SIDE")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|&v| v > 0);
        match side {
            Some(max_side) => Self {
                max_side,
                max_pixels: (max_side as u64 * max_side as u64).max(Self::DEFAULT_MAX_PIXELS),
            },
            None => Self {
                max_side: Self::DEFAULT_MAX_SIDE,
                max_pixels: Self::DEFAULT_MAX_PIXELS,
            },
        }
    }

    pub(crate) fn check(&self, path: &Path, width: u32, height: u32) -> Result<(), SkippedFile> {
        if width > self.max_side
            || height > self.max_side
            || width as u64 * height as u64 > self.max_pixels
        {
            return Err(self.too_large(path, &format!("{width} x {height} px")));
        }
        Ok(())
    }

    /// `path` skipped as too large; `what` says what was found.
    fn too_large(&self, path: &Path, what: &str) -> SkippedFile {
        SkippedFile::new(
            path,
            SkipReason::TooLarge,
            format!(
                "{what} is over the limit of {} px a side and {} Mpx for a face photo; \
                 shrink it, or set FACEBENCH_MAX_IMAGE_SIDE",
                self.max_side,
                self.max_pixels / 1_000_000
            ),
        )
    }

    fn decoder_limits(&self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(self.max_side);
        limits.max_image_height = Some(self.max_side);
        // RGBA16 at the pixel limit, plus the decoder's own buffers
        limits.max_alloc = Some(self.max_pixels * 8 + (64 << 20));
        limits
    }
}

/// A JPEG whose last scan is not followed by its end-of-image marker was cut
/// short: the decoder would fill the missing rows with grey without a word.
/// (Entropy-coded data cannot hold the bytes FF D9, so any FF D9 after the last
/// start-of-scan marker FF DA is the end of the image.)
fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    let Some(last_scan) = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]) else {
        return true;
    };
    !bytes[last_scan..].windows(2).any(|w| w == [0xFF, 0xD9])
}

fn reader(
    path: &Path,
    bytes: Vec<u8>,
    limits: &ImageLimits,
) -> Result<ImageReader<Cursor<Vec<u8>>>, SkippedFile> {
    let is_jpeg = bytes.starts_with(&[0xFF, 0xD8]);
    if is_jpeg && jpeg_is_truncated(&bytes) {
        return Err(SkippedFile::new(
            path,
            SkipReason::Truncated,
            "the JPEG ends before its end-of-image marker: the file was cut short",
        ));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| SkippedFile::new(path, SkipReason::Unreadable, e.to_string()))?;
    reader.limits(limits.decoder_limits());
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
    contain_panic(path, || {
        let limits = ImageLimits::from_env();
        let bytes = read_bytes(path)?;
        let (w, h) = reader(path, bytes, &limits)?
            .into_dimensions()
            .map_err(|e| classify(path, e))?;
        limits.check(path, w, h)?;
        Ok((w, h))
    })
}

/// A decoder that panics on a hostile file costs that file, not the scan or
/// the run.
fn contain_panic<T>(
    path: &Path,
    work: impl FnOnce() -> Result<T, SkippedFile>,
) -> Result<T, SkippedFile> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(SkippedFile::new(
            path,
            SkipReason::Corrupt,
            "the image decoder failed on this file (it crashed); the file is damaged",
        ))
    })
}

/// Decode a file fully into 8-bit RGB, honouring EXIF orientation. Grayscale,
/// alpha, 16-bit and CMYK inputs all come out as plain RGB8.
pub fn decode_rgb8(path: &Path) -> Result<RgbImage, SkippedFile> {
    contain_panic(path, || {
        let limits = ImageLimits::from_env();
        let bytes = read_bytes(path)?;
        let mut decoder = reader(path, bytes, &limits)?
            .into_decoder()
            .map_err(|e| classify(path, e))?;
        let (w, h) = decoder.dimensions();
        // from_decoder does not check the size against the limits itself
        limits.check(path, w, h)?;
        let orientation = decoder.orientation().map_err(|e| classify(path, e))?;
        let mut image = DynamicImage::from_decoder(decoder).map_err(|e| classify(path, e))?;
        image.apply_orientation(orientation);
        Ok(match image {
            DynamicImage::ImageRgb8(rgb) => rgb,
            other => other.to_rgb8(),
        })
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
