//! [`RayonPool`]: CPU-bound work on rayon, with results as [`Completion`]s.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::job::{JobCell, Tally};
use crate::process;
use crate::util::log_panic;

use super::pool_job::{run_claimed, JobContext};
use super::stats::PoolStats;

/// CPU-bound work on a rayon pool (the global one, or your own), with the result as a
/// [`Completion`] that sync code waits for and async code awaits.
///
/// rayon aborts the process when a job passed to `rayon::spawn` panics; `RayonPool`
/// catches the panic and resolves the completion with
/// [`Error::Panicked`](crate::Error::Panicked) instead. [`Completion::cancel`] before the
/// job starts means it never runs; after, it runs to the end and its result is dropped.
///
/// rayon pools are not shut down by this crate: there is nothing blocking to wait for,
/// and a rayon pool ends when its last handle and job are gone.
///
/// # Examples
///
/// ```
/// let rayon = loopbridge::RayonPool::global();
///
/// // From synchronous code:
/// assert_eq!(rayon.submit(|| (1..=100u64).sum::<u64>()).wait()?, 5050);
///
/// // From async code on a bridge's loop, without blocking it:
/// let bridge = loopbridge::Bridge::new()?;
/// let primes = bridge.handle().block_on(async move {
///     rayon
///         .submit(|| (2..2_000u32).filter(|n| (2..*n).all(|d| n % d != 0)).count())
///         .await
/// })??;
/// assert_eq!(primes, 303);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RayonPool {
    /// `None`: rayon's global pool.
    pool: Option<Arc<rayon::ThreadPool>>,
    /// The fork generation this handle was made in: a forked child has none of the
    /// pool's threads.
    fork_generation: u64,
    /// The running jobs and the counters, shared by every handle to the same pool made
    /// through the same constructor call (and by every `global()` handle).
    jobs: Arc<JobContext>,
}

impl RayonPool {
    /// rayon's global pool (started by rayon on first use, one thread per CPU).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::RayonPool::global();
    /// let on_rayon = pool.submit(|| rayon::current_thread_index().is_some()).wait()?;
    /// assert!(on_rayon);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn global() -> RayonPool {
        static GLOBAL_JOBS: LazyLock<Arc<JobContext>> = LazyLock::new(Arc::default);
        RayonPool {
            pool: None,
            fork_generation: process::generation(),
            jobs: GLOBAL_JOBS.clone(),
        }
    }

    /// A pool you built with [`rayon::ThreadPoolBuilder`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let rayon = rayon::ThreadPoolBuilder::new()
    ///     .num_threads(2)
    ///     .thread_name(|n| format!("crunch-{n}"))
    ///     .build()?;
    /// let pool = loopbridge::RayonPool::new(Arc::new(rayon));
    /// let name = pool.submit(|| std::thread::current().name().map(str::to_owned)).wait()?;
    /// assert!(name.unwrap().starts_with("crunch-"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(pool: Arc<rayon::ThreadPool>) -> RayonPool {
        RayonPool {
            pool: Some(pool),
            fork_generation: process::generation(),
            jobs: Arc::default(),
        }
    }

    /// Runs `f` on the pool and returns its [`Completion`].
    ///
    /// A panic in `f` resolves the completion with
    /// [`Error::Panicked`](crate::Error::Panicked) (message and this call's site); the
    /// pool keeps serving and the process does not abort.
    ///
    /// # Blocking
    ///
    /// Never blocks: fine on a loop thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::RayonPool::global();
    /// let error = pool.submit(|| -> u8 { panic!("overflow") }).wait().unwrap_err();
    /// assert_eq!(error.panic_message(), Some("overflow"));
    /// assert_eq!(pool.submit(|| 7).wait()?, 7);
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

    /// What the jobs submitted through this pool's handles are doing: submitted,
    /// running, finished, cancelled and panicked. (`queued` and the worker counts are
    /// rayon's own and stay zero here.) Handles from [`RayonPool::global`] share one
    /// count; each [`RayonPool::new`] starts its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let pool = loopbridge::RayonPool::new(Arc::new(rayon::ThreadPoolBuilder::new().build()?));
    /// pool.submit(|| 1).wait()?;
    /// let _ = pool.submit(|| -> u8 { panic!("no") }).wait();
    /// let stats = pool.stats();
    /// assert_eq!((stats.submitted, stats.finished, stats.panicked), (2, 1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.jobs.counters.snapshot()
    }

    pub(crate) fn submit_at<F, T>(&self, site: Site, f: F) -> Completion<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if process::forked_away(self.fork_generation, &site) {
            // The pool's threads stayed in the parent: the job would never run.
            return Completion::failed(Error::Closed { site });
        }
        let cell = Arc::new(JobCell::owned(site, self.fork_generation, Duration::ZERO));
        let completion = Completion::new(cell.clone());
        let jobs = self.jobs.clone();
        // Counted before it is queued, so a reader woken by its result sees it counted.
        Tally::bump(&jobs.counters.jobs.submitted);
        let task = move || {
            // A panic escaping a rayon job aborts the process: nothing may escape, not
            // even from a destructor or a `then` callback.
            log_panic(
                "a rayon job's teardown or delivery (a destructor or a callback)",
                None,
                || run_claimed(&cell, f, Some(&jobs)),
            );
        };
        match &self.pool {
            None => rayon::spawn(task),
            Some(pool) => pool.spawn(task),
        }
        completion
    }
}

impl fmt::Debug for RayonPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let threads = match &self.pool {
            None => rayon::current_num_threads(),
            Some(pool) => pool.current_num_threads(),
        };
        f.debug_struct("RayonPool")
            .field("global", &self.pool.is_none())
            .field("threads", &threads)
            .finish()
    }
}
