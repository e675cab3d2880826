//! When a job has really stopped: its future dropped (a loop job) or its closure returned
//! or dropped unrun (a pool job). A job is *resolved* as soon as a cancel wins; it *stops*
//! at its next poll boundary, or when a running closure returns. Waiters for that moment
//! ([`Completion::cancel_and_wait`](crate::Completion::cancel_and_wait)) are rare, so they
//! share one lock and condition variable per process, and a stopping job touches them only
//! when its record says somebody waits.
//!
//! | state     | set by                                       | then                              |
//! |-----------|----------------------------------------------|-----------------------------------|
//! | `RUNNING` | the record's creation                        | —                                 |
//! | `WAITED`  | a waiter, by compare-and-swap from `RUNNING`, holding the lock | it waits on the condition variable |
//! | `STOPPED` | the job, by swap, from either                | if it swapped out `WAITED`: lock, notify every waiter |
//!
//! Both sides change the one byte with read-modify-writes, so their order is total; the
//! waiter holds the lock from its look to its wait, and the job takes the lock before it
//! notifies: no wake-up is lost.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

const RUNNING: u8 = 0;
const WAITED: u8 = 1;
const STOPPED: u8 = 2;

static GATE: Mutex<()> = Mutex::new(());
static STOPS: Condvar = Condvar::new();

/// One job's stop state.
pub(crate) struct StopSignal(AtomicU8);

impl StopSignal {
    pub(crate) fn running() -> StopSignal {
        StopSignal(AtomicU8::new(RUNNING))
    }

    /// A job that never runs (refused at submission).
    pub(crate) fn stopped() -> StopSignal {
        StopSignal(AtomicU8::new(STOPPED))
    }

    pub(crate) fn is_stopped(&self) -> bool {
        // ORDERING: Acquire pairs with `stop`'s AcqRel swap, so a caller that sees the job
        // stopped also sees what its teardown did.
        self.0.load(Ordering::Acquire) == STOPPED
    }

    /// The job has stopped: wakes whoever waits for it.
    pub(crate) fn stop(&self) {
        // ORDERING: AcqRel: publishes the teardown to a waiter that sees `STOPPED`.
        if self.0.swap(STOPPED, Ordering::AcqRel) == WAITED {
            let _gate = GATE.lock();
            STOPS.notify_all();
        }
    }

    /// Waits until the job has stopped, or `deadline` passes; `true` if it stopped.
    pub(crate) fn wait_until(&self, deadline: Instant) -> bool {
        let mut gate = GATE.lock();
        // ORDERING: as `stop`; a failed exchange means the job stopped.
        if let Err(STOPPED) =
            self.0
                .compare_exchange(RUNNING, WAITED, Ordering::AcqRel, Ordering::Acquire)
        {
            return true;
        }
        loop {
            if self.is_stopped() {
                return true;
            }
            if STOPS.wait_until(&mut gate, deadline).timed_out() {
                return self.is_stopped();
            }
        }
    }
}
