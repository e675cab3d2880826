//! [`Handle`]: the way into a bridge's loop from any thread. The API only: every step a
//! job takes is `event_loop`'s.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::event_loop::{run, InCell, LoopState, LoopStats, Resolver};
use crate::host_runtime;
use crate::job::{scope, JobInfo, LocalFuture, NoFuture, ScopeState};
use crate::loop_thread;
use crate::pool::{DefaultPool, PoolStats};

mod hooks;
mod iter;
mod named;
mod pending;
mod threadsafe_fn;

pub use hooks::ShutdownHook;
pub(crate) use hooks::{start_hooks, wait_for_hooks};
pub use named::HandleJob;
pub use pending::{LoopPermit, LoopReserve};
pub use threadsafe_fn::{CallMode, ThreadsafeFn};

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
    /// The pool behind `run_in_executor`, started on first use.
    executor: Arc<DefaultPool>,
    /// The scope every submission through this handle joins (see [`Scope`](crate::Scope)).
    scope: Option<Arc<ScopeState>>,
}

impl Handle {
    pub(crate) fn new(state: Arc<LoopState>, executor: Arc<DefaultPool>) -> Handle {
        Handle {
            state,
            executor,
            scope: None,
        }
    }

    /// The same bridge, with every submission joining `scope`.
    pub(crate) fn scoped(&self, scope: Arc<ScopeState>) -> Handle {
        Handle {
            state: self.state.clone(),
            executor: self.executor.clone(),
            scope: Some(scope),
        }
    }

    /// The same bridge, with no scope of its own.
    pub(crate) fn unscoped(&self) -> Handle {
        Handle::new(self.state.clone(), self.executor.clone())
    }

    /// The scope of this handle, if it is a scoped one.
    pub(crate) fn own_scope(&self) -> Option<&Arc<ScopeState>> {
        self.scope.as_ref()
    }

    /// The scope a submission through this handle joins now: the handle's, or the
    /// running job's when it is nested in it (or the handle has none).
    fn joined_scope(&self) -> Option<Arc<ScopeState>> {
        scope::joined(self.scope.as_ref(), Some(self.state.id))
    }

    pub(crate) fn state(&self) -> &Arc<LoopState> {
        &self.state
    }

    pub(crate) fn executor(&self) -> &DefaultPool {
        &self.executor
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
    /// As [`Completion::wait`]; [`Error::BlockingOnLoop`] at once on a loop thread, and
    /// [`Error::BlockingInRuntime`] at once inside a current-thread tokio runtime in
    /// [`AssertMode::Panic`](crate::AssertMode::Panic) (nothing is submitted then).
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread; on a loop thread it refuses instead of deadlocking.
    /// Inside another tokio runtime's async context, as [`Completion::wait`] says.
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
        self.block_on_at(Site::caller(), fut)
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
        self.call_soon_at(Site::caller(), f)
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

    /// `true` when the calling thread is this bridge's loop thread;
    /// [`is_any_loop_thread`](crate::is_any_loop_thread) asks about every bridge.
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
    /// `@callback` functions do. Off the loop thread the bridge's [`AssertMode`](crate::AssertMode) decides:
    /// panic (the default), log once per call site, or ignore.
    ///
    /// # Panics
    ///
    /// In [`AssertMode::Panic`](crate::AssertMode::Panic), when called off the loop thread; the message names
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
            "verify_loop_thread",
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
    pub fn stats(&self) -> LoopStats {
        self.state.counters.snapshot(self.state.spinner.counts())
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
        self.executor.stats()
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
    pub fn job(&self, name: impl Into<Arc<str>>) -> HandleJob<'_> {
        HandleJob::new(self, name.into())
    }

    pub(crate) fn submit_at<F>(&self, site: Site, fut: F) -> Completion<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.try_submit_at(site, fut)
            .unwrap_or_else(Completion::failed)
    }

    /// Submits `fut`, or refuses it with `Closed` once the bridge has closed (or
    /// `QueueFull` when `max_pending` jobs are pending).
    pub(crate) fn try_submit_at<F>(
        &self,
        site: Site,
        fut: F,
    ) -> Result<Completion<F::Output>, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.submit_holding(site, fut, false)
    }

    /// Submits `fut`; `holds_room`: it has its place among the pending jobs already.
    pub(crate) fn submit_holding<F>(
        &self,
        site: Site,
        fut: F,
        holds_room: bool,
    ) -> Result<Completion<F::Output>, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // The future lives in the job's cell: one allocation for the whole job.
        let cell = self
            .state
            .register(site, self.joined_scope(), holds_room, InCell::new(fut))?;
        self.state.enqueue(cell.clone(), None);
        Ok(Completion::new(cell))
    }

    pub(crate) fn block_on_at<F>(&self, site: Site, fut: F) -> Result<F::Output, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if loop_thread::is_any_loop_thread() {
            return Err(Error::BlockingOnLoop { site });
        }
        // Refused before anything is submitted.
        let at = site.location();
        let waiting = host_runtime::admit_wait(self.state.assert_mode, &site, at)?;
        self.submit_at(site, fut).wait_admitted(waiting)
    }

    pub(crate) fn call_soon_at<F>(&self, site: Site, f: F) -> Result<(), Error>
    where
        F: FnOnce() + Send + 'static,
    {
        self.try_submit_at(site, async move { f() }).map(drop)
    }

    pub(crate) fn run_callback_at<F, T>(&self, site: Site, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_at(site, async move { f() })
    }

    pub(crate) fn run_in_executor_at<F, T>(&self, site: Site, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.state.is_closed() {
            return Completion::failed(Error::Closed { site });
        }
        match self
            .executor
            .get(&self.state.thread_name, &self.state.dispatch)
        {
            // The pool job joins the scope this handle's submissions join.
            Some(pool) => match self.joined_scope() {
                Some(scope) => scope::enter(Some(&scope), || pool.submit_at(site, f)),
                None => pool.submit_at(site, f),
            },
            None => Completion::failed(Error::Closed { site }),
        }
    }

    pub(crate) fn add_job_at<F>(&self, site: Site, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Err(refused) = self.try_submit_at(site, fut) {
            let site = refused.site();
            tracing::warn!(
                target: "loopbridge::job_dropped",
                site = %site.location(),
                name = site.name(),
                scope = site.scope(),
                "add_job at {site} on a shut-down bridge: the job is dropped unrun"
            );
        }
    }

    pub(crate) fn submit_local_at<M, F>(&self, site: Site, make: M) -> Completion<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        self.try_submit_local_at(site, make, false)
            .unwrap_or_else(Completion::failed)
    }

    /// [`submit_local`](Handle::submit_local), or the refusal (`Closed`, `QueueFull`);
    /// `holds_room`: the job has its place among the pending jobs already (a permit's).
    pub(crate) fn try_submit_local_at<M, F>(
        &self,
        site: Site,
        make: M,
        holds_room: bool,
    ) -> Result<Completion<F::Output>, Error>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let cell = self
            .state
            .register(site, self.joined_scope(), holds_room, NoFuture)?;
        let resolver = Resolver::new(cell.clone());
        // `make` runs inside the job's first poll, on the loop thread, so like any poll it
        // is timed, guarded against panics and named if it holds the loop, and it never
        // runs for a job cancelled before it started.
        let build: Box<dyn FnOnce() -> LocalFuture + Send> =
            Box::new(move || Box::pin(run(async move { make().await }, resolver)));
        self.state.enqueue(cell.clone(), Some(build));
        Ok(Completion::new(cell))
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("thread", &self.state.thread_name)
            .field("scope", &self.scope.as_ref().map(|scope| &scope.path))
            .field("closed", &self.state.is_closed())
            .finish()
    }
}
