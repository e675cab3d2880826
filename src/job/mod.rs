//! What every job is, whoever runs it: its cell (record, schedule, result slot), the
//! registry of live jobs, how a loop job is queued for a poll, and the one way a result
//! is delivered and counted. The loop (`event_loop`) and the pools (`pool`) build on it;
//! it knows neither of them, nor tokio.
//!
//! May import: `slot`, `sync`, `util`, `error`, `report`, `process`; and tokio-util's
//! `CancellationToken` for scopes.

mod cell;
mod closes;
mod deliver;
mod home;
mod hooks;
mod record;
mod registry;
mod run_queue;
mod schedule;
pub(crate) mod scope;
mod stop;
mod tally;

pub(crate) use cell::{report_unread, Body, JobCell, NoFuture};
pub(crate) use closes::{Claim, Closes};
pub(crate) use deliver::deliver;
pub(crate) use home::JobHome;
pub(crate) use hooks::{Hook, Hooks};
pub(crate) use record::{JobRecord, LiveJob};
pub use registry::JobInfo;
pub(crate) use registry::Registry;
pub(crate) use run_queue::RunQueue;
pub(crate) use schedule::{Arrival, JobHold, LocalFuture, LocalStart, LoopJob, NewJob, Schedule};
pub(crate) use scope::ScopeState;
pub(crate) use stop::StopSignal;
pub(crate) use tally::{Ended, Tally};

#[cfg(test)]
mod sizes {
    use std::mem::size_of;

    /// Every pending job holds one cell and one table entry, and passes through the run
    /// queue once: a field added to any of them is a cost to every job, so it is made
    /// on purpose (raise the bound here) or not at all.
    #[test]
    fn a_pending_jobs_bookkeeping_stays_within_its_budget() {
        assert!(size_of::<super::JobCell<u64, super::NoFuture>>() <= 176);
        assert!(size_of::<super::JobRecord>() <= 96);
        assert!(size_of::<crate::slot::Slot<u64>>() <= 56);
        assert!(size_of::<super::Arrival>() <= 24);
        // The loop's table entry.
        assert!(size_of::<Option<super::JobHold>>() <= 16);
    }
}
