//! Non-consuming notifications of a result: a [`Watcher`] registered on a slot is told,
//! by index, when the slot resolves, without taking its value. Multi-waits
//! (`wait_any`, `wait_all`, `as_completed`) watch many slots through one [`Notifier`];
//! a stream read by a plain thread watches its job's slot through its channel.
//!
//! A [`Notifier`] is a ready list sized for the slots it watches (each watcher tells at
//! most once): a resolving slot claims the next place with one atomic add and writes its
//! index there, taking no lock; the one waiting thread reads the places in order, and
//! only when it found none does it go to sleep on a condition variable, saying so in a
//! flag the resolving side checks. So a result costs a few atomics while the reader is
//! busy, and a lock and a wake-up only when it sleeps; nothing grows with the number of
//! slots. No thread per wait, no polling.

use std::sync::Arc;
use std::time::Instant;

use crate::sync::{fence, AtomicBool, AtomicUsize, Condvar, Mutex};

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

// ORDERING: the sleep handshake is a store-load pair on each side (the reader stores
// `sleeping`, then loads the next place; a resolving slot stores its place, then loads
// `sleeping`), so each side has a SeqCst fence between its store and its load: at least
// one of them sees the other's store. A place is written with Release and read with
// Acquire, so a reader that finds an index also finds the result stored before it.
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

/// The ready list one waiting thread reads: indices pushed by resolving slots, in the
/// order they resolved.
pub(crate) struct Notifier {
    /// One place per push, each `index + 1` once written (0: not yet).
    places: Box<[AtomicUsize]>,
    /// The next place a push claims.
    claimed: AtomicUsize,
    /// The next place the reader reads (only the reader touches it).
    read: AtomicUsize,
    /// The reader is about to sleep, or sleeps: a push must wake it.
    sleeping: AtomicBool,
    /// Pushes beyond `places` (more than the watchers it was sized for: not expected,
    /// but never lost), and the lock the reader sleeps under.
    overflow: Mutex<Vec<usize>>,
    wake: Condvar,
}

impl Notifier {
    /// A ready list for `capacity` pushes without a lock: one per watcher registered.
    pub(crate) fn new(capacity: usize) -> Notifier {
        Notifier {
            places: (0..capacity).map(|_| AtomicUsize::new(0)).collect(),
            claimed: AtomicUsize::new(0),
            read: AtomicUsize::new(0),
            sleeping: AtomicBool::new(false),
            overflow: Mutex::new(Vec::new()),
            wake: Condvar::new(),
        }
    }

    /// Moves the indices written so far, from the reader's place on, into `into`.
    fn take_written(&self, into: &mut Vec<usize>) -> bool {
        let mut read = self.read.load(Relaxed);
        let start = into.len();
        while let Some(place) = self.places.get(read) {
            match place.load(Acquire) {
                0 => break,
                written => into.push(written - 1),
            }
            read += 1;
        }
        self.read.store(read, Relaxed);
        into.len() > start
    }

    /// Moves every index pushed so far into `into` (in the order they came), blocking
    /// until there is at least one or `deadline` passes. `false` on a timeout with none.
    /// `deadline` `None` waits without a bound. Only one thread reads a notifier.
    pub(crate) fn drain(&self, into: &mut Vec<usize>, deadline: Option<Instant>) -> bool {
        if self.take_written(into) {
            return true;
        }
        let mut overflow = self.overflow.lock();
        loop {
            self.sleeping.store(true, SeqCst);
            // ORDERING: said we sleep, then look again (see above).
            fence(SeqCst);
            let found = self.take_written(into) | !overflow.is_empty();
            if found {
                self.sleeping.store(false, Relaxed);
                into.append(&mut overflow);
                return true;
            }
            match deadline {
                None => overflow = self.wake.wait(overflow),
                Some(deadline) => {
                    let timed_out;
                    (overflow, timed_out) =
                        self.wake.wait_until(&self.overflow, overflow, deadline);
                    if timed_out {
                        self.sleeping.store(false, Relaxed);
                        let found = self.take_written(into) | !overflow.is_empty();
                        into.append(&mut overflow);
                        return found;
                    }
                }
            }
        }
    }
}

impl Notify for Notifier {
    fn ready(&self, index: usize) {
        let at = self.claimed.fetch_add(1, Relaxed);
        match self.places.get(at) {
            Some(place) => place.store(index + 1, Release),
            None => {
                // Under the lock the reader checks it under before it sleeps.
                self.overflow.lock().push(index);
                self.wake.notify_all();
                return;
            }
        }
        // ORDERING: written, then look whether the reader sleeps (see above).
        fence(SeqCst);
        if self.sleeping.load(SeqCst) {
            // Taking the lock waits out a reader between its look and its sleep, so the
            // notification finds it asleep, not about to be.
            drop(self.overflow.lock());
            self.wake.notify_all();
        }
    }
}
