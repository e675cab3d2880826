//! [`PoolStats`]: what a [`ThreadPool`](crate::ThreadPool) is doing, readable at any time.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of a [`ThreadPool`](crate::ThreadPool)'s state and counters, from
/// [`ThreadPool::stats`](crate::ThreadPool::stats).
///
/// `queued`, `workers` and `idle_workers` are read together from the pool's scheduling
/// state, so they agree with each other; the counters are exact but read one by one,
/// so a snapshot taken while jobs run may mix moments.
///
/// # Examples
///
/// ```
/// let pool = loopbridge::ThreadPool::new(2)?;
/// pool.submit(|| 1).wait()?;
/// let _ = pool.submit(|| panic!("boom")).wait();
/// let stats = pool.stats();
/// assert_eq!(stats.submitted, 2);
/// assert_eq!(stats.finished, 1);
/// assert_eq!(stats.panicked, 1);
/// assert_eq!(stats.queued, 0);
/// assert!(stats.workers <= 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Jobs accepted into the queue.
    pub submitted: u64,
    /// Jobs waiting in the queue for a worker.
    pub queued: usize,
    /// Jobs whose closure is running now.
    pub running: usize,
    /// Live worker threads, busy or idle.
    pub workers: usize,
    /// Workers waiting for a job (or just started and about to).
    pub idle_workers: usize,
    /// Jobs that ran and produced a value.
    pub finished: u64,
    /// Jobs that ended without a value: cancelled before or while running, or cut off
    /// by a shutdown.
    pub cancelled: u64,
    /// Jobs whose closure panicked.
    pub panicked: u64,
    /// Jobs refused with [`Error::QueueFull`](crate::Error::QueueFull).
    pub refused: u64,
}

/// The live counters behind [`PoolStats`].
#[derive(Default)]
pub(crate) struct PoolCounters {
    pub(crate) submitted: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) running: AtomicUsize,
}

// ORDERING: every counter is independent and only ever read as a statistic, so relaxed
// increments and loads are enough; the pool's decisions never read them.
impl PoolCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn unbump(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Jobs that ended by running: with a value or a panic.
    pub(crate) fn ended(&self) -> u64 {
        Self::read(&self.finished) + Self::read(&self.panicked)
    }

    pub(crate) fn running_started(&self) {
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn running_ended(&self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }
}
