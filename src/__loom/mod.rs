//! Internals exposed to the loom models in `loom-tests/` only (built under
//! `cfg(loopbridge_loom)`): the slot under `Completion` with public methods, the
//! pool's handoff, the loop's dispatcher, and the stream buffers.

pub mod bound;
pub mod dispatch;
pub mod events;
pub mod pool;
pub mod stream;
pub mod thread_bound;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::error::{Error, Site};
use crate::slot;

/// A `then` callback, as [`Slot::then`] takes it.
pub type Callback<T> = Box<dyn FnOnce(Result<T, Error>) + Send>;

/// What a read found (mirrors the crate's own `Outcome`).
#[derive(Debug)]
pub enum Outcome<T> {
    /// No result yet.
    Pending,
    /// The result; an error is returned again to later reads.
    Ready(Result<T, Error>),
    /// The value was already taken by an earlier read.
    AlreadyTaken,
}

impl<T> From<slot::Outcome<T>> for Outcome<T> {
    fn from(outcome: slot::Outcome<T>) -> Outcome<T> {
        match outcome {
            slot::Outcome::Pending => Outcome::Pending,
            slot::Outcome::Ready(result) => Outcome::Ready(result),
            slot::Outcome::AlreadyTaken => Outcome::AlreadyTaken,
        }
    }
}

/// What `resolve` did with the offered result (mirrors the crate's own `Resolved`).
#[derive(Debug)]
pub enum Resolved {
    /// The slot was resolved before; the offered result was dropped.
    AlreadyResolved,
    /// Stored for the reader, or handed to its `then` callback.
    Delivered,
    /// The reader is gone; an offered error is handed back.
    Unread(Option<Error>),
}

impl From<slot::Resolved> for Resolved {
    fn from(resolved: slot::Resolved) -> Resolved {
        match resolved {
            slot::Resolved::AlreadyResolved => Resolved::AlreadyResolved,
            slot::Resolved::Delivered => Resolved::Delivered,
            slot::Resolved::Unread(error) => Resolved::Unread(error),
        }
    }
}

/// The crate's slot, with each operation forwarded as is.
pub struct Slot<T>(slot::Slot<T>);

impl<T> Default for Slot<T> {
    fn default() -> Slot<T> {
        Slot::new()
    }
}

impl<T> Slot<T> {
    /// A pending slot.
    pub fn new() -> Slot<T> {
        Slot(slot::Slot::new())
    }

    /// A slot that already holds `result`.
    pub fn resolved(result: Result<T, Error>) -> Slot<T> {
        Slot(slot::Slot::resolved(result))
    }

    /// Offers the result; the first offer wins.
    pub fn resolve(&self, result: Result<T, Error>) -> Resolved {
        self.0.resolve(result).into()
    }

    /// `true` once a result is in.
    pub fn is_resolved(&self) -> bool {
        self.0.is_resolved()
    }

    /// Reads without blocking.
    pub fn try_take(&self) -> Outcome<T> {
        self.0.try_take().into()
    }

    /// Blocks until the result is in.
    pub fn wait(&self) -> Outcome<T> {
        self.0.wait().into()
    }

    /// Blocks until the result is in or `deadline` passes (under loom: one yield).
    pub fn wait_until(&self, deadline: Instant) -> Outcome<T> {
        self.0.wait_until(deadline).into()
    }

    /// Reads, or registers `cx`'s waker.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<Outcome<T>> {
        self.0.poll(cx).map(Outcome::from)
    }

    /// Has `callback` receive the result; gives it back if the value was taken.
    pub fn then(&self, callback: Callback<T>) -> Result<(), Callback<T>> {
        self.0.then(callback)
    }

    /// The reader is gone; returns an unread error.
    pub fn detach(&self) -> Option<Error> {
        self.0.detach()
    }
}

/// An [`Error::Cancelled`] naming the caller.
#[track_caller]
pub fn cancelled() -> Error {
    Error::Cancelled {
        site: Site::caller(),
    }
}

/// An [`Error::Closed`] naming the caller.
#[track_caller]
pub fn closed() -> Error {
    Error::Closed {
        site: Site::caller(),
    }
}

/// The stall watchdog's doze, with its operations public.
#[derive(Default)]
pub struct Doze(std::sync::Arc<crate::event_loop::Doze>);

impl Doze {
    /// A loop has just marked itself busy: wakes the watchdog if it sleeps.
    pub fn nudge(&self) {
        self.0.nudge();
    }

    /// Sleeps until nudged, unless `busy()` holds once the sleep is announced.
    pub fn sleep_unless(&self, busy: impl FnOnce() -> bool) {
        self.0.sleep_unless(busy);
    }
}

/// A loop's turn: its dispatcher's busy mark and the stamp of a pending wake-up, as the
/// dispatcher, its waker and the watchdog use them.
pub struct Turn(std::sync::Arc<crate::event_loop::Turn>);

impl Turn {
    /// An idle loop's turn, which wakes `doze` when the loop gets busy.
    pub fn watched_by(doze: &Doze) -> Turn {
        let turn = crate::event_loop::Turn::new(Instant::now());
        let _ = turn.doze.set(doze.0.clone());
        Turn(std::sync::Arc::new(turn))
    }

    /// The dispatcher takes in jobs.
    pub fn dispatching(&self) {
        self.0.busy();
    }

    /// The dispatcher, its waker registered with the run queue, goes to sleep.
    pub fn idle(&self) {
        self.0.idle();
    }

    /// The waker the dispatcher registers, around its task's `task`: what a push that
    /// finds the dispatcher asleep wakes.
    pub fn waker(&self, task: std::task::Waker) -> std::task::Waker {
        crate::event_loop::TurnWaker::waker(self.0.clone(), task)
    }

    /// The watchdog's look: is the loop busy (or a wake-up of it pending)?
    pub fn is_busy(&self) -> bool {
        self.0.is_busy()
    }
}

impl<T> Slot<T> {
    /// Registers a watcher that tells `notifier` under `index`; `false` if the result
    /// is in already.
    pub fn watch(&self, notifier: &Notifier, index: usize) -> bool {
        self.0.watch(&notifier.watcher(index))
    }

    /// Takes that watcher off again.
    pub fn unwatch(&self, notifier: &Notifier, index: usize) {
        self.0.unwatch(&notifier.watcher(index));
    }
}

/// A multi-wait's ready list (`notify.rs`), with its operations public.
#[derive(Clone)]
pub struct Notifier(std::sync::Arc<crate::notify::Notifier>);

/// Sized for one push without a lock, so a model with two watchers also runs the
/// overflow path.
impl Default for Notifier {
    fn default() -> Notifier {
        Notifier::with_capacity(1)
    }
}

impl Notifier {
    /// A ready list for `capacity` pushes without a lock.
    pub fn with_capacity(capacity: usize) -> Notifier {
        Notifier(std::sync::Arc::new(crate::notify::Notifier::new(capacity)))
    }

    fn watcher(&self, index: usize) -> crate::notify::Watcher {
        crate::notify::Watcher {
            notify: self.0.clone(),
            index,
        }
    }

    /// Blocks until some index was pushed, and returns all pushed so far.
    pub fn wait(&self) -> Vec<usize> {
        let mut told = Vec::new();
        assert!(self.0.drain(&mut told, None));
        told
    }

    /// Returns what was pushed, after at most one yield (a timed wait under loom).
    pub fn wait_briefly(&self) -> Vec<usize> {
        let mut told = Vec::new();
        self.0.drain(&mut told, Some(Instant::now()));
        told
    }
}
