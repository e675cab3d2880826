//! [`Error`], the one error type, and [`Site`], the call site every error names.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

/// A source location and, for named jobs, the job's name: where a job was submitted, or
/// (for an error a wait made) where the wait was called.
///
/// Every [`Error`], log line and report about a job names its site, so a failure can be
/// traced back to the line of code that started it, or to the line that gave up waiting
/// for it. [`Error`] says which one each variant names.
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::new()?;
/// let completion = bridge.handle().submit(async { 1 });
/// assert_eq!(completion.site().location().file(), file!());
/// assert_eq!(completion.site().name(), None);
/// assert_eq!(completion.wait()?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Site {
    location: &'static Location<'static>,
    name: Option<Arc<str>>,
    /// The path of the scope the job belongs to (`plugins/weather`), if any.
    scope: Option<Arc<str>>,
}

impl Site {
    pub(crate) fn new(location: &'static Location<'static>, name: Option<Arc<str>>) -> Site {
        Site {
            location,
            name,
            scope: None,
        }
    }

    /// The same site, in the scope whose path is `scope`.
    pub(crate) fn in_scope(mut self, scope: Option<Arc<str>>) -> Site {
        self.scope = scope;
        self
    }

    /// The site of the function calling this one (through `#[track_caller]` chains).
    #[track_caller]
    pub(crate) fn caller() -> Site {
        Site::new(Location::caller(), None)
    }

    /// The same job's name at another location: the site of a call made about the job.
    pub(crate) fn at(&self, location: &'static Location<'static>) -> Site {
        Site::new(location, self.name.clone()).in_scope(self.scope.clone())
    }

    /// The source location: of the call that submitted the job, or of the wait that made
    /// the error.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let job = bridge.handle().submit(async {});
    /// assert_eq!(job.site().location().file(), file!());
    /// job.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The job's name, if it was submitted through a named job.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let named = bridge.handle().job("nightly export").run_callback(|| ());
    /// assert_eq!(named.site().name(), Some("nightly export"));
    /// assert!(named.site().to_string().starts_with("nightly export at "));
    /// named.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The path of the [`Scope`](crate::Scope) the job belongs to (a child's path is its
    /// parent's, a slash, and its own name), if it belongs to one.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let plugins = bridge.handle().scope("plugins");
    /// let weather = plugins.child("weather");
    /// let job = weather.handle().submit(async {});
    /// assert_eq!(job.site().scope(), Some("plugins/weather"));
    /// assert!(job.site().to_string().contains("in scope `plugins/weather`"));
    /// job.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} at {}", self.location)?,
            None => write!(f, "{}", self.location)?,
        }
        match &self.scope {
            Some(scope) => write!(f, " in scope `{scope}`"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Site({self})")
    }
}

/// Why a [`Completion`](crate::Completion) (or a call on a bridge) did not produce a value.
///
/// Every variant names the [`Site`] of the job or call it is about, in its `site` field
/// (also [`Error::site`]). Which line that is depends on who made the error:
///
/// - **The job's own result** names the line that *submitted* the job: [`Cancelled`],
///   [`Panicked`], [`Closed`], [`Unavailable`], [`Forked`], [`QueueFull`] and [`Reentrant`]. These are
///   stored with the job, so every wait, poll or `then` that reads them sees the same
///   error, wherever it is.
/// - **An error the wait made itself** names the line that *waited*: [`Timeout`] and
///   [`BlockingOnLoop`], [`BlockingInRuntime`]. Nothing went wrong with the job; the wait gave up or was refused,
///   so the line to look at is the wait. The waits are `#[track_caller]`: a helper of
///   yours marked `#[track_caller]` that calls one passes its own caller through, so the
///   error names the line that called the helper, not a line inside it. A wait on a
///   [`Completion`](crate::Completion) keeps the job's name in the site, and `Timeout`
///   also carries the submitting site, in `submitted`.
///
/// A poll (`.await`) makes no error of its own: on a loop thread it does not block.
///
/// [`Cancelled`]: Error::Cancelled
/// [`Panicked`]: Error::Panicked
/// [`Closed`]: Error::Closed
/// [`Unavailable`]: Error::Unavailable
/// [`Forked`]: Error::Forked
/// [`QueueFull`]: Error::QueueFull
/// [`Reentrant`]: Error::Reentrant
/// [`Timeout`]: Error::Timeout
/// [`BlockingOnLoop`]: Error::BlockingOnLoop
/// [`BlockingInRuntime`]: Error::BlockingInRuntime
///
/// # Examples
///
/// ```
/// use loopbridge::{Bridge, Error};
///
/// let bridge = Bridge::new()?;
/// let completion = bridge.handle().submit(async { panic!("boom") });
/// let error: Error = completion.wait().unwrap_err();
/// assert!(error.is_panic());
/// assert!(error.to_string().contains("boom"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The job was cancelled (through [`Completion::cancel`](crate::Completion::cancel))
    /// before it produced a value.
    Cancelled {
        /// Where the job was submitted.
        site: Site,
    },
    /// The job panicked; the bridge or pool that ran it keeps serving.
    Panicked {
        /// The panic's message (`"<non-string panic payload>"` when it was not a string).
        message: String,
        /// Where the job was submitted.
        site: Site,
    },
    /// A timed wait elapsed before the job resolved. After
    /// [`wait_timeout`](crate::Completion::wait_timeout) and
    /// [`wait_deadline`](crate::Completion::wait_deadline) the job keeps running and can be
    /// waited for again (`cancelled` is `false`); after
    /// [`wait_timeout_or_cancel`](crate::Completion::wait_timeout_or_cancel) and
    /// [`wait_deadline_or_cancel`](crate::Completion::wait_deadline_or_cancel) it was
    /// cancelled (`cancelled` is `true`).
    Timeout {
        /// Where the wait that timed out was called, with the job's name.
        site: Site,
        /// Where the job was submitted.
        submitted: Site,
        /// The wait cancelled the job when it gave up: it never produces a value.
        cancelled: bool,
    },
    /// The bridge or pool is shut down or shutting down: the job was refused, or it was
    /// ended unfinished by the shutdown.
    Closed {
        /// Where the job (or the refused call) was submitted.
        site: Site,
    },
    /// The job could not be run for lack of a resource: no pool worker thread could be
    /// started for it (the operating system refused a thread).
    Unavailable {
        /// What was missing, as the operating system reported it.
        message: String,
        /// Where the job was submitted.
        site: Site,
    },
    /// A blocking wait was attempted on a loop thread, where it would deadlock or stall
    /// every other job; nothing was waited for.
    BlockingOnLoop {
        /// Where the blocking call was made (for a wait on a job, with the job's name).
        site: Site,
    },
    /// A blocking wait was attempted inside a current-thread tokio runtime's async
    /// context (its `block_on`, or one of its tasks) whose bridge uses
    /// [`AssertMode::Panic`](crate::AssertMode::Panic): waiting there may deadlock that
    /// runtime, since none of its tasks runs meanwhile (a job that needs one never
    /// finishes); nothing was waited for. `.await` the completion instead, or wait from
    /// `tokio::task::spawn_blocking`. (In a multi-thread runtime's task a wait goes
    /// ahead inside `block_in_place` and is logged once per call site.)
    BlockingInRuntime {
        /// Where the blocking call was made (for a wait on a job, with the job's name).
        site: Site,
        /// The host runtime's flavour, as `#[tokio::main(flavor = ..)]` spells it
        /// (`"current_thread"`).
        flavor: &'static str,
    },
    /// The bridge or pool was started before this process was forked: its threads stayed
    /// in the parent, so in this (child) process the job was refused, or a wait on a job
    /// submitted before the fork gave up at once instead of waiting forever. Start a new
    /// `Bridge` (or pool) in the child; [`global()`](crate::global) does so by itself.
    Forked {
        /// Where the job (or the refused call) was submitted.
        site: Site,
    },
    /// A bounded queue had no room for the job, so it was refused and never runs: a
    /// pool's queue ([`ThreadPoolBuilder::queue_capacity`](crate::ThreadPoolBuilder::queue_capacity)),
    /// the loop's pending jobs ([`BridgeBuilder::max_pending`](crate::BridgeBuilder::max_pending)),
    /// a thread-bound value's mailbox, or a threadsafe function's queue. At once from a
    /// plain submission, or once a timed one's wait ran out
    /// ([`ThreadPool::submit_timeout`](crate::ThreadPool::submit_timeout),
    /// [`Handle::submit_timeout`](crate::Handle::submit_timeout),
    /// [`ThreadBound::call_timeout`](crate::ThreadBound::call_timeout),
    /// [`ThreadsafeFn::call_timeout`](crate::ThreadsafeFn::call_timeout)). Async code
    /// waits for room with `reserve().await`; a threadsafe function with
    /// [`CallMode::Blocking`](crate::CallMode::Blocking).
    QueueFull {
        /// Where the job was submitted.
        site: Site,
    },
    /// [`LoopBound::close`](crate::LoopBound::close) was called while other handles to
    /// the value are alive: the value stays bound (the handle given up), and it closes
    /// when the last handle is dropped. Nothing failed; the close was not this handle's
    /// to run.
    StillShared {
        /// How many other handles to the value were alive.
        others: usize,
        /// Where `close` was called.
        site: Site,
    },
    /// A call on a [`ThreadBound`](crate::ThreadBound) value was made from inside a call
    /// on the same value, on its own thread: the value is borrowed (`&mut`) by the outer
    /// call, so the inner one could only run after it, and waiting for it there would
    /// deadlock. Nothing was queued. Do the inner work in the outer closure, which holds
    /// the value already.
    Reentrant {
        /// Where the inner call was made.
        site: Site,
    },
}

impl Error {
    /// The site the error is about.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let job = bridge.handle().job("sync").submit(std::future::pending::<()>());
    /// job.cancel();
    /// let error = job.wait().unwrap_err();
    /// assert_eq!(error.site().name(), Some("sync"));
    /// assert!(error.is_cancelled() && !error.is_panic() && !error.is_timeout());
    /// assert!(!error.is_closed() && !error.is_blocking_on_loop() && !error.is_unavailable());
    /// assert_eq!(error.panic_message(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn site(&self) -> &Site {
        match self {
            Error::Cancelled { site }
            | Error::Panicked { site, .. }
            | Error::Timeout { site, .. }
            | Error::Closed { site }
            | Error::BlockingOnLoop { site }
            | Error::BlockingInRuntime { site, .. }
            | Error::QueueFull { site }
            | Error::Forked { site }
            | Error::Reentrant { site }
            | Error::Unavailable { site, .. }
            | Error::StillShared { site, .. } => site,
        }
    }

    /// `true` for [`Error::Cancelled`]: the job was cancelled through
    /// [`cancel`](crate::Completion::cancel) before the read. A cancelling wait that gave
    /// up reports [`Error::Timeout`] with `cancelled: true` instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let mut never = bridge.handle().submit(std::future::pending::<()>());
    /// assert!(never.cancel());
    /// assert!(never.wait().unwrap_err().is_cancelled());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled { .. })
    }

    /// `true` for [`Error::Panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let error = bridge.handle().submit(async { panic!("boom") }).wait().unwrap_err();
    /// assert!(error.is_panic());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::Panicked { .. })
    }

    /// `true` for [`Error::Timeout`], whether or not the wait cancelled the job.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use loopbridge::Error;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let completion = bridge.handle().submit(std::future::pending::<()>());
    /// let error = completion.wait_timeout_or_cancel(Duration::ZERO).unwrap_err();
    /// assert!(error.is_timeout() && !error.is_cancelled());
    /// assert!(matches!(error, Error::Timeout { cancelled: true, .. }));
    /// assert_eq!(error.site().location().line(), line!() - 3, "the waiting line");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// `true` for [`Error::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// bridge.shutdown(std::time::Duration::from_secs(5));
    /// assert!(handle.submit(async {}).wait().unwrap_err().is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed { .. })
    }

    /// `true` for [`Error::BlockingOnLoop`].
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let inner = handle.clone();
    /// let refused = handle.run_callback(move || inner.block_on(async {})).wait()?;
    /// assert!(refused.unwrap_err().is_blocking_on_loop());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_blocking_on_loop(&self) -> bool {
        matches!(self, Error::BlockingOnLoop { .. })
    }

    /// `true` for [`Error::BlockingInRuntime`]: a blocking wait refused inside another
    /// tokio runtime's async context, where it could deadlock that runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let host = tokio::runtime::Builder::new_current_thread().build()?;
    /// let refused = host.block_on(async { handle.block_on(async { 1 }) }).unwrap_err();
    /// assert!(refused.is_blocking_in_runtime());
    /// assert!(refused.to_string().contains("current_thread"));
    /// // `.await` is the way there:
    /// assert_eq!(host.block_on(handle.submit(async { 1 }))?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_blocking_in_runtime(&self) -> bool {
        matches!(self, Error::BlockingInRuntime { .. })
    }

    /// `true` for [`Error::QueueFull`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = loopbridge::ThreadPool::builder().max_workers(1).queue_capacity(1).build()?;
    /// let (started_tx, started) = mpsc::channel();
    /// let (release, release_rx) = mpsc::channel::<()>();
    /// let busy = pool.submit(move || {
    ///     started_tx.send(()).unwrap();
    ///     release_rx.recv().unwrap();
    /// });
    /// started.recv()?;
    /// let queued = pool.submit(|| ());
    /// let refused = pool.submit(|| ());
    /// assert!(refused.wait().unwrap_err().is_queue_full());
    /// release.send(())?;
    /// busy.wait()?;
    /// queued.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_queue_full(&self) -> bool {
        matches!(self, Error::QueueFull { .. })
    }

    /// `true` for [`Error::Forked`]: the bridge or pool belongs to the parent of this
    /// forked process.
    ///
    /// # Examples
    ///
    /// ```
    /// // In a process that never forked, no error is `Forked`.
    /// let bridge = loopbridge::Bridge::new()?;
    /// let error = bridge.handle().submit(async { panic!("boom") }).wait().unwrap_err();
    /// assert!(!error.is_forked());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_forked(&self) -> bool {
        matches!(self, Error::Forked { .. })
    }

    /// `true` for [`Error::Reentrant`]: a call on a thread-bound value made from inside a
    /// call on it, which would deadlock.
    ///
    /// # Examples
    ///
    /// ```
    /// let counter = loopbridge::ThreadBound::spawn("counter", || Ok::<_, std::io::Error>(0u32))?;
    /// let inner = counter.clone();
    /// let error = counter.call(move |_| inner.call(|n| *n += 1).wait()).wait()?.unwrap_err();
    /// assert!(error.is_reentrant());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_reentrant(&self) -> bool {
        matches!(self, Error::Reentrant { .. })
    }

    /// `true` for [`Error::Unavailable`].
    ///
    /// # Examples
    ///
    /// ```
    /// // A pool whose workers start is never unavailable.
    /// let pool = loopbridge::ThreadPool::new(1)?;
    /// let error = pool.submit(|| panic!("boom")).wait().unwrap_err();
    /// assert!(!error.is_unavailable());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    /// `true` for [`Error::StillShared`]: a bound value's close was refused because other
    /// handles to it are alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let value = bridge.handle().bind(|| 1).wait()?;
    /// let other = value.clone();
    /// let error = value.close(Duration::from_secs(5)).unwrap_err();
    /// assert!(error.is_still_shared());
    /// other.close(Duration::from_secs(5))?; // the last handle closes it
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_still_shared(&self) -> bool {
        matches!(self, Error::StillShared { .. })
    }

    /// The panic message, for [`Error::Panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let error = bridge.handle().submit(async { panic!("bad input") }).wait().unwrap_err();
    /// assert_eq!(error.panic_message(), Some("bad input"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Error::Panicked { message, .. } => Some(message),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let site = self.site();
        let job = JobName(site);
        let at = site.location();
        match self {
            Error::Cancelled { .. } => write!(f, "{job} cancelled (submitted at {at})"),
            Error::Panicked { message, .. } => {
                write!(f, "{job} panicked: {message} (submitted at {at})")
            }
            Error::Timeout {
                submitted,
                cancelled,
                ..
            } => {
                let now = if *cancelled {
                    "it was cancelled"
                } else {
                    "it is still running"
                };
                write!(
                    f,
                    "timed out at {at} waiting for {job} (submitted at {}); {now}",
                    submitted.location()
                )
            }
            Error::Closed { .. } => match site.scope() {
                Some(scope) => write!(
                    f,
                    "scope `{scope}` (or its bridge) is closed: {job} was refused or cut off \
                     (submitted at {at})"
                ),
                None => write!(
                    f,
                    "bridge or pool is shut down: {job} was refused or ended (submitted at {at})"
                ),
            },
            Error::BlockingOnLoop { .. } => write!(
                f,
                "blocking wait at {at} refused: it runs on a loop thread, where waiting would \
                 stall or deadlock the loop; use `.await` instead"
            ),
            Error::BlockingInRuntime { flavor, .. } => write!(
                f,
                "blocking wait at {at} refused: it runs inside a {flavor} tokio runtime's async \
                 context, where waiting may deadlock that runtime; use `.await`, or wait from \
                 `tokio::task::spawn_blocking`"
            ),
            Error::Unavailable { message, .. } => {
                write!(f, "{job} could not be run: {message} (submitted at {at})")
            }
            Error::StillShared { others, .. } => write!(
                f,
                "close at {at} refused: {others} other handle(s) to the value are alive; it \
                 closes when the last one is dropped"
            ),
            Error::Forked { .. } => write!(
                f,
                "{job} (submitted at {at}) belongs to a bridge or pool started before this \
                 process was forked: its threads stayed in the parent, so it never runs here; \
                 start a new bridge or pool in the child"
            ),
            Error::QueueFull { .. } => write!(
                f,
                "queue is full: {job} was refused (submitted at {at}); wait for room with \
                 `reserve().await`, a timed submission (`submit_timeout`, `call_timeout`) or \
                 `CallMode::Blocking`"
            ),
            Error::Reentrant { .. } => write!(
                f,
                "{job} refused: called at {at} from inside a call on the same thread-bound \
                 value, which holds it; waiting for it would deadlock"
            ),
        }
    }
}

/// "job" or "job `name`", for messages.
struct JobName<'a>(&'a Site);

impl fmt::Display for JobName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.name() {
            Some(name) => write!(f, "job `{name}`"),
            None => f.write_str("job"),
        }
    }
}

impl std::error::Error for Error {}

/// Turns a caught panic payload into its message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
