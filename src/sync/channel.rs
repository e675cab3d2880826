//! A queue that never disconnects, for the pool's job handoff.

/// An unbounded multi-producer, multi-consumer queue that owns both of its ends, so it
/// never disconnects: crossbeam-channel's normally; under loom a locked `VecDeque` whose
/// timed receive is a yield that reports a timeout when nothing arrived meanwhile (as
/// [`Condvar::wait_until`](super::Condvar::wait_until) is).
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

    /// Waits for a message (`None` never comes: the channel does not disconnect).
    pub(crate) fn recv(&self) -> Option<T> {
        self.rx.recv().ok()
    }
}

#[cfg(loopbridge_loom)]
use super::{Condvar, Mutex};

#[cfg(loopbridge_loom)]
pub(crate) struct Channel<T> {
    queue: Mutex<std::collections::VecDeque<T>>,
    /// Wakes a blocking [`recv`](Channel::recv).
    sent: Condvar,
}

#[cfg(loopbridge_loom)]
impl<T> Channel<T> {
    pub(crate) fn new() -> Channel<T> {
        Channel {
            queue: Mutex::new(std::collections::VecDeque::new()),
            sent: Condvar::new(),
        }
    }

    pub(crate) fn send(&self, msg: T) {
        self.queue.lock().push_back(msg);
        self.sent.notify_all();
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

    /// Blocks until a message arrives (loom's condition variable: a model whose sender
    /// never sends deadlocks, and loom says so).
    pub(crate) fn recv(&self) -> Option<T> {
        let mut queue = self.queue.lock();
        loop {
            if let Some(msg) = queue.pop_front() {
                return Some(msg);
            }
            queue = self.sent.wait(queue);
        }
    }
}
