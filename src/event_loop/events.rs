//! [`Events`]: the bounded queue of a threadsafe function, between any number of callers
//! and the one job on the loop that runs them.
//!
//! A call takes a unit of the queue's [`Room`] (waiting for one, or not), then pushes
//! its event onto a [`RunQueue`], which wakes the sleeping drain job. The drain job
//! takes what is queued in one batch, runs the events in order, and gives their units
//! back, one lock per batch: so at most `capacity` events are queued or running at any
//! time, whatever the callers' pace.
//!
//! Closing ([`close`](Events::close)) closes the room first (waiters and later calls
//! are refused) and the run queue second, and hands back every event still queued: an
//! event whose call returned `Ok` is in a batch the drain job took, or among those the
//! close hands back, never lost. What becomes of those is the caller of `close`'s
//! decision (run them, or drop them). loom: `loom-tests/events.rs`.

use std::collections::VecDeque;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::job::RunQueue;
use crate::room::{NoRoom, Room};

pub(crate) struct Events<E> {
    room: Room,
    queue: RunQueue<E>,
}

impl<E> Events<E> {
    /// A queue that holds at most `capacity` events queued or running.
    pub(crate) fn new(capacity: usize) -> Events<E> {
        Events {
            room: Room::new(capacity),
            queue: RunQueue::default(),
        }
    }

    /// Queues `event` if there is room now; hands it back if not.
    pub(crate) fn try_call(&self, event: E) -> Result<(), (NoRoom, E)> {
        if let Err(no_room) = self.room.try_acquire() {
            return Err((no_room, event));
        }
        self.queue
            .push(event)
            .map_err(|event| (NoRoom::Closed, event))
    }

    /// Queues `event`, blocking the calling thread for room until `deadline`.
    pub(crate) fn call_until(&self, event: E, deadline: Instant) -> Result<(), NoRoom> {
        self.room.acquire_until(deadline)?;
        // Refused only once closed (between the unit and the push), when the room is
        // closed too: the unit needs no giving back.
        self.queue.push(event).map_err(|_refused| NoRoom::Closed)
    }

    /// For the drain job: moves everything queued into `batch` (empty), or sleeps until
    /// the next call wakes `cx`.
    pub(crate) fn poll_take(&self, batch: &mut VecDeque<E>, cx: &mut Context<'_>) -> Poll<()> {
        self.queue.poll_take(batch, cx)
    }

    /// For the drain job, without registering to be woken; `false` if nothing was queued.
    #[cfg(loopbridge_loom)]
    pub(crate) fn try_take(&self, batch: &mut VecDeque<E>) -> bool {
        self.queue.try_take(batch)
    }

    /// For the drain job: `events` events have run; their units go to waiting callers
    /// (oldest first) or back to the free room.
    pub(crate) fn ran(&self, events: usize) {
        self.room.release_many(events);
    }

    /// Refuses every waiting and later call, and returns the events still queued.
    pub(crate) fn close(&self) -> VecDeque<E> {
        self.room.close();
        self.queue.close()
    }
}
