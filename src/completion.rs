//! [`Completion<T>`]: the one handle to a result that comes later.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{Error, Site};
use crate::host_runtime::{self, Waiting};
use crate::job::{report_unread, JobCell};
use crate::loop_thread;
use crate::slot::{Outcome, Resolved};
use crate::util::{deadline_after, log_panic};

/// The result of a job that finishes later: a future on a bridge's loop, a callback run
/// on the loop, or a closure run on a pool.
///
/// Synchronous code calls [`wait`](Completion::wait), or waits for a bounded time; async
/// code writes `.await`. Every `Completion` resolves exactly once: with the value, or with
/// an [`Error`] saying why not.
///
/// | wait | gives up | then the job |
/// |------|----------|--------------|
/// | [`wait`](Completion::wait) | never | — |
/// | [`wait_timeout`](Completion::wait_timeout), [`wait_deadline`](Completion::wait_deadline) | after a duration, at an instant | keeps running; wait again or cancel it |
/// | [`wait_timeout_or_cancel`](Completion::wait_timeout_or_cancel), [`wait_deadline_or_cancel`](Completion::wait_deadline_or_cancel) | after a duration, at an instant | is cancelled |
///
/// Dropping a `Completion` detaches its job: the job keeps running and its result is
/// dropped (a value that is already in is dropped right there, on the dropping thread);
/// if the job panics, the panic is logged with its site rather than lost. To stop the
/// job, call [`cancel`](Completion::cancel).
///
/// # Which line an error names
///
/// The job's own errors ([`Error::Cancelled`], [`Error::Panicked`], [`Error::Closed`], …)
/// name the line that submitted the job, [`site`](Completion::site). The errors a wait
/// makes itself, [`Error::Timeout`] and [`Error::BlockingOnLoop`], name the line of the
/// wait: every wait is `#[track_caller]`, so a wait inside a helper of yours that is
/// marked `#[track_caller]` names the line that called the helper:
///
/// ```
/// use std::time::Duration;
/// use loopbridge::{Completion, Error};
///
/// /// Every database call gets at most 50 ms.
/// #[track_caller]
/// fn query<T>(completion: Completion<T>) -> Result<T, Error> {
///     completion.wait_timeout_or_cancel(Duration::from_millis(50))
/// }
///
/// let bridge = loopbridge::Bridge::new()?;
/// let error = query(bridge.handle().submit(std::future::pending::<()>())).unwrap_err();
/// assert_eq!(error.site().location().line(), line!() - 1, "the helper's caller");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Misuse panics (reading a value that was already taken) are raised at the reading
/// line too. `poll` is `#[track_caller]` as well, which the language allows on a trait
/// method's impl; what it reports depends on who polls. For `completion.await` in an
/// `async` block or function, it is the `.await`'s line. When generic code polls the
/// completion (`(&mut completion).await` goes through the standard library's impl for
/// `&mut F`; `select!`, a `join`), it is a line inside that code; through `dyn Future`
/// (a boxed future, a spawned task) it is a line in this crate. So the panic message
/// always names the job's submission site as well. It costs the poll one hidden pointer
/// argument: no allocation, no atomic.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let handle = bridge.handle();
///
/// // From synchronous code:
/// let answer = handle.submit(async { 6 * 7 }).wait()?;
/// assert_eq!(answer, 42);
///
/// // From async code (here, a job on the loop awaiting another job):
/// let inner = handle.clone();
/// let doubled = handle
///     .submit(async move { inner.submit(async { 21 }).await.map(|n| n * 2) })
///     .wait()??;
/// assert_eq!(doubled, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a Completion detaches its job: it keeps running and its result is \
              dropped (a panic is logged); call `cancel()` to stop it"]
pub struct Completion<T> {
    cell: Arc<JobCell<T>>,
    /// A wait or poll returned the result: nothing is left for `Drop` to report.
    read: bool,
}

impl<T> Completion<T> {
    pub(crate) fn new(cell: Arc<JobCell<T>>) -> Completion<T> {
        Completion { cell, read: false }
    }

    /// The job's cell: its record and slot (for the multi-waits).
    pub(crate) fn cell(&self) -> &Arc<JobCell<T>> {
        &self.cell
    }

    /// A completion that is already resolved with `error`.
    pub(crate) fn failed(error: Error) -> Completion<T> {
        Completion::new(Arc::new(JobCell::failed(error)))
    }

    /// Blocks the calling thread until the job resolves, and returns its result.
    ///
    /// # Errors
    ///
    /// The job's error ([`Error::Cancelled`], [`Error::Panicked`], [`Error::Closed`]), or
    /// [`Error::BlockingOnLoop`] at once when called on a loop thread, naming this call
    /// ([`Error::BlockingInRuntime`] inside a current-thread tokio runtime, see below).
    ///
    /// # Blocking
    ///
    /// Blocks until the job resolves. On a loop thread it never blocks: it returns
    /// `Err(BlockingOnLoop)` (whether or not the job is done), because waiting there would
    /// stall or deadlock the loop. Use `.await` on the loop.
    ///
    /// Inside another tokio runtime's async context (every wait of this type alike): in a
    /// task on a multi-thread runtime's worker it waits inside
    /// `tokio::task::block_in_place`, so the worker's other tasks go on on another thread,
    /// and logs a warning once per call site (target `loopbridge`); on a current-thread
    /// runtime, where nothing else of the host runs while it waits (a job that needs one
    /// of the host's tasks would never finish), the bridge's
    /// [`AssertMode`](crate::AssertMode) decides: `Panic` (the default) returns
    /// [`Error::BlockingInRuntime`] at once, `Log` logs once per site and waits, `Ignore`
    /// waits. A `spawn_blocking` thread and a plain thread just wait.
    ///
    /// # Panics
    ///
    /// If the value was already taken by an earlier
    /// [`wait_timeout`](Completion::wait_timeout), [`try_take`](Completion::try_take) or
    /// poll, as polling a finished future does.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let completion = bridge.handle().submit(async { "done" });
    /// assert_eq!(completion.wait()?, "done");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn wait(self) -> Result<T, Error> {
        self.wait_at(Location::caller())
    }

    /// [`wait`](Completion::wait), called at `at`.
    #[track_caller]
    pub(crate) fn wait_at(self, at: &'static Location<'static>) -> Result<T, Error> {
        let waiting = self.admit_wait(at)?;
        self.wait_admitted(waiting)
    }

    /// The blocking wait, once [`admit_wait`](Completion::admit_wait) allowed it.
    #[track_caller]
    pub(crate) fn wait_admitted(self, waiting: Waiting) -> Result<T, Error> {
        self.spin_before_park(waiting, Duration::MAX);
        let mut this = self;
        if let Some(error) = this.orphaned() {
            // Nothing to detach from (and its lock may be held by a thread the fork
            // left behind).
            this.read = true;
            return Err(error);
        }
        let outcome = waiting.run(|| this.cell.slot.wait());
        this.unwrap_outcome(outcome)
            .expect("a blocking wait returns only with a result")
    }

    /// Whether a blocking wait called at `at` may go ahead here, and how: refused on a
    /// loop thread, and inside another tokio runtime as `host_runtime` says.
    fn admit_wait(&self, at: &'static Location<'static>) -> Result<Waiting, Error> {
        if loop_thread::is_any_loop_thread() {
            return Err(self.blocking_on_loop(at));
        }
        host_runtime::admit_wait(self.cell.record.home.assert_mode, self.site(), at)
    }

    /// Blocks for at most `timeout`. A timeout does not cancel the job: wait again later,
    /// or cancel it (or use [`wait_timeout_or_cancel`](Completion::wait_timeout_or_cancel)).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] (with `cancelled: false`) if the job is still running after
    /// `timeout`, naming this call; otherwise as [`wait`](Completion::wait).
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout`; on a loop thread, returns `Err(BlockingOnLoop)` at once.
    ///
    /// # Panics
    ///
    /// If the value was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    /// let mut completion = bridge.handle().submit(async move { rx.await.unwrap() });
    ///
    /// let error = completion.wait_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert!(error.is_timeout());
    /// assert_eq!(error.site().location().line(), line!() - 2, "names the wait");
    ///
    /// tx.send(7).unwrap();
    /// assert_eq!(completion.wait_timeout(Duration::from_secs(30))?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<T, Error> {
        self.wait_keeping(deadline_after(timeout), Location::caller())
    }

    /// Blocks until `deadline` at the latest: [`wait_timeout`](Completion::wait_timeout)
    /// with an instant instead of a duration, for several waits that share one deadline.
    /// A timeout does not cancel the job.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] (with `cancelled: false`) if the job is still running at
    /// `deadline`, naming this call; otherwise as [`wait`](Completion::wait).
    ///
    /// # Blocking
    ///
    /// Blocks until `deadline` at most (not at all if it has passed: then it only takes a
    /// result that is already in); on a loop thread, returns `Err(BlockingOnLoop)` at once.
    ///
    /// # Panics
    ///
    /// If the value was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let deadline = Instant::now() + Duration::from_secs(30);
    /// let mut first = handle.submit(async { 1 });
    /// let mut second = handle.submit(async { 2 });
    /// assert_eq!(first.wait_deadline(deadline)? + second.wait_deadline(deadline)?, 3);
    ///
    /// let mut stuck = handle.submit(std::future::pending::<()>());
    /// let error = stuck.wait_deadline(Instant::now()).unwrap_err();
    /// assert!(error.is_timeout());
    /// assert!(!stuck.is_done(), "still running");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn wait_deadline(&mut self, deadline: Instant) -> Result<T, Error> {
        self.wait_keeping(deadline, Location::caller())
    }

    /// Blocks for at most `timeout`, and cancels the job if it has not resolved by then:
    /// the wait for a job that must not outlive it (a query, a request), where giving up
    /// and stopping the job are one step. Consumes the completion, since whatever it
    /// returns is final.
    ///
    /// On a timeout the job is cancelled as by [`cancel`](Completion::cancel): a future on
    /// the loop is dropped at its next poll boundary, a pool job that has not started
    /// never runs, a pool job already running finishes and its result is dropped. If the
    /// job resolved in the moment between the timeout and the cancel, its result is
    /// returned instead.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] with `cancelled: true` if the job had not resolved after
    /// `timeout` and was cancelled, naming this call; otherwise as
    /// [`wait`](Completion::wait).
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout`. On a loop thread it never blocks: it cancels the job
    /// (the caller gave up on it, and nobody is left to read its result) and returns
    /// `Err(BlockingOnLoop)` at once, whether or not the job is done.
    ///
    /// # Panics
    ///
    /// If the value was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use loopbridge::Error;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let quick = handle.submit(async { 7 });
    /// assert_eq!(quick.wait_timeout_or_cancel(Duration::from_secs(30))?, 7);
    ///
    /// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    /// let stuck = handle.submit(async move { rx.await });
    /// let error = stuck.wait_timeout_or_cancel(Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(error, Error::Timeout { cancelled: true, .. }));
    /// assert!(error.to_string().ends_with("it was cancelled"));
    /// // The job's future was dropped, and its receiver with it.
    /// while !tx.is_closed() { std::thread::yield_now(); }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn wait_timeout_or_cancel(self, timeout: Duration) -> Result<T, Error> {
        self.wait_or_cancel(deadline_after(timeout), Location::caller())
    }

    /// Blocks until `deadline` at the latest, and cancels the job if it has not resolved
    /// by then: [`wait_timeout_or_cancel`](Completion::wait_timeout_or_cancel) with an
    /// instant instead of a duration, for the calls of one request that share a deadline.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] with `cancelled: true` if the job had not resolved at `deadline`
    /// and was cancelled, naming this call; otherwise as [`wait`](Completion::wait).
    ///
    /// # Blocking
    ///
    /// Blocks until `deadline` at most (not at all if it has passed); on a loop thread,
    /// cancels the job and returns `Err(BlockingOnLoop)` at once.
    ///
    /// # Panics
    ///
    /// If the value was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let deadline = Instant::now() + Duration::from_secs(30);
    /// let rows = handle.submit(async { vec![1, 2] }).wait_deadline_or_cancel(deadline)?;
    /// assert_eq!(rows.len(), 2);
    ///
    /// let late = handle.submit(std::future::pending::<()>());
    /// let error = late.wait_deadline_or_cancel(Instant::now()).unwrap_err();
    /// assert!(error.is_timeout() && error.to_string().ends_with("it was cancelled"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn wait_deadline_or_cancel(self, deadline: Instant) -> Result<T, Error> {
        self.wait_or_cancel(deadline, Location::caller())
    }

    /// Takes the result if the job has resolved, without blocking (also fine on a loop
    /// thread).
    ///
    /// # Errors
    ///
    /// `Some(Err(..))` with the job's error (cancelled, panicked, closed, …): errors are
    /// sticky, so every later read returns the same error.
    ///
    /// # Panics
    ///
    /// If the value was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    /// let mut completion = bridge.handle().submit(async move { rx.await.is_ok() });
    /// assert!(completion.try_take().is_none());
    /// drop(tx);
    /// # while !completion.is_done() { std::thread::yield_now(); }
    /// assert_eq!(completion.try_take().unwrap()?, false);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn try_take(&mut self) -> Option<Result<T, Error>> {
        let outcome = self.cell.slot.try_take();
        self.unwrap_outcome(outcome)
    }

    /// `true` once the job has resolved (with a value or an error).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let completion = bridge.handle().submit(std::future::pending::<()>());
    /// assert!(!completion.is_done());
    /// completion.cancel();
    /// assert!(completion.is_done());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_done(&self) -> bool {
        self.cell.slot.is_resolved()
    }

    /// Cancels the job. Returns `true` if it had not resolved: it now resolves with
    /// [`Error::Cancelled`], and every later wait says so. A future on the loop is dropped
    /// at its next poll boundary; a pool job that has not started never runs; a pool job
    /// already running finishes and its result is dropped. Returns `false` if the job had
    /// already resolved: its result stays.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let completion = bridge.handle().submit(std::future::pending::<()>());
    /// assert!(completion.cancel());
    /// assert!(!completion.cancel());
    /// assert!(completion.wait().unwrap_err().is_cancelled());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel(&self) -> bool {
        let cancelled = Error::Cancelled {
            site: self.site().clone(),
        };
        let won = !matches!(
            self.cell.slot.resolve(Err(cancelled)),
            Resolved::AlreadyResolved
        );
        if won {
            // A loop job is polled once more, sees it is cancelled and drops its future.
            self.cell.wake();
        }
        won
    }

    /// Cancels the job (as [`cancel`](Completion::cancel)) and blocks until it has really
    /// stopped: a loop job's future dropped (at its next poll boundary), a pool job's
    /// closure returned. A pool job still queued counts as stopped at once: it never runs
    /// (its closure is dropped when its pool reaches it). `Ok(())` also when the job had already
    /// finished; its value then stays for a later wait.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] (naming this call, with `cancelled: true`) if the job had not
    /// stopped within `timeout`: a pool job's closure still running, or a loop held by
    /// another job. [`Error::BlockingOnLoop`] at once on a loop thread, after cancelling
    /// (the loop could not drop the job while this waits).
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout`; on a loop thread it cancels and returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    /// let job = bridge.handle().submit(async move {
    ///     let _ = rx.await;
    /// });
    /// job.cancel_and_wait(Duration::from_secs(30))?;
    /// // The future was dropped, and the receiver it held with it.
    /// assert!(tx.is_closed());
    /// assert!(job.wait().unwrap_err().is_cancelled());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn cancel_and_wait(&self, timeout: Duration) -> Result<(), Error> {
        let at = Location::caller();
        // Looked at before the cancel resolves the job: a job left behind in a fork never
        // runs here, so there is nothing to wait for.
        let forked = self.orphaned().is_some();
        self.cancel();
        let waiting = self.admit_wait(at)?;
        // A pool job cancelled while queued never runs: its closure is dropped when its
        // pool reaches it, which may be long after, behind other work.
        if forked
            || self.cell.is_parked()
            || waiting.run(|| self.cell.record.wait_stopped(deadline_after(timeout)))
        {
            return Ok(());
        }
        Err(self.timed_out(at, true))
    }

    /// Runs `f` with the result, exactly once: later on the thread that resolves the job,
    /// or now on this thread if it has already resolved. A panic in `f` is caught and
    /// logged; it does not disturb the loop or pool that ran the job.
    ///
    /// `f` may run on a loop thread, so it must not block.
    ///
    /// # Panics
    ///
    /// If the value was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// bridge.handle().submit(async { 5 }).then(move |result| {
    ///     tx.send(result.unwrap() + 1).unwrap();
    /// });
    /// assert_eq!(rx.recv().unwrap(), 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn then<F>(self, f: F)
    where
        F: FnOnce(Result<T, Error>) + Send + 'static,
    {
        let site = self.site().clone();
        let guarded = Box::new(move |result: Result<T, Error>| {
            log_panic("a `then` callback", Some(&site), || f(result));
        });
        if self.cell.slot.then(guarded).is_err() {
            panic!(
                "`then` called on a Completion whose value was already taken (job submitted at {})",
                self.site()
            );
        }
    }

    /// Where the job was submitted.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let completion = bridge.handle().job("report").submit(async {});
    /// assert_eq!(completion.site().name(), Some("report"));
    /// assert_eq!(completion.site().location().line(), line!() - 2);
    /// completion.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn site(&self) -> &Site {
        &self.cell.record.site
    }

    /// The timed wait that leaves the job running: `Timeout` at `deadline`.
    #[track_caller]
    fn wait_keeping(
        &mut self,
        deadline: Instant,
        at: &'static Location<'static>,
    ) -> Result<T, Error> {
        let waiting = self.admit_wait(at)?;
        self.park_until(deadline, waiting)
            .unwrap_or_else(|| Err(self.timed_out(at, false)))
    }

    /// The timed wait that cancels the job at `deadline`, unless it resolved meanwhile.
    #[track_caller]
    fn wait_or_cancel(
        mut self,
        deadline: Instant,
        at: &'static Location<'static>,
    ) -> Result<T, Error> {
        let waiting = match self.admit_wait(at) {
            Ok(waiting) => waiting,
            Err(refused) => {
                // A value already in stays in the slot and is dropped with `self`, an
                // unread panic is logged: as for any completion dropped unread.
                if self.cancel() {
                    self.read = true;
                }
                return Err(refused);
            }
        };
        match self.park_until(deadline, waiting) {
            Some(result) => result,
            None => self.give_up(at),
        }
    }

    /// The deadline passed: cancels the job and says so, or, if it resolved since the
    /// timed wait returned (the cancel lost), returns its result.
    #[track_caller]
    fn give_up(mut self, at: &'static Location<'static>) -> Result<T, Error> {
        if self.cancel() {
            self.read = true;
            return Err(self.timed_out(at, true));
        }
        let outcome = self.cell.slot.try_take();
        self.unwrap_outcome(outcome)
            .expect("a cancel that lost finds the job resolved")
    }

    /// Spins (if configured) and parks until the job resolves (`Some`) or `deadline`
    /// passes (`None`). Not for a loop thread.
    #[track_caller]
    fn park_until(&mut self, deadline: Instant, waiting: Waiting) -> Option<Result<T, Error>> {
        self.spin_before_park(waiting, deadline.saturating_duration_since(Instant::now()));
        if let Some(error) = self.orphaned() {
            self.read = true;
            return Some(Err(error));
        }
        let outcome = waiting.run(|| self.cell.slot.wait_until(deadline));
        self.unwrap_outcome(outcome)
    }

    /// `Timeout` made by the wait called at `at`.
    fn timed_out(&self, at: &'static Location<'static>, cancelled: bool) -> Error {
        Error::Timeout {
            site: self.site().at(at),
            submitted: self.site().clone(),
            cancelled,
        }
    }

    /// `BlockingOnLoop` for the wait called at `at`.
    fn blocking_on_loop(&self, at: &'static Location<'static>) -> Error {
        Error::BlockingOnLoop {
            site: self.site().at(at),
        }
    }

    /// `Forked` when the job is still pending and the threads that would run it were
    /// left behind in a fork: waiting would never end.
    fn orphaned(&self) -> Option<Error> {
        self.cell.orphaned()
    }

    /// Takes the result without blocking, as a multi-wait that was told the job resolved
    /// does: `Forked` (without touching the slot's lock) for a job left behind in a
    /// fork, the result if it is in, `None` if not.
    ///
    /// # Panics
    ///
    /// If the value was already taken.
    #[track_caller]
    pub(crate) fn take_now(&mut self) -> Option<Result<T, Error>> {
        if let Some(error) = self.orphaned() {
            self.read = true;
            return Some(Err(error));
        }
        self.try_take()
    }

    /// Spins on the result (for at most `most`) as the job's bridge says, before the
    /// caller parks. Not inside `block_in_place`: a thread that runs a host's tasks gives
    /// its CPU back at once.
    fn spin_before_park(&self, waiting: Waiting, most: Duration) {
        if let (Some(spinner), Waiting::Here) = (&self.cell.record.home.spinner, waiting) {
            let slot = &self.cell.slot;
            spinner.before_park(self.site().location(), most, || slot.is_resolved());
        }
    }

    /// `None` for a pending outcome; panics, naming the site, when the value was taken.
    /// A result returned is a result read: `Drop` has nothing left to report.
    #[track_caller]
    fn unwrap_outcome(&mut self, outcome: Outcome<T>) -> Option<Result<T, Error>> {
        match outcome {
            Outcome::Pending => None,
            Outcome::Ready(result) => {
                self.read = true;
                Some(result)
            }
            Outcome::AlreadyTaken => panic!(
                "Completion read after its value was taken (job submitted at {})",
                self.site()
            ),
        }
    }
}

impl<T> Future for Completion<T> {
    type Output = Result<T, Error>;

    /// # Panics
    ///
    /// If polled again after it returned the value (or after a wait or
    /// [`try_take`](Completion::try_take) took it). The message names the job's
    /// submission site; the panic's location is the `.await` that polled it (see the
    /// type's docs for what else it can be).
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(error) = this.orphaned() {
            this.read = true;
            return Poll::Ready(Err(error));
        }
        match this.cell.slot.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Outcome::Ready(result)) => {
                this.read = true;
                Poll::Ready(result)
            }
            Poll::Ready(Outcome::AlreadyTaken) => polled_after_taken(this.site()),
            Poll::Ready(Outcome::Pending) => unreachable!("a ready poll carries a result"),
        }
    }
}

/// The misuse of polling a completion whose value is gone; raised at the poll's caller.
#[cold]
#[track_caller]
fn polled_after_taken(site: &Site) -> ! {
    panic!(
        "`Completion` polled after it returned its value (or after a wait took it); \
         the job was submitted at {site}"
    )
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if self.read {
            return;
        }
        if let Some(error) = self.cell.slot.detach() {
            report_unread(&self.cell.record, &error);
        }
    }
}

impl<T> fmt::Debug for Completion<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("site", self.site())
            .field("done", &self.is_done())
            .finish()
    }
}

#[cfg(all(test, not(loopbridge_loom)))]
mod tests {
    use super::*;

    fn pending_completion() -> Completion<u32> {
        let home = crate::job::JobHome::off_loop(Default::default());
        let cell = JobCell::owned(Site::caller(), None, Arc::new(home));
        Completion::new(Arc::new(cell))
    }

    #[test]
    fn giving_up_on_a_job_that_resolved_meanwhile_returns_its_value() {
        // The race the public waits cannot stage: the job resolves after the timed wait
        // returned and before the cancel.
        let completion = pending_completion();
        completion.cell.slot.resolve(Ok(5));
        assert_eq!(completion.give_up(Location::caller()).unwrap(), 5);
    }

    #[test]
    fn giving_up_on_a_pending_job_cancels_it() {
        let completion = pending_completion();
        let cell = completion.cell.clone();
        let error = completion.give_up(Location::caller()).unwrap_err();
        assert!(matches!(
            error,
            Error::Timeout {
                cancelled: true,
                ..
            }
        ));
        assert!(cell.slot.is_resolved(), "resolved as cancelled");
    }
}
