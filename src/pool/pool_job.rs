//! A job on a pool: its closure beside its [`JobCell`], and how a worker runs it (the
//! claim, the run, the delivery), for thread pools and rayon alike.
//!
//! The race between a worker and [`Completion::cancel`] is decided by the *claim*: just
//! before the closure runs, the worker reads the slot's resolved flag, which `resolve`
//! sets (Release, under the slot's lock) in the same step as the cancel wins.
//!
//! | the slot at the claim | what happens                                              |
//! |-----------------------|-----------------------------------------------------------|
//! | resolved (a cancel won) | the closure never runs; it is dropped on the worker    |
//! | pending               | the job is claimed: the closure runs to the end; a cancel after this point still resolves the completion with `Cancelled`, and the value the closure returns is dropped |
//!
//! Either way `cancel()` is honest: `true` means every wait sees `Cancelled`.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::completion::Completion;
use crate::error::{panic_message, Error, Site};
use crate::job::{deliver, scope, Ended, JobCell, JobHome, JobRecord, LiveJob, NoFuture, Registry};
use crate::util::Dispatcher;

use super::stats::PoolCounters;

/// What a pool keeps about the jobs it runs: the running ones (for shutdown's list of
/// stuck jobs), the counters, and what its jobs share.
pub(crate) struct JobContext {
    pub(crate) running: Registry,
    /// Whether running jobs are listed in `running`: not for an executor without a
    /// shutdown that would read the list (rayon's), where the listing is only cost.
    listed: bool,
    pub(crate) counters: PoolCounters,
    pub(crate) home: Arc<JobHome>,
}

impl JobContext {
    /// The context of an executor whose jobs share `home`.
    pub(crate) fn new(home: JobHome) -> JobContext {
        JobContext {
            running: Registry::default(),
            listed: true,
            counters: PoolCounters::default(),
            home: Arc::new(home),
        }
    }
}

/// A pool made in this fork generation that reports to the default dispatcher.
impl Default for JobContext {
    fn default() -> JobContext {
        JobContext::new(JobHome::off_loop(Dispatcher::default()))
    }
}

impl JobContext {
    /// A context that counts its jobs but does not list the running ones.
    #[cfg(feature = "rayon")]
    pub(crate) fn unlisted() -> JobContext {
        JobContext {
            listed: false,
            ..JobContext::default()
        }
    }
}

/// A queued job, whatever its closure and output: the one boxed allocation a submission
/// makes besides its [`JobCell`].
pub(crate) trait Queued: Send {
    /// Claims and runs the job on the calling worker, and delivers its result; `ran` is
    /// called between the two, once the closure has returned (not if it never ran).
    fn run(self: Box<Self>, jobs: &JobContext, ran: &mut dyn FnMut());
    /// Cuts the job off: resolves it with `error` without running it; `false` if it had
    /// resolved already (a cancel came first).
    fn cut_off(self: Box<Self>, error: Error) -> bool;
    /// What the crate knows about the job.
    fn record(&self) -> &JobRecord;
    /// Where the job was submitted.
    fn site(&self) -> &Site {
        &self.record().site
    }
}

/// A pool job: its cell and its closure (taken when it runs). Dropped, run or not, the
/// job has stopped.
pub(crate) struct PoolJob<F, T> {
    cell: Arc<JobCell<T, NoFuture>>,
    f: Option<F>,
}

/// A pool job and the completion that reads its result.
pub(crate) type Accepted<F, T> = (Completion<T>, PoolJob<F, T>);

/// A job for `f` and the completion that reads its result. From inside a scoped job, the
/// job joins that job's scope; a closed scope refuses it (`Err`, the completion already
/// resolved).
pub(crate) fn pool_job<F, T>(
    site: Site,
    home: &Arc<JobHome>,
    f: F,
) -> Result<Accepted<F, T>, Completion<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let cell = admitted_cell(site, home)?;
    let completion = Completion::new(cell.clone());
    Ok((completion, PoolJob { cell, f: Some(f) }))
}

/// The cell of a job run by an executor that is not a loop (a pool, a
/// [`ThreadBound`](crate::ThreadBound)'s thread), whose jobs share `home` (how waiters
/// spin, how they wait inside a host runtime). From inside a scoped job, the job joins
/// that job's scope; a closed scope refuses it (`Err`, the completion already resolved).
pub(crate) fn admitted_cell<T: Send + 'static>(
    site: Site,
    home: &Arc<JobHome>,
) -> Result<Arc<JobCell<T, NoFuture>>, Completion<T>> {
    let scope = scope::joined(None, None);
    if let Some(scope) = scope.as_ref().filter(|scope| scope.is_closed()) {
        return Err(Completion::failed(scope.refused(site)));
    }
    let cell = Arc::new(JobCell::owned(site, scope, home.clone()));
    if let Some(scope) = &cell.record.scope {
        if let Err(refused) = scope.admit(cell.clone()) {
            return Err(Completion::failed(refused));
        }
    }
    Ok(cell)
}

impl<F, T> PoolJob<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// Claims and runs the job on the calling thread, and delivers its result; `ran` is
    /// called once the closure has returned, before the delivery.
    pub(crate) fn run_here(mut self, jobs: &JobContext, ran: impl FnOnce()) {
        if let Some(f) = self.f.take() {
            run_claimed(&self.cell, f, Some(jobs), ran);
        }
    }
}

impl<F, T> Drop for PoolJob<F, T> {
    fn drop(&mut self) {
        // Its closure returned (its value delivered) or never will run.
        drop(self.f.take());
        self.cell.record.stopped();
    }
}

impl<F, T> Queued for PoolJob<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, jobs: &JobContext, ran: &mut dyn FnMut()) {
        (*self).run_here(jobs, ran);
    }

    fn cut_off(self: Box<Self>, error: Error) -> bool {
        self.cell.cut_off(error)
    }

    fn record(&self) -> &JobRecord {
        &self.cell.record
    }
}

/// Claims the job and, if no cancel resolved it first, runs `f` and delivers its result.
/// The claim reads the slot's resolved flag, which orders it against `cancel()`: a cancel
/// either resolved the slot before (the closure never runs, and is dropped here) or comes
/// after (the closure runs; its value is dropped). `jobs`, when given, lists the job as
/// running and counts it. `ran` is called once the closure has returned (or panicked),
/// just before the result is delivered: a pool worker counts itself idle there.
pub(crate) fn run_claimed<F, T>(
    cell: &Arc<JobCell<T, NoFuture>>,
    f: F,
    jobs: Option<&JobContext>,
    ran: impl FnOnce(),
) where
    F: FnOnce() -> T,
    T: Send + 'static,
{
    let tally = jobs.map(|jobs| &jobs.counters.jobs);
    // Marked running before the claim, and kept through the delivery: a scope closing
    // meanwhile either sees the job running (and waits for it) or the job sees the close
    // (and never runs); a `then` callback that closes this job's scope or shuts its pool
    // down is still this job, and must not wait for itself.
    let _running = jobs.map(|jobs| Running::start(jobs, cell));
    // ORDERING: a store-load pair with a scope's close (`JobCell::is_parked`): this side
    // marks the run, fences, reads the slot; the close resolves, fences, reads the mark.
    fence(Ordering::SeqCst);
    if cell.slot.is_resolved() {
        if let Some(tally) = tally {
            tally.end(&cell.record, Ended::Cancelled);
        }
        return;
    }
    let _context = cell.record.span.enter();
    let run = || catch_unwind(AssertUnwindSafe(f));
    let produced = match &cell.record.scope {
        Some(scope) => scope::enter(Some(scope), run),
        None => run(),
    };
    let produced = produced.map_err(|payload| panic_message(&*payload));
    ran();
    deliver(cell, produced, tally);
}

thread_local! {
    /// The record of the pool job running on this thread (its address), if any.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

/// `true` when `record` belongs to the pool job running on the calling thread.
pub(crate) fn is_current(record: &JobRecord) -> bool {
    CURRENT.with(Cell::get) == std::ptr::from_ref(record) as usize
}

/// The address of the record of the pool job running on the calling thread (0 if none):
/// [`is_at`] tells it on another thread.
pub(crate) fn current_address() -> usize {
    CURRENT.with(Cell::get)
}

/// `true` when `record` is at `address`, from [`current_address`].
pub(crate) fn is_at(record: &JobRecord, address: usize) -> bool {
    address != 0 && std::ptr::from_ref(record) as usize == address
}

/// A claimed job while its closure runs: listed as running, timed, and known to its
/// thread. Dropped before the result is delivered.
struct Running<'a> {
    jobs: &'a JobContext,
    record: &'a JobRecord,
    /// Its key in `jobs.running`, if listed there.
    key: Option<usize>,
    outer: usize,
}

impl<'a> Running<'a> {
    fn start<T: Send + 'static>(
        jobs: &'a JobContext,
        cell: &'a Arc<JobCell<T, NoFuture>>,
    ) -> Running<'a> {
        let record = &cell.record;
        record.poll_began(Instant::now());
        jobs.counters.running_started();
        let key = jobs.listed.then(|| jobs.running.insert(cell.clone()));
        let outer = CURRENT.with(|current| current.replace(std::ptr::from_ref(record) as usize));
        Running {
            jobs,
            record,
            key,
            outer,
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.outer));
        if let Some(key) = self.key {
            self.jobs.running.remove(key);
        }
        self.jobs.counters.running_ended();
        self.record.poll_ended();
    }
}
