//! A threadsafe function's bounded queue for the loom models in `loom-tests/events.rs`:
//! the real room and run queue, with loom threads as callers and the model's thread as
//! the drain job.

use std::collections::VecDeque;

use crate::event_loop::Events;

use super::pool::Acquired;

/// The queue behind `ThreadsafeFn`, with its operations public.
pub struct EventsModel {
    events: Events<u32>,
}

impl EventsModel {
    /// At most `capacity` events queued or running.
    pub fn new(capacity: usize) -> EventsModel {
        EventsModel {
            events: Events::new(capacity),
        }
    }

    /// A non-blocking call.
    pub fn try_call(&self, event: u32) -> Acquired {
        self.events.try_call(event).map_err(|(no, _)| no).into()
    }

    /// A blocking call (under loom: one yield for room, then the timeout).
    pub fn call_until(&self, event: u32) -> Acquired {
        self.events
            .call_until(event, std::time::Instant::now())
            .into()
    }

    /// The drain job takes what is queued, without sleeping.
    pub fn take(&self) -> VecDeque<u32> {
        let mut batch = VecDeque::new();
        self.events.try_take(&mut batch);
        batch
    }

    /// The drain job ran `events` events.
    pub fn ran(&self, events: usize) {
        self.events.ran(events);
    }

    /// Closes the queue; returns what was still queued.
    pub fn close(&self) -> VecDeque<u32> {
        self.events.close()
    }
}
