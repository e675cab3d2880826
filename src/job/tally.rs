//! [`Tally`]: how many jobs an executor (a loop or a pool) accepted, and how each ended.
//! Every counter a user reads ([`LoopStats`](crate::LoopStats), [`PoolStats`](crate::PoolStats))
//! starts from one of these.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::util::CachePadded;

use super::record::JobRecord;

/// How a job ended, as counted.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ended {
    /// It produced a value that was delivered.
    Finished,
    /// It was cancelled, or cut off by a shutdown, or its value was dropped unread
    /// because a cancel won.
    Cancelled,
    /// It panicked.
    Panicked,
}

/// Counts of accepted jobs by how they ended. A job is counted as ended exactly once, by
/// whichever side first ends it or gives up on it (its record's count claim): the job's
/// own run, a cancel noticed by it, or a shutdown that cuts it off.
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
    /// Counts `record`'s job as ended `how`, unless another side counted it already;
    /// `true` if this call counted it.
    pub(crate) fn end(&self, record: &JobRecord, how: Ended) -> bool {
        if !record.claim_count() {
            return false;
        }
        self.bump_ended(how);
        if let Some(scope) = &record.scope {
            scope.tally.bump_ended(how);
        }
        true
    }

    fn bump_ended(&self, how: Ended) {
        Self::bump(match how {
            Ended::Finished => &self.finished,
            Ended::Cancelled => &self.cancelled,
            Ended::Panicked => &self.panicked,
        });
    }

    /// `record`'s job was refused after its scope had counted it submitted: it was never
    /// submitted after all, and no side counts its end.
    pub(crate) fn withdraw(record: &JobRecord) {
        if record.claim_count() {
            if let Some(scope) = &record.scope {
                Self::unbump(&scope.tally.submitted);
            }
        }
    }

    /// `record`'s job, counted as finished, had its value dropped by a cancel (or a
    /// cut-off) after all.
    pub(crate) fn finished_was_cancelled(&self, record: &JobRecord) {
        Self::unbump(&self.finished);
        Self::bump(&self.cancelled);
        if let Some(scope) = &record.scope {
            Self::unbump(&scope.tally.finished);
            Self::bump(&scope.tally.cancelled);
        }
    }

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
