//! `metrics.jsonl`: every training event, one JSON object a line, append-only.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::engine::TrainEvent;

/// Appends events; flushed at every epoch end, checkpoint and finish, so a crash
/// keeps everything up to the last completed epoch.
pub struct MetricsLog {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl MetricsLog {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
        })
    }

    pub fn append(&mut self, event: &TrainEvent) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.writer, event)?;
        self.writer.write_all(b"\n")?;
        if event.is_durable() {
            self.writer.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Read every complete event line. A torn last line (a crash mid-write) is
/// ignored; a damaged line elsewhere is an error naming the line.
pub fn read_events(path: &Path) -> anyhow::Result<Vec<TrainEvent>> {
    let file =
        File::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let lines: Vec<String> = BufReader::new(file).lines().collect::<Result<_, _>>()?;
    let mut events = Vec::with_capacity(lines.len());
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(ev) => events.push(ev),
            Err(_) if i == last => break,
            Err(e) => anyhow::bail!(
                "{} line {} is not a facebench event ({e}); the file is damaged",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(events)
}
