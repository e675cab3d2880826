//! How a job on the loop is queued for a poll: when it is submitted, and again each time
//! its waker fires.
//!
//! Jobs are not tokio tasks of their own: the loop's dispatcher (`event_loop::dispatcher`)
//! polls them, and a job's waker puts the job's place on the loop's [`RunQueue`]. The
//! `scheduled` flag keeps a job in the queue at most once, and is the one point where a
//! wake and the dispatcher meet:
//!
//! | who        | does                                      | then                                   |
//! |------------|-------------------------------------------|----------------------------------------|
//! | submitter  | creates the job with `scheduled` set, queues it as new | —                         |
//! | dispatcher | stores the job's place, clears `scheduled` (swap), polls | a wake from here on queues the job again |
//! | a wake     | sets `scheduled` (swap); queues the place only if it was clear | the dispatcher polls it again |
//! | dispatcher | the job ended: sets `scheduled` for good   | later wakes do nothing                 |
//!
//! Both sides use read-modify-writes on the one flag, so their order is total: a wake
//! (or a cancel, which resolves the job and then wakes it) that comes before the clear is
//! seen by the poll that follows it, and one that comes after queues the job again. No
//! wake is lost, and a cancelled job's future is always dropped at its next poll.
//!
//! It knows nothing of tokio; the loom models explore it with the real [`RunQueue`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::sync::{AtomicBool, AtomicUsize};

use super::record::LiveJob;
use super::run_queue::RunQueue;

/// A job's future as the loop thread runs it.
pub(crate) type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// What the loop's run queue carries.
pub(crate) enum Arrival {
    /// A job submitted since the dispatcher last looked.
    New(NewJob),
    /// The job at this place in the dispatcher's table was woken.
    Woken(usize),
}

/// A job the loop polls, whatever its output type: a [`LiveJob`] with a place in the
/// loop's scheduling, and maybe its future in its cell.
pub(crate) trait LoopJob: LiveJob {
    fn schedule(&self) -> &Schedule;
    /// The job's waker, made where its type is known.
    fn waker(self: Arc<Self>) -> Waker;
    /// Polls the future in the job's cell (see `event_loop::task`): `Ready` once the job
    /// has ended (its result delivered, its future dropped), and at once for a job whose
    /// future is gone or lives elsewhere.
    fn poll_future(&self, cx: &mut Context<'_>) -> Poll<()>;
    /// The loop lets go of the job: the future in its cell, if still there, is dropped and
    /// the job resolved with `Closed` if it had not ended.
    fn drop_future(&self);
}

/// The loop's hold on a job: whoever has it may poll the job's future; dropping it drops
/// that future (see [`LoopJob::drop_future`]), so every way a job leaves the loop (its
/// end, a cut-off, the loop's teardown, a queue closed with the job in it) drops the
/// future exactly once. Dropped after whatever else of the job its holder keeps.
pub(crate) struct JobHold(Arc<dyn LoopJob>);

impl JobHold {
    pub(crate) fn new(job: Arc<dyn LoopJob>) -> JobHold {
        JobHold(job)
    }

    /// The job, for what outlives the hold (a count, a registry removal).
    pub(crate) fn job(&self) -> &Arc<dyn LoopJob> {
        &self.0
    }
}

impl std::ops::Deref for JobHold {
    type Target = dyn LoopJob;

    fn deref(&self) -> &(dyn LoopJob + 'static) {
        &*self.0
    }
}

impl Drop for JobHold {
    fn drop(&mut self) {
        self.0.drop_future();
    }
}

/// A submitted job on its way to the loop thread (its registry key is in its
/// [`Schedule`]).
pub(crate) enum NewJob {
    /// A `Send` future the submitter built, in the job's cell.
    InCell(JobHold),
    /// A future that need not be `Send`, built on the loop thread; the dispatcher keeps
    /// it beside the job. Boxed, so that the arrivals of the common kind stay small.
    Local(Box<LocalStart>),
}

/// A job whose future is built on the loop thread, and what builds it.
pub(crate) struct LocalStart {
    /// Dropped before the hold (fields drop in order; see [`JobHold`]).
    pub(crate) build: Box<dyn FnOnce() -> LocalFuture + Send>,
    pub(crate) job: JobHold,
}

impl NewJob {
    /// The loop's hold on the job.
    pub(crate) fn job(&self) -> &JobHold {
        match self {
            NewJob::InCell(job) => job,
            NewJob::Local(local) => &local.job,
        }
    }

    /// The future the dispatcher keeps beside the job (built here, on the loop thread),
    /// if it is not in the job's cell, and the hold.
    pub(crate) fn start(self) -> (Option<LocalFuture>, JobHold) {
        match self {
            NewJob::InCell(job) => (None, job),
            NewJob::Local(local) => {
                let LocalStart { build, job } = *local;
                (Some(build()), job)
            }
        }
    }
}

/// A job's place in the loop's scheduling, and whether it is queued already (the queue
/// itself is the loop's, in the job's `JobHome`).
pub(crate) struct Schedule {
    /// The job's place in the dispatcher's table (not its registry key), stored before
    /// its first poll.
    place: AtomicUsize,
    /// The job's key in its loop's registry, stored before the job is queued.
    key: AtomicUsize,
    /// The job is in the queue (or has ended): a wake need not queue it.
    scheduled: AtomicBool,
}

impl Schedule {
    /// The schedule of a job about to be queued as new (or of one that no loop polls).
    pub(crate) fn new() -> Schedule {
        Schedule {
            place: AtomicUsize::new(usize::MAX),
            key: AtomicUsize::new(usize::MAX),
            scheduled: AtomicBool::new(true),
        }
    }

    /// Queues the job on `queue`, its loop's, for a poll unless it is queued already (or
    /// has ended).
    pub(crate) fn wake(&self, queue: &RunQueue<Arrival>) {
        // ORDERING: AcqRel. Acquire pairs with the dispatcher's clear in `polling`, so a
        // wake that finds the flag clear also sees the place stored before it; Release
        // pairs with that clear's Acquire, so a poll that follows this wake sees what the
        // waker did before it (a cancel's resolution).
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            let place = self.place.load(Ordering::Relaxed);
            // A closed queue means the loop is gone: there is nothing left to poll.
            let _ = queue.push(Arrival::Woken(place));
        }
    }

    /// The job was registered under `key`.
    pub(crate) fn registered(&self, key: usize) {
        // ORDERING: published to the loop by the run queue the job is pushed through
        // next, and to a cut-off of a queued job by the queue's lock.
        self.key.store(key, Ordering::Relaxed);
    }

    /// The job's key in its loop's registry (see `registered`).
    pub(crate) fn key(&self) -> usize {
        // ORDERING: see `registered`.
        self.key.load(Ordering::Relaxed)
    }

    /// The dispatcher placed the job at `place` in its table.
    pub(crate) fn placed(&self, place: usize) {
        // ORDERING: published by the Release of the clear in `polling`, which follows.
        self.place.store(place, Ordering::Relaxed);
    }

    /// The dispatcher is about to poll the job: a wake from now on queues it again.
    pub(crate) fn polling(&self) {
        // ORDERING: see `wake`.
        self.scheduled.swap(false, Ordering::AcqRel);
    }

    /// The job ended: later wakes (from wakers that outlive it) do nothing.
    pub(crate) fn ended(&self) {
        // ORDERING: only stops wakes early; a wake that slips in before it queues a place
        // the dispatcher no longer (or no longer only) holds, which costs a spurious
        // poll at worst.
        self.scheduled.store(true, Ordering::Relaxed);
    }
}
