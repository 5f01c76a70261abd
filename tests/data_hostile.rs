//! Hostile dataset folders: link loops, links out of the folder, names that are
//! not UTF-8, truncated JPEGs and headers that claim gigapixel images. Each is
//! left out with its reason; none multiplies, mislabels, aborts or panics.

use std::fs;
use std::io::Cursor;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use facebench::data::{decode_rgb8, probe_file, Dataset, SkipReason, SplitConfig};
use image::{ImageFormat, Rgb, RgbImage};

fn face(seed: u8) -> RgbImage {
    RgbImage::from_fn(40, 40, |x, y| {
        Rgb([seed, (x * 6) as u8 ^ seed, (y * 6) as u8])
    })
}

fn encoded(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn make_classes(root: &Path, classes: &[&str], per_class: usize) {
    for (c, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            face((c * 40 + i) as u8)
                .save(dir.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
}

fn count(ds: &Dataset) -> usize {
    ds.num_images()
}

fn reasons(ds: &Dataset, reason: SkipReason) -> usize {
    ds.skipped.iter().filter(|s| s.reason == reason).count()
}

#[test]
fn link_loops_never_multiply_images() {
    let tmp = tempfile::tempdir().unwrap();
    make_classes(tmp.path(), &["a", "b", "c"], 10);
    std::os::unix::fs::symlink(".", tmp.path().join("a/loop")).unwrap();
    std::os::unix::fs::symlink("..", tmp.path().join("b/up")).unwrap();
    std::os::unix::fs::symlink("../a/003.png", tmp.path().join("c/stolen.png")).unwrap();
    let ds = Dataset::open(tmp.path(), &SplitConfig::default()).unwrap();
    assert_eq!(count(&ds), 30, "each real image once: {:?}", ds.skipped);
    assert_eq!(reasons(&ds, SkipReason::Link), 3, "each link reported");
    // labels stay right: every image sits in its own class's folder
    for e in ds.images.all() {
        let folder = e.path.parent().unwrap().file_name().unwrap();
        assert_eq!(folder.to_str().unwrap(), ds.classes[e.class]);
    }
}

/// A split made of links (`train/NAME/x.png -> ../../all/NAME/x.png`, the
/// usual way to split without copying) reads as torchvision reads it: the
/// links are followed wherever they lead, each real file counts once per
/// split, and a file linked into two splits is a warning.
#[test]
fn a_split_made_of_links_outside_the_folder_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    make_classes(&all, &["ann", "bo", "cy"], 10);
    let root = tmp.path().join("splits");
    for class in ["ann", "bo", "cy"] {
        for (split, range) in [("train", 0..8), ("val", 8..9), ("test", 9..10)] {
            let dir = root.join(split).join(class);
            fs::create_dir_all(&dir).unwrap();
            for i in range {
                let name = format!("{i:03}.png");
                let target = format!("../../../all/{class}/{name}");
                std::os::unix::fs::symlink(target, dir.join(&name)).unwrap();
            }
        }
    }
    // a folder link too, and a second link to one file in the same split
    std::os::unix::fs::symlink(all.join("cy"), root.join("train/cy/more")).unwrap();
    let ds = Dataset::open(&root, &SplitConfig::default()).unwrap();
    assert_eq!(ds.classes, vec!["ann", "bo", "cy"]);
    let per_split = |s: &[facebench::data::ImageEntry]| s.len();
    assert_eq!(
        (
            per_split(&ds.images.train),
            per_split(&ds.images.val),
            per_split(&ds.images.test)
        ),
        (26, 3, 3),
        "each real file once per split: {:?}",
        ds.skipped
    );
    // cy's folder link leads to its 8 train files again (left out, each
    // named) and to its val and test files (counted again in train)
    assert_eq!(reasons(&ds, SkipReason::Link), 8, "{:?}", ds.skipped);
    assert!(
        ds.warnings
            .iter()
            .any(|w| w.contains("2 file(s) are in more than one split")),
        "{:?}",
        ds.warnings
    );
    for e in ds.images.all() {
        let real = fs::canonicalize(&e.path).unwrap();
        let folder = real.parent().unwrap().file_name().unwrap();
        assert_eq!(folder.to_str().unwrap(), ds.classes[e.class], "{e:?}");
    }
}

#[test]
fn names_that_are_not_utf8_are_refused_at_scan_time() {
    let tmp = tempfile::tempdir().unwrap();
    make_classes(tmp.path(), &["a", "b"], 10);
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9.png");
    fs::write(
        tmp.path().join("a").join(bad),
        encoded(&face(9), ImageFormat::Png),
    )
    .unwrap();
    let bad_class = tmp.path().join(std::ffi::OsStr::from_bytes(b"j\xf6rg"));
    fs::create_dir_all(&bad_class).unwrap();
    fs::write(bad_class.join("0.png"), encoded(&face(3), ImageFormat::Png)).unwrap();
    let ds = Dataset::open(tmp.path(), &SplitConfig::default()).unwrap();
    assert_eq!(
        ds.classes,
        vec!["a", "b"],
        "the non-UTF-8 folder is no class"
    );
    assert_eq!(count(&ds), 20);
    assert_eq!(reasons(&ds, SkipReason::NameNotUtf8), 2);
    // every stored path can be written into run files
    assert!(ds.images.all().all(|e| e.path.to_str().is_some()));
}

#[test]
fn a_truncated_jpeg_is_skipped_as_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let jpeg = encoded(&face(5), ImageFormat::Jpeg);
    let whole = tmp.path().join("whole.jpg");
    fs::write(&whole, &jpeg).unwrap();
    decode_rgb8(&whole).expect("the whole JPEG decodes");
    let cut = tmp.path().join("cut.jpg");
    fs::write(&cut, &jpeg[..jpeg.len() / 2]).unwrap();
    let err = probe_file(&cut).unwrap_err();
    assert_eq!(err.reason, SkipReason::Truncated, "{}", err.detail);
    assert_eq!(decode_rgb8(&cut).unwrap_err().reason, SkipReason::Truncated);
    // trailing bytes after the end-of-image marker are fine
    let padded = tmp.path().join("padded.jpg");
    fs::write(&padded, [jpeg.as_slice(), &[0u8; 64]].concat()).unwrap();
    probe_file(&padded).expect("bytes after the end marker are allowed");
}

/// A small PNG whose header claims `w` x `h` pixels (the IHDR CRC is fixed up,
/// so only the size is a lie).
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = encoded(&face(1), ImageFormat::Png);
    // signature (8), IHDR length (4), "IHDR" (4), then width and height
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&png[12..29]);
    png[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    png
}

/// A small JPEG whose frame header claims `w` x `h` pixels.
fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut jpeg = encoded(&face(2), ImageFormat::Jpeg);
    let sof = jpeg
        .windows(2)
        .position(|m| m == [0xFF, 0xC0])
        .expect("a baseline frame header");
    // marker (2), length (2), precision (1), height (2), width (2)
    jpeg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    jpeg
}

#[test]
fn headers_claiming_huge_images_are_skipped_before_decoding() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("huge.png", png_claiming(100_000, 100_000)),
        ("wide.png", png_claiming(20_000, 40)),
        ("huge.jpg", jpeg_claiming(60_000, 60_000)),
        ("tall.jpg", jpeg_claiming(40, 9_000)),
    ];
    for (name, bytes) in cases {
        let path = tmp.path().join(name);
        fs::write(&path, bytes).unwrap();
        let probed = probe_file(&path).unwrap_err();
        assert_eq!(
            probed.reason,
            SkipReason::TooLarge,
            "{name}: {}",
            probed.detail
        );
        assert!(probed.detail.contains("FACEBENCH_MAX_IMAGE_SIDE"));
        let decoded = decode_rgb8(&path).unwrap_err();
        assert!(
            matches!(
                decoded.reason,
                SkipReason::TooLarge | SkipReason::Corrupt | SkipReason::Truncated
            ),
            "{name}: {decoded:?}"
        );
    }
    // and in a dataset they are listed, not fatal
    let root = tmp.path().join("faces");
    make_classes(&root, &["a", "b"], 10);
    fs::write(root.join("a/huge.png"), png_claiming(100_000, 100_000)).unwrap();
    let ds = Dataset::open(&root, &SplitConfig::default()).unwrap();
    assert_eq!(count(&ds), 20);
    assert_eq!(reasons(&ds, SkipReason::TooLarge), 1);
}
