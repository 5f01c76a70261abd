//! `metrics.jsonl`: every training event, one JSON object a line, append-only.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::files::atomic_write;
use anyhow::Context;

use crate::run::{EventSink, TrainEvent};

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

    /// Open the log of a run that resumes from a checkpoint at `point`. A torn
    /// last line (a crash in the middle of a write) is cut off, so new events
    /// never join onto it, and the events logged after that checkpoint was
    /// saved are removed, since the resumed run logs them again: every
    /// iteration and epoch stays in the file once. Returns the log and the
    /// number of lines removed.
    pub fn open_for_resume(path: &Path, point: &ResumePoint) -> anyhow::Result<(Self, usize)> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        let complete = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(i) => &bytes[..=i],
            None => &bytes[..0],
        };
        let mut kept = Vec::with_capacity(complete.len());
        let mut removed = usize::from(complete.len() < bytes.len());
        for line in complete.split_inclusive(|&b| b == b'\n') {
            // a line that is not an event is kept as it is: nothing is lost
            let repeat = serde_json::from_slice::<TrainEvent>(line)
                .is_ok_and(|event| point.logs_again(&event));
            if repeat {
                removed += 1;
            } else {
                kept.extend_from_slice(line);
            }
        }
        if removed > 0 {
            atomic_write(path, &kept)
                .map_err(|e| anyhow::anyhow!("cannot repair {}: {e}", path.display()))?;
        }
        let log =
            Self::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        Ok((log, removed))
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

/// Where the checkpoint a run resumes from stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    pub epochs_completed: usize,
    /// Iterations trained (the last one in the checkpoint).
    pub iteration: usize,
    pub phase: usize,
}

impl ResumePoint {
    /// Whether `event` was logged after this checkpoint, so that the resumed
    /// run will log it again.
    pub fn logs_again(&self, event: &TrainEvent) -> bool {
        match event {
            TrainEvent::Iteration { iteration, .. } => *iteration > self.iteration,
            TrainEvent::Epoch(m) => m.epoch > self.epochs_completed,
            TrainEvent::LrChanged { epoch, .. }
            | TrainEvent::EarlyStopped { epoch, .. }
            | TrainEvent::Checkpoint { epoch, .. } => *epoch > self.epochs_completed,
            TrainEvent::PhaseChanged { phase, .. } => *phase > self.phase,
            _ => false,
        }
    }
}

/// Read every complete event line. A torn last line (a crash mid-write) is
/// ignored; a damaged line elsewhere is an error naming the line.
pub fn read_events(path: &Path) -> anyhow::Result<Vec<TrainEvent>> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let mut events = Vec::with_capacity(lines.len());
    // the text after the last newline is the last line; a final newline leaves an empty one
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
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

/// The run's log as a sink: every event, one JSON line, in order.
impl EventSink for MetricsLog {
    fn on_event(&mut self, event: &TrainEvent) -> anyhow::Result<()> {
        self.append(event)
            .with_context(|| format!("cannot append to {}", self.path().display()))
    }
}
