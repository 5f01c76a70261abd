//! Stop and pause/resume, shared between the caller and the training thread.

use std::sync::{Arc, Condvar, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Paused,
    Stopping,
}

/// A cloneable handle: the GUI/CLI side calls `stop`, `pause`, `resume`; the
/// engine checks it between batches.
#[derive(Debug, Clone)]
pub struct TrainControl {
    inner: Arc<(Mutex<State>, Condvar)>,
}

impl Default for TrainControl {
    fn default() -> Self {
        Self {
            inner: Arc::new((Mutex::new(State::Running), Condvar::new())),
        }
    }
}

/// What the engine should do after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterBatch {
    /// The run was paused here and has been resumed (or stopped) since.
    pub was_paused: bool,
    /// Stop now.
    pub stop: bool,
}

impl TrainControl {
    fn set(&self, state: State) {
        let (lock, cvar) = &*self.inner;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        if *s != State::Stopping {
            *s = state;
        }
        cvar.notify_all();
    }

    /// Ask the run to stop after the current batch; it saves a checkpoint first.
    pub fn stop(&self) {
        self.set(State::Stopping);
    }

    pub fn pause(&self) {
        self.set(State::Paused);
    }

    pub fn resume(&self) {
        self.set(State::Running);
    }

    pub fn is_paused(&self) -> bool {
        *self.inner.0.lock().unwrap_or_else(|e| e.into_inner()) == State::Paused
    }

    pub fn is_stopping(&self) -> bool {
        *self.inner.0.lock().unwrap_or_else(|e| e.into_inner()) == State::Stopping
    }

    /// Called by the engine between batches: blocks while paused (calling
    /// `on_pause` once first) and says whether to go on.
    pub fn between_batches(&self, on_pause: impl FnOnce()) -> AfterBatch {
        let (lock, cvar) = &*self.inner;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        let was_paused = *s == State::Paused;
        if was_paused {
            on_pause();
            while *s == State::Paused {
                s = cvar.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        }
        AfterBatch {
            was_paused,
            stop: *s == State::Stopping,
        }
    }
}
