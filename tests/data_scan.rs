//! Scanning, splitting, decoding and every kind of bad input.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use facebench::data::{
    channel_stats, decode_rgb8, Dataset, DatasetError, DatasetLayout, SkipReason, SplitConfig,
    StatsSource,
};
use image::{ImageBuffer, Luma, Rgb, RgbImage, Rgba};

fn tiny_rgb(seed: u8) -> RgbImage {
    RgbImage::from_fn(24, 20, |x, y| Rgb([seed, (x * 10) as u8, (y * 12) as u8]))
}

/// `classes` folders of `per_class` PNGs under `root`.
fn make_classes(root: &Path, classes: &[&str], per_class: usize) {
    for (c, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            tiny_rgb((c * 40 + i) as u8)
                .save(dir.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
}

fn paths(entries: &[facebench::data::ImageEntry]) -> HashSet<PathBuf> {
    entries.iter().map(|e| e.path.clone()).collect()
}

#[test]
fn unsplit_folder_is_split_stratified_seeded_and_disjoint() {
    let tmp = tempfile::tempdir().unwrap();
    make_classes(tmp.path(), &["bob", "alice", "carol"], 20);
    let cfg = SplitConfig::default();
    let ds = Dataset::open(tmp.path(), &cfg).unwrap();
    assert_eq!(ds.layout, DatasetLayout::Unsplit);
    assert_eq!(
        ds.classes,
        vec!["alice", "bob", "carol"],
        "classes are sorted folder names"
    );
    for c in 0..3 {
        let count = |s: &[facebench::data::ImageEntry]| s.iter().filter(|e| e.class == c).count();
        assert_eq!(
            (
                count(&ds.images.train),
                count(&ds.images.val),
                count(&ds.images.test)
            ),
            (16, 2, 2),
            "class {c}"
        );
    }
    let (tr, va, te) = (
        paths(&ds.images.train),
        paths(&ds.images.val),
        paths(&ds.images.test),
    );
    assert!(
        tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te),
        "no file in two splits"
    );
    assert_eq!(tr.len() + va.len() + te.len(), 60);
    // labels follow the folder
    for e in ds.images.all() {
        assert_eq!(ds.classes[e.class], common::folder_of(&e.path));
    }
    let again = Dataset::open(tmp.path(), &cfg).unwrap();
    assert_eq!(paths(&again.images.test), te, "same seed, same split");
    let other = Dataset::open(
        tmp.path(),
        &SplitConfig {
            seed: 7,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert_ne!(paths(&other.images.test), te, "another seed, another split");
    let custom = Dataset::open(
        tmp.path(),
        &SplitConfig {
            val_fraction: 0.25,
            test_fraction: 0.25,
            seed: 1,
        },
    )
    .unwrap();
    assert_eq!(
        (
            custom.images.train.len(),
            custom.images.val.len(),
            custom.images.test.len()
        ),
        (30, 15, 15)
    );
}

#[test]
fn presplit_folder_carves_val_from_train_and_reports_missing_classes() {
    let tmp = tempfile::tempdir().unwrap();
    make_classes(&tmp.path().join("train"), &["a", "b"], 10);
    make_classes(&tmp.path().join("test"), &["a"], 3);
    let ds = Dataset::open(tmp.path(), &SplitConfig::default()).unwrap();
    assert_eq!(
        ds.layout,
        DatasetLayout::PreSplit {
            has_val: false,
            has_test: true
        }
    );
    assert_eq!(
        (
            ds.images.train.len(),
            ds.images.val.len(),
            ds.images.test.len()
        ),
        (18, 2, 3)
    );
    assert!(paths(&ds.images.train).is_disjoint(&paths(&ds.images.val)));
    assert!(
        ds.warnings.iter().any(|w| w.contains("no val/ folder")),
        "{:?}",
        ds.warnings
    );
    assert!(
        ds.warnings
            .iter()
            .any(|w| w.contains("test split has no images of: b")),
        "{:?}",
        ds.warnings
    );
}

#[test]
fn presplit_split_with_a_class_train_lacks_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    make_classes(&tmp.path().join("train"), &["a", "b"], 4);
    make_classes(&tmp.path().join("val"), &["a", "zed"], 2);
    let err = Dataset::open(tmp.path(), &SplitConfig::default()).unwrap_err();
    assert!(matches!(err, DatasetError::ClassMismatch { .. }));
    assert!(err.to_string().contains("zed"), "{err}");
}

#[test]
fn bad_files_are_skipped_with_their_reason() {
    let tmp = tempfile::tempdir().unwrap();
    make_classes(tmp.path(), &["a", "b"], 6);
    let dir = tmp.path().join("a");
    fs::write(dir.join("empty.jpg"), b"").unwrap();
    fs::write(dir.join("notes.jpg"), b"this is a text file, not a photo").unwrap();
    let mut png = Vec::new();
    tiny_rgb(9)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    fs::write(dir.join("truncated.png"), &png[..png.len() / 2]).unwrap();
    let mut corrupt = png.clone();
    for b in corrupt.iter_mut().skip(40).take(30) {
        *b ^= 0x5A;
    }
    fs::write(dir.join("corrupt.png"), &corrupt).unwrap();
    fs::write(tmp.path().join("README.txt"), b"stray file at the root").unwrap();

    let mut ds = Dataset::open(tmp.path(), &SplitConfig::default()).unwrap();
    // header probing finds some; a full decode finds the rest
    let bad: Vec<_> = ds
        .images
        .all()
        .filter_map(|e| decode_rgb8(&e.path).err())
        .collect();
    ds.remove_unusable(bad);
    let reason = |name: &str| {
        ds.skipped
            .iter()
            .find(|s| s.path.file_name().unwrap() == name)
            .unwrap_or_else(|| panic!("{name} not reported: {:?}", ds.skipped))
            .reason
    };
    assert_eq!(reason("empty.jpg"), SkipReason::Empty);
    assert_eq!(reason("notes.jpg"), SkipReason::NotAnImage);
    assert_eq!(reason("truncated.png"), SkipReason::Truncated);
    assert!(matches!(
        reason("corrupt.png"),
        SkipReason::Corrupt | SkipReason::Truncated
    ));
    assert_eq!(reason("README.txt"), SkipReason::NotAnImage);
    assert_eq!(ds.num_images(), 12, "the good images all remain");
}

#[test]
fn unreadable_file_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    make_classes(tmp.path(), &["a", "b"], 4);
    // a dangling symlink cannot be opened
    std::os::unix::fs::symlink(
        tmp.path().join("nowhere.png"),
        tmp.path().join("a/link.png"),
    )
    .unwrap();
    let ds = Dataset::open(tmp.path(), &SplitConfig::default()).unwrap();
    let s = ds
        .skipped
        .iter()
        .find(|s| s.path.ends_with("a/link.png"))
        .expect("reported");
    assert_eq!(s.reason, SkipReason::Unreadable);
}

#[test]
fn structural_errors_say_what_to_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = SplitConfig::default();

    let missing = tmp.path().join("nope");
    let e = Dataset::open(&missing, &cfg).unwrap_err();
    assert!(
        matches!(e, DatasetError::Missing(_)) && e.to_string().contains("does not exist"),
        "{e}"
    );

    let file = tmp.path().join("file.txt");
    fs::write(&file, "x").unwrap();
    let e = Dataset::open(&file, &cfg).unwrap_err();
    assert!(matches!(e, DatasetError::NotADirectory(_)), "{e}");

    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let e = Dataset::open(&empty, &cfg).unwrap_err();
    assert!(
        matches!(e, DatasetError::EmptyRoot(_))
            && e.to_string().contains("one sub-folder per person"),
        "{e}"
    );

    // a folder of loose files (a weights file, say) is not "empty": say what
    // is there and what a dataset folder looks like
    let loose = tmp.path().join("loose");
    fs::create_dir(&loose).unwrap();
    fs::write(loose.join("xception_weights.h5"), b"HDF").unwrap();
    let e = Dataset::open(&loose, &cfg).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, DatasetError::NoClassFolders { .. })
            && !msg.contains("is empty")
            && msg.contains("1 file (xception_weights.h5)")
            && msg.contains("one sub-folder per person"),
        "{msg}"
    );

    let one = tmp.path().join("one");
    make_classes(&one, &["solo"], 5);
    let e = Dataset::open(&one, &cfg).unwrap_err();
    assert!(
        matches!(e, DatasetError::OneClass { .. }) && e.to_string().contains("at least two"),
        "{e}"
    );

    let hollow = tmp.path().join("hollow");
    make_classes(&hollow, &["a", "b"], 5);
    fs::create_dir(hollow.join("c")).unwrap();
    let e = Dataset::open(&hollow, &cfg).unwrap_err();
    assert!(
        matches!(e, DatasetError::EmptyClass(ref p) if p.ends_with("c")),
        "{e}"
    );
    assert!(e.to_string().contains("add photos"), "{e}");

    let junk = tmp.path().join("junk");
    make_classes(&junk, &["a", "b"], 5);
    fs::create_dir(junk.join("c")).unwrap();
    fs::write(junk.join("c/x.jpg"), b"not an image").unwrap();
    let e = Dataset::open(&junk, &cfg).unwrap_err();
    assert!(
        matches!(e, DatasetError::EmptyClass(_)),
        "a folder of only bad files is empty: {e}"
    );

    let e = Dataset::open(
        &hollow,
        &SplitConfig {
            val_fraction: 0.6,
            test_fraction: 0.5,
            seed: 0,
        },
    )
    .unwrap_err();
    assert!(matches!(e, DatasetError::BadSplit(_)), "{e}");
}

#[test]
fn every_pixel_format_becomes_rgb8() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n);
    ImageBuffer::from_fn(8, 6, |x, _| Luma([(x * 30) as u8]))
        .save(p("gray.png"))
        .unwrap();
    ImageBuffer::from_fn(8, 6, |x, _| Rgba([200u8, x as u8, 0, 128]))
        .save(p("alpha.png"))
        .unwrap();
    ImageBuffer::from_fn(8, 6, |x, _| Rgb([65535u16, (x * 1000) as u16, 0]))
        .save(p("deep.png"))
        .unwrap();
    tiny_rgb(1).save(p("plain.bmp")).unwrap();
    tiny_rgb(2).save(p("plain.jpg")).unwrap();
    tiny_rgb(3).save(p("lossless.webp")).unwrap();
    let g = decode_rgb8(&p("gray.png")).unwrap();
    assert_eq!(g.dimensions(), (8, 6));
    assert_eq!(
        g.get_pixel(3, 0).0,
        [90, 90, 90],
        "gray is copied into all three channels"
    );
    assert_eq!(
        decode_rgb8(&p("alpha.png")).unwrap().get_pixel(2, 1).0,
        [200, 2, 0]
    );
    assert_eq!(
        decode_rgb8(&p("deep.png")).unwrap().get_pixel(0, 0).0[0],
        255,
        "16-bit is scaled to 8-bit"
    );
    for f in ["plain.bmp", "plain.jpg", "lossless.webp"] {
        assert_eq!(decode_rgb8(&p(f)).unwrap().dimensions(), (24, 20), "{f}");
    }
}

/// A JPEG with an EXIF APP1 segment whose Orientation tag is `orientation`.
fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend([0x00, 0x01]); // one IFD entry
    tiff.extend([0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01]); // Orientation, SHORT, count 1
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0, 0, 0, 0, 0]); // value padding, next IFD = 0
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend(tiff);
    let len = (app1.len() + 2) as u16;
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend(len.to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    // left half white, right half black, 40 wide and 16 high
    let img = RgbImage::from_fn(
        40,
        16,
        |x, _| if x < 20 { Rgb([255; 3]) } else { Rgb([0; 3]) },
    );
    let path = tmp.path().join("rotated.jpg");
    fs::write(&path, jpeg_with_orientation(&img, 6)).unwrap();
    let out = decode_rgb8(&path).unwrap();
    assert_eq!(
        out.dimensions(),
        (16, 40),
        "orientation 6 turns the image by 90 degrees"
    );
    // rotated clockwise: the former left (white) is now on top
    assert!(out.get_pixel(8, 5).0[0] > 200 && out.get_pixel(8, 35).0[0] < 50);
    let upright = tmp.path().join("upright.jpg");
    fs::write(&upright, jpeg_with_orientation(&img, 1)).unwrap();
    assert_eq!(decode_rgb8(&upright).unwrap().dimensions(), (40, 16));
}

#[test]
fn channel_stats_are_cached_by_file_list_fingerprint() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    make_classes(&dir, &["a", "b"], 5);
    // a known image: half red, half blue
    let known = RgbImage::from_fn(10, 10, |x, _| {
        if x < 5 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    known.save(dir.join("a/known.png")).unwrap();
    let ds = Dataset::open(
        &dir,
        &SplitConfig {
            val_fraction: 0.0,
            test_fraction: 0.0,
            seed: 1,
        },
    )
    .unwrap();
    let (stats, source) = channel_stats(&ds.images.train);
    assert_eq!(source, StatsSource::Computed);
    assert_eq!(stats.images, 11);
    let (again, source) = channel_stats(&ds.images.train);
    assert_eq!(
        source,
        StatsSource::Cached,
        "the second open does not recompute"
    );
    assert_eq!(again, stats);
    // a changed file changes the fingerprint
    std::thread::sleep(std::time::Duration::from_millis(20));
    known.save(dir.join("a/known.png")).unwrap();
    let ds = Dataset::open(
        &dir,
        &SplitConfig {
            val_fraction: 0.0,
            test_fraction: 0.0,
            seed: 1,
        },
    )
    .unwrap();
    assert_eq!(channel_stats(&ds.images.train).1, StatsSource::Computed);

    // exact values on a dataset of only the known image
    let only = tmp.path().join("only");
    for c in ["x", "y"] {
        fs::create_dir_all(only.join(c)).unwrap();
        known.save(only.join(c).join("k.png")).unwrap();
    }
    let ds = Dataset::open(
        &only,
        &SplitConfig {
            val_fraction: 0.0,
            test_fraction: 0.0,
            seed: 1,
        },
    )
    .unwrap();
    let (s, _) = channel_stats(&ds.images.train);
    for (got, want) in s.mean.iter().zip([0.5, 0.0, 0.5]) {
        assert!((got - want).abs() < 1e-6, "mean {:?}", s.mean);
    }
    for (got, want) in s.std.iter().zip([0.5, 0.0, 0.5]) {
        assert!((got - want).abs() < 1e-3, "std {:?}", s.std);
    }
}

#[test]
fn demo_dataset_opens_with_every_person() {
    let tmp = tempfile::tempdir().unwrap();
    let root = common::demo_dataset(tmp.path(), 4, 10, 48);
    let ds = Dataset::open(&root, &SplitConfig::default()).unwrap();
    assert_eq!(ds.classes.len(), 4);
    assert_eq!(ds.num_images(), 40);
    assert!(ds.skipped.is_empty());
    // deterministic: the same config draws the same pixels
    let a = decode_rgb8(&root.join("person_01/001.png")).unwrap();
    let again = common::demo_dataset(&tmp.path().join("again"), 4, 10, 48);
    assert_eq!(a, decode_rgb8(&again.join("person_01/001.png")).unwrap());
    // and two people look different on average
    let mean = |p: &str| {
        let img = decode_rgb8(&root.join(p)).unwrap();
        img.pixels().map(|p| p.0[0] as f64).sum::<f64>() / (48.0 * 48.0)
    };
    assert_ne!(mean("person_01/001.png"), mean("person_02/001.png"));
}

#[test]
fn real_orl40_is_split_into_8_1_1_per_person() {
    let ds = Dataset::open(&common::orl40(), &SplitConfig::default()).unwrap();
    assert_eq!(ds.classes.len(), 40);
    assert_eq!(
        (
            ds.images.train.len(),
            ds.images.val.len(),
            ds.images.test.len()
        ),
        (320, 40, 40)
    );
    assert!(ds
        .skipped
        .iter()
        .any(|s| s.path.ends_with("README.orl.txt")));
    let img = decode_rgb8(&ds.images.train[0].path).unwrap();
    assert_eq!(img.dimensions(), (92, 112));
    let p = img.get_pixel(40, 40).0;
    assert!(p[0] == p[1] && p[1] == p[2], "grayscale becomes equal RGB");
}

#[test]
fn real_celeb23_is_read_as_presplit() {
    let ds = Dataset::open(&common::celeb23(), &SplitConfig::default()).unwrap();
    assert_eq!(
        ds.layout,
        DatasetLayout::PreSplit {
            has_val: true,
            has_test: true
        }
    );
    assert_eq!(ds.classes.len(), 23);
    assert_eq!(
        (
            ds.images.train.len(),
            ds.images.val.len(),
            ds.images.test.len()
        ),
        (4611, 577, 577)
    );
}

#[test]
fn classes_show_in_natural_order_but_keep_their_label_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("s");
    make_classes(&root, &["s1", "s2", "s10", "s11"], 10);
    let cfg = SplitConfig::default();
    let (report, dataset) = facebench::data::DatasetReport::scan(&root, &cfg).unwrap();
    // label indices: the plain sorted folder names, as before (old runs rely on it)
    assert_eq!(dataset.classes, ["s1", "s10", "s11", "s2"]);
    let names: Vec<&str> = report.classes.iter().map(|c| c.class.as_str()).collect();
    assert_eq!(names, ["s1", "s10", "s11", "s2"]);
    // what a person reads: s2 before s10
    let text = report.to_string();
    let at = |name: &str| {
        text.lines()
            .position(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
    };
    assert!(
        at("s1") < at("s2") && at("s2") < at("s10") && at("s10") < at("s11"),
        "{text}"
    );
    assert_eq!(
        facebench::data::natural_order(&dataset.classes),
        vec![0, 3, 1, 2]
    );
}

/// A dataset with several problems: training names every one of them, and
/// `data-report` prints the whole report with all of them, then exits 1.
#[test]
fn every_problem_is_listed_by_the_report_and_refused_by_training() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("faces");
    make_classes(&root, &["ann", "bo", "cy"], 10);
    make_classes(&root, &["tiny"], 2);
    fs::create_dir(root.join("empty1")).unwrap();
    fs::create_dir(root.join("empty2")).unwrap();
    // 40% val and 40% test: two faces cannot be split
    let cfg = SplitConfig {
        val_fraction: 0.4,
        test_fraction: 0.4,
        seed: 1,
    };
    let e = Dataset::open(&root, &cfg).unwrap_err();
    assert!(
        matches!(e, DatasetError::Several(ref all) if all.len() == 3),
        "{e}"
    );
    let msg = e.to_string();
    for named in ["empty1", "empty2", "class tiny has 2 image(s)"] {
        assert!(msg.contains(named), "{named}: {msg}");
    }

    let (report, _) = facebench::data::DatasetReport::scan(&root, &cfg).unwrap();
    assert_eq!(report.problems, e.problems());
    assert_eq!(
        report.classes.len(),
        6,
        "every class folder is in the counts"
    );
    assert_eq!(
        report.totals.train + report.totals.val + report.totals.test,
        32
    );

    let root_arg = root.to_str().unwrap();
    let (ok, out) = common::facebench(
        &[
            "data-report",
            root_arg,
            "--val-fraction",
            "0.4",
            "--test-fraction",
            "0.4",
        ],
        tmp.path(),
    );
    assert!(!ok, "{out}");
    assert!(out.contains("problems (3; training refuses"), "{out}");
    assert!(
        out.contains("classes  6"),
        "the counts are printed too: {out}"
    );
    assert!(out.contains("3 problem(s) in"), "{out}");
}
