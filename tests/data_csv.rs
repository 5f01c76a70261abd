//! A CSV of `path,label[,split]` rows (fastai's `from_csv`) is a dataset, in
//! the library, `data-report` and training.

mod common;

use std::fs;
use std::path::Path;

use facebench::data::{Dataset, DatasetLayout, SkipReason, SplitConfig};
use facebench::engine::{train_blocking, TrainRequest};
use facebench::store::RunDir;
use image::{Rgb, RgbImage};

/// `folders` of ten 24x20 PNGs each under `root`.
fn make_folders(root: &Path, folders: &[&str]) {
    for (c, name) in folders.iter().enumerate() {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        for i in 0..10u32 {
            RgbImage::from_fn(24, 20, |x, y| {
                Rgb([(c * 60) as u8, (x * 9 + i) as u8, (y * 11) as u8])
            })
            .save(dir.join(format!("{i:03}.png")))
            .unwrap();
        }
    }
}

#[test]
fn a_csv_with_a_split_column_names_labels_and_splits() {
    let tmp = tempfile::tempdir().unwrap();
    // the folders' names are not the labels: the CSV's are
    make_folders(&tmp.path().join("faces"), &["x1", "x2", "x3"]);
    let mut rows = String::from("path,label,split\n");
    for (c, label) in [(1, "Smith, Ann"), (2, "周杰倫"), (3, "bo")] {
        for i in 0..10 {
            let split = match i {
                0..=7 => "train",
                8 => "valid",
                _ => "test",
            };
            rows += &format!("faces/x{c}/{i:03}.png,\"{label}\",{split}\n");
        }
    }
    let csv = tmp.path().join("labels.csv");
    fs::write(&csv, rows).unwrap();
    let ds = Dataset::open(&csv, &SplitConfig::default()).unwrap();
    assert_eq!(ds.layout, DatasetLayout::Csv { has_split: true });
    assert_eq!(
        ds.classes,
        vec!["Smith, Ann", "bo", "周杰倫"],
        "labels, sorted"
    );
    let sizes = (
        ds.images.train.len(),
        ds.images.val.len(),
        ds.images.test.len(),
    );
    assert_eq!(sizes, (24, 3, 3), "the split column decides");
    for e in ds.images.all() {
        let folder = common::folder_of(&e.path);
        let label = ["Smith, Ann", "周杰倫", "bo"][folder[1..].parse::<usize>().unwrap() - 1];
        assert_eq!(ds.classes[e.class], label, "{}", e.path.display());
    }

    // data-report reads it too
    let (ok, out) = common::facebench(&["data-report", csv.to_str().unwrap()], tmp.path());
    assert!(ok, "{out}");
    assert!(
        out.contains("a CSV of paths and labels, split by its split column"),
        "{out}"
    );
    assert!(out.contains("images: train 24  val 3  test 3"), "{out}");
}

#[test]
fn a_csv_without_a_header_or_split_is_split_by_facebench_and_bad_rows_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let faces = tmp.path().join("faces");
    make_folders(&faces, &["a", "b"]);
    let mut rows = String::new();
    for label in ["a", "b"] {
        for i in 0..10 {
            // absolute paths work as well as relative ones
            rows += &format!("{}/{label}/{i:03}.png,{label}\n", faces.display());
        }
    }
    rows += "faces/a/missing.png,a\n";
    let csv = tmp.path().join("plain.csv");
    fs::write(&csv, &rows).unwrap();
    let ds = Dataset::open(&csv, &SplitConfig::default()).unwrap();
    assert_eq!(ds.layout, DatasetLayout::Csv { has_split: false });
    assert_eq!(ds.classes, vec!["a", "b"]);
    let sizes = (
        ds.images.train.len(),
        ds.images.val.len(),
        ds.images.test.len(),
    );
    assert_eq!(sizes, (16, 2, 2), "8/1/1 of each label");
    let missing = ds
        .skipped
        .iter()
        .find(|s| s.path.ends_with("faces/a/missing.png"))
        .expect("the missing file is reported");
    assert_eq!(missing.reason, SkipReason::Unreadable, "{missing:?}");

    // a split name that is none of the known ones, with its line
    let bad = tmp.path().join("bad.csv");
    fs::write(
        &bad,
        "faces/a/000.png,a,train\nfaces/b/000.png,b,training\n",
    )
    .unwrap();
    let msg = Dataset::open(&bad, &SplitConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("line 2") && msg.contains("\"training\""),
        "{msg}"
    );
    // rows of different lengths
    fs::write(&bad, "faces/a/000.png,a\nfaces/b/000.png,b,test,extra\n").unwrap();
    let msg = Dataset::open(&bad, &SplitConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("bad.csv") && msg.contains("path,label"),
        "{msg}"
    );
}

#[test]
fn a_run_trains_and_evaluates_on_a_csv_dataset() {
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 12, 32);
    let mut rows = String::from("file,identity\n");
    for person in fs::read_dir(&data).unwrap() {
        let person = person.unwrap().path();
        let name = person.file_name().unwrap().to_str().unwrap().to_string();
        for face in fs::read_dir(&person).unwrap() {
            let face = face.unwrap().path();
            let rel = face.strip_prefix(tmp.path()).unwrap().display().to_string();
            rows += &format!("{rel},{name}\n");
        }
    }
    let csv = tmp.path().join("faces.csv");
    fs::write(&csv, rows).unwrap();
    let run = train_blocking(
        TrainRequest {
            config: common::tiny_config(1),
            data_root: csv.clone(),
            runs_root: tmp.path().join("runs"),
            resume: None,
        },
        |_| {},
    )
    .unwrap();
    let dir = RunDir::new(&run);
    let eval = dir.read_eval().unwrap().expect("the run was evaluated");
    let folders = Dataset::open(&data, &SplitConfig::default()).unwrap();
    assert_eq!(
        eval.classes, folders.classes,
        "the CSV's labels are the classes"
    );
    assert_eq!(
        eval.images,
        folders.images.test.len(),
        "the same split as the folder"
    );
}
