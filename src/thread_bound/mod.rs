//! [`ThreadBound<T>`]: a dedicated thread that owns a value that must stay on one thread
//! (a SQLite connection, a handle from a C library that is not thread-safe), and the
//! calls that reach it from any thread or from the loop.
//!
//! `mod.rs` is the handle and its calls; `builder.rs` the configuration and the start;
//! `thread.rs` the owning thread (the value, one call at a time, the timing, the drop);
//! `mailbox.rs` the handoff between callers and the thread (loom:
//! `loom-tests/thread_bound.rs`); `named.rs` named calls; `error.rs` [`SpawnError`];
//! `stats.rs` [`ThreadBoundStats`]. The calls are jobs like a pool's (`pool::admitted_cell`,
//! `pool::run_claimed`): same cell, claim, scope membership and counting.
//!
//! May import `pool`, `job`, `completion`, `room`, the leaves. Not `handle` or `bridge`:
//! a thread-bound value knows no loop.

mod builder;
mod error;
mod mailbox;
mod named;
mod stats;
mod thread;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::host_runtime;
use crate::job::Tally;
use crate::loop_thread;
use crate::pool::{is_running_pool_job, PoolPermit, PoolReserve};
use crate::report::ShutdownReport;
use crate::room::{Bounded, NoRoom, Room};
use crate::util::deadline_after;

pub use builder::ThreadBoundBuilder;
pub use error::SpawnError;
pub use named::ThreadBoundJob;
pub use stats::ThreadBoundStats;

#[cfg(loopbridge_loom)]
pub(crate) use mailbox::{Mailbox, Next};

use thread::Shared;

/// A value that lives on a thread of its own, reached by calls: the value (`T`, which
/// need not be `Send`) is built on that thread by the closure given to
/// [`spawn`](ThreadBound::spawn), every [`call`](ThreadBound::call) runs there with
/// `&mut T`, one at a time in the order they were queued, and the value is dropped there.
/// The result of a call is a [`Completion`]: `.wait()` it from sync code, `.await` it from
/// async code (on a loop, nothing blocks).
///
/// This is the actor the README used to tell you to write by hand, with the crate's
/// guarantees: a bounded mailbox with the pools' backpressure ([`Error::QueueFull`],
/// [`call_timeout`](ThreadBound::call_timeout), [`reserve`](ThreadBound::reserve)), call
/// sites in every error, panics caught, slow calls logged, a bounded shutdown that names
/// a stuck call, and fork and scope awareness.
///
/// Handles are cheap to clone, `Send` and `Sync` whatever `T` is. Dropping the last one
/// shuts the thread down as [`shutdown`](ThreadBound::shutdown) does, with the builder's
/// [`shutdown_timeout`](ThreadBoundBuilder::shutdown_timeout) (default 5 s), and never
/// waits on a loop thread, inside a tokio runtime's context or on the owning thread
/// (there it finishes in the background). A pending [`PoolReserve`] or unused
/// [`PoolPermit`] counts as a handle. Do not keep a handle inside the value itself: the
/// value would keep its own thread alive.
///
/// # Calls from the owning thread
///
/// A call made from inside a call on the same value (a nested call) would wait for the
/// outer call, which holds the value: it is refused at once with [`Error::Reentrant`]
/// instead of deadlocking (running it inline would hand out a second `&mut T`). A call
/// made on the owning thread while no call runs (from a `then` callback that the thread
/// runs as it delivers a result) runs inline, at once, ahead of the calls still queued.
///
/// # Panics in calls
///
/// A panic in a call resolves its completion with [`Error::Panicked`] (with the call's
/// site); the thread keeps serving and the value stays usable: there is no poisoning, as
/// with parking_lot's `Mutex`, since the crate cannot tell whether the panic left the
/// value half-changed. A value that must not be used after a panic can keep its own
/// `poisoned` flag, set by a guard inside the call.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// use loopbridge::ThreadBound;
///
/// // `Rc<RefCell<_>>` is neither `Send` nor `Sync`: it is built on, used on and dropped
/// // on the dedicated thread.
/// let names = ThreadBound::spawn("names", || Ok::<_, std::io::Error>(Rc::new(RefCell::new(Vec::new()))))?;
///
/// // From any thread:
/// let from_thread = names.clone();
/// std::thread::spawn(move || from_thread.call(|v| v.borrow_mut().push("thread")).wait())
///     .join()
///     .unwrap()?;
///
/// // From async code on a bridge's loop, `.await`ed:
/// let bridge = loopbridge::Bridge::new()?;
/// let from_loop = names.clone();
/// bridge.handle().block_on(async move { from_loop.call(|v| v.borrow_mut().push("loop")).await })??;
///
/// assert_eq!(names.call(|v| v.borrow().clone()).wait()?, ["thread", "loop"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ThreadBound<T: 'static> {
    owner: Arc<Owner<T>>,
}

/// What the clones share; dropping it (with the last clone) shuts the thread down.
struct Owner<T: 'static> {
    shared: Arc<Shared<T>>,
    shutdown_timeout: Duration,
}

impl<T: 'static> Clone for ThreadBound<T> {
    fn clone(&self) -> ThreadBound<T> {
        ThreadBound {
            owner: self.owner.clone(),
        }
    }
}

impl ThreadBound<()> {
    /// A builder to configure the thread and its mailbox.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::builder().name("ffi").spawn(|| Ok::<_, ()>(5))
    ///     .map_err(|_| "spawn")?;
    /// assert_eq!(bound.call(|n| *n * 2).wait()?, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> ThreadBoundBuilder {
        ThreadBoundBuilder::default()
    }
}

impl<T: 'static> ThreadBound<T> {
    fn new(shared: Arc<Shared<T>>, shutdown_timeout: Duration) -> ThreadBound<T> {
        ThreadBound {
            owner: Arc::new(Owner {
                shared,
                shutdown_timeout,
            }),
        }
    }

    /// Starts a thread named `name`, builds the value there with `make` and waits for
    /// it, with the other defaults of [`ThreadBound::builder`].
    ///
    /// # Errors
    ///
    /// As [`ThreadBoundBuilder::spawn`]: `make`'s error, the thread's, a panic, or a
    /// refusal to wait on a loop thread.
    ///
    /// # Blocking
    ///
    /// Waits for `make`; on a loop thread it refuses instead (use
    /// [`ThreadBoundBuilder::spawn_async`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let counter = loopbridge::ThreadBound::spawn("counter", || Ok::<_, std::io::Error>(0u64))?;
    /// counter.call(|n| *n += 1).wait()?;
    /// assert_eq!(counter.call(|n| *n).wait()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn spawn<E, M>(name: impl Into<String>, make: M) -> Result<ThreadBound<T>, SpawnError<E>>
    where
        E: Send + 'static,
        M: FnOnce() -> Result<T, E> + Send + 'static,
    {
        ThreadBound::builder().name(name).spawn(make)
    }

    /// The thread's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::spawn("db", || Ok::<_, ()>(())).map_err(|_| "spawn")?;
    /// assert_eq!(bound.name(), "db");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.shared().name
    }

    /// Runs `f` with the value on its thread and returns its [`Completion`]. Calls run
    /// one at a time, in the order they were queued (FIFO, from every thread).
    ///
    /// [`Completion::cancel`] before the thread takes the call means `f` never runs;
    /// after, `f` runs to the end and its result is dropped. A panic in `f` resolves the
    /// completion with [`Error::Panicked`] and leaves the value usable (see the type's
    /// docs). From inside a scoped job the call joins that job's scope.
    ///
    /// # Errors
    ///
    /// In the completion, at once: [`Error::Closed`] once the thread is shut down;
    /// [`Error::QueueFull`] when the mailbox is full (`f` is dropped unrun);
    /// [`Error::Reentrant`] from inside a call on the same value; [`Error::Forked`] in a
    /// forked child.
    ///
    /// # Blocking
    ///
    /// Never blocks: fine on a loop thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::spawn("v", || Ok::<_, ()>(vec![1, 2])).map_err(|_| "spawn")?;
    /// let error = bound.call(|v| v[9]).wait().unwrap_err();
    /// assert!(error.is_panic());
    /// assert_eq!(error.site().location().line(), line!() - 2);
    /// assert_eq!(bound.call(|v| v.len()).wait()?, 2, "still usable");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn call<F, R>(&self, f: F) -> Completion<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.call_at(Site::caller(), f)
    }

    pub(crate) fn call_at<F, R>(&self, site: Site, f: F) -> Completion<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let shared = self.shared();
        if let Err(forked) = crate::process::check_not_forked(shared.fork_generation, &site) {
            return Completion::failed(forked);
        }
        if thread::owns(shared.id) {
            return thread::call_here(shared, site, f);
        }
        if shared.mailbox.is_closed() {
            return Completion::failed(Error::Closed { site });
        }
        if let Some(room) = &shared.room {
            if let Err(no_room) = room.try_acquire() {
                return self.refused(site, no_room);
            }
        }
        shared.enqueue(site, f)
    }

    /// Like [`call`](ThreadBound::call), but when the mailbox is full, blocks the
    /// calling thread until there is room, for at most `timeout` (backpressure for a
    /// synchronous caller). The timeout bounds the wait for room, not the call.
    ///
    /// # Errors
    ///
    /// In the completion, at once: [`Error::BlockingOnLoop`] on a loop thread (nothing is
    /// queued, whether or not there is room); [`Error::QueueFull`] if no room came within
    /// `timeout`; [`Error::Closed`] if the thread is or gets shut down while waiting;
    /// otherwise as [`call`](ThreadBound::call).
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout`, only while the mailbox is full. On a loop thread it
    /// refuses: use [`reserve`](ThreadBound::reserve)`().await` there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bound = loopbridge::ThreadBound::spawn("n", || Ok::<_, ()>(1)).map_err(|_| "spawn")?;
    /// assert_eq!(bound.call_timeout(|n| *n, Duration::from_secs(5)).wait()?, 1);
    /// let bridge = loopbridge::Bridge::new()?;
    /// let on_loop = bound.clone();
    /// let refused = bridge.handle().run_callback(move || {
    ///     on_loop.call_timeout(|n| *n, Duration::from_secs(5)).try_take()
    /// }).wait()?;
    /// assert!(refused.unwrap().unwrap_err().is_blocking_on_loop());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn call_timeout<F, R>(&self, f: F, timeout: Duration) -> Completion<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.call_timeout_at(Site::caller(), f, timeout)
    }

    pub(crate) fn call_timeout_at<F, R>(&self, site: Site, f: F, timeout: Duration) -> Completion<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let shared = self.shared();
        if let Err(forked) = crate::process::check_not_forked(shared.fork_generation, &site) {
            return Completion::failed(forked);
        }
        if loop_thread::is_any_loop_thread() {
            return Completion::failed(Error::BlockingOnLoop { site });
        }
        if thread::owns(shared.id) {
            return thread::call_here(shared, site, f);
        }
        if shared.mailbox.is_closed() {
            return Completion::failed(Error::Closed { site });
        }
        if let Some(room) = &shared.room {
            let got = match host_runtime::take_room(room, shared.assert_mode, &site, timeout) {
                Ok(got) => got,
                Err(refused) => return Completion::failed(refused),
            };
            if let Err(no_room) = got {
                return self.refused(site, no_room);
            }
        }
        shared.enqueue(site, f)
    }

    /// Waits for room in the mailbox without blocking the thread, and returns a
    /// [`PoolPermit`] whose `call` queues one call into it (backpressure for an async
    /// caller), as [`ThreadPool::reserve`](crate::ThreadPool::reserve) does. First come,
    /// first served; dropping the future gives up its place in line.
    ///
    /// # Errors
    ///
    /// From the future: [`Error::Closed`] if the thread is or gets shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::builder().mailbox_capacity(2)
    ///     .spawn(|| Ok::<_, ()>(0u64)).map_err(|_| "spawn")?;
    /// let bridge = loopbridge::Bridge::new()?;
    /// let total = bridge.handle().block_on(async move {
    ///     for n in 0..10 {
    ///         // Waits (without blocking the loop) while two calls are queued.
    ///         let _ = bound.reserve().await?.call(move |sum| *sum += n);
    ///     }
    ///     // A plain `call` could find the mailbox full: it does not wait for room.
    ///     bound.reserve().await?.call(|sum| *sum).await
    /// })??;
    /// assert_eq!(total, 45);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn reserve(&self) -> PoolReserve<ThreadBound<T>> {
        PoolReserve::new(self.clone(), Site::caller())
    }

    /// A place in the mailbox if there is room now, without waiting: the way to call
    /// only when the call can be queued, keeping the closure otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::QueueFull`] if the mailbox is full (not counted in
    /// [`ThreadBoundStats::refused`]: nothing was submitted); [`Error::Closed`] once the
    /// thread is shut down.
    ///
    /// # Blocking
    ///
    /// Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::spawn("n", || Ok::<_, ()>(2)).map_err(|_| "spawn")?;
    /// assert_eq!(bound.try_reserve()?.call(|n| *n * 21).wait()?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn try_reserve(&self) -> Result<PoolPermit<ThreadBound<T>>, Error> {
        PoolPermit::try_new(self, Site::caller())
    }

    /// A named way to call: every call's [`Site`] carries `name`, as
    /// [`Handle::job`](crate::Handle::job) names loop jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::spawn("n", || Ok::<_, ()>(1)).map_err(|_| "spawn")?;
    /// let done = bound.job("read").call(|n| *n);
    /// assert_eq!(done.site().name(), Some("read"));
    /// assert_eq!(done.wait()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn job(&self, name: impl Into<Arc<str>>) -> ThreadBoundJob<'_, T> {
        ThreadBoundJob::new(self, name.into())
    }

    /// The counters of the calls so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::spawn("n", || Ok::<_, ()>(1)).map_err(|_| "spawn")?;
    /// bound.call(|n| *n).wait()?;
    /// assert_eq!(bound.stats().finished, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> ThreadBoundStats {
        let shared = self.shared();
        let pool = shared.jobs.counters.snapshot();
        // ORDERING: statistics only.
        ThreadBoundStats {
            submitted: pool.submitted,
            queued: shared.mailbox.queued(),
            running: pool.running,
            finished: pool.finished,
            cancelled: pool.cancelled,
            panicked: pool.panicked,
            refused: pool.refused,
            slow_calls: shared.slow_calls.load(Ordering::Relaxed),
            longest_call: Duration::from_nanos(shared.longest_call.load(Ordering::Relaxed)),
        }
    }

    /// Shuts the thread down: later calls fail with [`Error::Closed`], and so do the
    /// calls still queued (refused at once, counted as
    /// [`cancelled`](ShutdownReport::cancelled): a shutdown does not run them, so it
    /// never waits behind a long queue). It then waits, at most about `timeout`, for the
    /// running call to end and for the thread to drop the value. A call still running
    /// then is named in [`ShutdownReport::stuck`], its completion resolves with
    /// [`Error::Closed`], and the thread is left behind (it drops the value and exits
    /// whenever the call returns), never joined.
    ///
    /// Calling it again, from any clone, waits again and reports what is left.
    ///
    /// # Blocking
    ///
    /// Blocks for at most about `timeout`. On a loop thread, on the owning thread
    /// itself, or inside an async context (a task or `block_on` of a tokio runtime; a
    /// `spawn_blocking` thread waits) it does not wait: it refuses the queued calls and
    /// returns with [`finishing_in_background`](ShutdownReport::finishing_in_background)
    /// set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let bound = loopbridge::ThreadBound::spawn("n", || Ok::<_, ()>(0)).map_err(|_| "spawn")?;
    /// let (started_tx, started) = mpsc::channel();
    /// let (release, release_rx) = mpsc::channel::<()>();
    /// let stuck = bound.call(move |_| {
    ///     started_tx.send(()).unwrap();
    ///     let _ = release_rx.recv();
    /// });
    /// started.recv()?;
    /// let queued = bound.call(|n| *n);
    ///
    /// let report = bound.shutdown(Duration::from_millis(50));
    /// assert_eq!(report.stuck.len(), 1);
    /// assert!(queued.wait().unwrap_err().is_closed());
    /// assert!(stuck.wait().unwrap_err().is_closed());
    /// assert!(bound.call(|n| *n).wait().unwrap_err().is_closed());
    /// release.send(())?; // the thread drops the value and ends on its own
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        self.owner.stop(timeout, false)
    }

    fn shared(&self) -> &Shared<T> {
        &self.owner.shared
    }

    fn refused<R>(&self, site: Site, no_room: NoRoom) -> Completion<R> {
        match no_room {
            NoRoom::Closed => Completion::failed(Error::Closed { site }),
            NoRoom::Full => {
                self.shared().jobs.counters.refused();
                Completion::failed(Error::QueueFull { site })
            }
        }
    }
}

impl<T: 'static> Owner<T> {
    /// Closes the mailbox, then waits (unless it must not) for the thread to exit.
    fn stop(&self, timeout: Duration, dropped: bool) -> ShutdownReport {
        let started = Instant::now();
        let deadline = deadline_after(timeout);
        let shared = &*self.shared;
        let counters = &shared.jobs.counters;
        let ended_before = counters.jobs.ran();
        let cancelled_before = Tally::read(&counters.jobs.cancelled);

        if let Some(room) = &shared.room {
            room.close();
        }
        shared.mailbox.close(|job| {
            shared.refuse(job);
        });
        let forked = shared.fork_generation != crate::process::generation();
        let in_background = !forked
            && (thread::owns(shared.id)
                || loop_thread::is_any_loop_thread()
                || host_runtime::in_async_context());
        let mut report = ShutdownReport::default();
        if in_background {
            report.finishing_in_background = true;
        } else if forked || !shared.exited.wait_until(deadline) {
            // In a forked child the thread does not exist: nothing will end its call.
            let stuck = shared.jobs.running.cut_off_all(
                &counters.jobs,
                is_running_pool_job,
                |record, now| {
                    Some(
                        record
                            .running_poll(now)
                            .unwrap_or_else(|| now.saturating_duration_since(record.submitted())),
                    )
                },
            );
            if !stuck.is_empty() {
                let caller = if dropped { "drop" } else { "shutdown" };
                shared.dispatch.in_scope(|| {
                    tracing::error!(
                        target: "loopbridge::thread_bound_shutdown",
                        thread = %shared.name,
                        caller,
                        stuck = ?stuck,
                        "thread-bound value `{}`: a call is still running at the shutdown \
                         timeout ({caller}); its thread is left behind: {stuck:?}",
                        shared.name
                    );
                });
            }
            report.stuck = stuck;
        }
        let ended = counters.jobs.ran().saturating_sub(ended_before);
        let cancelled = Tally::read(&counters.jobs.cancelled).saturating_sub(cancelled_before);
        report.finished = usize::try_from(ended).unwrap_or(usize::MAX);
        report.cancelled = usize::try_from(cancelled).unwrap_or(usize::MAX);
        report.elapsed = started.elapsed();
        report
    }
}

impl<T: 'static> Drop for Owner<T> {
    fn drop(&mut self) {
        // A call still running at the timeout is logged by `stop` (caller `drop`).
        self.stop(self.shutdown_timeout, true);
    }
}

impl<T: 'static> Bounded for ThreadBound<T> {
    fn room(&self) -> Option<&Room> {
        self.shared().room.as_ref()
    }

    fn is_closed(&self) -> bool {
        self.shared().mailbox.is_closed()
    }

    fn fork_generation(&self) -> u64 {
        self.shared().fork_generation
    }
}

/// A place in a thread-bound value's mailbox.
impl<T: 'static> PoolPermit<ThreadBound<T>> {
    /// Queues `f` in the place this permit holds; otherwise as [`ThreadBound::call`].
    ///
    /// # Errors
    ///
    /// In the completion: [`Error::Closed`] if the thread shut down after the permit was
    /// granted; as [`ThreadBound::call`] otherwise, never [`Error::QueueFull`].
    ///
    /// # Blocking
    ///
    /// Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let bound = loopbridge::ThreadBound::spawn("n", || Ok::<_, ()>(6)).map_err(|_| "spawn")?;
    /// let permit = bound.try_reserve()?;
    /// assert_eq!(permit.call(|n| *n * 7).wait()?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn call<F, R>(self, f: F) -> Completion<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let site = Site::caller();
        let (bound, holds_room) = self.into_parts();
        let shared = bound.shared();
        if let Err(forked) = crate::process::check_not_forked(shared.fork_generation, &site) {
            if holds_room {
                shared.release_room();
            }
            return Completion::failed(forked);
        }
        if thread::owns(shared.id) {
            if holds_room {
                shared.release_room();
            }
            return thread::call_here(shared, site, f);
        }
        shared.enqueue(site, f)
    }
}

impl<T: 'static> fmt::Debug for ThreadBound<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared();
        f.debug_struct("ThreadBound")
            .field("name", &shared.name)
            .field("closed", &shared.mailbox.is_closed())
            .field("stats", &self.stats())
            .finish()
    }
}
