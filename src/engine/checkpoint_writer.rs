//! Checkpoints written off the training thread. The training loop encodes a
//! checkpoint (which reads the tensors) and hands it to a writer thread, which
//! writes, syncs, checksums and renames it while the next epoch trains. Jobs
//! run in the order given (the loop saves `best` before `last`, see
//! `training_loop.rs`), and after a failed one the rest are refused unwritten,
//! so `last` never names a best epoch whose weights `best` lacks.

use std::path::PathBuf;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::checkpoint::{write_checkpoint, EncodedCheckpoint};
use crate::run::CheckpointKind;

/// A checkpoint on disk, with where training stood when it was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub kind: CheckpointKind,
    pub path: PathBuf,
    pub epoch: usize,
    pub batch: Option<usize>,
}

struct Job {
    checkpoint: EncodedCheckpoint,
    epoch: usize,
    batch: Option<usize>,
}

/// The writer thread of one run's checkpoints.
pub struct CheckpointWriter {
    jobs: Option<Sender<Job>>,
    results: Receiver<anyhow::Result<Written>>,
    worker: Option<JoinHandle<()>>,
    /// Jobs submitted whose result has not been taken yet.
    pending: usize,
}

impl CheckpointWriter {
    /// A writer into `checkpoints` (a run's checkpoint folder).
    pub fn new(checkpoints: PathBuf) -> anyhow::Result<Self> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let (done, results) = crossbeam_channel::unbounded();
        let worker = std::thread::Builder::new()
            .name("checkpoint-writer".into())
            .spawn(move || {
                let mut failed = false;
                for job in queue {
                    let result = if failed {
                        Err(anyhow::anyhow!(
                            "the {} checkpoint was not written, because the one before it failed",
                            job.checkpoint.kind.name()
                        ))
                    } else {
                        write_checkpoint(&checkpoints, &job.checkpoint).map(|path| Written {
                            kind: job.checkpoint.kind,
                            path,
                            epoch: job.epoch,
                            batch: job.batch,
                        })
                    };
                    failed |= result.is_err();
                    if done.send(result).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot start the checkpoint writer thread: {e}"))?;
        Ok(Self {
            jobs: Some(jobs),
            results,
            worker: Some(worker),
            pending: 0,
        })
    }

    /// Queue `checkpoint`, taken at 0-based `batch` of epoch `epoch` (`None`:
    /// at the epoch's end).
    pub fn submit(&mut self, checkpoint: EncodedCheckpoint, epoch: usize, batch: Option<usize>) {
        let job = Job {
            checkpoint,
            epoch,
            batch,
        };
        if let Some(jobs) = &self.jobs {
            // a send fails only when the worker is gone; the result channel
            // then reports it
            let _ = jobs.send(job);
            self.pending += 1;
        }
    }

    /// The checkpoints written since the last call, without waiting; the
    /// first error when one failed.
    pub fn written(&mut self) -> anyhow::Result<Vec<Written>> {
        let mut out = Vec::new();
        while self.pending > 0 {
            match self.results.try_recv() {
                Ok(result) => {
                    self.pending -= 1;
                    out.push(result?);
                }
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return Err(gone()),
            }
        }
        Ok(out)
    }

    /// Wait until every queued checkpoint is on disk; the ones written since
    /// the last call, or the first error.
    pub fn flush(&mut self) -> anyhow::Result<Vec<Written>> {
        let mut out = Vec::new();
        while self.pending > 0 {
            let result = self.results.recv().map_err(|_| gone())?;
            self.pending -= 1;
            out.push(result?);
        }
        Ok(out)
    }
}

fn gone() -> anyhow::Error {
    anyhow::anyhow!(
        "the checkpoint writer thread stopped unexpectedly; the last checkpoint may be missing"
    )
}

impl Drop for CheckpointWriter {
    /// Queued checkpoints are still written (an error on the training
    /// thread must not lose them); the thread ends after the last one.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::checkpoint::verify_checkpoint;

    fn encoded(kind: CheckpointKind, text: &str) -> EncodedCheckpoint {
        EncodedCheckpoint {
            kind,
            files: vec![("state.json", text.as_bytes().to_vec())],
        }
    }

    /// A writer for `checkpoints/` in a new temporary folder (kept alive by
    /// the returned guard).
    fn writer_in_temp_dir() -> (tempfile::TempDir, PathBuf, CheckpointWriter) {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = dir.path().join("checkpoints");
        let writer = CheckpointWriter::new(checkpoints.clone()).unwrap();
        (dir, checkpoints, writer)
    }

    #[test]
    fn writes_in_order_and_reports_each() {
        let (_dir, checkpoints, mut writer) = writer_in_temp_dir();
        writer.submit(encoded(CheckpointKind::Best, "{\"e\":3}"), 3, None);
        writer.submit(
            encoded(CheckpointKind::Last, "{\"e\":3,\"l\":1}"),
            3,
            Some(7),
        );
        let written = writer.flush().unwrap();
        let kinds: Vec<_> = written.iter().map(|w| (w.kind, w.epoch, w.batch)).collect();
        assert_eq!(
            kinds,
            [
                (CheckpointKind::Best, 3, None),
                (CheckpointKind::Last, 3, Some(7))
            ]
        );
        for (w, text) in written.iter().zip(["{\"e\":3}", "{\"e\":3,\"l\":1}"]) {
            assert_eq!(w.path, checkpoints.join(w.kind.name()));
            let saved = std::fs::read_to_string(w.path.join("state.json")).unwrap();
            assert_eq!(saved, text);
            verify_checkpoint(&w.path).unwrap();
        }
        assert!(
            writer.flush().unwrap().is_empty(),
            "nothing is reported twice"
        );
    }

    #[test]
    fn refuses_the_rest_after_a_failure_and_keeps_the_old_checkpoint() {
        let (_dir, checkpoints, mut writer) = writer_in_temp_dir();
        writer.submit(encoded(CheckpointKind::Last, "old"), 1, None);
        writer.flush().unwrap();
        // a file where the best checkpoint's temporary folder goes: its
        // write fails, and the `last` after it must not be written
        std::fs::write(checkpoints.join("best.tmp"), "in the way").unwrap();
        writer.submit(encoded(CheckpointKind::Best, "new"), 2, None);
        writer.submit(encoded(CheckpointKind::Last, "new"), 2, None);
        let first = writer.flush().unwrap_err().to_string();
        let second = writer.flush().unwrap_err().to_string();
        assert!(first.contains("cannot save the best checkpoint"), "{first}");
        assert!(second.contains("not written"), "{second}");
        let last = std::fs::read_to_string(checkpoints.join("last/state.json")).unwrap();
        assert_eq!(last, "old", "the previous checkpoint is kept");
    }
}
