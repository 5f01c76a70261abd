//! The run queue: `queue.json` next to the runs, shared by every facebench
//! process (the window and the CLI) that uses the same runs folder. Each
//! change is read-modify-write under an OS lock on `queue.lock`, and the
//! file is replaced atomically, so two processes never lose each other's
//! changes and a crash never leaves half a file.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::atomic_write;
use crate::run::{RunConfig, SweepTag};

/// Where a queued run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ItemState {
    /// Waiting its turn.
    Pending,
    /// Being trained by process `pid`; `run` once its folder exists.
    Running {
        pid: u32,
        run: Option<PathBuf>,
    },
    /// Stopped by the user with a checkpoint: the next worker resumes it.
    Stopped {
        run: PathBuf,
    },
    Done {
        run: PathBuf,
    },
    Failed {
        reason: String,
        run: Option<PathBuf>,
    },
    Cancelled,
}

impl ItemState {
    pub fn name(&self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Running { .. } => "running",
            ItemState::Stopped { .. } => "stopped",
            ItemState::Done { .. } => "done",
            ItemState::Failed { .. } => "failed",
            ItemState::Cancelled => "cancelled",
        }
    }

    /// The run folder, once there is one.
    pub fn run(&self) -> Option<&Path> {
        match self {
            ItemState::Running { run, .. } | ItemState::Failed { run, .. } => run.as_deref(),
            ItemState::Stopped { run } | ItemState::Done { run } => Some(run),
            ItemState::Pending | ItemState::Cancelled => None,
        }
    }

    /// Waiting for a worker (new, or stopped and to be resumed).
    pub fn is_waiting(&self) -> bool {
        matches!(self, ItemState::Pending | ItemState::Stopped { .. })
    }
}

/// One queued run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    pub id: u64,
    pub config: RunConfig,
    pub data_root: PathBuf,
    pub state: ItemState,
    pub sweep: Option<SweepTag>,
    /// When it was added (RFC 3339).
    pub added: String,
}

impl QueueItem {
    /// A short name: the config's name, else its architecture.
    pub fn label(&self) -> String {
        self.config
            .name
            .clone()
            .unwrap_or_else(|| self.config.model.display_name())
    }

    /// What the list shows after its state: the sweep point and seed, then why it
    /// failed or the name of the run folder it trains in.
    pub fn detail(&self) -> String {
        let point = self.sweep.as_ref().map(SweepTag::label);
        let state = match &self.state {
            ItemState::Failed { reason, .. } => Some(reason.clone()),
            state => state
                .run()
                .and_then(Path::file_name)
                .map(|name| name.to_string_lossy().into_owned()),
        };
        [point, state]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// The queue's contents, in the order the runs will go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunQueue {
    pub items: Vec<QueueItem>,
    pub next_id: u64,
}

impl RunQueue {
    /// Append a run; returns its id.
    pub fn push(&mut self, config: RunConfig, data_root: PathBuf, sweep: Option<SweepTag>) -> u64 {
        self.next_id = self
            .next_id
            .max(self.items.iter().map(|i| i.id + 1).max().unwrap_or(0));
        let id = self.next_id;
        self.next_id += 1;
        self.items.push(QueueItem {
            id,
            config,
            data_root,
            state: ItemState::Pending,
            sweep,
            added: chrono::Local::now().to_rfc3339(),
        });
        id
    }

    pub fn get(&self, id: u64) -> Option<&QueueItem> {
        self.items.iter().find(|i| i.id == id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut QueueItem> {
        self.items.iter_mut().find(|i| i.id == id)
    }

    /// Set item `id`'s state (nothing when the item is gone).
    pub fn set_state(&mut self, id: u64, state: ItemState) {
        if let Some(item) = self.get_mut(id) {
            item.state = state;
        }
    }

    /// How many items wait for a worker (new, or stopped to be resumed).
    pub fn waiting(&self) -> usize {
        self.items.iter().filter(|i| i.state.is_waiting()).count()
    }

    /// Cancel a waiting item; false when it is not waiting (running, done).
    pub fn cancel(&mut self, id: u64) -> bool {
        match self.get_mut(id) {
            Some(item) if item.state.is_waiting() => {
                item.state = ItemState::Cancelled;
                true
            }
            _ => false,
        }
    }

    /// Move item `id` one place earlier (`up`) or later among the items.
    pub fn shift(&mut self, id: u64, up: bool) {
        let Some(i) = self.items.iter().position(|x| x.id == id) else {
            return;
        };
        let j = if up {
            i.checked_sub(1)
        } else {
            (i + 1 < self.items.len()).then_some(i + 1)
        };
        if let Some(j) = j {
            self.items.swap(i, j);
        }
    }

    /// The next item a worker should train: one left running by a worker
    /// that is gone (a crash, a closed window), else the first waiting one.
    /// Only a process holding the worker lock may call this, so a running
    /// item of another pid is always an orphan.
    pub fn next_for(&self, pid: u32, scope: QueueScope) -> Option<u64> {
        let orphan = self
            .items
            .iter()
            .find(|i| matches!(i.state, ItemState::Running { pid: p, .. } if p != pid));
        let waiting = || match scope {
            QueueScope::All => self.items.iter().find(|i| i.state.is_waiting()),
            QueueScope::Interrupted => None,
        };
        orphan.or_else(waiting).map(|i| i.id)
    }
}

/// Which items a worker takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueScope {
    /// Runs left running by a worker that is gone, then the waiting ones in
    /// order.
    All,
    /// Only runs left running by a worker that is gone (what a window
    /// resumes by itself when it opens).
    Interrupted,
}

/// The queue file of a runs folder.
#[derive(Debug, Clone)]
pub struct QueueFile {
    pub path: PathBuf,
}

impl QueueFile {
    /// `queue.json` in `runs`.
    pub fn of(runs: &Path) -> Self {
        Self {
            path: runs.join("queue.json"),
        }
    }

    /// The queue as it is on disk (empty when there is no file yet).
    pub fn read(&self) -> anyhow::Result<RunQueue> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!(
                    "{} is damaged ({e}); move it away to start a new queue",
                    self.path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RunQueue::default()),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", self.path.display())),
        }
    }

    /// Change the queue under the lock and write it back.
    pub fn update<R>(&self, change: impl FnOnce(&mut RunQueue) -> R) -> anyhow::Result<R> {
        let _lock = self.lock(".lock", true)?;
        let mut queue = self.read()?;
        let out = change(&mut queue);
        let bytes = serde_json::to_vec_pretty(&queue)?;
        atomic_write(&self.path, &bytes)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))?;
        Ok(out)
    }

    /// The right to train the queue's runs, held for as long as the
    /// returned file lives; `None` while another process holds it.
    pub fn try_worker_lock(&self) -> anyhow::Result<Option<File>> {
        match self.lock(".worker", false) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.downcast_ref::<Busy>().is_some() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn lock(&self, suffix: &str, wait: bool) -> anyhow::Result<File> {
        let path = self.path.with_extension(format!("json{suffix}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        if wait {
            file.lock()
                .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", path.display()))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Err(Busy.into()),
                Err(std::fs::TryLockError::Error(e)) => {
                    anyhow::bail!("cannot lock {}: {e}", path.display())
                }
            }
        }
        Ok(file)
    }
}

/// Another process holds the worker lock.
#[derive(Debug, thiserror::Error)]
#[error("another facebench process is running this queue")]
struct Busy;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_go_in_order_cancel_and_move() {
        let mut q = RunQueue::default();
        let a = q.push(RunConfig::default(), "d".into(), None);
        let b = q.push(RunConfig::default(), "d".into(), None);
        let c = q.push(RunConfig::default(), "d".into(), None);
        assert_eq!(q.waiting(), 3);
        assert_eq!(q.next_for(1, QueueScope::All), Some(a));
        q.shift(c, true);
        assert_eq!(
            q.items.iter().map(|i| i.id).collect::<Vec<_>>(),
            vec![a, c, b]
        );
        assert!(q.cancel(a));
        assert_eq!(q.waiting(), 2);
        assert_eq!(q.next_for(1, QueueScope::All), Some(c));
        q.get_mut(c).unwrap().state = ItemState::Done { run: "r".into() };
        assert!(!q.cancel(c), "a finished run is not cancelled");
        assert_eq!(q.next_for(1, QueueScope::All), Some(b));
        // a run left running by another (gone) worker comes first
        q.get_mut(b).unwrap().state = ItemState::Running { pid: 7, run: None };
        let d = q.push(RunConfig::default(), "d".into(), None);
        assert_eq!(q.next_for(1, QueueScope::All), Some(b));
        assert_eq!(q.next_for(1, QueueScope::Interrupted), Some(b));
        q.get_mut(b).unwrap().state = ItemState::Running { pid: 1, run: None };
        assert_eq!(
            q.next_for(1, QueueScope::All),
            Some(d),
            "our own running item is not picked again"
        );
        assert_eq!(
            q.next_for(1, QueueScope::Interrupted),
            None,
            "only interrupted runs, not the waiting ones"
        );
    }

    #[test]
    fn the_detail_names_the_point_and_the_reason_or_folder() {
        let mut q = RunQueue::default();
        let tag = |point: &str| SweepTag {
            sweep: "lrs".into(),
            point: point.into(),
            seed: Some(4),
        };
        let a = q.push(
            RunConfig::default(),
            "d".into(),
            Some(tag("optimizer.lr=0.1")),
        );
        let b = q.push(RunConfig::default(), "d".into(), Some(tag("")));
        let c = q.push(RunConfig::default(), "d".into(), None);
        q.get_mut(a).unwrap().state = ItemState::Failed {
            reason: "diverged".into(),
            run: None,
        };
        q.get_mut(c).unwrap().state = ItemState::Done {
            run: "runs/20261130-x".into(),
        };
        assert_eq!(
            q.get(a).unwrap().detail(),
            "lrs: optimizer.lr=0.1, seed 4 · diverged"
        );
        assert_eq!(q.get(b).unwrap().detail(), "lrs: seed 4");
        assert_eq!(q.get(c).unwrap().detail(), "20261130-x");
    }

    #[test]
    fn the_file_survives_updates_and_refuses_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let file = QueueFile::of(tmp.path());
        assert!(file.read().unwrap().items.is_empty());
        let id = file
            .update(|q| q.push(RunConfig::default(), "data".into(), None))
            .unwrap();
        assert_eq!(
            file.read().unwrap().get(id).unwrap().state,
            ItemState::Pending
        );
        let held = file.try_worker_lock().unwrap();
        assert!(held.is_some());
        std::fs::write(&file.path, b"{ not json").unwrap();
        let e = file.read().unwrap_err().to_string();
        assert!(e.contains("queue.json is damaged"), "{e}");
    }
}
