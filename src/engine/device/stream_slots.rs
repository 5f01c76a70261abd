//! Which cubecl stream a GPU job runs on.
//!
//! cubecl keys a device's command streams, and the memory pool each one
//! keeps, by the calling thread: every new thread gets a new stream id, so
//! each run and each window job (all on threads of their own) would leave a
//! pool of device memory behind that nothing reuses (up to 128 per device,
//! burn #4792). Here every job on a GPU borrows a *slot* instead: the lowest
//! one no other job on that device holds, run as that slot's stream through
//! `StreamId::executes`. Sequential jobs (a queue of ten runs, a Grad-CAM
//! after a training) all reuse slot 0 and its pool; jobs that overlap (a
//! Grad-CAM while a run trains) take slots 0 and 1. So a device holds as many
//! pools as jobs ever ran on it *at once*, not one per job, and no job waits
//! behind another.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use burn::cubecl::stream_id::StreamId;

/// Slots in use, per device (keyed by its `ResolvedDevice` text).
static IN_USE: Mutex<Option<HashMap<String, Vec<bool>>>> = Mutex::new(None);

/// A slot held for the length of one job; dropping it frees the slot.
pub struct StreamSlot {
    device: String,
    index: usize,
}

impl StreamSlot {
    /// The lowest free slot of `device`.
    pub fn take(device: String) -> Self {
        let mut map = IN_USE.lock().unwrap_or_else(PoisonError::into_inner);
        let slots = map
            .get_or_insert_with(HashMap::new)
            .entry(device.clone())
            .or_default();
        let index = slots.iter().position(|used| !used).unwrap_or(slots.len());
        if index == slots.len() {
            slots.push(true);
        } else {
            slots[index] = true;
        }
        Self { device, index }
    }

    #[cfg(test)]
    fn index(&self) -> usize {
        self.index
    }

    /// Run `f` with this slot as the thread's cubecl stream (restored after,
    /// also on a panic).
    pub fn executes<T>(&self, f: impl FnOnce() -> T) -> T {
        StreamId {
            value: self.index as u64,
        }
        .executes(f)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut map = IN_USE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = map
            .as_mut()
            .and_then(|m| m.get_mut(&self.device))
            .and_then(|slots| slots.get_mut(self.index))
        {
            *slot = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_after_a_job_and_distinct_while_jobs_overlap() {
        let device = "test-device".to_string();
        let a = StreamSlot::take(device.clone());
        let b = StreamSlot::take(device.clone());
        assert_eq!((a.index(), b.index()), (0, 1));
        drop(a);
        let c = StreamSlot::take(device.clone());
        assert_eq!(c.index(), 0, "the freed slot is taken again");
        let other = StreamSlot::take("other-device".into());
        assert_eq!(other.index(), 0, "devices have their own slots");
        drop((b, c));
        for _ in 0..10 {
            let seq = std::thread::spawn({
                let device = device.clone();
                move || StreamSlot::take(device).index()
            })
            .join()
            .expect("thread");
            assert_eq!(seq, 0, "sequential jobs on new threads share slot 0");
        }
    }
}
