//! [`Bridge`]: owns one loop thread, from start-up ([`BridgeBuilder`], the loop thread's body)
//! to a bounded shutdown, the lazily started [`LazyBridge`], and the process-wide
//! [`global()`] bridge (one of them).
//!
//! May import everything below it: `handle`, `event_loop`, `pool`, `watchdog`, `job`,
//! `report`, and the leaves.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::handle::Handle;
use crate::report::ShutdownReport;

mod builder;
mod global;
mod lazy;
mod loop_body;
mod shutdown;

pub use builder::{BridgeBuilder, MAX_SPIN_BEFORE_PARK};
pub use global::global;
pub use lazy::LazyBridge;

/// Owns one loop thread: a dedicated thread running a tokio current-thread runtime (with
/// timers and I/O) where submitted futures run.
///
/// Dropping a `Bridge` shuts it down like [`shutdown`](Bridge::shutdown) with the
/// builder's [`shutdown_timeout`](BridgeBuilder::shutdown_timeout) (5 s by default) and logs
/// what it had to abandon. Dropping never panics, and never waits inside another runtime's
/// async context.
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
    stages: crossbeam_channel::Receiver<shutdown::Stage>,
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
        BridgeBuilder::default().build()
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
    pub fn builder() -> BridgeBuilder {
        BridgeBuilder::default()
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
    /// It takes the bridge by value because a bridge has one loop thread to stop, once:
    /// after it there is nothing left to own, and the type system says so (handles stay
    /// valid and answer [`Error::Closed`](crate::Error::Closed)). [`ThreadPool::shutdown`](crate::ThreadPool::shutdown)
    /// takes `&self` instead because a pool's clones are all equal owners that any of
    /// them may close, as a library's pool is often shared with no single owner.
    ///
    /// Submissions fail with [`Error::Closed`](crate::Error::Closed) from now on. Jobs in
    /// flight (including [`add_job`](Handle::add_job) jobs) get until `timeout` to finish;
    /// the rest are cut off: their completions resolve with
    /// [`Error::Closed`](crate::Error::Closed) and they count as
    /// [`cancelled`](ShutdownReport::cancelled), then their futures are dropped on the loop
    /// thread, inside its runtime. A job that blocks the loop thread itself past
    /// `timeout` is reported in [`ShutdownReport::stuck`] and the loop thread is left
    /// behind rather than joined forever.
    ///
    /// It goes in stages, reported in [`ShutdownReport::stages`]. As it begins, the
    /// shutdown hooks ([`Handle::on_shutdown`], and every scope's
    /// [`on_close`](crate::Scope::on_close)) are submitted, then new work is refused,
    /// [`Handle::closing`] resolves and every [`Scope`](crate::Scope)'s token is
    /// cancelled. The hooks get up to [`BridgeBuilder::shutdown_hook_share`] of the timeout
    /// (then they are cut off); every job already submitted keeps running meanwhile and
    /// gets until the whole timeout to finish; what is left is then cut off.
    ///
    /// Every completion is resolved, and every job counted in [`Handle::stats`], by the
    /// time this returns. Dropping the cut-off futures is the slow half of a teardown
    /// (a million of them, or one whose destructor blocks): what is not done within the
    /// teardown's grace (200 ms after `timeout`) finishes in the background, so the time
    /// this takes does not grow with the number of jobs.
    ///
    /// # Blocking
    ///
    /// Blocks for at most about `timeout` plus a small constant. Called on a loop thread
    /// (this bridge's own, or another's, as when a plugin host unloads a plugin from a
    /// callback) it does not wait, since that would stall or deadlock the calling loop:
    /// it starts the shutdown and returns at once; a thread of its own then waits up to
    /// `timeout` and resolves (with `Closed`) whatever the loop could not end, logging
    /// what it cut off. The report returned then covers only the bridge's default pool,
    /// and says [`finishing_in_background`](ShutdownReport::finishing_in_background).
    /// Inside an async context (a task or `block_on` of another tokio runtime, whose other
    /// tasks waiting would stall, and whose jobs waiting for them it would cut off) it
    /// finishes in the background the same way; from `spawn_blocking` it waits.
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
        shutdown::stop(&self.handle, &self.stages, timeout)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if self.shut_down {
            return;
        }
        let report = shutdown::stop(&self.handle, &self.stages, self.shutdown_timeout);
        // A shutdown finishing in the background logs from there, once it knows.
        if !report.is_clean() && !report.finishing_in_background {
            tracing::warn!(
                target: "loopbridge::shutdown",
                thread = %self.handle.state().thread_name,
                caller = "drop",
                finished = report.finished,
                cancelled = report.cancelled,
                stuck = report.stuck.len(),
                elapsed_ms = report.elapsed.as_secs_f64() * 1e3,
                "bridge '{}' dropped: {report}",
                self.handle.state().thread_name
            );
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
