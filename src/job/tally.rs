//! [`Tally`]: how many jobs an executor (a loop or a pool) accepted, and how each ended.
//! Every counter a user reads ([`Stats`](crate::Stats), [`PoolStats`](crate::PoolStats))
//! starts from one of these.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::util::CachePadded;

/// Counts of accepted jobs by how they ended. A job is counted as ended exactly once,
/// by whichever side resolved it.
#[derive(Default)]
pub(crate) struct Tally {
    /// Written by submitting threads; padded away from the counters the executor writes.
    pub(crate) submitted: CachePadded<AtomicU64>,
    pub(crate) finished: CachePadded<AtomicU64>,
    pub(crate) cancelled: AtomicU64,
    pub(crate) panicked: AtomicU64,
}

// ORDERING: every counter is independent and only ever read as a statistic, so relaxed
// increments and loads are enough; no decision of the crate reads them.
impl Tally {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn unbump(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Jobs that ran to their end (a value or a panic).
    pub(crate) fn ran(&self) -> u64 {
        Self::read(&self.finished) + Self::read(&self.panicked)
    }
}
