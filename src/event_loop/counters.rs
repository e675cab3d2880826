//! [`Stats`]: counters a bridge keeps about its jobs, cheap to update and to read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::job::Tally;

/// A snapshot of a bridge's counters, from [`Handle::stats`](crate::Handle::stats).
///
/// Counters are updated with relaxed atomics: each is exact, but a snapshot taken while
/// jobs run may mix moments (`in_flight` is derived from the others).
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::new()?;
/// let handle = bridge.handle();
/// handle.submit(async { 1 }).wait()?;
/// let _ = handle.submit(async { panic!("boom") }).wait();
/// let stats = handle.stats();
/// assert_eq!(stats.submitted, 2);
/// assert_eq!(stats.finished, 1);
/// assert_eq!(stats.panicked, 1);
/// assert_eq!(stats.in_flight, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Jobs accepted (submitted futures, callbacks, `add_job` jobs).
    pub submitted: u64,
    /// Jobs that ran to completion and produced a value.
    pub finished: u64,
    /// Jobs ended without a value by `cancel()` or by shutdown.
    pub cancelled: u64,
    /// Jobs whose future or callback panicked.
    pub panicked: u64,
    /// Jobs accepted and not yet ended.
    pub in_flight: u64,
    /// Polls or callbacks that ran longer than the slow-poll threshold. A job's last
    /// poll includes delivering its result (and running `then` callbacks), so it is
    /// counted just after its waiter wakes.
    pub slow_polls: u64,
    /// The longest single poll or callback seen.
    pub longest_poll: Duration,
}

/// The live counters behind [`Stats`].
#[derive(Default)]
pub(crate) struct Counters {
    /// Accepted jobs and how they ended.
    pub(crate) jobs: Tally,
    pub(crate) slow_polls: AtomicU64,
    longest_poll_nanos: AtomicU64,
}

impl Counters {
    // ORDERING: every counter is independent and only ever read as a statistic, so
    // relaxed increments and loads are enough.
    pub(crate) fn record_poll(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        if nanos > self.longest_poll_nanos.load(Ordering::Relaxed) {
            self.longest_poll_nanos.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let jobs = &self.jobs;
        let submitted = Tally::read(&jobs.submitted);
        let finished = Tally::read(&jobs.finished);
        let cancelled = Tally::read(&jobs.cancelled);
        let panicked = Tally::read(&jobs.panicked);
        Stats {
            submitted,
            finished,
            cancelled,
            panicked,
            in_flight: submitted.saturating_sub(finished + cancelled + panicked),
            slow_polls: self.slow_polls.load(Ordering::Relaxed),
            longest_poll: Duration::from_nanos(self.longest_poll_nanos.load(Ordering::Relaxed)),
        }
    }
}
