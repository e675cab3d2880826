//! [`Handle`]: the way into a bridge's loop from any thread.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::completion::{Completion, JobCell};
use crate::error::{Error, Site};
use crate::executor::{DefaultPool, PoolStats};
use crate::loop_thread::{self, AssertMode};
use crate::registry::{JobInfo, LiveJob, Registry};
use crate::run::{run, Finish};
use crate::run_queue::RunQueue;
use crate::schedule::{Arrival, NewJob, Start};
use crate::stats::{Counters, Stats};
use crate::watchdog::PollClock;

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
    pub(crate) closed: AtomicBool,
    pub(crate) registry: Registry,
    /// Brings new and woken jobs to the loop's dispatcher.
    pub(crate) queue: Arc<RunQueue<Arrival>>,
    pub(crate) counters: Counters,
    /// Tells the loop to stop; `stop_deadline` says by when.
    pub(crate) stop: Notify,
    pub(crate) stop_deadline: parking_lot::Mutex<Option<Instant>>,
    /// Tells a stopping loop that its last job ended.
    pub(crate) idle: Notify,
    pub(crate) slow_poll_threshold: Duration,
    /// When the running poll began, for the stall watchdog.
    pub(crate) poll_clock: PollClock,
    /// The opt-in low-latency wait: how long waiters spin, and the dispatcher stays
    /// awake, before parking (zero: off).
    pub(crate) spin: Duration,
    /// The fork generation the loop thread runs in.
    pub(crate) fork_generation: u64,
    pub(crate) assert_mode: AssertMode,
    /// The pool behind `run_in_executor`, started on first use.
    pub(crate) executor: DefaultPool,
}

impl LoopState {
    fn is_closed(&self) -> bool {
        // ORDERING: a report or a fast refusal only; the exact check for a submission is
        // in `Finish::register`. Acquire pairs with shutdown's SeqCst store.
        self.closed.load(Ordering::Acquire)
    }

    /// Sends a job registered under `registered` to the loop's dispatcher.
    fn enqueue<T: Send + 'static>(&self, cell: Arc<JobCell<T>>, registered: usize, start: Start) {
        let new = NewJob {
            start,
            waker: Waker::from(cell.clone()),
            job: cell,
            registered,
        };
        // Refused only once the loop has stopped.
        if let Err(Arrival::New(refused)) = self.queue.push(Arrival::New(new)) {
            self.discard_arrival(refused);
        }
    }

    /// Removes an ended job from the registry, and wakes a stopping loop that waits for
    /// its last job if this was it.
    pub(crate) fn deregister(&self, registered: usize) {
        self.registry.remove(registered);
        // ORDERING: Acquire pairs with shutdown's SeqCst store of `closed`. A removal that
        // misses the flag comes before the stopping loop's own look at the registry (the
        // registry's lock orders them), so that look sees the removal.
        if self.closed.load(Ordering::Acquire) && self.registry.len() == 0 {
            self.idle.notify_one();
        }
    }

    /// [`discard`](LoopState::discard)s a job that never reached the dispatcher.
    pub(crate) fn discard_arrival(&self, new: NewJob) -> bool {
        let NewJob {
            start,
            waker,
            job,
            registered,
        } = new;
        self.discard(registered, job, (start, waker))
    }

    /// Ends a job that will not run to its end because the loop stopped: resolves it
    /// with `Closed` (counted as cancelled if this was what resolved it: a shutdown that
    /// gave up on the loop may have resolved it first, and counted it), drops the rest of
    /// it (`parts`: its future, its waker, running user destructors) and removes it from
    /// the registry. Returns whether this resolved it.
    pub(crate) fn discard(
        &self,
        registered: usize,
        job: Arc<dyn LiveJob>,
        parts: impl Sized,
    ) -> bool {
        let closed = Error::Closed {
            site: job.record().site.clone(),
        };
        let resolved = job.abandon(closed);
        if resolved {
            Counters::bump(&self.counters.cancelled);
        }
        // Each step may run user code (destructors, the tracing subscriber closing the
        // job's span when its last reference goes); one failing must not skip the next.
        log_panic(|| drop((parts, job)));
        log_panic(|| self.deregister(registered));
        resolved
    }
}

/// Runs `f`, which runs user code while a job cut off by shutdown is torn down, and logs
/// a panic in it instead of letting it abandon the rest of the teardown.
fn log_panic(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        tracing::error!(
            target: "loopbridge",
            "tearing down a job cut off by shutdown panicked: {}",
            crate::error::panic_message(&*payload)
        );
    }
}

/// The way into a bridge's loop: submit futures and callbacks from any thread.
///
/// Cheap to clone, `Send + Sync`. A handle does not keep the loop alive: once its
/// [`Bridge`](crate::Bridge) shuts down, every call fails with [`Error::Closed`].
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::new()?;
/// let handle = bridge.handle();
/// let worker = std::thread::spawn(move || handle.block_on(async { 2 + 2 }));
/// assert_eq!(worker.join().unwrap()?, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    state: Arc<LoopState>,
}

impl Handle {
    pub(crate) fn new(state: Arc<LoopState>) -> Handle {
        Handle { state }
    }

    pub(crate) fn state(&self) -> &Arc<LoopState> {
        &self.state
    }

    /// Runs `fut` on the loop and returns its [`Completion`].
    ///
    /// The future runs inside a tokio runtime with timers and I/O, so async libraries
    /// work in it. A panic in it resolves the completion with [`Error::Panicked`]; the
    /// loop keeps serving. On a closed bridge the completion is already resolved with
    /// [`Error::Closed`].
    ///
    /// Create tokio resources (timers, sockets) inside the `async` block, not before the
    /// call: the block runs on the loop thread, where the runtime is, while the calling
    /// thread usually has no runtime (`tokio::time::sleep(d)` evaluated there panics with
    /// "no reactor running").
    ///
    /// # Blocking
    ///
    /// Never blocks; fine to call on the loop thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let completion = bridge.handle().submit(async {
    ///     tokio::time::sleep(Duration::from_millis(1)).await;
    ///     "slept"
    /// });
    /// assert_eq!(completion.wait()?, "slept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit<F>(&self, fut: F) -> Completion<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.submit_at(Site::caller(), fut)
    }

    /// Runs a future that is not `Send` on the loop: `make` is sent to the loop thread
    /// and builds the future there, so it may hold `Rc`, `RefCell` and other
    /// thread-bound state.
    ///
    /// A panic in `make` or in the future resolves the completion with
    /// [`Error::Panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let completion = bridge.handle().submit_local(|| async {
    ///     let shared = Rc::new(40);
    ///     tokio::task::yield_now().await;
    ///     *shared + 2
    /// });
    /// assert_eq!(completion.wait()?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit_local<M, F>(&self, make: M) -> Completion<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        self.submit_local_at(Site::caller(), make)
    }

    /// Runs `fut` on the loop and blocks until it is done: `submit(fut).wait()`.
    ///
    /// # Errors
    ///
    /// As [`Completion::wait`]; [`Error::BlockingOnLoop`] at once on a loop thread
    /// (nothing is submitted then).
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread; on a loop thread it refuses instead of deadlocking.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// assert_eq!(handle.block_on(async { 1 + 1 })?, 2);
    ///
    /// // On the loop thread, blocking would deadlock: it is refused.
    /// let inner = handle.clone();
    /// let refused = handle.run_callback(move || inner.block_on(async {})).wait()?;
    /// assert!(refused.unwrap_err().is_blocking_on_loop());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn block_on<F>(&self, fut: F) -> Result<F::Output, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let site = Site::caller();
        if loop_thread::on_loop_thread() {
            return Err(Error::BlockingOnLoop { site });
        }
        self.submit_at(site, fut).wait()
    }

    /// Runs `f` on the loop thread soon, without waiting for it (asyncio's
    /// `call_soon_threadsafe`). Callbacks from one thread run in the order they were
    /// submitted, and in order with [`run_callback`](Handle::run_callback) and
    /// [`submit`](Handle::submit) from that thread. A panic in `f` is logged with its site.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if the bridge is shut down or shutting down.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// for n in 0..3 {
    ///     let tx = tx.clone();
    ///     bridge.handle().call_soon(move || tx.send(n).unwrap())?;
    /// }
    /// let order: Vec<i32> = rx.iter().take(3).collect();
    /// assert_eq!(order, [0, 1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn call_soon<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnOnce() + Send + 'static,
    {
        self.try_submit_at(Site::caller(), async move { f() })
            .map(drop)
    }

    /// Runs `f` on the loop thread and returns its result as a [`Completion`]
    /// (asyncio's `run_callback_threadsafe`).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let probe = handle.clone();
    /// let on_loop = handle.run_callback(move || probe.is_loop_thread()).wait()?;
    /// assert!(on_loop);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn run_callback<F, T>(&self, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.run_callback_at(Site::caller(), f)
    }

    /// Runs `fut` on the loop as a tracked fire-and-forget job (Home Assistant's
    /// `add_job`): it counts as in flight, shutdown waits for it up to its timeout, and a
    /// panic in it is logged with its site. On a closed bridge the job is dropped and a
    /// warning is logged.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// bridge.handle().add_job(async move { tx.send("ran").unwrap() });
    /// assert_eq!(rx.recv().unwrap(), "ran");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn add_job<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.add_job_at(Site::caller(), fut);
    }

    /// Runs the blocking closure `f` on the bridge's default [`ThreadPool`] and returns
    /// its [`Completion`] (asyncio's `loop.run_in_executor(None, f)`): `.await` it on the
    /// loop, or `.wait()` for it elsewhere.
    ///
    /// The pool starts on first use, with asyncio's default of `min(32, cpus + 4)`
    /// workers named `{thread_name}-executor-{n}` after the loop thread, an unbounded
    /// queue and a 10 s keep-alive. It shuts down with the bridge, within the same
    /// timeout: its queued jobs resolve with [`Error::Closed`] and its stuck jobs appear
    /// in the bridge's [`ShutdownReport`](crate::ShutdownReport). Use your own
    /// [`ThreadPool`] to bound the queue or size the pool for one kind of work.
    ///
    /// A panic in `f` resolves the completion with [`Error::Panicked`].
    ///
    /// # Errors
    ///
    /// In the completion, at once: [`Error::Closed`] if the bridge is shut down or
    /// shutting down.
    ///
    /// # Blocking
    ///
    /// Never blocks: fine on the loop thread. (The first call starts the pool, and a call
    /// that finds every worker busy starts a thread.)
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::builder().thread_name("app").build()?;
    /// let handle = bridge.handle();
    /// let inner = handle.clone();
    /// let worker = handle.block_on(async move {
    ///     // Blocking work leaves the loop thread; the loop keeps serving meanwhile.
    ///     inner
    ///         .run_in_executor(|| std::thread::current().name().map(str::to_owned))
    ///         .await
    /// })??;
    /// assert!(worker.unwrap().starts_with("app-executor-"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`ThreadPool`]: crate::ThreadPool
    #[track_caller]
    pub fn run_in_executor<F, T>(&self, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.run_in_executor_at(Site::caller(), f)
    }

    /// `true` when the calling thread is this bridge's loop thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// assert!(!handle.is_loop_thread());
    /// let probe = handle.clone();
    /// assert!(handle.run_callback(move || probe.is_loop_thread()).wait()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_loop_thread(&self) -> bool {
        loop_thread::current().is_some_and(|mark| mark.bridge == self.state.id)
    }

    /// Asserts that the caller runs on this bridge's loop thread, as Home Assistant's
    /// `@callback` functions do. Off the loop thread the bridge's [`AssertMode`] decides:
    /// panic (the default), log once per call site, or ignore.
    ///
    /// # Panics
    ///
    /// In [`AssertMode::Panic`], when called off the loop thread; the message names
    /// `what`, the caller's location, the loop thread and the calling thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let probe = handle.clone();
    /// handle.run_callback(move || probe.verify_loop_thread("update state")).wait()?;
    ///
    /// let off_loop = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     handle.verify_loop_thread("update state")
    /// }));
    /// assert!(off_loop.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn verify_loop_thread(&self, what: &str) {
        if self.is_loop_thread() {
            return;
        }
        let caller = Location::caller();
        loop_thread::report(
            self.state.assert_mode,
            caller,
            format_args!(
                "`{what}` must run on the loop thread '{}', but was called at {caller} \
                 from thread '{}'",
                self.state.thread_name,
                loop_thread::thread_name()
            ),
        );
    }

    /// A snapshot of this bridge's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// bridge.handle().submit(async {}).wait()?;
    /// assert_eq!(bridge.handle().stats().finished, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.state.counters.snapshot()
    }

    /// What the bridge's default pool, behind [`run_in_executor`](Handle::run_in_executor),
    /// is doing now; all zero before its first use (asking does not start it).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// assert_eq!(handle.executor_stats(), loopbridge::PoolStats::default());
    /// handle.run_in_executor(|| 1).wait()?;
    /// handle.run_in_executor(|| 2).wait()?;
    /// let stats = handle.executor_stats();
    /// assert_eq!(stats.finished, 2);
    /// assert!(stats.workers >= 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn executor_stats(&self) -> PoolStats {
        self.state.executor.stats()
    }

    /// The live jobs (submitted and not yet resolved), oldest first. A cancelled job is
    /// not listed, even while the loop has yet to drop its future.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let waiting = handle.job("wait forever").submit(std::future::pending::<()>());
    /// let jobs = handle.jobs();
    /// assert_eq!(jobs.len(), 1);
    /// assert_eq!(jobs[0].site.name(), Some("wait forever"));
    /// waiting.cancel();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jobs(&self) -> Vec<JobInfo> {
        let now = Instant::now();
        self.state
            .registry
            .snapshot()
            .iter()
            .filter(|job| !job.is_resolved())
            .map(|job| JobInfo::of(job.record(), now))
            .collect()
    }

    /// A named job builder: the name is part of every site, error, log line and report
    /// about the jobs submitted through it.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let completion = bridge.handle().job("sync users").submit(async { panic!("db down") });
    /// let error = completion.wait().unwrap_err();
    /// assert_eq!(error.site().name(), Some("sync users"));
    /// assert!(error.to_string().contains("sync users"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn job(&self, name: impl Into<Arc<str>>) -> Job<'_> {
        Job {
            handle: self,
            name: name.into(),
        }
    }

    pub(crate) fn submit_at<F>(&self, site: Site, fut: F) -> Completion<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.try_submit_at(site, fut)
            .unwrap_or_else(Completion::failed)
    }

    /// Submits `fut`, or refuses it with `Closed` once the bridge has closed.
    fn try_submit_at<F>(&self, site: Site, fut: F) -> Result<Completion<F::Output>, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Registered { cell, finish, key } = self.register(site)?;
        let future = Box::pin(run(fut, finish));
        self.state.enqueue(cell.clone(), key, Start::Ready(future));
        Ok(Completion::new(cell))
    }

    /// A new job's cell, its claim and its registry key, registered as live; `Closed`
    /// once the bridge has closed.
    fn register<T: Send + 'static>(&self, site: Site) -> Result<Registered<T>, Error> {
        let state = &self.state;
        // In a forked child the loop thread does not exist, and a lock held by one of
        // the parent's threads at the fork stays held: refuse before touching anything.
        if crate::process::forked_away(state.fork_generation, &site) {
            return Err(Error::Closed { site });
        }
        let cell = Arc::new(JobCell::on_loop(
            site,
            state.queue.clone(),
            state.fork_generation,
            state.spin,
        ));
        match Finish::register(cell.clone(), state) {
            Some((finish, key)) => Ok(Registered { cell, finish, key }),
            None => Err(closed(&cell)),
        }
    }

    fn run_callback_at<F, T>(&self, site: Site, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_at(site, async move { f() })
    }

    fn run_in_executor_at<F, T>(&self, site: Site, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.state.is_closed() {
            return Completion::failed(Error::Closed { site });
        }
        match self.state.executor.get(&self.state.thread_name) {
            Some(pool) => pool.submit_at(site, f),
            None => Completion::failed(Error::Closed { site }),
        }
    }

    fn add_job_at<F>(&self, site: Site, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Err(refused) = self.try_submit_at(site, fut) {
            let site = refused.site();
            tracing::warn!(target: "loopbridge", site = %site, "add_job on a shut-down bridge: job dropped");
        }
    }

    pub(crate) fn submit_local_at<M, F>(&self, site: Site, make: M) -> Completion<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let Registered { cell, finish, key } = match self.register(site) {
            Ok(job) => job,
            Err(refused) => return Completion::failed(refused),
        };
        // `make` runs inside the job's first poll, on the loop thread, so like any poll it
        // is timed, guarded against panics and named if it holds the loop, and it never
        // runs for a job cancelled before it started.
        let start = Start::Make(Box::new(move || {
            Box::pin(run(async move { make().await }, finish))
        }));
        self.state.enqueue(cell.clone(), key, start);
        Completion::new(cell)
    }
}

/// A job registered as live, not yet on its way to the loop.
struct Registered<T> {
    cell: Arc<JobCell<T>>,
    finish: Finish<T>,
    /// Its key in the registry.
    key: usize,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("thread", &self.state.thread_name)
            .field("closed", &self.state.is_closed())
            .finish()
    }
}

/// A named way to submit jobs, from [`Handle::job`]: the same calls as [`Handle`], and
/// every job's [`Site`] carries the name.
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::new()?;
/// let completion = bridge.handle().job("refresh").run_callback(|| 3);
/// assert_eq!(completion.site().name(), Some("refresh"));
/// assert_eq!(completion.wait()?, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Job<'a> {
    handle: &'a Handle,
    name: Arc<str>,
}

impl Job<'_> {
    #[track_caller]
    fn site(&self) -> Site {
        Site::new(Location::caller(), Some(self.name.clone()))
    }

    /// [`Handle::submit`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let done = bridge.handle().job("fetch").submit(async { 7 });
    /// assert_eq!(done.site().name(), Some("fetch"));
    /// assert_eq!(done.wait()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit<F>(&self, fut: F) -> Completion<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.submit_at(self.site(), fut)
    }

    /// [`Handle::submit_local`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let done = bridge.handle().job("local").submit_local(|| async { std::rc::Rc::new(3) == std::rc::Rc::new(3) });
    /// assert_eq!(done.site().name(), Some("local"));
    /// assert!(done.wait()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit_local<M, F>(&self, make: M) -> Completion<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        self.handle.submit_local_at(self.site(), make)
    }

    /// [`Handle::run_callback`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let done = bridge.handle().job("tick").run_callback(loopbridge::on_loop_thread);
    /// assert_eq!(done.site().name(), Some("tick"));
    /// assert!(done.wait()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn run_callback<F, T>(&self, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.run_callback_at(self.site(), f)
    }

    /// [`Handle::add_job`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// bridge.handle().job("flush").add_job(async move { tx.send("flushed").unwrap() });
    /// assert_eq!(rx.recv()?, "flushed");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn add_job<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.add_job_at(self.site(), fut);
    }

    /// [`Handle::run_in_executor`], named.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let done = bridge.handle().job("read").run_in_executor(|| loopbridge::on_loop_thread());
    /// assert_eq!(done.site().name(), Some("read"));
    /// assert!(!done.wait()?, "runs on a pool thread, not the loop");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn run_in_executor<F, T>(&self, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.run_in_executor_at(self.site(), f)
    }
}

/// The `Closed` error for a job refused by a closed bridge.
fn closed<T>(cell: &JobCell<T>) -> Error {
    Error::Closed {
        site: cell.record.site.clone(),
    }
}
