//! [`BridgeBuilder`]: a bridge's configuration, each setting with its default and reason.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::event_loop::LoopSettings;
use crate::handle::Handle;
use crate::loop_thread::{self, AssertMode};
use crate::pool::DefaultPool;
use crate::spin::SpinPolicy;
use crate::util::Dispatcher;

use super::{loop_body, Bridge};

/// How long `Drop` lets jobs finish: long enough for well-behaved jobs to complete a
/// network round trip, short enough that a stuck process still exits promptly.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `spin_before_park` accepted: a thread wakes from a park in tens of
/// microseconds, so spinning for longer than this only burns a core.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use loopbridge::{Bridge, MAX_SPIN_BEFORE_PARK};
///
/// let too_long = MAX_SPIN_BEFORE_PARK + Duration::from_micros(1);
/// assert!(Bridge::builder().spin_before_park(too_long).build().is_err());
/// assert!(Bridge::builder().spin_before_park(MAX_SPIN_BEFORE_PARK).build().is_ok());
/// ```
pub const MAX_SPIN_BEFORE_PARK: Duration = Duration::from_millis(10);

/// The share of a shutdown's timeout its hooks may take: enough for a flush or a goodbye
/// message, while most of the timeout stays for jobs to finish.
const DEFAULT_HOOK_SHARE: f64 = 0.25;

/// asyncio's `slow_callback_duration`: a poll this long is a stall users notice.
const DEFAULT_SLOW_POLL_THRESHOLD: Duration = Duration::from_millis(100);

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
pub struct BridgeBuilder {
    thread_name: String,
    shutdown_timeout: Duration,
    shutdown_hook_share: f64,
    slow_poll_threshold: Duration,
    assert_mode: AssertMode,
    spin: SpinPolicy,
    max_pending: Option<usize>,
    /// Whether `build` carries the `tracing` dispatcher current there to the bridge's
    /// threads (a `LazyBridge`, started by whichever call comes first, does not).
    inherit_dispatch: bool,
}

impl Default for BridgeBuilder {
    fn default() -> BridgeBuilder {
        BridgeBuilder {
            thread_name: "loopbridge".to_owned(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            shutdown_hook_share: DEFAULT_HOOK_SHARE,
            slow_poll_threshold: DEFAULT_SLOW_POLL_THRESHOLD,
            assert_mode: AssertMode::default(),
            spin: SpinPolicy::Adaptive,
            max_pending: None,
            inherit_dispatch: true,
        }
    }
}

impl BridgeBuilder {
    /// The loop thread's name (default `"loopbridge"`), shown in panics, logs and
    /// debuggers.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::builder().thread_name("io-loop").build()?;
    /// let name = bridge.handle().run_callback(loopbridge::is_any_loop_thread).wait()?;
    /// assert!(name);
    /// assert!(format!("{:?}", bridge.handle()).contains("io-loop"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> BridgeBuilder {
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
    pub fn shutdown_timeout(mut self, timeout: Duration) -> BridgeBuilder {
        self.shutdown_timeout = timeout;
        self
    }

    /// The share of a shutdown's timeout that its hooks
    /// ([`Handle::on_shutdown`](crate::Handle::on_shutdown)) may take before they are cut
    /// off (default 0.25: a quarter; the rest lets jobs finish). A shutdown runs its hooks
    /// first, while every job keeps running; then jobs get until the whole timeout to
    /// finish; then what is left is cut off.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::builder().shutdown_hook_share(0.5).build()?;
    /// assert_eq!(bridge.handle().submit(async { 1 }).wait()?, 1);
    ///
    /// let refused = loopbridge::Bridge::builder().shutdown_hook_share(1.5).build();
    /// assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_hook_share(mut self, share: f64) -> BridgeBuilder {
        self.shutdown_hook_share = share;
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
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> BridgeBuilder {
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
    pub fn assert_mode(mut self, mode: AssertMode) -> BridgeBuilder {
        self.assert_mode = mode;
        self
    }

    /// Whether and how this bridge's waiters and its loop thread spin before they park
    /// (default [`SpinPolicy::Adaptive`]: a budget learned from recent waits, and none
    /// where spinning cannot pay). [`SpinPolicy::Off`] never spins.
    ///
    /// A blocking wait spins only on a plain thread (not inside `block_in_place` on a
    /// host runtime's worker, and never on a loop thread, where waits are refused).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopbridge::{Bridge, SpinPolicy};
    ///
    /// let bridge = Bridge::builder().spin(SpinPolicy::Off).build()?;
    /// for n in 0..10 {
    ///     assert_eq!(bridge.handle().submit(async move { n }).wait()?, n);
    /// }
    /// assert_eq!(bridge.handle().stats().loop_spins_met, 0, "the loop never spun");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spin(mut self, policy: SpinPolicy) -> BridgeBuilder {
        self.spin = policy;
        self
    }

    /// A fixed spin, learning nothing: a thread waiting on one of this bridge's
    /// completions spins for up to `spin` before it parks, and the loop thread stays
    /// awake (looking for work without blocking) for `spin` after each batch of work.
    /// The same as [`spin`](BridgeBuilder::spin)`(`[`SpinPolicy::Fixed`]`(spin))`; zero is
    /// [`SpinPolicy::Off`].
    ///
    /// Waking a parked thread costs tens of microseconds on each side of a round trip;
    /// with both sides awake a back-to-back round trip takes a microsecond or two. The
    /// price is CPU: the loop thread keeps one core busy for `spin` after every burst of
    /// work, and each waiter burns its core for up to `spin` per wait, however long its
    /// jobs are (the default, [`SpinPolicy::Adaptive`], stops spinning for jobs that
    /// outlast it). Neither side spins when they share a CPU, or on one CPU.
    ///
    /// At most [`MAX_SPIN_BEFORE_PARK`] (10 ms): [`build`](BridgeBuilder::build) refuses a
    /// longer spin with [`io::ErrorKind::InvalidInput`].
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
    ///
    /// // A spin that would burn a core for minutes is refused, naming the limit.
    /// let refused = loopbridge::Bridge::builder()
    ///     .spin_before_park(Duration::MAX)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(refused.to_string().contains("spin_before_park"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spin_before_park(mut self, spin: Duration) -> BridgeBuilder {
        self.spin = if spin.is_zero() {
            SpinPolicy::Off
        } else {
            SpinPolicy::Fixed(spin)
        };
        self
    }

    /// Bounds the jobs pending on the loop (submitted and not yet ended: queued, or
    /// started and not finished) to `n` (default: unbounded), so that producers faster
    /// than the loop meet backpressure instead of growing memory without bound.
    ///
    /// With the bound reached, [`Handle::submit`] (and the rest of the submit family)
    /// refuses at once with [`Error::QueueFull`](crate::Error::QueueFull) (`call_soon`
    /// returns it; `add_job` logs and drops the job); synchronous producers wait for room
    /// with [`Handle::submit_timeout`], async ones with
    /// [`Handle::reserve`]`().await` (the same vocabulary as a bounded
    /// [`ThreadPool`](crate::ThreadPool)). A [`ThreadsafeFn`](crate::ThreadsafeFn) holds
    /// one place for its life, its events none (its own capacity bounds them). Shutdown
    /// refuses every waiter with [`Error::Closed`](crate::Error::Closed). `0` is refused
    /// by [`build`](BridgeBuilder::build) with [`io::ErrorKind::InvalidInput`].
    ///
    /// # Examples
    ///
    /// ```
    /// let refused = loopbridge::Bridge::builder().max_pending(0).build();
    /// assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// let bridge = loopbridge::Bridge::builder().max_pending(1).build()?;
    /// let handle = bridge.handle();
    /// let (release, released) = tokio::sync::oneshot::channel::<()>();
    /// let first = handle.submit(async move { released.await.unwrap() });
    /// assert!(handle.submit(async {}).wait().unwrap_err().is_queue_full());
    /// release.send(()).unwrap();
    /// first.wait()?;
    /// // The place comes back as the first job leaves the loop (just after its waiter
    /// // woke): wait for it rather than race it.
    /// handle.submit_timeout(async {}, std::time::Duration::from_secs(30)).wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_pending(mut self, n: usize) -> BridgeBuilder {
        self.max_pending = Some(n);
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
        if !(0.0..=1.0).contains(&self.shutdown_hook_share) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "loopbridge: shutdown_hook_share({}) is not a share between 0 and 1",
                    self.shutdown_hook_share
                ),
            ));
        }
        if self.max_pending == Some(0) {
            // Like a pool's `queue_capacity(0)`: a loop that refuses every job is a bug.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "loopbridge: max_pending must be at least 1 (0 would refuse every job)",
            ));
        }
        match self.spin {
            SpinPolicy::Fixed(spin) if spin > MAX_SPIN_BEFORE_PARK => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "loopbridge: spin_before_park({spin:?}) (SpinPolicy::Fixed) is longer \
                         than its limit of {MAX_SPIN_BEFORE_PARK:?}: every wait and the loop \
                         thread would burn a core for that long"
                    ),
                ));
            }
            _ => {}
        }
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let (stages_tx, stages_rx) = crossbeam_channel::bounded(2);
        let shutdown_timeout = self.shutdown_timeout;
        let settings = self.settings();
        std::thread::Builder::new()
            .name(self.thread_name.clone())
            .spawn(move || {
                let dispatch = settings.dispatch.clone();
                dispatch.in_scope(|| loop_body::run_loop_thread(settings, ready_tx, stages_tx));
            })?;
        let state = ready_rx.recv().map_err(|_| {
            io::Error::other("loopbridge: the loop thread exited during start-up")
        })??;
        Ok(Bridge {
            handle: Handle::new(state, Arc::new(DefaultPool::default())),
            stages: stages_rx,
            shutdown_timeout,
            shut_down: false,
        })
    }
}

impl BridgeBuilder {
    /// The loop's part of this configuration.
    pub(crate) fn settings(&self) -> LoopSettings {
        LoopSettings {
            thread_name: self.thread_name.as_str().into(),
            slow_poll_threshold: self.slow_poll_threshold,
            spin: self.spin,
            assert_mode: self.assert_mode,
            shutdown_timeout: self.shutdown_timeout,
            hook_share: self.shutdown_hook_share,
            max_pending: self.max_pending,
            dispatch: if self.inherit_dispatch {
                Dispatcher::current()
            } else {
                Dispatcher::default()
            },
        }
    }

    /// A builder whose bridge's threads use the global `tracing` default rather than the
    /// dispatcher current at `build` (for bridges started on first use).
    pub(crate) fn without_inherited_dispatch(mut self) -> BridgeBuilder {
        self.inherit_dispatch = false;
        self
    }
}
