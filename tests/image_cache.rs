//! The packed image cache: built once per split and working size, opened at
//! once afterwards, read image by image with the same pixels the in-memory
//! decode gives, and never trusted when it does not match the files.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use facebench::data::{FileStamp, ImageEntry};
use facebench::loader::{
    cache_usage, clear_cache, AugmentConfig, BatchPlan, BuildProgress, CacheSource, ImageBank,
    Pipeline,
};
use image::{Rgb, RgbImage};

/// `n` PNGs of different sizes (some wider than tall) in `dir`, and one file
/// that is not an image.
fn faces(dir: &Path, n: usize) -> Vec<ImageEntry> {
    fs::create_dir_all(dir).unwrap();
    let mut entries = Vec::new();
    for i in 0..n {
        let (w, h) = (40 + (i as u32 % 5) * 7, 36 + (i as u32 % 3) * 9);
        let path = dir.join(format!("{i:03}.png"));
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 5 + i as u32) as u8, (y * 7) as u8, (i * 13) as u8])
        })
        .save(&path)
        .unwrap();
        entries.push(ImageEntry {
            path,
            class: i % 3,
            width: w,
            height: h,
            stamp: FileStamp::UNKNOWN,
        });
    }
    let bad = dir.join("broken.png");
    fs::write(&bad, b"not a png at all").unwrap();
    entries.insert(
        n / 2,
        ImageEntry {
            path: bad,
            class: 1,
            width: 0,
            height: 0,
            stamp: FileStamp::UNKNOWN,
        },
    );
    entries
}

fn plan(bank: ImageBank) -> BatchPlan {
    BatchPlan {
        bank: Arc::new(bank),
        pipeline: Arc::new(Pipeline {
            input_size: 32,
            augment: Some(AugmentConfig::default()),
            mean: [0.5; 3],
            std: [0.25; 3],
            seed: 7,
        }),
        batch_size: 4,
        prefetch: 2,
        drop_last: false,
    }
}

#[test]
fn a_cached_split_gives_the_same_batches_as_one_decoded_into_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = faces(&tmp.path().join("faces"), 11);
    let cache = tmp.path().join("cache");
    let mut seen = Vec::new();
    let (cached, skipped) =
        ImageBank::cached(&cache, entries.clone(), 30, &mut |p: BuildProgress| {
            seen.push(p)
        })
        .unwrap();
    let (memory, skipped_memory) = ImageBank::decode(entries.clone(), 30);
    assert!(cached.built_cache(), "the first call builds the cache");
    assert_eq!(cached.bytes(), 0, "a cached bank holds no pixels in memory");
    assert_eq!(
        skipped, skipped_memory,
        "the broken file is skipped either way"
    );
    assert_eq!(skipped.len(), 1);
    assert_eq!(cached.labels, memory.labels);
    assert_eq!(cached.paths, memory.paths);
    for i in 0..memory.len() {
        assert_eq!(
            *cached.image(i).unwrap(),
            *memory.image(i).unwrap(),
            "image {i}"
        );
    }
    let last = seen.last().unwrap();
    assert_eq!(
        (last.done, last.total),
        (12, 12),
        "progress reaches the end"
    );

    let from_cache: Vec<_> = plan(cached).epoch(1, true).map(Result::unwrap).collect();
    let from_memory: Vec<_> = plan(memory).epoch(1, true).map(Result::unwrap).collect();
    assert_eq!(from_cache.len(), from_memory.len());
    for (a, b) in from_cache.iter().zip(&from_memory) {
        assert_eq!(a.indices, b.indices);
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.images, b.images, "the same augmented pixels");
    }
}

#[test]
fn a_second_open_reads_the_cache_and_a_changed_file_rebuilds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = faces(&tmp.path().join("faces"), 6);
    let cache = tmp.path().join("cache");
    let (first, _) = ImageBank::cached(&cache, entries.clone(), 24, &mut |_| {}).unwrap();
    let file = first.cache_file().unwrap().to_path_buf();
    assert!(file.starts_with(&cache));

    let mut progress = 0;
    let (second, skipped) =
        ImageBank::cached(&cache, entries.clone(), 24, &mut |_| progress += 1).unwrap();
    assert!(
        !second.built_cache(),
        "the same files and size open the cache"
    );
    assert_eq!(progress, 0, "nothing is decoded the second time");
    assert_eq!(skipped.len(), 1, "the skipped file is remembered");
    assert_eq!(second.cache_file(), Some(file.as_path()));
    assert_eq!(*second.image(2).unwrap(), *first.image(2).unwrap());

    // another working size is another cache
    let (other, _) = ImageBank::cached(&cache, entries.clone(), 20, &mut |_| {}).unwrap();
    assert!(other.built_cache());
    assert_ne!(other.cache_file(), Some(file.as_path()));

    // a face replaced on disk: a new cache with the new pixels
    let replaced = &entries[0].path;
    std::thread::sleep(std::time::Duration::from_millis(20));
    RgbImage::from_pixel(40, 36, Rgb([200, 10, 10]))
        .save(replaced)
        .unwrap();
    let (fresh, _) = ImageBank::cached(&cache, entries.clone(), 24, &mut |_| {}).unwrap();
    assert!(
        fresh.built_cache(),
        "a changed file is never read from the old cache"
    );
    assert_eq!(fresh.image(0).unwrap().get_pixel(3, 3), &Rgb([200, 10, 10]));
}

#[test]
fn a_damaged_cache_file_is_rebuilt_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = faces(&tmp.path().join("faces"), 5);
    let cache = tmp.path().join("cache");
    let (good, _) = ImageBank::cached(&cache, entries.clone(), 24, &mut |_| {}).unwrap();
    let expected: Vec<RgbImage> = (0..good.len())
        .map(|i| good.image(i).unwrap().into_owned())
        .collect();
    let file = good.cache_file().unwrap().to_path_buf();
    drop(good);
    // cut short, as by a full disk or a killed copy
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let (rebuilt, _) = ImageBank::cached(&cache, entries.clone(), 24, &mut |_| {}).unwrap();
    assert!(rebuilt.built_cache(), "a cut file is built again");
    for (i, img) in expected.iter().enumerate() {
        assert_eq!(&*rebuilt.image(i).unwrap(), img);
    }
    drop(rebuilt);
    // a table row that names an entry past the end (the table's offset is
    // the first u64 of the 40-byte tail; a row's entry is its last 8 bytes)
    let mut bytes = fs::read(&file).unwrap();
    let tail = bytes.len() - 40;
    let table = u64::from_le_bytes(bytes[tail..tail + 8].try_into().unwrap()) as usize;
    bytes[table + 16..table + 24].copy_from_slice(&u64::MAX.to_le_bytes());
    fs::write(&file, &bytes).unwrap();
    let (rebuilt, _) = ImageBank::cached(&cache, entries.clone(), 24, &mut |_| {}).unwrap();
    assert!(
        rebuilt.built_cache(),
        "a file with a bad table is built again"
    );
    assert_eq!(rebuilt.len(), expected.len());
    for (i, img) in expected.iter().enumerate() {
        assert_eq!(&*rebuilt.image(i).unwrap(), img);
    }
}

#[test]
fn the_cache_folder_reports_its_size_and_clears_only_cache_files() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = faces(&tmp.path().join("faces"), 4);
    let cache = tmp.path().join("cache");
    assert_eq!(cache_usage(&cache).files, 0, "no folder, nothing in it");
    let (bank, _) = ImageBank::cached(&cache, entries.clone(), 24, &mut |_| {}).unwrap();
    let size = fs::metadata(bank.cache_file().unwrap()).unwrap().len();
    fs::write(cache.join("notes.txt"), "mine").unwrap();
    let usage = cache_usage(&cache);
    assert_eq!((usage.files, usage.bytes), (1, size));
    let freed = clear_cache(&cache).unwrap();
    assert_eq!((freed.files, freed.bytes), (1, size));
    assert_eq!(cache_usage(&cache).files, 0);
    assert!(
        cache.join("notes.txt").exists(),
        "other files are left alone"
    );
    // a bank open on a deleted cache file still reads it
    let (memory, _) = ImageBank::decode(entries.clone(), 24);
    assert_eq!(*bank.image(0).unwrap(), *memory.image(0).unwrap());
}

#[test]
fn a_second_scan_takes_unchanged_headers_from_the_memo_and_probes_changed_files() {
    let cache = common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    for person in ["ann", "bo"] {
        faces(&tmp.path().join(person), 6);
    }
    let split = facebench::data::SplitConfig::default();
    let first = facebench::data::Dataset::open(tmp.path(), &split).unwrap();
    let usable = |d: &facebench::data::Dataset| {
        d.images.train.len() + d.images.val.len() + d.images.test.len()
    };
    assert_eq!(usable(&first), 12);
    assert_eq!(first.skipped.len(), 2, "one broken file per person");
    assert!(
        fs::read_dir(cache.join("probe")).unwrap().count() > 0,
        "the first scan remembers what it probed"
    );
    // one face becomes garbage: the memo must not vouch for it
    let victim = tmp.path().join("ann").join("001.png");
    fs::write(&victim, b"garbage now, and shorter").unwrap();
    let second = facebench::data::Dataset::open(tmp.path(), &split).unwrap();
    assert_eq!(usable(&second), 11);
    assert!(
        second.skipped.iter().any(|s| s.path == victim),
        "{:?}",
        second.skipped
    );
    // a memo's sizes are the sizes a first probe gives
    let sizes = |d: &facebench::data::Dataset| -> std::collections::BTreeMap<_, _> {
        [&d.images.train, &d.images.val, &d.images.test]
            .into_iter()
            .flatten()
            .map(|e| (e.path.clone(), (e.width, e.height)))
            .collect()
    };
    let (probed, remembered) = (sizes(&first), sizes(&second));
    assert_eq!(remembered.len(), 11);
    for (path, size) in &remembered {
        assert_eq!(probed.get(path), Some(size), "{}", path.display());
    }
}

/// The memo is what a second scan reads: a size written into it (by hand,
/// here) is the size the second scan reports, for every file whose size and
/// time are still those the memo holds; a file touched since is read again.
#[test]
fn a_second_scan_reads_sizes_from_the_memo_without_opening_the_files() {
    let cache = common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    for person in ["ann", "bo"] {
        faces(&tmp.path().join(person), 5);
    }
    let split = facebench::data::SplitConfig::default();
    let first = facebench::data::Dataset::open(tmp.path(), &split).unwrap();
    let all = |d: &facebench::data::Dataset| -> Vec<ImageEntry> {
        [&d.images.train, &d.images.val, &d.images.test]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    };
    assert_eq!(all(&first).len(), 10);
    // the memo of this file list: 16 bytes of head, then 24 bytes a file
    // (size, time, width, height); every usable file gets width 999
    let memos: Vec<_> = fs::read_dir(cache.join("probe"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let memo = memos
        .iter()
        .find(|p| fs::read(p).unwrap().len() == 16 + 12 * 24)
        .expect("a memo of 12 files (10 faces, 2 broken)");
    let mut bytes = fs::read(memo).unwrap();
    for r in 0..12 {
        let width = 16 + r * 24 + 16;
        if bytes[width..width + 4] != [0; 4] {
            bytes[width..width + 4].copy_from_slice(&999u32.to_le_bytes());
        }
    }
    fs::write(memo, &bytes).unwrap();
    // one face is rewritten with the same pixels: a new time, so read again
    let touched = tmp.path().join("ann").join("002.png");
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(&touched, fs::read(&touched).unwrap()).unwrap();
    let second = facebench::data::Dataset::open(tmp.path(), &split).unwrap();
    let entries = all(&second);
    assert_eq!(entries.len(), 10);
    for e in &entries {
        if e.path == touched {
            assert_ne!(e.width, 999, "a changed file is probed again");
        } else {
            assert_eq!(
                e.width,
                999,
                "{} was read, not taken from the memo",
                e.path.display()
            );
        }
    }
}

/// Opening a dataset reads each file's size and time once, in the scan;
/// the fingerprints and the cache's name made from those are the ones a
/// fresh `stat` of every file gives (so runs recorded before keep matching),
/// links included.
#[test]
fn fingerprints_from_the_scan_equal_those_from_reading_each_file() {
    use facebench::data::{file_list_fingerprint, relocatable_fingerprint, Dataset, SplitConfig};
    common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    for person in ["ann", "bo"] {
        faces(&root.join(person), 5);
    }
    // one face of bo's is a link to one of ann's files elsewhere
    let elsewhere = tmp.path().join("elsewhere");
    faces(&elsewhere, 1);
    std::os::unix::fs::symlink(
        elsewhere.join("000.png"),
        root.join("bo").join("linked.png"),
    )
    .unwrap();
    let split = SplitConfig {
        val_fraction: 0.0,
        test_fraction: 0.0,
        seed: 3,
    };
    let scanned = Dataset::open(&root, &split).unwrap().images.train;
    assert_eq!(scanned.len(), 11);
    assert!(scanned.iter().all(|e| e.stamp != FileStamp::UNKNOWN));
    let linked = scanned
        .iter()
        .find(|e| e.path.ends_with("linked.png"))
        .expect("the link is a face");
    assert_eq!(
        Some(linked.stamp),
        FileStamp::read(&elsewhere.join("000.png")),
        "a link's stamp is its target's"
    );
    let unstamped: Vec<ImageEntry> = scanned
        .iter()
        .map(|e| ImageEntry {
            stamp: FileStamp::UNKNOWN,
            ..e.clone()
        })
        .collect();
    assert_eq!(
        file_list_fingerprint(&scanned),
        file_list_fingerprint(&unstamped)
    );
    assert_eq!(
        relocatable_fingerprint(&root, &scanned),
        relocatable_fingerprint(&root, &unstamped)
    );
    let folder = tmp.path().join("cache");
    assert_eq!(
        CacheSource::of(&scanned).file_in(&folder, 32),
        CacheSource::of(&unstamped).file_in(&folder, 32)
    );
}

/// A whole run through the cache: the first decodes each split into it and
/// says so (progress events, a log line), and the second opens it without
/// decoding anything, with the same data.
#[test]
fn a_second_training_run_opens_the_cache_the_first_built() {
    use facebench::engine::{train_blocking, TrainRequest};
    use facebench::run::TrainEvent;
    let cache = common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 12, 40);
    let train = |events: &mut Vec<TrainEvent>| {
        train_blocking(
            TrainRequest {
                config: common::tiny_config(1),
                data_root: data.clone(),
                runs_root: tmp.path().join("runs"),
                resume: None,
            },
            |e| events.push(e.clone()),
        )
        .unwrap()
    };
    let (mut first, mut second) = (Vec::new(), Vec::new());
    train(&mut first);
    let decoded: Vec<(String, usize, usize)> = first
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Decoding {
                split, done, total, ..
            } if done == total => Some((split.clone(), *done, *total)),
            _ => None,
        })
        .collect();
    let splits: Vec<&str> = decoded.iter().map(|d| d.0.as_str()).collect();
    assert!(
        splits.contains(&"train") && splits.contains(&"val"),
        "{decoded:?}"
    );
    assert!(
        decoded.iter().all(|d| d.2 > 0),
        "every split had faces to decode: {decoded:?}"
    );
    let files = cache_usage(&cache.join("images")).files;
    assert!(files >= 2, "one cache file per split, found {files}");

    train(&mut second);
    assert!(
        !second
            .iter()
            .any(|e| matches!(e, TrainEvent::Decoding { .. })),
        "the second run decodes nothing"
    );
    assert_eq!(
        cache_usage(&cache.join("images")).files,
        files,
        "and adds no file"
    );
    let accuracy = |events: &[TrainEvent]| {
        events.iter().find_map(|e| match e {
            TrainEvent::Epoch(m) => Some((m.train_loss, m.val_accuracy)),
            _ => None,
        })
    };
    assert_eq!(
        accuracy(&first),
        accuracy(&second),
        "the same faces from the cache train the same epoch"
    );
}

/// The Dataset tab says whether the train split is cached at the input size
/// now in the form: the line follows the form, and a build of the cache
/// after the scan, without scanning again.
#[test]
fn the_dataset_tab_says_whether_the_train_split_is_cached_at_the_form_s_size() {
    use egui_kittest::kittest::Queryable;
    use facebench::data::Dataset;
    use facebench::gui::{AppState, WorkbenchApp};
    let cache = common::isolate_cache();
    let tmp = tempfile::tempdir().unwrap();
    let data = common::demo_dataset(tmp.path(), 3, 6, 40);
    let mut config = common::tiny_config(1);
    config.data.input_size = 40;
    let app = WorkbenchApp::new(AppState {
        dataset_path: data.display().to_string(),
        config: config.clone(),
        runs_dir: tmp.path().join("runs"),
        ..AppState::default()
    });
    let mut h = common::app_harness(app, [1300.0, 1000.0]);
    for _ in 0..30_000 {
        h.step();
        if h.state().dataset().report().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    h.run_steps(2);
    h.get_by_label_contains("the first run at 40 px decodes the train split into it");
    // the cache is built at 40 px, as a run would build it
    let train = Dataset::open(&data, &config.data.split)
        .unwrap()
        .images
        .train;
    ImageBank::cached(&cache.join("images"), train, 40, &mut |_| {}).unwrap();
    h.run_steps(2);
    h.get_by_label_contains("train split cached at 40 px");
    h.state_mut().app_state_mut().config.data.input_size = 48;
    h.run_steps(2);
    h.get_by_label_contains("the first run at 48 px decodes the train split into it");
}
