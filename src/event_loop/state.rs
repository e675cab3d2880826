//! [`LoopState`]: what a bridge's handles, its loop thread and the stall watchdog share,
//! and the steps every job takes through it: admitted (registered as live), enqueued for
//! the dispatcher, deregistered when it ends, or cut off when the loop stops first.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Site};
use crate::job::{
    Arrival, Body, Closes, Ended, Hook, Hooks, JobCell, JobHold, JobHome, LiveJob, LocalFuture,
    LocalStart, LoopJob, NewJob, Registry, RunQueue, ScopeState, Tally,
};
use crate::loop_thread::AssertMode;
use crate::report::StuckJob;
use crate::room::{NoRoom, Room};
use crate::spin::{SpinPolicy, Spinner};
use crate::sync::{fence, AtomicBool};
use crate::util::{log_panic, Dispatcher};

use super::counters::Counters;
use super::poll_clock::PollClock;

static NEXT_LOOP_ID: StdAtomicU64 = StdAtomicU64::new(1);

/// How a loop is configured (the bridge's `BridgeBuilder` fills it in).
#[derive(Clone, Debug)]
pub(crate) struct LoopSettings {
    pub(crate) thread_name: Arc<str>,
    pub(crate) slow_poll_threshold: Duration,
    pub(crate) spin: SpinPolicy,
    pub(crate) assert_mode: AssertMode,
    /// How long dropping the bridge (or one of its scopes) lets jobs finish.
    pub(crate) shutdown_timeout: Duration,
    /// The share of a shutdown's timeout its hooks may take.
    pub(crate) hook_share: f64,
    /// At most this many jobs pending (`None`: unbounded).
    pub(crate) max_pending: Option<usize>,
    /// The `tracing` dispatcher current where the bridge was built.
    pub(crate) dispatch: Dispatcher,
}

/// What a bridge's handles and its loop thread share.
///
/// Aligned to its own cache lines so that the `Arc`'s reference counts, which change
/// whenever a handle is cloned or dropped, never share a line with the fields every
/// submission reads.
#[repr(align(128))]
pub(crate) struct LoopState {
    /// Distinguishes this bridge's loop thread from other bridges'.
    pub(crate) id: u64,
    pub(crate) thread_name: Arc<str>,
    /// Set once shutdown starts; submissions are refused from then on.
    closed: AtomicBool,
    /// Set once the loop thread stopped polling and began to cut off what is left: a
    /// stopper that finds it set knows no job holds the loop thread.
    tearing_down: std::sync::atomic::AtomicBool,
    pub(crate) registry: Registry,
    /// Brings new and woken jobs to the loop's dispatcher.
    pub(crate) queue: Arc<RunQueue<Arrival>>,
    pub(crate) counters: Counters,
    /// Tells the loop to stop; `stop_deadline` says by when.
    pub(crate) stop: Notify,
    pub(crate) stop_deadline: parking_lot::Mutex<Option<Instant>>,
    /// Cancelled as the bridge starts to shut down (`Handle::closing`): jobs that serve
    /// until then (a threadsafe function's drain job) watch it.
    pub(crate) closing: CancellationToken,
    /// `BridgeBuilder::max_pending`: one unit per pending job (registered, not yet ended).
    pub(crate) pending_room: Option<Room>,
    /// Tells a stopping loop that its last job ended.
    pub(crate) idle: Notify,
    pub(crate) slow_poll_threshold: Duration,
    /// When the running poll began, for the stall watchdog.
    pub(crate) poll_clock: PollClock,
    /// How waiters and the dispatcher spin before they park.
    pub(crate) spinner: Arc<Spinner>,
    /// The fork generation the loop thread runs in.
    pub(crate) fork_generation: u64,
    pub(crate) assert_mode: AssertMode,
    pub(crate) shutdown_timeout: Duration,
    /// The bridge's root scopes (children hang off their parents): closed with it.
    scopes: parking_lot::Mutex<Vec<Weak<ScopeState>>>,
    /// Run as the bridge starts to stop.
    pub(crate) hooks: Hooks,
    /// The share of the shutdown timeout its hooks may take.
    pub(crate) hook_share: f64,
    /// The async closes of values bound to this loop (`Handle::bind_closing`).
    pub(crate) closes: Closes,
    /// The `tracing` dispatcher current where the bridge was built: the loop thread and
    /// every thread the bridge starts run with it, and the watchdog reports with it.
    pub(crate) dispatch: Dispatcher,
    /// What every job of this loop shares (the run queue, spinner, assert mode, fork
    /// generation and dispatcher above), one reference per job.
    home: Arc<JobHome>,
}

thread_local! {
    /// The loop whose jobs this thread polls: what a job's own code needs of it (its
    /// counters) without holding a reference of its own. Set by the dispatcher.
    static POLLING: RefCell<Option<Arc<LoopState>>> = const { RefCell::new(None) };
}

/// Runs `f` with the loop whose jobs this thread polls (`None` off a loop thread).
pub(crate) fn with_polling_loop<R>(f: impl FnOnce(Option<&Arc<LoopState>>) -> R) -> R {
    POLLING.with(|polling| f(polling.borrow().as_ref()))
}

/// Makes `state` (or, with `None`, no loop) the loop whose jobs this thread polls.
pub(crate) fn set_polling_loop(state: Option<Arc<LoopState>>) {
    POLLING.with(|polling| *polling.borrow_mut() = state);
}

impl LoopState {
    pub(crate) fn new(settings: LoopSettings) -> LoopState {
        let queue: Arc<RunQueue<Arrival>> = Arc::default();
        let spinner = Arc::new(Spinner::new(settings.spin));
        let fork_generation = crate::process::generation();
        let home = Arc::new(JobHome {
            fork_generation,
            spinner: Some(spinner.clone()),
            assert_mode: settings.assert_mode,
            dispatch: settings.dispatch.clone(),
            queue: Some(queue.clone()),
        });
        LoopState {
            // ORDERING: only makes ids unique; nothing is published through it.
            id: NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed),
            thread_name: settings.thread_name,
            closed: AtomicBool::new(false),
            tearing_down: std::sync::atomic::AtomicBool::new(false),
            registry: Registry::default(),
            queue,
            counters: Counters::default(),
            stop: Notify::new(),
            stop_deadline: parking_lot::Mutex::new(None),
            closing: CancellationToken::new(),
            pending_room: settings.max_pending.map(Room::new),
            idle: Notify::new(),
            slow_poll_threshold: settings.slow_poll_threshold,
            poll_clock: PollClock::new(),
            spinner,
            fork_generation,
            assert_mode: settings.assert_mode,
            shutdown_timeout: settings.shutdown_timeout,
            scopes: parking_lot::Mutex::new(Vec::new()),
            hooks: Hooks::default(),
            hook_share: settings.hook_share,
            closes: Closes::default(),
            dispatch: settings.dispatch,
            home,
        }
    }

    /// A new root scope on this loop; closed when the bridge shuts down.
    pub(crate) fn new_scope(&self, name: &str) -> Arc<ScopeState> {
        let scope = ScopeState::root(name, self.id);
        let mut scopes = self.scopes.lock();
        scopes.retain(|scope| scope.strong_count() > 0);
        scopes.push(Arc::downgrade(&scope));
        drop(scopes);
        if self.is_closed() {
            scope.refuse_new();
        }
        scope
    }

    /// Starts closing every scope on this loop: new work refused, tokens cancelled, so
    /// that jobs watching them can end on their own while the bridge winds down.
    pub(crate) fn refuse_scopes(&self) {
        for scope in self.live_scopes() {
            scope.refuse_new();
        }
    }

    /// Closes every scope on this loop without waiting: members still left (pool jobs
    /// among them) are cut off.
    pub(crate) fn close_scopes(&self) {
        for scope in self.live_scopes() {
            scope.close(None, &|_| false);
        }
    }

    /// The hooks of every scope on this loop, taken.
    pub(crate) fn take_scope_hooks(&self) -> Vec<Hook> {
        self.live_scopes()
            .iter()
            .flat_map(|scope| scope.take_hooks())
            .collect()
    }

    fn live_scopes(&self) -> Vec<Arc<ScopeState>> {
        self.scopes
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    pub(crate) fn is_closed(&self) -> bool {
        // ORDERING: a report or a fast refusal only; the exact check for a submission is
        // in `register`. Acquire pairs with `refuse_new`'s SeqCst store.
        self.closed.load(Ordering::Acquire)
    }

    /// Registers a new job as live and returns its cell (with `body` in it) and registry
    /// key, or refuses it with `Closed` once the bridge has closed (`body` is dropped
    /// then).
    ///
    /// Registering before checking `closed` is what makes the check exact: the stopping
    /// loop closes the bridge first and looks at the registry after, so a job that finds
    /// the bridge open here is seen by the loop and run (or resolved) by it.
    pub(crate) fn register<T: Send + 'static, B: Body>(
        &self,
        site: Site,
        scope: Option<Arc<ScopeState>>,
        holds_room: bool,
        body: B,
    ) -> Result<Arc<JobCell<T, B>>, Error> {
        // In a forked child the loop thread does not exist, and a lock held by one of
        // the parent's threads at the fork stays held: refuse before touching anything.
        crate::process::check_not_forked(self.fork_generation, &site)?;
        if let Some(scope) = scope.as_ref().filter(|scope| scope.is_closed()) {
            if holds_room {
                self.give_room_back();
            }
            return Err(scope.refused(site));
        }
        // A place among the pending jobs, held until `deregister`.
        if let (Some(room), false) = (&self.pending_room, holds_room) {
            match room.try_acquire() {
                Ok(()) => {}
                Err(NoRoom::Full) => return Err(Error::QueueFull { site }),
                Err(NoRoom::Closed) => return Err(Error::Closed { site }),
            }
        }
        let cell = Arc::new(JobCell::owned(site, scope, self.home.clone()).with_body(body));
        let key = self.registry.insert(cell.clone());
        cell.schedule.registered(key);
        // ORDERING: a Dekker pair with `refuse_new`: this side counts the job live, then
        // fences, then reads `closed`; shutdown stores `closed`, fences, then reads the
        // live count. The fences order both pairs, so at least one side sees the other's
        // store: the job is refused, or the stopping loop sees it live.
        fence(Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.deregister(key);
            return Err(Error::Closed {
                site: cell.record.site.clone(),
            });
        }
        if let Some(scope) = &cell.record.scope {
            if let Err(refused) = scope.admit(cell.clone()) {
                self.deregister(key);
                return Err(refused);
            }
        }
        Tally::bump(&self.counters.jobs.submitted);
        Ok(cell)
    }

    /// Sends an admitted job to the loop's dispatcher. `build`, if given, builds the
    /// job's future on the loop thread (the future is not in the cell).
    pub(crate) fn enqueue<T: Send + 'static, B: Body>(
        &self,
        cell: Arc<JobCell<T, B>>,
        build: Option<Box<dyn FnOnce() -> LocalFuture + Send>>,
    ) where
        JobCell<T, B>: LoopJob,
    {
        let job = JobHold::new(cell);
        let new = match build {
            None => NewJob::InCell(job),
            Some(build) => NewJob::Local(Box::new(LocalStart { build, job })),
        };
        // Refused only once the loop has stopped.
        if let Err(Arrival::New(refused)) = self.queue.push(Arrival::New(new)) {
            self.cut_off_arrival(refused);
        }
    }

    /// Removes an ended job from the registry, and wakes a stopping loop that waits for
    /// its last job if this was it.
    pub(crate) fn deregister(&self, key: usize) {
        if self.registry.remove(key) {
            self.give_room_back();
        }
        // ORDERING: the same Dekker pair as in `register`: a removal whose look misses
        // `closed` is seen by the stopping loop's own look at the live count, which comes
        // after `refuse_new`'s fence.
        fence(Ordering::SeqCst);
        // Not in a forked child: the loop's idle waiter is linked from the parent's loop
        // thread's stack (see `bridge::shutdown::stop`).
        if self.closed.load(Ordering::SeqCst)
            && self.registry.live() == 0
            && self.fork_generation == crate::process::generation()
        {
            self.idle.notify_one();
        }
    }

    /// Refuses every later submission; `true` if this call closed the bridge.
    pub(crate) fn refuse_new(&self) -> bool {
        // ORDERING: see `register`: the fence orders this store before every later look
        // at the live count.
        let first = !self.closed.swap(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if let Some(room) = &self.pending_room {
            // Producers waiting for room are refused with `Closed`.
            room.close();
        }
        first
    }

    /// Gives a pending job's place back (a job ended, or a permit was not used).
    pub(crate) fn give_room_back(&self) {
        if let Some(room) = &self.pending_room {
            room.release();
        }
    }

    /// The loop thread has stopped polling jobs and tears down what is left.
    pub(crate) fn begin_teardown(&self) {
        // ORDERING: Release, so a stopper that sees it also sees that no poll runs.
        self.tearing_down.store(true, Ordering::Release);
    }

    /// `true` once the loop thread began its teardown: nothing of a job runs there.
    pub(crate) fn is_tearing_down(&self) -> bool {
        self.tearing_down.load(Ordering::Acquire)
    }

    /// Cuts off every job still registered (resolved with `Closed`, counted as
    /// cancelled unless counted already), leaving their futures to whoever holds them.
    /// Returns the jobs whose poll is running now: they hold the loop thread.
    pub(crate) fn cut_off_registered(&self) -> Vec<StuckJob> {
        self.registry.cut_off_all(
            &self.counters.jobs,
            |_| false,
            |record, now| record.running_poll(now),
        )
    }

    /// Closes the bridge and its run queue: no submission gets in from now on, and every
    /// job still queued for the dispatcher is cut off here. Returns how many this
    /// resolved.
    pub(crate) fn close_run_queue(&self) -> usize {
        self.refuse_new();
        let mut resolved = 0;
        for arrival in self.queue.close() {
            if let Arrival::New(new) = arrival {
                resolved += usize::from(self.cut_off_arrival(new));
            }
        }
        resolved
    }

    /// [`cut_off`](LoopState::cut_off)s a job that never reached the dispatcher.
    pub(crate) fn cut_off_arrival(&self, new: NewJob) -> bool {
        let job = new.job().job().clone();
        let key = job.schedule().key();
        // The hold goes last, after the rest of the job (see `JobHold`): `new` drops its
        // builder first.
        self.cut_off(key, job, new)
    }

    /// Ends a job that will not run to its end because the loop stopped: resolves it
    /// with `Closed`, counts it as cancelled (unless another side counted it), drops the
    /// rest of it (`parts`: its future, its waker, running user destructors) and removes
    /// it from the registry. Returns whether this resolved it.
    pub(crate) fn cut_off<J: LiveJob + ?Sized>(
        &self,
        key: usize,
        job: Arc<J>,
        parts: impl Sized,
    ) -> bool {
        let closed = Error::Closed {
            site: job.record().site.clone(),
        };
        let resolved = job.cut_off(closed);
        self.counters.jobs.end(job.record(), Ended::Cancelled);
        // Each step may run user code (destructors, the tracing subscriber closing the
        // job's span when its last reference goes); one failing must not skip the next.
        let site = job.record().site.clone();
        log_panic("dropping a job cut off by shutdown", Some(&site), || {
            drop((parts, job));
        });
        log_panic("removing a job cut off by shutdown", Some(&site), || {
            self.deregister(key);
        });
        resolved
    }
}
