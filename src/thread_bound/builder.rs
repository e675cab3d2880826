//! [`ThreadBoundBuilder`]: how a [`ThreadBound`]'s thread and mailbox are configured, and
//! the start of the thread (waited for, or awaited).

use std::future::Future;
use std::io;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Site};
use crate::host_runtime;
use crate::job::JobHome;
use crate::job::StopSignal;
use crate::loop_thread::{self, AssertMode};
use crate::pool::JobContext;
use crate::room::Room;
use crate::spin::{SpinPolicy, Spinner};
use crate::util::Dispatcher;

use super::error::SpawnError;
use super::thread::{serve, Made, Shared};
use super::ThreadBound;

/// Enough that a burst from many threads queues rather than being refused, small enough
/// that a stalled value cannot hoard unbounded memory: a caller sees `QueueFull` instead.
const DEFAULT_CAPACITY: usize = 1024;
/// asyncio's `slow_callback_duration`, as the loop's slow-poll threshold.
const DEFAULT_SLOW_THRESHOLD: Duration = Duration::from_millis(100);
/// A bridge's default shutdown timeout.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Configures a [`ThreadBound`]: the thread's name, the mailbox's capacity, the
/// slow-call threshold, what dropping the last handle waits for, the waiters' spin and
/// assert modes. Every setting has a default chosen for the common case.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let bound = loopbridge::ThreadBound::builder()
///     .name("sqlite")
///     .mailbox_capacity(64)
///     .slow_call_threshold(Duration::from_millis(50))
///     .spawn(|| Ok::<_, std::io::Error>(Vec::<u8>::new()))?;
/// let name = bound.call(|_| std::thread::current().name().map(str::to_owned)).wait()?;
/// assert_eq!(name.as_deref(), Some("sqlite"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ThreadBoundBuilder {
    name: String,
    capacity: Option<usize>,
    slow_threshold: Duration,
    shutdown_timeout: Duration,
    assert_mode: AssertMode,
    spin: SpinPolicy,
}

impl Default for ThreadBoundBuilder {
    fn default() -> ThreadBoundBuilder {
        ThreadBoundBuilder {
            name: "loopbridge-bound".to_owned(),
            capacity: Some(DEFAULT_CAPACITY),
            slow_threshold: DEFAULT_SLOW_THRESHOLD,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            assert_mode: AssertMode::Panic,
            spin: SpinPolicy::default(),
        }
    }
}

impl ThreadBoundBuilder {
    /// The thread's name (default `"loopbridge-bound"`), also the value's name in logs.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::builder().name("gui").spawn(|| Ok::<_, ()>(()))
    ///     .map_err(|_| "spawn")?;
    /// assert_eq!(bound.name(), "gui");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> ThreadBoundBuilder {
        self.name = name.into();
        self
    }

    /// At most `capacity` calls wait in the mailbox (default 1024; the running call does
    /// not count). When it is full, [`call`](ThreadBound::call) refuses with
    /// [`Error::QueueFull`], [`call_timeout`](ThreadBound::call_timeout) blocks for room
    /// and [`reserve`](ThreadBound::reserve) waits for room asynchronously. Must be at
    /// least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let refused = loopbridge::ThreadBound::builder().mailbox_capacity(0).spawn(|| Ok::<_, ()>(()));
    /// assert!(matches!(refused, Err(loopbridge::SpawnError::Io(_))));
    /// ```
    pub fn mailbox_capacity(mut self, capacity: usize) -> ThreadBoundBuilder {
        self.capacity = Some(capacity);
        self
    }

    /// No bound on the mailbox: calls are never refused for want of room.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::builder().unbounded().spawn(|| Ok::<_, ()>(0))
    ///     .map_err(|_| "spawn")?;
    /// assert_eq!(bound.try_reserve()?.call(|n| *n + 1).wait()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unbounded(mut self) -> ThreadBoundBuilder {
        self.capacity = None;
        self
    }

    /// A call that holds the thread longer than this is logged (through `tracing`, with
    /// its site) when it ends, and counted in
    /// [`ThreadBoundStats::slow_calls`](crate::ThreadBoundStats::slow_calls) (default
    /// 100 ms, asyncio's slow-callback threshold, as the loop's slow polls).
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::builder()
    ///     .slow_call_threshold(std::time::Duration::ZERO)
    ///     .spawn(|| Ok::<_, ()>(()))
    ///     .map_err(|_| "spawn")?;
    /// bound.call(|_| std::thread::sleep(std::time::Duration::from_millis(1))).wait()?;
    /// assert_eq!(bound.stats().slow_calls, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn slow_call_threshold(mut self, threshold: Duration) -> ThreadBoundBuilder {
        self.slow_threshold = threshold;
        self
    }

    /// How long dropping the last handle waits for the running call and the value's
    /// drop (default 5 s, a bridge's). The drop never waits on a loop thread, inside a
    /// tokio runtime's context, or on the owning thread itself.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::builder()
    ///     .shutdown_timeout(std::time::Duration::from_secs(1))
    ///     .spawn(|| Ok::<_, ()>(()))
    ///     .map_err(|_| "spawn")?;
    /// drop(bound); // waits at most about a second
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> ThreadBoundBuilder {
        self.shutdown_timeout = timeout;
        self
    }

    /// What a blocking wait on a call does inside a current-thread tokio runtime's async
    /// context (default [`AssertMode::Panic`]: refused with
    /// [`Error::BlockingInRuntime`]), as a bridge's.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::builder()
    ///     .assert_mode(loopbridge::AssertMode::Log)
    ///     .spawn(|| Ok::<_, ()>(2))
    ///     .map_err(|_| "spawn")?;
    /// let host = tokio::runtime::Builder::new_current_thread().build()?;
    /// assert_eq!(host.block_on(async { bound.call(|n| *n).wait() })?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn assert_mode(mut self, mode: AssertMode) -> ThreadBoundBuilder {
        self.assert_mode = mode;
        self
    }

    /// How a waiter spins for a call's result before it parks (default
    /// [`SpinPolicy::Adaptive`], as a bridge's).
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::builder()
    ///     .spin_policy(loopbridge::SpinPolicy::Off)
    ///     .spawn(|| Ok::<_, ()>(3))
    ///     .map_err(|_| "spawn")?;
    /// assert_eq!(bound.call(|n| *n).wait()?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spin_policy(mut self, policy: SpinPolicy) -> ThreadBoundBuilder {
        self.spin = policy;
        self
    }

    /// Starts the thread, builds the value there with `make` and waits for it: `T` need
    /// not be `Send`, only `make` must be.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Make`] with `make`'s error (the thread has exited);
    /// [`SpawnError::Io`] if the thread cannot start or a setting is invalid (a zero
    /// capacity, a NUL in the name); [`SpawnError::Failed`] with [`Error::Panicked`] if
    /// `make` panicked, [`Error::BlockingOnLoop`] on a loop thread (nothing is started),
    /// or [`Error::BlockingInRuntime`] inside a current-thread runtime in
    /// [`AssertMode::Panic`].
    ///
    /// # Blocking
    ///
    /// Waits for `make`. On a loop thread it refuses instead: use
    /// [`spawn_async`](ThreadBoundBuilder::spawn_async)`.await` there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// // `Rc<RefCell<_>>` is neither `Send` nor `Sync`: it never leaves its thread.
    /// let log = loopbridge::ThreadBound::builder()
    ///     .name("log")
    ///     .spawn(|| Ok::<_, std::io::Error>(Rc::new(RefCell::new(Vec::new()))))?;
    /// log.call(|v| v.borrow_mut().push("one")).wait()?;
    /// assert_eq!(log.call(|v| v.borrow().len()).wait()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn spawn<T, E, M>(self, make: M) -> Result<ThreadBound<T>, SpawnError<E>>
    where
        T: 'static,
        E: Send + 'static,
        M: FnOnce() -> Result<T, E> + Send + 'static,
    {
        let site = Site::caller();
        let at = Location::caller();
        if loop_thread::is_any_loop_thread() {
            return Err(SpawnError::Failed(Error::BlockingOnLoop { site }));
        }
        let waiting =
            host_runtime::admit_wait(self.assert_mode, &site, at).map_err(SpawnError::Failed)?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        let bound = self.start(make, move |made| {
            let _ = tx.send(made);
        })?;
        match waiting.run(|| rx.recv()) {
            Ok(Ok(())) => Ok(bound),
            Ok(Err(made)) => Err(unmade(made, site)),
            Err(_) => Err(SpawnError::Failed(Error::Panicked {
                message: "the thread-bound value's thread ended before it answered".to_owned(),
                site,
            })),
        }
    }

    /// Like [`spawn`](ThreadBoundBuilder::spawn), but the wait for `make` is a future:
    /// the way to start a thread-bound value from async code (on a loop, in a task). The
    /// thread starts at once; the future resolves when `make` returned.
    ///
    /// # Errors
    ///
    /// From the future: as [`spawn`](ThreadBoundBuilder::spawn), never a refusal to wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let answer = bridge.handle().block_on(async {
    ///     let bound = loopbridge::ThreadBound::builder()
    ///         .spawn_async(|| Ok::<_, std::io::Error>(std::rc::Rc::new(41)))
    ///         .await?;
    ///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(bound.call(|n| **n + 1).await?)
    /// })?;
    /// assert_eq!(answer.map_err(|e| e.to_string())?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn spawn_async<T, E, M>(
        self,
        make: M,
    ) -> impl Future<Output = Result<ThreadBound<T>, SpawnError<E>>> + Send + 'static
    where
        T: 'static,
        E: Send + 'static,
        M: FnOnce() -> Result<T, E> + Send + 'static,
    {
        let site = Site::caller();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let started = self.start(make, move |made| {
            let _ = tx.send(made);
        });
        async move {
            let bound = started?;
            match rx.await {
                Ok(Ok(())) => Ok(bound),
                Ok(Err(made)) => Err(unmade(made, site)),
                Err(_) => Err(SpawnError::Failed(Error::Panicked {
                    message: "the thread-bound value's thread ended before it answered".to_owned(),
                    site,
                })),
            }
        }
    }

    /// Starts the thread; `ready` hears how `make` went.
    fn start<T, E, M>(
        self,
        make: M,
        ready: impl FnOnce(Result<(), Made<E>>) + Send + 'static,
    ) -> Result<ThreadBound<T>, SpawnError<E>>
    where
        T: 'static,
        E: Send + 'static,
        M: FnOnce() -> Result<T, E> + Send + 'static,
    {
        if self.capacity == Some(0) {
            return Err(SpawnError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "loopbridge: mailbox_capacity must be at least 1",
            )));
        }
        loop_thread::check_thread_name(&self.name).map_err(SpawnError::Io)?;
        // Calls' reports go where the thread's own events go.
        let dispatch = Dispatcher::current();
        let shared = Arc::new(Shared {
            // ORDERING: only makes ids unique.
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: self.name.clone().into(),
            mailbox: super::mailbox::Mailbox::new(),
            room: self.capacity.map(Room::new),
            jobs: JobContext::new(JobHome {
                spinner: Some(Arc::new(Spinner::new(self.spin))),
                assert_mode: self.assert_mode,
                ..JobHome::off_loop(dispatch.clone())
            }),
            fork_generation: crate::process::generation(),
            assert_mode: self.assert_mode,
            slow_threshold: self.slow_threshold,
            slow_calls: AtomicU64::new(0),
            longest_call: AtomicU64::new(0),
            exited: StopSignal::running(),
            dispatch,
        });
        let on_thread = shared.clone();
        std::thread::Builder::new()
            .name(self.name)
            .spawn(move || {
                let dispatch = on_thread.dispatch.clone();
                dispatch.in_scope(|| serve(on_thread, make, ready));
            })
            .map_err(SpawnError::Io)?;
        Ok(ThreadBound::new(shared, self.shutdown_timeout))
    }
}

fn unmade<E>(made: Made<E>, site: Site) -> SpawnError<E> {
    match made {
        Made::Error(error) => SpawnError::Make(error),
        Made::Panicked(message) => SpawnError::Failed(Error::Panicked { message, site }),
    }
}
