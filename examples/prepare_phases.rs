//! Where the time before a run's first step goes, phase by phase, on a
//! dataset whose image cache exists (a second run): the scan, the two
//! fingerprints, the cache's name, opening the cache. For profiling the
//! second-run path of issue 26; the whole path is measured by
//! `benches/first_step.py`.
//!
//!     cargo run --example prepare_phases -- DATA [INPUT_SIZE]

use std::path::PathBuf;
use std::time::Instant;

use facebench::data::{file_list_fingerprint, relocatable_fingerprint, Dataset, SplitConfig};
use facebench::loader::{cache_folder, CacheSource, ImageBank};

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("usage: prepare_phases DATA [INPUT_SIZE]"))?,
    );
    let size: u32 = std::env::args().nth(2).map_or(Ok(112), |s| s.parse())?;
    let mut last = Instant::now();
    let mut lap = |what: &str| {
        println!("{:>8.3} s  {what}", last.elapsed().as_secs_f64());
        last = Instant::now();
    };
    let dataset = Dataset::open(&root, &SplitConfig::default())?;
    lap(&format!(
        "scan ({} train faces)",
        dataset.images.train.len()
    ));
    let _ = relocatable_fingerprint(&root, &dataset.images.train);
    lap("relocatable fingerprint");
    let _ = file_list_fingerprint(&dataset.images.train);
    lap("legacy fingerprint");
    let source = CacheSource::of(&dataset.images.train);
    lap("cache source digest");
    let folder = cache_folder().ok_or_else(|| anyhow::anyhow!("the image cache is off"))?;
    let cached = source.file_in(&folder, size).is_file();
    let (bank, _) = ImageBank::cached(&folder, dataset.images.train, size, &mut |_| {})?;
    lap(&format!(
        "cache {} ({} faces)",
        if cached { "opened" } else { "built" },
        bank.len()
    ));
    Ok(())
}
