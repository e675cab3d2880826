//! [`Completion<T>`]: the one handle to a result that comes later.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::{Error, Site};
use crate::job::{report_unread, JobCell};
use crate::loop_thread;
use crate::process;
use crate::slot::{Outcome, Resolved};
use crate::spin;
use crate::util::{deadline_after, log_panic};

/// The result of a job that finishes later: a future on a bridge's loop, a callback run
/// on the loop, or a closure run on a pool.
///
/// Synchronous code calls [`wait`](Completion::wait) or
/// [`wait_timeout`](Completion::wait_timeout); async code writes `.await`. Every
/// `Completion` resolves exactly once: with the value, or with an [`Error`] saying why not.
///
/// Dropping a `Completion` detaches its job: the job keeps running and its result is
/// dropped (a value that is already in is dropped right there, on the dropping thread);
/// if the job panics, the panic is logged with its site rather than lost. To stop the
/// job, call [`cancel`](Completion::cancel).
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

    /// A completion that is already resolved with `error`.
    pub(crate) fn failed(error: Error) -> Completion<T> {
        Completion::new(Arc::new(JobCell::failed(error)))
    }

    /// Blocks the calling thread until the job resolves, and returns its result.
    ///
    /// # Errors
    ///
    /// The job's error ([`Error::Cancelled`], [`Error::Panicked`], [`Error::Closed`]), or
    /// [`Error::BlockingOnLoop`] at once when called on a loop thread.
    ///
    /// # Blocking
    ///
    /// Blocks until the job resolves. On a loop thread it never blocks: it returns
    /// `Err(BlockingOnLoop)` (whether or not the job is done), because waiting there would
    /// stall or deadlock the loop. Use `.await` on the loop.
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
        if loop_thread::on_loop_thread() {
            return Err(Error::BlockingOnLoop {
                site: Site::caller(),
            });
        }
        self.spin_before_park(self.cell.record.spin_before_park);
        let mut this = self;
        if let Some(error) = this.orphaned() {
            // Nothing to detach from (and its lock may be held by a thread the fork
            // left behind).
            this.read = true;
            return Err(error);
        }
        let outcome = this.cell.slot.wait();
        this.unwrap_outcome(outcome)
            .expect("a blocking wait returns only with a result")
    }

    /// Blocks for at most `timeout`. A timeout does not cancel the job: wait again later,
    /// or cancel it.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the job is still running after `timeout`; otherwise as
    /// [`wait`](Completion::wait).
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
    ///
    /// tx.send(7).unwrap();
    /// assert_eq!(completion.wait_timeout(Duration::from_secs(30))?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<T, Error> {
        if loop_thread::on_loop_thread() {
            return Err(Error::BlockingOnLoop {
                site: Site::caller(),
            });
        }
        self.spin_before_park(self.cell.record.spin_before_park.min(timeout));
        if let Some(error) = self.orphaned() {
            self.read = true;
            return Err(error);
        }
        let outcome = self.cell.slot.wait_until(deadline_after(timeout));
        self.unwrap_outcome(outcome).unwrap_or_else(|| {
            Err(Error::Timeout {
                site: self.site().clone(),
            })
        })
    }

    /// Takes the result if the job has resolved, without blocking (also fine on a loop
    /// thread).
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
            self.cell.schedule.wake();
        }
        won
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

    /// `Forked` when the job is still pending and the threads that would run it were
    /// left behind in a fork: waiting would never end.
    fn orphaned(&self) -> Option<Error> {
        let record = &self.cell.record;
        if self.cell.slot.is_resolved() {
            return None;
        }
        process::check_not_forked(record.fork_generation, &record.site).err()
    }

    /// The low-latency wait: spins on the result for up to `limit` before the caller parks.
    fn spin_before_park(&self, limit: Duration) {
        if !limit.is_zero() {
            spin::spin_until(limit, || self.cell.slot.is_resolved());
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
    /// If polled again after it returned the value.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(error) = this.orphaned() {
            this.read = true;
            return Poll::Ready(Err(error));
        }
        match this.cell.slot.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(outcome) => Poll::Ready(
                this.unwrap_outcome(outcome)
                    .expect("a ready poll carries a result"),
            ),
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if self.read {
            return;
        }
        if let Some(error) = self.cell.slot.detach() {
            report_unread(&error);
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
