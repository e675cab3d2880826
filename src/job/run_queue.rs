//! The loop's run queue: how new and woken jobs reach the loop thread's dispatcher.
//!
//! Any thread pushes; the dispatcher takes everything queued in one batch. A push wakes
//! the dispatcher only when it found the queue empty and went to sleep, so a burst of
//! submissions costs the loop one wake-up rather than one per job (a tokio task spawned
//! from outside its runtime wakes the runtime's driver every time, a system call each).
//!
//! It knows nothing of tokio and is written against [`crate::sync`], so the loom models
//! explore it. Invariant: the sleeping dispatcher's waker is stored and taken under the
//! same lock as the items, so a push either sees the waker (and wakes it) or happened
//! before the dispatcher looked (and is in the batch it takes): no wake-up is lost.
//! A dispatcher that spins for work reads `queued`, a hint kept beside the lock, and
//! takes the lock only once it says there is something; when it stops spinning it
//! sleeps through `poll_take` as any other (loom: `loom-tests/spin.rs`).

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use std::sync::atomic::Ordering;

use crate::sync::{AtomicBool, Mutex};

pub(crate) struct RunQueue<T> {
    inner: Mutex<Inner<T>>,
    /// `items` is not empty: written under the lock, read without it by a dispatcher
    /// that spins (only a hint: what it takes, it takes under the lock).
    queued: AtomicBool,
}

struct Inner<T> {
    items: VecDeque<T>,
    /// The dispatcher's waker while it sleeps on an empty queue.
    sleeping: Option<Waker>,
    /// The loop has stopped: pushes are refused.
    closed: bool,
}

impl<T> Default for RunQueue<T> {
    fn default() -> RunQueue<T> {
        RunQueue {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                sleeping: None,
                closed: false,
            }),
            queued: AtomicBool::new(false),
        }
    }
}

impl<T> RunQueue<T> {
    /// Queues `item` for the dispatcher, waking it if it sleeps; hands `item` back once
    /// the queue is closed.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(item);
        }
        inner.items.push_back(item);
        // ORDERING: a hint; the items are handed over by the lock.
        self.queued.store(true, Ordering::Relaxed);
        let sleeping = inner.sleeping.take();
        drop(inner);
        if let Some(waker) = sleeping {
            waker.wake();
        }
        Ok(())
    }

    /// Moves everything queued into `batch` (the dispatcher's, empty; the two buffers
    /// are swapped, so neither side allocates once both have grown), or, with nothing
    /// queued, sleeps until the next push wakes `cx`.
    pub(crate) fn poll_take(&self, batch: &mut VecDeque<T>, cx: &mut Context<'_>) -> Poll<()> {
        debug_assert!(batch.is_empty());
        let mut inner = self.inner.lock();
        if inner.items.is_empty() {
            match &inner.sleeping {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => inner.sleeping = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        std::mem::swap(&mut inner.items, batch);
        self.queued.store(false, Ordering::Relaxed);
        Poll::Ready(())
    }

    /// Moves everything queued into `batch` (empty) without registering to be woken;
    /// `false` if nothing was queued. For a dispatcher that stays awake.
    pub(crate) fn try_take(&self, batch: &mut VecDeque<T>) -> bool {
        debug_assert!(batch.is_empty());
        let mut inner = self.inner.lock();
        if inner.items.is_empty() {
            return false;
        }
        std::mem::swap(&mut inner.items, batch);
        self.queued.store(false, Ordering::Relaxed);
        true
    }

    /// `true` if something seems to be queued: a look without the lock, for a dispatcher
    /// that spins (a push may land just after it says `false`).
    pub(crate) fn looks_queued(&self) -> bool {
        // ORDERING: a hint; see `queued`.
        self.queued.load(Ordering::Relaxed)
    }

    /// Refuses every later push and returns what was still queued.
    pub(crate) fn close(&self) -> VecDeque<T> {
        let mut inner = self.inner.lock();
        inner.closed = true;
        let sleeping = inner.sleeping.take();
        let items = std::mem::take(&mut inner.items);
        self.queued.store(false, Ordering::Relaxed);
        drop(inner);
        drop(sleeping);
        items
    }
}
