//! [`Bridge`] and [`Builder`]: the loop thread's life, from start-up to a bounded shutdown.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use tokio::task::LocalSet;

use crate::dispatch::dispatch;
use crate::error::Error;
use crate::handle::{Handle, LoopState};
use crate::loop_thread::{self, AssertMode, LoopMark};
use crate::process;
use crate::registry::Registry;
use crate::report::{ShutdownReport, StuckJob};
use crate::schedule::Arrival;
use crate::stats::Counters;
use crate::sync::deadline_after;
use crate::watchdog::{self, PollClock};

/// How long `Drop` lets jobs finish: long enough for well-behaved jobs to complete a
/// network round trip, short enough that a stuck process still exits promptly.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// asyncio's `slow_callback_duration`: a poll this long is a stall users notice.
const DEFAULT_SLOW_POLL_THRESHOLD: Duration = Duration::from_millis(100);

/// What the loop thread may take, after the shutdown timeout, to drop the jobs it cut off.
const TEARDOWN_GRACE: Duration = Duration::from_millis(200);

static NEXT_BRIDGE_ID: AtomicU64 = AtomicU64::new(1);

/// Owns one loop thread: a dedicated thread running a tokio current-thread runtime (with
/// timers and I/O) where submitted futures run.
///
/// Dropping a `Bridge` shuts it down like [`shutdown`](Bridge::shutdown) with the
/// builder's [`shutdown_timeout`](Builder::shutdown_timeout) (5 s by default) and logs
/// what it had to abandon. Dropping never panics, also inside another runtime's async
/// context.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let handle = bridge.handle();
/// assert_eq!(handle.submit(async { 40 + 2 }).wait()?, 42);
///
/// let report = bridge.shutdown(Duration::from_secs(5));
/// assert!(report.is_clean());
/// assert!(handle.submit(async {}).wait().unwrap_err().is_closed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Bridge {
    handle: Handle,
    /// Receives a message as the loop thread ends.
    exited: crossbeam_channel::Receiver<()>,
    shutdown_timeout: Duration,
    shut_down: bool,
}

impl Bridge {
    /// Starts a bridge with the default configuration.
    ///
    /// # Errors
    ///
    /// If the loop thread or its runtime cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// assert!(!bridge.handle().is_loop_thread());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> io::Result<Bridge> {
        Builder::default().build()
    }

    /// A builder to configure a bridge.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::builder().thread_name("db-loop").build()?;
    /// let name = bridge
    ///     .handle()
    ///     .run_callback(|| std::thread::current().name().map(str::to_owned))
    ///     .wait()?;
    /// assert_eq!(name.as_deref(), Some("db-loop"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A handle to submit work to this bridge's loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let worker = std::thread::spawn(move || handle.block_on(async { 21 * 2 }));
    /// assert_eq!(worker.join().unwrap()?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Shuts the loop down, waiting at most about `timeout`.
    ///
    /// Submissions fail with [`Error::Closed`] from now on. Jobs in flight (including
    /// [`add_job`](Handle::add_job) jobs) get until `timeout` to finish; the rest are
    /// dropped and their completions resolve with [`Error::Closed`]. A job that blocks the
    /// loop thread itself past `timeout` is reported in [`ShutdownReport::stuck`] and the
    /// loop thread is left behind rather than joined forever.
    ///
    /// # Blocking
    ///
    /// Blocks for at most about `timeout` plus a small constant. Called on a loop thread
    /// (this bridge's own, or another's, as when a plugin host unloads a plugin from a
    /// callback) it does not wait, since that would stall or deadlock the calling loop:
    /// it starts the shutdown and returns at once; a thread of its own then waits up to
    /// `timeout` and resolves (with `Closed`) whatever the loop could not end, logging
    /// what it abandoned. The report returned then covers only the bridge's default pool.
    /// In a forked child (where the loop thread does not exist) every pending job is
    /// resolved with `Closed` at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// bridge.handle().add_job(async move {
    ///     tokio::time::sleep(Duration::from_millis(5)).await;
    ///     tx.send("flushed").unwrap();
    /// });
    /// let report = bridge.shutdown(Duration::from_secs(30));
    /// assert_eq!(report.finished, 1);
    /// assert_eq!(rx.recv().unwrap(), "flushed");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        self.shut_down = true;
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> ShutdownReport {
        let started = Instant::now();
        let deadline = deadline_after(timeout);
        let state = self.handle.state().clone();
        let counters = &state.counters;
        let ended = || {
            counters.finished.load(Ordering::Relaxed) + counters.panicked.load(Ordering::Relaxed)
        };
        let finished_before = ended();
        let cancelled_before = counters.cancelled.load(Ordering::Relaxed);

        *state.stop_deadline.lock() = Some(deadline);
        // ORDERING: SeqCst so that every submission after this point sees the bridge
        // closed, and every job ending after it sees that it must wake the stopping loop.
        state.closed.store(true, Ordering::SeqCst);
        state.stop.notify_one();
        // A forked child has neither the loop thread nor the pool's workers: nothing to
        // wait for.
        let forked = state.fork_generation != process::generation();
        // The default pool shuts down within the same deadline while the loop winds down
        // (on the loop thread itself it does not wait).
        let executor = state
            .executor
            .shutdown(if forked { Instant::now() } else { deadline });

        let mut report = ShutdownReport::default();
        let cancelled_by_loop = || counters.cancelled.load(Ordering::Relaxed) - cancelled_before;
        let mut cancelled = 0;
        if forked {
            // A forked child: the loop thread is in the parent, and nothing here will
            // ever end these jobs.
            abandon(&state, &mut report);
            report.stuck.clear();
        } else if loop_thread::on_loop_thread() {
            // Waiting here would stall this loop (or deadlock, on the bridge's own loop)
            // for the whole timeout: a thread of its own waits instead, and abandons
            // what the loop could not end by the deadline.
            let exited = self.exited.clone();
            let reaper_state = state.clone();
            let reaper = std::thread::Builder::new()
                .name(format!("{}-stop", state.thread_name))
                .spawn(move || {
                    if let Err(RecvTimeoutError::Timeout) =
                        exited.recv_deadline(deadline + TEARDOWN_GRACE)
                    {
                        let mut report = ShutdownReport::default();
                        abandon(&reaper_state, &mut report);
                        tracing::warn!(target: "loopbridge", "bridge shut down from a loop thread: {report}");
                    }
                });
            if let Err(error) = reaper {
                tracing::error!(target: "loopbridge", "cannot start a thread to finish a shutdown: {error}");
            }
        } else {
            match self.exited.recv_deadline(deadline + TEARDOWN_GRACE) {
                Ok(_) | Err(RecvTimeoutError::Disconnected) => cancelled = cancelled_by_loop(),
                Err(RecvTimeoutError::Timeout) => {
                    // Counted before abandoning: a job the stuck loop drops later is
                    // already counted here, not twice.
                    cancelled = cancelled_by_loop();
                    abandon(&state, &mut report);
                }
            }
        }
        let finished_after = ended();
        report.finished = usize::try_from(finished_after - finished_before).unwrap_or(usize::MAX);
        report.cancelled += usize::try_from(cancelled).unwrap_or(usize::MAX);
        if let Some(executor) = executor {
            report.absorb(executor);
        }
        report.elapsed = started.elapsed();
        report
    }
}

/// The loop thread did not stop in time: name the jobs holding it, resolve every job
/// still pending, and leave the thread behind.
fn abandon(state: &LoopState, report: &mut ShutdownReport) {
    report.loop_left_behind = true;
    // Jobs still queued will never reach the loop: end them here, and refuse later
    // pushes (which also frees what the queue holds).
    for arrival in state.queue.close() {
        if let Arrival::New(new) = arrival {
            if state.discard_arrival(new) {
                report.cancelled += 1;
            }
        }
    }
    let now = Instant::now();
    for job in state.registry.snapshot() {
        let record = job.record();
        if let Some(running_for) = record.running_poll(now) {
            report.stuck.push(StuckJob {
                site: record.site.clone(),
                running_for,
            });
        }
        let closed = Error::Closed {
            site: record.site.clone(),
        };
        if job.abandon(closed) {
            report.cancelled += 1;
        }
    }
    tracing::error!(
        target: "loopbridge",
        thread = %state.thread_name,
        stuck = ?report.stuck,
        "loop thread did not stop within the shutdown timeout; it is left behind"
    );
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if self.shut_down {
            return;
        }
        let report = self.stop(self.shutdown_timeout);
        if !report.is_clean() {
            tracing::warn!(target: "loopbridge", "bridge dropped: {report}");
        }
    }
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("handle", &self.handle)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

/// Configures and starts a [`Bridge`]. Every setting has a default chosen for the
/// common case.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use loopbridge::{AssertMode, Bridge};
///
/// let bridge = Bridge::builder()
///     .thread_name("plugins")
///     .shutdown_timeout(Duration::from_secs(2))
///     .slow_poll_threshold(Duration::from_millis(50))
///     .assert_mode(AssertMode::Log)
///     .build()?;
/// assert_eq!(bridge.handle().submit(async { 1 }).wait()?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    thread_name: String,
    shutdown_timeout: Duration,
    slow_poll_threshold: Duration,
    assert_mode: AssertMode,
    spin_before_park: Duration,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            thread_name: "loopbridge".to_owned(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            slow_poll_threshold: DEFAULT_SLOW_POLL_THRESHOLD,
            assert_mode: AssertMode::default(),
            spin_before_park: Duration::ZERO,
        }
    }
}

impl Builder {
    /// The loop thread's name (default `"loopbridge"`), shown in panics, logs and
    /// debuggers.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::builder().thread_name("io-loop").build()?;
    /// let name = bridge.handle().run_callback(loopbridge::on_loop_thread).wait()?;
    /// assert!(name);
    /// assert!(format!("{:?}", bridge.handle()).contains("io-loop"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// How long dropping the bridge lets jobs finish (default 5 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::builder()
    ///     .shutdown_timeout(Duration::from_millis(10))
    ///     .build()?;
    /// let forever = bridge.handle().submit(std::future::pending::<()>());
    /// drop(bridge); // waits at most about 10 ms for the job, then ends it
    /// assert!(forever.wait().unwrap_err().is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Builder {
        self.shutdown_timeout = timeout;
        self
    }

    /// A poll or callback that holds the loop this long is logged and counted as slow
    /// (default 100 ms, asyncio's `slow_callback_duration`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // A zero threshold counts every poll, which makes the counter easy to see.
    /// let bridge = loopbridge::Bridge::builder()
    ///     .slow_poll_threshold(Duration::ZERO)
    ///     .build()?;
    /// let handle = bridge.handle();
    /// handle.run_callback(|| ()).wait()?;
    /// # while handle.stats().slow_polls == 0 { std::thread::yield_now(); }
    /// assert_eq!(handle.stats().slow_polls, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.slow_poll_threshold = threshold;
        self
    }

    /// What breaking a loop-thread rule does (default [`AssertMode::Panic`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopbridge::{AssertMode, Bridge};
    ///
    /// let bridge = Bridge::builder().assert_mode(AssertMode::Ignore).build()?;
    /// // Off the loop thread, but ignored: no panic, no log.
    /// bridge.handle().verify_loop_thread("refresh cache");
    /// let blocked = bridge.handle().run_callback(|| loopbridge::check_blocking("read file"));
    /// assert!(blocked.wait().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn assert_mode(mut self, mode: AssertMode) -> Builder {
        self.assert_mode = mode;
        self
    }

    /// The low-latency wait: a thread waiting on one of this bridge's completions spins
    /// for up to `spin` before it parks, and the loop thread stays awake (polling without
    /// blocking) for `spin` after its last job ends (default zero: both park at once).
    ///
    /// Waking a parked thread costs several microseconds on each side of a round trip;
    /// with both sides awake a back-to-back round trip takes a fraction of that. The
    /// price is CPU: the loop thread keeps one core busy for `spin` after every burst of
    /// work, and each waiter burns its core for up to `spin` per wait. Use it for
    /// latency-bound request/response traffic on machines with cores to spare; a few
    /// tens of microseconds covers a typical job. Spinning is never used on a loop
    /// thread, where waits are refused anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::builder()
    ///     .spin_before_park(Duration::from_micros(50))
    ///     .build()?;
    /// for n in 0..100 {
    ///     assert_eq!(bridge.handle().submit(async move { n }).wait()?, n);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spin_before_park(mut self, spin: Duration) -> Builder {
        self.spin_before_park = spin;
        self
    }

    /// Starts the loop thread and returns the bridge once the loop is ready.
    ///
    /// # Errors
    ///
    /// If the thread cannot be spawned or the runtime cannot be built; the error comes
    /// back here, never as a panic on the loop thread. A thread name with a NUL byte is
    /// refused with [`std::io::ErrorKind::InvalidInput`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    ///
    /// let bridge = loopbridge::Bridge::builder().build()?;
    /// assert_eq!(bridge.handle().submit(async { 1 }).wait()?, 1);
    ///
    /// let refused = loopbridge::Bridge::builder().thread_name("bad\0name").build();
    /// assert_eq!(refused.unwrap_err().kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> io::Result<Bridge> {
        loop_thread::check_thread_name(&self.thread_name)?;
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let (exited_tx, exited_rx) = crossbeam_channel::bounded(1);
        let shutdown_timeout = self.shutdown_timeout;
        std::thread::Builder::new()
            .name(self.thread_name.clone())
            .spawn(move || run_loop_thread(self, ready_tx, exited_tx))?;
        let state = ready_rx.recv().map_err(|_| {
            io::Error::other("loopbridge: the loop thread exited during start-up")
        })??;
        Ok(Bridge {
            handle: Handle::new(state),
            exited: exited_rx,
            shutdown_timeout,
            shut_down: false,
        })
    }
}

impl Builder {
    /// The state a loop built from this configuration starts with.
    pub(crate) fn loop_state(self) -> LoopState {
        LoopState {
            id: NEXT_BRIDGE_ID.fetch_add(1, Ordering::Relaxed),
            thread_name: self.thread_name.into(),
            closed: AtomicBool::new(false),
            registry: Registry::default(),
            queue: Default::default(),
            counters: Counters::default(),
            stop: Default::default(),
            stop_deadline: Default::default(),
            idle: Default::default(),
            slow_poll_threshold: self.slow_poll_threshold,
            poll_clock: PollClock::new(),
            spin: self.spin_before_park,
            fork_generation: crate::process::generation(),
            assert_mode: self.assert_mode,
            executor: Default::default(),
        }
    }
}

/// The loop thread's whole life.
fn run_loop_thread(
    config: Builder,
    ready: crossbeam_channel::Sender<io::Result<Arc<LoopState>>>,
    exited: crossbeam_channel::Sender<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let assert_mode = config.assert_mode;
    let state = Arc::new(config.loop_state());
    watchdog::watch(&state);
    loop_thread::mark_current(LoopMark {
        bridge: state.id,
        mode: assert_mode,
    });
    // The LocalSet lets jobs hold what is not `Send` (and spawn with `spawn_local`).
    let local = LocalSet::new();
    local.spawn_local(dispatch(state.clone()));
    if ready.send(Ok(state.clone())).is_err() {
        return;
    }

    local.block_on(&runtime, run_until_stopped(&state));

    // Closing the queue refuses every later submission; then what is still queued, the
    // dispatcher's jobs (in the LocalSet) and the runtime's tasks are dropped. Each job's
    // `Finish` resolves its completion with `Closed`. Inside the runtime, so that the
    // jobs' destructors can still use tokio (spawn a last cleanup, read a handle).
    state.closed.store(true, Ordering::SeqCst);
    let in_runtime = runtime.enter();
    for arrival in state.queue.close() {
        if let Arrival::New(new) = arrival {
            state.discard_arrival(new);
        }
    }
    drop(local);
    drop(in_runtime);
    runtime.shutdown_timeout(TEARDOWN_GRACE);
    let _ = exited.send(());
}

/// The loop's own future: waits to be told to stop, then for the last job to end or the
/// deadline to pass.
async fn run_until_stopped(state: &LoopState) {
    state.stop.notified().await;
    let deadline = state.stop_deadline.lock().unwrap_or_else(Instant::now);
    let mut expired = pin!(tokio::time::sleep_until(deadline.into()));
    loop {
        let mut idle = pin!(state.idle.notified());
        if state.registry.len() == 0 {
            return;
        }
        let timed_out = poll_fn(|cx| {
            if expired.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            idle.as_mut().poll(cx).map(|()| false)
        })
        .await;
        if timed_out {
            return;
        }
    }
}
