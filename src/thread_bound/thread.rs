//! The owning thread of a [`ThreadBound`](crate::ThreadBound): what it shares with the
//! handles ([`Shared`]), a queued call ([`CallJob`]), how one call runs (the claim, the
//! borrow of the value, the timing, the delivery), and the thread's whole life
//! ([`serve`]: build the value, run calls until the mailbox closes, drop the value).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::job::{Ended, JobCell, JobRecord, NoFuture, StopSignal, Tally};
use crate::loop_thread::AssertMode;
use crate::pool::{admitted_cell, run_claimed, JobContext};
use crate::room::Room;
use crate::util::{log_panic, Dispatcher};

use super::mailbox::{Mailbox, Next};

const OUTSIDE_CALL: &str =
    "a thread-bound call's teardown or delivery (a destructor or a callback)";
const CUT_OFF: &str = "cutting off a thread-bound call (a destructor or a callback)";
const DROP_VALUE: &str = "dropping a thread-bound value";

/// What the handles and the owning thread share.
pub(crate) struct Shared<T: 'static> {
    /// Names this value among every thread-bound value of the process (never 0).
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    pub(crate) mailbox: Mailbox<Box<dyn Call<T>>>,
    /// Places in the mailbox; `None` when it is unbounded.
    pub(crate) room: Option<Room>,
    /// The running call (for a shutdown's stuck list) and the counters.
    pub(crate) jobs: JobContext,
    pub(crate) fork_generation: u64,
    pub(crate) assert_mode: AssertMode,
    pub(crate) slow_threshold: Duration,
    pub(crate) slow_calls: AtomicU64,
    /// The longest call so far, in nanoseconds.
    pub(crate) longest_call: AtomicU64,
    /// Set once the value is dropped and the thread is about to exit.
    pub(crate) exited: StopSignal,
    /// The `tracing` dispatcher current where the value was spawned: its thread runs
    /// with it, and its calls' unread errors are reported to it.
    pub(crate) dispatch: Dispatcher,
}

/// A call waiting in the mailbox, whatever its closure and output.
pub(crate) trait Call<T>: Send {
    /// Claims and runs the call on the owning thread, and delivers its result.
    fn run(self: Box<Self>, value: &RefCell<Option<T>>, shared: &Shared<T>);
    /// Resolves the call with `error` without running it; `false` if it had resolved
    /// already (a cancel or a scope's close came first).
    fn cut_off(self: Box<Self>, error: Error) -> bool;
    fn record(&self) -> &JobRecord;
}

/// A call: its cell and its closure (taken when it runs). Dropped, run or not, the call
/// has stopped.
pub(crate) struct CallJob<F, R> {
    cell: Arc<JobCell<R, NoFuture>>,
    f: Option<F>,
}

impl<F, R> Drop for CallJob<F, R> {
    fn drop(&mut self) {
        drop(self.f.take());
        self.cell.record.stopped();
    }
}

impl<T, F, R> Call<T> for CallJob<F, R>
where
    T: 'static,
    F: FnOnce(&mut T) -> R + Send + 'static,
    R: Send + 'static,
{
    fn run(mut self: Box<Self>, value: &RefCell<Option<T>>, shared: &Shared<T>) {
        if let Some(f) = self.f.take() {
            run_call(&self.cell, f, value, shared);
        }
    }

    fn cut_off(self: Box<Self>, error: Error) -> bool {
        !matches!(
            self.cell.resolve(Err(error)),
            crate::slot::Resolved::AlreadyResolved
        )
    }

    fn record(&self) -> &JobRecord {
        &self.cell.record
    }
}

impl<T: 'static> Shared<T> {
    /// A call's cell, counted as submitted (or the completion of its refusal by a closed
    /// scope).
    pub(crate) fn admit<R: Send + 'static>(
        &self,
        site: Site,
    ) -> Result<Arc<JobCell<R, NoFuture>>, Completion<R>> {
        let cell = admitted_cell(site, &self.jobs.home)?;
        Tally::bump(&self.jobs.counters.jobs.submitted);
        Ok(cell)
    }

    /// Queues `f`, which holds its place in the mailbox already (given back if refused).
    pub(crate) fn enqueue<F, R>(&self, site: Site, f: F) -> Completion<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let cell = match self.admit(site) {
            Ok(cell) => cell,
            Err(refused) => {
                self.release_room();
                return refused;
            }
        };
        let completion = Completion::new(cell.clone());
        let job: Box<dyn Call<T>> = Box::new(CallJob { cell, f: Some(f) });
        if let Err(job) = self.mailbox.push(job) {
            // Closed meanwhile: never submitted after all.
            Tally::unbump(&self.jobs.counters.jobs.submitted);
            Tally::withdraw(job.record());
            self.release_room();
            let site = job.record().site.clone();
            log_panic(CUT_OFF, None, || {
                job.cut_off(Error::Closed { site });
            });
        }
        completion
    }

    pub(crate) fn release_room(&self) {
        if let Some(room) = &self.room {
            room.release();
        }
    }

    /// A call taken out of the mailbox that will not run: refused with `Closed`, counted
    /// as cancelled unless a cancel counted it first. `true` if this resolved it.
    pub(crate) fn refuse(&self, job: Box<dyn Call<T>>) -> bool {
        self.release_room();
        self.jobs.counters.jobs.end(job.record(), Ended::Cancelled);
        let site = job.record().site.clone();
        let mut resolved = false;
        log_panic(CUT_OFF, None, || {
            resolved = job.cut_off(Error::Closed { site });
        });
        resolved
    }

    /// A call that took longer than the slow threshold is logged with its site.
    fn timed(&self, site: &Site, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // ORDERING: statistics only.
        self.longest_call.fetch_max(nanos, Ordering::Relaxed);
        if took > self.slow_threshold {
            self.slow_calls.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "loopbridge::slow_call",
                site = %site.location(),
                name = site.name(),
                scope = site.scope(),
                thread = %self.name,
                elapsed_ms = took.as_secs_f64() * 1e3,
                threshold_ms = self.slow_threshold.as_secs_f64() * 1e3,
                "slow call on thread-bound value `{}`: it held the thread for {took:?} \
                 (threshold {:?}), submitted at {site}",
                self.name,
                self.slow_threshold
            );
        }
    }
}

/// Claims the call and, unless a cancel resolved it first, runs `f` on the value (timed),
/// then delivers its result with the value no longer borrowed, so a `then` callback run
/// by the delivery may call the value again (it runs inline).
fn run_call<T, F, R>(
    cell: &Arc<JobCell<R, NoFuture>>,
    f: F,
    value: &RefCell<Option<T>>,
    shared: &Shared<T>,
) where
    F: FnOnce(&mut T) -> R,
    R: Send + 'static,
{
    let site = &cell.record.site;
    run_claimed(
        cell,
        || {
            let mut borrowed = value.borrow_mut();
            let Some(value) = borrowed.as_mut() else {
                // Unreachable: calls run only while the value lives (an inline call
                // checks first).
                panic!("loopbridge: thread-bound value `{}` is gone", shared.name);
            };
            let timer = Timer {
                shared,
                site,
                began: Instant::now(),
            };
            let produced = f(value);
            drop(timer);
            produced
        },
        Some(&shared.jobs),
        || {},
    );
}

/// Times a call, also when it panics.
struct Timer<'a, T: 'static> {
    shared: &'a Shared<T>,
    site: &'a Site,
    began: Instant,
}

impl<T: 'static> Drop for Timer<'_, T> {
    fn drop(&mut self) {
        self.shared.timed(self.site, self.began.elapsed());
    }
}

thread_local! {
    /// The thread-bound value this thread owns (its id; 0 for none), and the value, as
    /// an inline call reaches it.
    static OWNER_ID: Cell<u64> = const { Cell::new(0) };
    static OWNED: RefCell<Option<Rc<dyn Any>>> = const { RefCell::new(None) };
}

/// `true` on the thread that owns the value `id` names.
pub(crate) fn owns(id: u64) -> bool {
    OWNER_ID.with(Cell::get) == id
}

/// A call made on the owning thread itself: inline when no call holds the value (from a
/// `then` callback, say), `Reentrant` from inside a call, `Closed` while the value is
/// dropped.
pub(crate) fn call_here<T, F, R>(shared: &Shared<T>, site: Site, f: F) -> Completion<R>
where
    T: 'static,
    F: FnOnce(&mut T) -> R + Send + 'static,
    R: Send + 'static,
{
    let Some(owned) = OWNED.with(|owned| owned.borrow().clone()) else {
        return Completion::failed(Error::Closed { site });
    };
    let Some(value) = owned.downcast_ref::<RefCell<Option<T>>>() else {
        return Completion::failed(Error::Closed { site });
    };
    match value.try_borrow() {
        Err(_) => return Completion::failed(Error::Reentrant { site }),
        Ok(present) if present.is_none() => return Completion::failed(Error::Closed { site }),
        Ok(_) => {}
    }
    let cell = match shared.admit(site) {
        Ok(cell) => cell,
        Err(refused) => return refused,
    };
    let completion = Completion::new(cell.clone());
    let job = CallJob { cell, f: Some(f) };
    Box::new(job).run(value, shared);
    completion
}

/// The owning thread's life: builds the value with `make` (answering `ready` with its
/// outcome), runs calls until the mailbox closes, drops the value on this thread.
pub(crate) fn serve<T, E>(
    shared: Arc<Shared<T>>,
    make: impl FnOnce() -> Result<T, E>,
    ready: impl FnOnce(Result<(), Made<E>>),
) where
    T: 'static,
{
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(make));
    let value = match made {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => return stop_unmade(&shared, ready, Made::Error(error)),
        Err(payload) => {
            let message = crate::error::panic_message(&*payload);
            return stop_unmade(&shared, ready, Made::Panicked(message));
        }
    };
    let value: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(Some(value)));
    OWNER_ID.with(|id| id.set(shared.id));
    OWNED.with(|owned| *owned.borrow_mut() = Some(value.clone() as Rc<dyn Any>));
    log_panic(OUTSIDE_CALL, None, || ready(Ok(())));
    loop {
        match shared.mailbox.next() {
            Next::Run(job) => {
                shared.release_room();
                log_panic(OUTSIDE_CALL, None, || job.run(&value, &shared));
            }
            Next::Close(job) => {
                shared.refuse(job);
            }
            Next::Exit => break,
        }
    }
    // Calls made from the value's destructor find it gone (`Closed`).
    let gone = value.borrow_mut().take();
    log_panic(DROP_VALUE, None, || drop(gone));
    OWNED.with(|owned| owned.borrow_mut().take());
    OWNER_ID.with(|id| id.set(0));
    shared.exited.stop();
}

/// What `make` gave instead of a value.
pub(crate) enum Made<E> {
    Error(E),
    Panicked(String),
}

fn stop_unmade<T: 'static, E>(
    shared: &Shared<T>,
    ready: impl FnOnce(Result<(), Made<E>>),
    made: Made<E>,
) {
    if let Some(room) = &shared.room {
        room.close();
    }
    shared.mailbox.close(|job| {
        shared.refuse(job);
    });
    shared.exited.stop();
    log_panic(OUTSIDE_CALL, None, || ready(Err(made)));
}
