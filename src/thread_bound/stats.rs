//! [`ThreadBoundStats`]: what a [`ThreadBound`](crate::ThreadBound)'s thread is doing.

use std::time::Duration;

/// A snapshot of a [`ThreadBound`](crate::ThreadBound)'s counters, from
/// [`ThreadBound::stats`](crate::ThreadBound::stats). Each counter is exact; they are read
/// one by one, so a snapshot taken while calls run may mix moments.
///
/// # Examples
///
/// ```
/// let bound = loopbridge::ThreadBound::spawn("n", || Ok::<_, std::io::Error>(0u32))?;
/// bound.call(|n| *n += 1).wait()?;
/// let _ = bound.call(|_| panic!("boom")).wait();
/// let stats = bound.stats();
/// assert_eq!((stats.submitted, stats.finished, stats.panicked), (2, 1, 1));
/// assert_eq!(stats.queued, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThreadBoundStats {
    /// Calls accepted (queued, or run inline).
    pub submitted: u64,
    /// Calls waiting in the mailbox.
    pub queued: usize,
    /// Calls whose closure is running now (0 or 1).
    pub running: usize,
    /// Calls that ran and produced a value.
    pub finished: u64,
    /// Calls that ended without a value: cancelled, or refused by a shutdown or a
    /// scope's close after they were queued.
    pub cancelled: u64,
    /// Calls whose closure panicked.
    pub panicked: u64,
    /// Calls refused with [`Error::QueueFull`](crate::Error::QueueFull).
    pub refused: u64,
    /// Calls that held the thread longer than the slow-call threshold.
    pub slow_calls: u64,
    /// The longest call so far.
    pub longest_call: Duration,
}
