//! [`ThreadPool`] and [`ThreadPoolBuilder`]: a pool of threads for blocking work, whose
//! results come back as [`Completion`]s that sync code waits for and async code awaits.

use std::fmt;
use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::host_runtime;
use crate::job::Tally;
use crate::loop_thread::{self, AssertMode};
use crate::report::ShutdownReport;
use crate::util::{deadline_after, Dispatcher};

use super::pool_job;
use super::queue::{Push, MAX_WORKERS};
use super::stats::PoolStats;
use super::worker::Core;
use crate::room::NoRoom;

/// How long an idle worker waits for a job before it exits: long enough that a burst of
/// blocking calls reuses threads instead of paying for a thread start each time, short
/// enough that an idle program does not keep dozens of threads (tokio's blocking pool
/// uses the same).
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// asyncio's default for `ThreadPoolExecutor`: `min(32, cpus + 4)`. Blocking work waits
/// more than it computes, so a few more threads than CPUs keep them busy; the cap stops
/// a big machine from starting hundreds of threads for I/O-bound work.
pub(crate) fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    (cpus + 4).min(32)
}

/// A pool of threads for blocking work: file and network I/O through blocking APIs,
/// blocking C libraries, synchronous database drivers. asyncio's `ThreadPoolExecutor`,
/// with the crate's [`Completion`] as its future.
///
/// Workers are started on demand, up to `max_workers`, and exit after an idle
/// [`keep_alive`](ThreadPoolBuilder::keep_alive). Clones share one pool. Dropping the
/// last clone shuts the pool down in the background: queued jobs resolve with
/// [`Error::Closed`], running jobs finish, and the dropping thread never waits. (A
/// pending [`PoolReserve`](crate::PoolReserve) or an unused [`PoolPermit`](crate::PoolPermit) counts as a clone.)
///
/// The queue is unbounded unless [`queue_capacity`](ThreadPoolBuilder::queue_capacity)
/// bounds it; then [`submit`](ThreadPool::submit) refuses at once when it is full,
/// [`submit_timeout`](ThreadPool::submit_timeout) blocks a (non-loop) thread for room,
/// and [`reserve`](ThreadPool::reserve) lets async code wait for room without blocking.
///
/// # Examples
///
/// ```
/// let pool = loopbridge::ThreadPool::new(4)?;
///
/// // From synchronous code:
/// let len = pool.submit(|| std::fs::read_dir(".").map(|dir| dir.count())).wait()??;
/// assert!(len > 0);
///
/// // From async code on a bridge's loop: `.await` never blocks the loop thread.
/// let bridge = loopbridge::Bridge::new()?;
/// let offload = pool.clone();
/// let sum = bridge
///     .handle()
///     .block_on(async move { offload.submit(|| (1..=10).sum::<u32>()).await })??;
/// assert_eq!(sum, 55);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    owner: Arc<Owner>,
}

/// What the clones share; dropping it (with the last clone) closes the pool.
struct Owner {
    shared: Arc<Shared>,
}

/// What the workers share with the clones.
struct Shared {
    core: Core,
    name: Arc<str>,
    keep_alive: Duration,
    max_workers: usize,
    capacity: Option<usize>,
    next_worker: AtomicUsize,
}

impl ThreadPool {
    /// A pool of at most `max_workers` threads, with the other defaults of
    /// [`ThreadPool::builder`].
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] if `max_workers` is zero or above 65 535. No thread
    /// starts until the first job.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::ThreadPool::new(2)?;
    /// assert_eq!(pool.submit(|| 40 + 2).wait()?, 42);
    /// assert!(loopbridge::ThreadPool::new(0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(max_workers: usize) -> io::Result<ThreadPool> {
        ThreadPool::builder().max_workers(max_workers).build()
    }

    /// A builder to configure a pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::ThreadPool::builder().name("blocking-io").build()?;
    /// let name = pool.submit(|| std::thread::current().name().map(str::to_owned)).wait()?;
    /// assert!(name.unwrap().starts_with("blocking-io-"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// The bridge's default pool: workers named after its loop thread, default limits.
    pub(crate) fn for_bridge(thread_name: &str, dispatch: &Dispatcher) -> ThreadPool {
        let mut builder = ThreadPool::builder().name(format!("{thread_name}-executor"));
        builder.dispatch = Some(dispatch.clone());
        builder.start()
    }

    /// Runs `f` on a worker and returns its [`Completion`]: `.wait()` it from sync code,
    /// `.await` it from async code.
    ///
    /// A panic in `f` resolves the completion with [`Error::Panicked`]; the worker keeps
    /// serving. [`Completion::cancel`] before a worker claims the job means `f` never
    /// runs; after, `f` runs to the end and its result is dropped.
    ///
    /// # Errors
    ///
    /// In the completion, at once: [`Error::Closed`] if the pool is shut down;
    /// [`Error::QueueFull`] if the queue is bounded and full (`f` is dropped unrun).
    ///
    /// # Blocking
    ///
    /// Never blocks: fine on a loop thread. It may start a worker thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::ThreadPool::new(2)?;
    /// let error = pool.submit(|| -> u32 { panic!("disk on fire") }).wait().unwrap_err();
    /// assert_eq!(error.panic_message(), Some("disk on fire"));
    /// assert_eq!(error.site().location().line(), line!() - 2);
    /// assert_eq!(pool.submit(|| "still serving").wait()?, "still serving");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit<F, T>(&self, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_at(Site::caller(), f)
    }

    /// Like [`submit`](ThreadPool::submit), but when the bounded queue is full, blocks
    /// the calling thread until there is room, for at most `timeout` (backpressure for a
    /// synchronous producer). On an unbounded pool it never waits.
    ///
    /// # Errors
    ///
    /// In the completion, at once: [`Error::BlockingOnLoop`] when called on a loop
    /// thread (nothing is submitted, whether or not there is room); [`Error::QueueFull`]
    /// if no room came within `timeout`; [`Error::Closed`] if the pool is or gets shut
    /// down while waiting.
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout`, and only while the queue is full. On a loop thread
    /// it refuses instead: use [`reserve`](ThreadPool::reserve)`().await` there. Inside
    /// another tokio runtime's async context, a wait for room is treated as
    /// [`Completion::wait`] says, in [`AssertMode::Panic`](crate::AssertMode::Panic):
    /// [`Error::BlockingInRuntime`] on a current-thread runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = loopbridge::ThreadPool::builder().max_workers(1).queue_capacity(1).build()?;
    /// let (release, release_rx) = mpsc::channel::<()>();
    /// let (started_tx, started) = mpsc::channel();
    /// let busy = pool.submit(move || {
    ///     started_tx.send(()).unwrap();
    ///     release_rx.recv().unwrap();
    /// });
    /// started.recv()?;
    /// let queued = pool.submit(|| 1);
    ///
    /// // Full, and nothing frees room within the timeout:
    /// let refused = pool.submit_timeout(|| 2, Duration::from_millis(10));
    /// assert!(refused.wait().unwrap_err().is_queue_full());
    ///
    /// // Room comes once the busy job ends and the worker takes the queued one:
    /// release.send(())?;
    /// let accepted = pool.submit_timeout(|| 3, Duration::from_secs(30));
    /// assert_eq!(accepted.wait()?, 3);
    /// busy.wait()?;
    /// assert_eq!(queued.wait()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn submit_timeout<F, T>(&self, f: F, timeout: Duration) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_timeout_at(Site::caller(), f, timeout)
    }

    pub(crate) fn submit_timeout_at<F, T>(
        &self,
        site: Site,
        f: F,
        timeout: Duration,
    ) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if loop_thread::is_any_loop_thread() {
            return Completion::failed(Error::BlockingOnLoop { site });
        }
        let core = self.core();
        // Before the room's lock, which a parent's thread may have held at a fork.
        if let Err(forked) = crate::process::check_not_forked(core.fork_generation, &site) {
            return Completion::failed(forked);
        }
        if core.queue.is_closed() {
            return Completion::failed(Error::Closed { site });
        }
        if let Some(room) = &core.room {
            // Only a wait for room is a blocking wait (a pool has no `AssertMode`: a
            // current-thread runtime's context refuses it).
            let got = match host_runtime::take_room(room, AssertMode::Panic, &site, timeout) {
                Ok(got) => got,
                Err(refused) => return Completion::failed(refused),
            };
            if let Err(no_room) = got {
                return self.refused(site, no_room);
            }
        }
        self.enqueue(site, f)
    }

    /// Shuts the pool down, waiting at most about `timeout` for running jobs.
    ///
    /// Submissions fail with [`Error::Closed`] from now on, and waiters for room are
    /// refused with it. Queued jobs never start: they resolve with [`Error::Closed`] at
    /// once (as a bridge's cut-off jobs do) and count as
    /// [`cancelled`](ShutdownReport::cancelled). Running jobs get until `timeout` to
    /// finish; those still running then are listed in [`ShutdownReport::stuck`] (site,
    /// how long they have run), their completions resolve with [`Error::Closed`], and
    /// their threads are left behind, never joined. Idle workers exit.
    ///
    /// Called from one of this pool's own jobs, it does not wait for (or report) that
    /// job. Calling it again, from any clone, waits again and reports what is left.
    ///
    /// # Blocking
    ///
    /// Blocks for at most about `timeout`. On a loop thread, or inside an async context
    /// (a task or `block_on` of a tokio runtime, where a wait would stall the host's
    /// other tasks; a `spawn_blocking` thread waits), it does not wait at all: it closes
    /// the pool, resolves the queued jobs and returns with
    /// [`finishing_in_background`](ShutdownReport::finishing_in_background) set; running
    /// jobs finish in the background and resolve as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = loopbridge::ThreadPool::new(1)?;
    /// let (started_tx, started) = mpsc::channel();
    /// let (release, release_rx) = mpsc::channel::<()>();
    /// let stuck = pool.submit(move || {
    ///     started_tx.send(()).unwrap();
    ///     let _ = release_rx.recv();
    /// });
    /// started.recv()?;
    /// let queued = pool.submit(|| "never runs");
    ///
    /// let report = pool.shutdown(Duration::from_millis(50));
    /// assert_eq!(report.stuck.len(), 1);
    /// assert_eq!(report.cancelled, 2); // the queued job, and the stuck one's completion
    /// assert!(queued.wait().unwrap_err().is_closed());
    /// assert!(stuck.wait().unwrap_err().is_closed());
    /// assert!(pool.submit(|| ()).wait().unwrap_err().is_closed());
    /// release.send(())?; // the left-behind thread ends on its own
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let must_not_wait =
            loop_thread::is_any_loop_thread() || crate::host_runtime::in_async_context();
        self.shutdown_waiting(timeout, !must_not_wait)
    }

    /// Shuts the pool down; waits (up to `timeout`) for running jobs only if `wait`.
    pub(crate) fn shutdown_waiting(&self, timeout: Duration, wait: bool) -> ShutdownReport {
        let started = Instant::now();
        let deadline = deadline_after(timeout);
        let core = self.core();
        let counters = &core.jobs.counters;
        let ended_before = counters.jobs.ran();
        let cancelled_before = Tally::read(&counters.jobs.cancelled);

        core.close();
        let mut report = ShutdownReport::default();
        if !wait {
            tracing::debug!(
                target: "loopbridge::pool_shutdown",
                pool = %self.owner.shared.name,
                "pool `{}` shut down where it must not wait: running jobs finish in the background",
                self.owner.shared.name
            );
            report.finishing_in_background = true;
        } else {
            let own = core
                .jobs
                .running
                .snapshot()
                .iter()
                .filter(|job| pool_job::is_current(job.record()))
                .count();
            if !core.wait_for_busy(own, deadline) {
                self.leave_stuck_behind(&mut report);
            }
        }
        let ended = counters.jobs.ran().saturating_sub(ended_before);
        let cancelled = Tally::read(&counters.jobs.cancelled).saturating_sub(cancelled_before);
        report.finished = usize::try_from(ended).unwrap_or(usize::MAX);
        report.cancelled = usize::try_from(cancelled).unwrap_or(usize::MAX);
        report.elapsed = started.elapsed();
        report
    }

    /// What the pool is doing now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = loopbridge::ThreadPool::new(1)?;
    /// let (started_tx, started) = mpsc::channel();
    /// let (release, release_rx) = mpsc::channel::<()>();
    /// let running = pool.submit(move || {
    ///     started_tx.send(()).unwrap();
    ///     release_rx.recv().unwrap();
    /// });
    /// started.recv()?;
    /// let queued = pool.submit(|| ());
    /// let stats = pool.stats();
    /// assert_eq!((stats.running, stats.queued, stats.workers), (1, 1, 1));
    /// release.send(())?;
    /// running.wait()?;
    /// queued.wait()?;
    /// assert_eq!(pool.stats().finished, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.core().stats()
    }

    pub(crate) fn submit_at<F, T>(&self, site: Site, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let core = self.core();
        // Before the room's lock, which a parent's thread may have held at a fork.
        if let Err(forked) = crate::process::check_not_forked(core.fork_generation, &site) {
            return Completion::failed(forked);
        }
        if core.queue.is_closed() {
            return Completion::failed(Error::Closed { site });
        }
        if let Some(room) = &core.room {
            if let Err(no_room) = room.try_acquire() {
                return self.refused(site, no_room);
            }
        }
        self.enqueue(site, f)
    }

    /// Queues `f`, which already holds its room in a bounded queue.
    pub(crate) fn enqueue<F, T>(&self, site: Site, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = &self.owner.shared;
        let (completion, push) = shared.core.submit(site, f);
        if push == Push::StartWorker {
            start_worker(shared);
        }
        completion
    }

    pub(crate) fn core(&self) -> &Core {
        &self.owner.shared.core
    }

    fn refused<T>(&self, site: Site, no_room: NoRoom) -> Completion<T> {
        match no_room {
            NoRoom::Closed => Completion::failed(Error::Closed { site }),
            NoRoom::Full => {
                self.core().jobs.counters.refused();
                Completion::failed(Error::QueueFull { site })
            }
        }
    }

    /// The shutdown's timeout ran out with jobs still running: list them, resolve their
    /// completions with `Closed` (counted as cancelled), and leave their threads behind.
    fn leave_stuck_behind(&self, report: &mut ShutdownReport) {
        let jobs = &self.core().jobs;
        let stuck =
            jobs.running
                .cut_off_all(&jobs.counters.jobs, pool_job::is_current, |record, now| {
                    Some(
                        record
                            .running_poll(now)
                            .unwrap_or_else(|| now.saturating_duration_since(record.submitted())),
                    )
                });
        report.stuck = stuck;
        if !report.stuck.is_empty() {
            tracing::error!(
                target: "loopbridge::pool_shutdown",
                pool = %self.owner.shared.name,
                stuck = report.stuck.len(),
                "pool `{}`: jobs still running at the shutdown timeout, their threads are left behind: {}",
                self.owner.shared.name,
                crate::report::list(&report.stuck)
            );
        }
    }
}

/// Starts a worker for the seat a push reserved.
fn start_worker(shared: &Arc<Shared>) {
    // ORDERING: only makes thread names unique; nothing is published through it.
    let n = shared.next_worker.fetch_add(1, Ordering::Relaxed);
    let worker = shared.clone();
    let started = std::thread::Builder::new()
        .name(format!("{}-{n}", shared.name))
        .spawn(move || {
            let dispatch = worker.core.dispatch.clone();
            dispatch.in_scope(|| worker.core.serve(worker.keep_alive));
        });
    if let Err(error) = started {
        shared.core.worker_not_started(&error);
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Never waits: running jobs finish on their workers, which then exit.
        let cut_off = self.shared.core.close();
        if cut_off > 0 {
            tracing::debug!(
                target: "loopbridge::pool_shutdown",
                pool = %self.shared.name,
                cancelled = cut_off,
                "pool `{}` dropped: {cut_off} queued jobs resolved with `Closed`",
                self.shared.name
            );
        }
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.owner.shared;
        f.debug_struct("ThreadPool")
            .field("name", &shared.name)
            .field("max_workers", &shared.max_workers)
            .field("queue_capacity", &shared.capacity)
            .field("keep_alive", &shared.keep_alive)
            .field("closed", &shared.core.queue.is_closed())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Configures a [`ThreadPool`]. Every setting has a default chosen for the common case.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let pool = loopbridge::ThreadPool::builder()
///     .name("db")
///     .max_workers(8)
///     .keep_alive(Duration::from_secs(30))
///     .queue_capacity(64)
///     .build()?;
/// assert_eq!(pool.submit(|| 1).wait()?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ThreadPoolBuilder {
    name: String,
    max_workers: usize,
    keep_alive: Duration,
    queue_capacity: Option<usize>,
    /// The bridge's dispatcher for its default pool; `None`: the one current at `build`.
    dispatch: Option<Dispatcher>,
}

impl Default for ThreadPoolBuilder {
    fn default() -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            name: "loopbridge-pool".to_owned(),
            max_workers: default_max_workers(),
            keep_alive: DEFAULT_KEEP_ALIVE,
            queue_capacity: None,
            dispatch: None,
        }
    }
}

impl ThreadPoolBuilder {
    /// The workers' name prefix (default `"loopbridge-pool"`): workers are named
    /// `{prefix}-{n}`, with `n` counting up from 0 over the pool's life.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::ThreadPool::builder().name("disk").build()?;
    /// let name = pool.submit(|| std::thread::current().name().map(str::to_owned)).wait()?;
    /// assert_eq!(name.as_deref(), Some("disk-0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(mut self, prefix: impl Into<String>) -> ThreadPoolBuilder {
        self.name = prefix.into();
        self
    }

    /// The most workers running at once (default `min(32, cpus + 4)`, asyncio's: blocking
    /// work mostly waits, so a few more threads than CPUs keep them busy, and the cap
    /// keeps a big machine from starting hundreds of threads). Workers start only when a
    /// job finds no idle one. Must be between 1 and 65 535.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::ThreadPool::builder().max_workers(2).build()?;
    /// assert_eq!(pool.submit(|| 1 + 1).wait()?, 2);
    /// assert!(loopbridge::ThreadPool::builder().max_workers(0).build().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_workers(mut self, max_workers: usize) -> ThreadPoolBuilder {
        self.max_workers = max_workers;
        self
    }

    /// How long an idle worker waits for a job before it exits (default 10 s: a burst of
    /// blocking calls reuses threads instead of starting one per call, and an idle
    /// program does not keep dozens of threads).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = loopbridge::ThreadPool::builder()
    ///     .keep_alive(Duration::from_secs(60))
    ///     .build()?;
    /// assert_eq!(pool.submit(|| "kept").wait()?, "kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keep_alive(mut self, keep_alive: Duration) -> ThreadPoolBuilder {
        self.keep_alive = keep_alive;
        self
    }

    /// Bounds the queue: at most `capacity` jobs wait for a worker (default: unbounded,
    /// as asyncio's executor and tokio's `spawn_blocking`). Jobs running on workers do not
    /// count, so at most `capacity + max_workers` jobs are accepted and unfinished. A job
    /// handed to an idle worker passes through the queue too, so `capacity` must be at
    /// least 1. A cancelled job keeps its place until a worker takes it out (workers
    /// drop cancelled jobs without running them).
    ///
    /// When the queue is full, [`submit`](ThreadPool::submit) refuses with
    /// [`Error::QueueFull`](crate::Error::QueueFull),
    /// [`submit_timeout`](ThreadPool::submit_timeout) blocks for room, and
    /// [`reserve`](ThreadPool::reserve) waits for room asynchronously.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::ThreadPool::builder()
    ///     .max_workers(1)
    ///     .queue_capacity(1)
    ///     .build()?;
    /// let (release, held) = std::sync::mpsc::channel::<()>();
    /// let (started, running) = std::sync::mpsc::channel();
    /// let busy = pool.submit(move || {
    ///     started.send(()).unwrap();
    ///     let _ = held.recv();
    /// });
    /// running.recv()?; // the only worker is busy
    /// let queued = pool.submit(|| "queued");
    /// let refused = pool.submit(|| "refused");
    /// assert!(refused.wait().unwrap_err().is_queue_full());
    /// drop(release);
    /// busy.wait()?;
    /// assert_eq!(queued.wait()?, "queued");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queue_capacity(mut self, capacity: usize) -> ThreadPoolBuilder {
        self.queue_capacity = Some(capacity);
        self
    }

    /// Creates the pool. No thread starts until the first job.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] if `max_workers` is not between 1 and 65 535 or
    /// `queue_capacity` is zero. A worker thread that cannot be started later is logged,
    /// and if no worker is left for it, a queued job resolves with an error saying so.
    ///
    /// # Examples
    ///
    /// ```
    /// let refused = loopbridge::ThreadPool::builder().queue_capacity(0).build();
    /// assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn build(self) -> io::Result<ThreadPool> {
        if self.max_workers == 0 || self.max_workers > MAX_WORKERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "loopbridge: max_workers must be between 1 and {MAX_WORKERS}, not {}",
                    self.max_workers
                ),
            ));
        }
        if self.queue_capacity == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "loopbridge: queue_capacity must be at least 1",
            ));
        }
        crate::loop_thread::check_thread_name(&self.name)?;
        Ok(self.start())
    }

    fn start(self) -> ThreadPool {
        let shared = Shared {
            core: Core::new(
                self.max_workers,
                self.queue_capacity,
                self.dispatch.unwrap_or_else(Dispatcher::current),
            ),
            name: self.name.into(),
            keep_alive: self.keep_alive,
            max_workers: self.max_workers,
            capacity: self.queue_capacity,
            next_worker: AtomicUsize::new(0),
        };
        ThreadPool {
            owner: Arc::new(Owner {
                shared: Arc::new(shared),
            }),
        }
    }
}
