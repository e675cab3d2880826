//! Non-consuming notifications of a result: a [`Watcher`] registered on a slot is told,
//! by index, when the slot resolves, without taking its value. Multi-waits
//! (`wait_any`, `wait_all`, `as_completed`) watch many slots through one [`Notifier`];
//! a stream read by a plain thread watches its job's slot through its channel.
//!
//! A [`Notifier`] is a ready list and a condition variable under one lock: each
//! resolving slot pushes its index (O(1), whatever the number of slots watched) and wakes
//! the one waiting thread; the waiter drains the list. No thread per wait, no polling.

use std::sync::Arc;
use std::time::Instant;

use crate::sync::{Condvar, Mutex};

/// Something told, by index, that a watched slot has resolved. Called on the resolving
/// thread, outside the slot's lock; it must not block.
pub(crate) trait Notify: Send + Sync {
    fn ready(&self, index: usize);
}

/// A registration on one slot: who to tell, and under which index.
#[derive(Clone)]
pub(crate) struct Watcher {
    pub(crate) notify: Arc<dyn Notify>,
    pub(crate) index: usize,
}

impl Watcher {
    /// The same registration (same receiver, same index): what an unwatch removes.
    pub(crate) fn same(&self, other: &Watcher) -> bool {
        self.index == other.index
            && std::ptr::addr_eq(Arc::as_ptr(&self.notify), Arc::as_ptr(&other.notify))
    }
}

/// The ready list one waiting thread reads: indices pushed by resolving slots, in the
/// order they resolved.
pub(crate) struct Notifier {
    ready: Mutex<Vec<usize>>,
    wake: Condvar,
}

impl Notifier {
    pub(crate) fn new() -> Notifier {
        Notifier {
            ready: Mutex::new(Vec::new()),
            wake: Condvar::new(),
        }
    }

    /// Moves every index pushed so far into `into` (in the order they came), blocking
    /// until there is at least one or `deadline` passes. `false` on a timeout with none.
    /// `deadline` `None` waits without a bound.
    pub(crate) fn drain(&self, into: &mut Vec<usize>, deadline: Option<Instant>) -> bool {
        let mut ready = self.ready.lock();
        loop {
            if !ready.is_empty() {
                into.append(&mut ready);
                return true;
            }
            match deadline {
                None => ready = self.wake.wait(ready),
                Some(deadline) => {
                    let timed_out;
                    (ready, timed_out) = self.wake.wait_until(&self.ready, ready, deadline);
                    if timed_out && ready.is_empty() {
                        return false;
                    }
                }
            }
        }
    }
}

impl Default for Notifier {
    fn default() -> Notifier {
        Notifier::new()
    }
}

impl Notify for Notifier {
    fn ready(&self, index: usize) {
        // The push is under the lock the waiter checks the list under, and the waiter
        // sleeps by releasing that lock: it either sees the index before it sleeps or is
        // asleep on the condition variable when it is notified. No wake-up is lost.
        let mut ready = self.ready.lock();
        ready.push(index);
        drop(ready);
        self.wake.notify_all();
    }
}
