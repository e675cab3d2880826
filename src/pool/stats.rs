//! [`PoolStats`]: what a [`ThreadPool`](crate::ThreadPool) is doing, readable at any time.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::job::Tally;

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
    /// Accepted jobs and how they ended.
    pub(crate) jobs: Tally,
    refused: AtomicU64,
    running: AtomicUsize,
}

// ORDERING: every counter is independent and only ever read as a statistic, so relaxed
// increments and loads are enough; the pool's decisions never read them.
impl PoolCounters {
    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn running_started(&self) {
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn running_ended(&self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
    }

    /// A snapshot; `scheduling` fills in what the pool's scheduling knows (queued jobs
    /// and workers), zero for a pool that has none of its own (rayon).
    pub(crate) fn snapshot(&self) -> PoolStats {
        let jobs = &self.jobs;
        PoolStats {
            submitted: Tally::read(&jobs.submitted),
            running: self.running.load(Ordering::Relaxed),
            finished: Tally::read(&jobs.finished),
            cancelled: Tally::read(&jobs.cancelled),
            panicked: Tally::read(&jobs.panicked),
            refused: self.refused.load(Ordering::Relaxed),
            ..PoolStats::default()
        }
    }
}
