//! Work off the UI thread: a job runs a closure on its own thread and the UI
//! polls for the result each frame, so the UI never blocks on disk or compute.

use crossbeam_channel::{bounded, Receiver};

pub struct Job<T> {
    rx: Option<Receiver<T>>,
    result: Option<T>,
}

impl<T: Send + 'static> Job<T> {
    /// Run `work` on a new thread; the UI repaints when it is done.
    pub fn spawn(ctx: &egui::Context, work: impl FnOnce() -> T + Send + 'static) -> Self {
        let (tx, rx) = bounded(1);
        let ctx = ctx.clone();
        std::thread::spawn(move || {
            let _ = tx.send(work());
            ctx.request_repaint();
        });
        Self {
            rx: Some(rx),
            result: None,
        }
    }

    /// A job that is already done.
    pub fn ready(value: T) -> Self {
        Self {
            rx: None,
            result: Some(value),
        }
    }

    /// The result, once there is one.
    pub fn poll(&mut self) -> Option<&mut T> {
        if let Some(rx) = &self.rx {
            if let Ok(v) = rx.try_recv() {
                self.result = Some(v);
                self.rx = None;
            }
        }
        self.result.as_mut()
    }

    /// Take the result out, once there is one.
    pub fn try_take(&mut self) -> Option<T> {
        self.poll();
        self.result.take()
    }

    pub fn is_pending(&self) -> bool {
        self.rx.is_some()
    }
}

/// The result of the job in `slot` once it is done, emptying the slot; `None`
/// while it runs or when there is no job.
pub fn take_finished<T: Send + 'static>(slot: &mut Option<Job<T>>) -> Option<T> {
    let value = slot.as_mut()?.try_take()?;
    *slot = None;
    Some(value)
}
