//! The synchronization primitives the crate's own state machines use.
//!
//! Normally these are parking_lot's lock and condition variable; under
//! `cfg(loopbridge_loom)` they are loom's, so the models in `loom-tests/` explore every
//! interleaving of the code that uses them. API differences are absorbed here, once:
//! loom's timed condition-variable wait never times out, so under loom a timed wait is a
//! yield that reports a timeout, and the caller's timeout path runs in every interleaving.

use std::time::Instant;

#[cfg(not(loopbridge_loom))]
mod imp {
    use std::time::Instant;

    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    #[derive(Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(parking_lot::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    #[derive(Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(parking_lot::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(&mut guard);
            guard
        }

        /// Waits until notified or until `deadline`; `true` means the deadline passed.
        /// `mutex` is the lock `guard` holds (loom needs it to re-lock).
        pub(crate) fn wait_until<'a, T>(
            &self,
            _mutex: &'a super::Mutex<T>,
            mut guard: MutexGuard<'a, T>,
            deadline: Instant,
        ) -> (MutexGuard<'a, T>, bool) {
            let timed_out = self.0.wait_until(&mut guard, deadline).timed_out();
            (guard, timed_out)
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(loopbridge_loom)]
mod imp {
    use std::time::Instant;

    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }

    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0
                .wait(guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }

        /// loom cannot time out a wait: yield to the other threads, then report a timeout,
        /// so the caller's timeout path is explored against every racing step.
        pub(crate) fn wait_until<'a, T>(
            &self,
            mutex: &'a super::Mutex<T>,
            guard: MutexGuard<'a, T>,
            _deadline: Instant,
        ) -> (MutexGuard<'a, T>, bool) {
            drop(guard);
            loom::thread::yield_now();
            (mutex.lock(), true)
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

pub(crate) use imp::{Condvar, Mutex, MutexGuard};

/// A deadline `timeout` from now, saturating instead of overflowing.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(60 * 60 * 24 * 365 * 30))
}

/// The atomics of the crate's own state machines (std's normally, loom's under loom).
#[cfg(not(loopbridge_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};

#[cfg(loopbridge_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};

/// One step of waiting for another thread that is between two steps that never block
/// (a submitter between counting its job and sending it): give it the processor.
pub(crate) fn spin_wait() {
    #[cfg(not(loopbridge_loom))]
    std::thread::yield_now();
    #[cfg(loopbridge_loom)]
    loom::hint::spin_loop();
}

/// An unbounded multi-producer, multi-consumer queue that owns both of its ends, so it
/// never disconnects: crossbeam-channel's normally; under loom a locked `VecDeque` whose
/// timed receive is a yield that reports a timeout when nothing arrived meanwhile (as
/// [`Condvar::wait_until`] is).
#[cfg(not(loopbridge_loom))]
pub(crate) struct Channel<T> {
    tx: crossbeam_channel::Sender<T>,
    rx: crossbeam_channel::Receiver<T>,
}

#[cfg(not(loopbridge_loom))]
impl<T> Channel<T> {
    pub(crate) fn new() -> Channel<T> {
        let (tx, rx) = crossbeam_channel::unbounded();
        Channel { tx, rx }
    }

    pub(crate) fn send(&self, msg: T) {
        // An unbounded channel refuses only when every receiver is gone, and `self`
        // holds one: this cannot fail.
        let _ = self.tx.send(msg);
    }

    pub(crate) fn try_recv(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Waits at most `timeout` for a message (an overlong timeout waits forever).
    pub(crate) fn recv_timeout(&self, timeout: std::time::Duration) -> Option<T> {
        self.rx.recv_timeout(timeout).ok()
    }
}

#[cfg(loopbridge_loom)]
pub(crate) struct Channel<T> {
    queue: Mutex<std::collections::VecDeque<T>>,
}

#[cfg(loopbridge_loom)]
impl<T> Channel<T> {
    pub(crate) fn new() -> Channel<T> {
        Channel {
            queue: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    pub(crate) fn send(&self, msg: T) {
        self.queue.lock().push_back(msg);
    }

    pub(crate) fn try_recv(&self) -> Option<T> {
        self.queue.lock().pop_front()
    }

    pub(crate) fn recv_timeout(&self, _timeout: std::time::Duration) -> Option<T> {
        if let Some(msg) = self.try_recv() {
            return Some(msg);
        }
        loom::thread::yield_now();
        self.try_recv()
    }
}

/// A value alone on its own cache lines (two 64-byte lines, as adjacent-line prefetching
/// pairs them), so that a counter one thread writes does not slow down another thread
/// writing its neighbour.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
