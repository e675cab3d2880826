//! [`RayonPool`]: CPU-bound work on rayon, with results as [`Completion`]s.

use std::fmt;
use std::sync::{Arc, LazyLock, OnceLock};

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::job::Tally;
use crate::process;
use crate::util::log_panic;

use super::pool_job::{pool_job, JobContext};
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
#[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
pub struct RayonPool {
    pool: Target,
    /// The fork generation this handle was made in: a forked child has none of the
    /// pool's threads.
    fork_generation: u64,
    /// The counters, shared by every handle to the same pool made through the same
    /// constructor call (and by every `global()` handle).
    jobs: Jobs,
}

/// A handle's [`JobContext`]: a static one for the global pool (and a forked child's),
/// so that a job carries a plain reference to it, not a count of its own that the
/// submitting thread and the worker would both write.
#[derive(Clone)]
enum Jobs {
    Static(&'static JobContext),
    Shared(Arc<JobContext>),
}

impl std::ops::Deref for Jobs {
    type Target = JobContext;

    fn deref(&self) -> &JobContext {
        match self {
            Jobs::Static(jobs) => jobs,
            Jobs::Shared(jobs) => jobs,
        }
    }
}

/// Where a handle's jobs go.
#[derive(Clone)]
enum Target {
    /// rayon's global pool.
    Global,
    /// A pool built with rayon's builder (the caller's, or a forked child's own).
    Own(Arc<rayon::ThreadPool>),
    /// No pool could be had (a forked child could not start one): every job is refused
    /// with this message.
    Unavailable(Arc<str>),
}

/// How many fork generations get a rayon pool of their own cached; deeper generations
/// (a fork of a fork of … 64 times) build one per `global()` call.
const CHILD_POOLS: usize = 64;

impl RayonPool {
    /// rayon's global pool (started by rayon on first use, one thread per CPU).
    ///
    /// In a process forked from one that used loopbridge, rayon's global pool may have
    /// started in the parent, and then its threads do not exist in the child (rayon
    /// cannot tell whether it did). There, `global()` runs jobs on a rayon pool of the
    /// child's own instead (one per process, started on first use, one thread per CPU),
    /// so a job never waits for threads that stayed in the parent. If that pool cannot
    /// start, jobs fail with [`Error::Unavailable`](crate::Error::Unavailable).
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
        static GLOBAL_JOBS: LazyLock<JobContext> = LazyLock::new(JobContext::unlisted);
        let generation = process::generation();
        if generation == 0 {
            return RayonPool {
                pool: Target::Global,
                fork_generation: generation,
                jobs: Jobs::Static(&GLOBAL_JOBS),
            };
        }
        // A forked child. One slot per generation, so a child never inherits a slot that
        // a parent's thread was filling at the fork.
        static CHILD: [OnceLock<(Target, JobContext)>; CHILD_POOLS] =
            [const { OnceLock::new() }; CHILD_POOLS];
        let (pool, jobs) = match usize::try_from(generation)
            .ok()
            .and_then(|at| CHILD.get(at))
        {
            Some(slot) => {
                let (pool, jobs) = slot.get_or_init(|| (child_pool(), JobContext::unlisted()));
                (pool.clone(), Jobs::Static(jobs))
            }
            None => (child_pool(), Jobs::Shared(Arc::new(JobContext::unlisted()))),
        };
        RayonPool {
            pool,
            fork_generation: generation,
            jobs,
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
            pool: Target::Own(pool),
            fork_generation: process::generation(),
            jobs: Jobs::Shared(Arc::new(JobContext::unlisted())),
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
        if let Err(forked) = process::check_not_forked(self.fork_generation, &site) {
            // The pool's threads stayed in the parent: the job would never run.
            return Completion::failed(forked);
        }
        if let Target::Unavailable(message) = &self.pool {
            let message = message.to_string();
            return Completion::failed(Error::Unavailable { message, site });
        }
        let (completion, job) = match pool_job(site, &self.jobs.home, f) {
            Ok(job) => job,
            Err(refused) => return refused,
        };
        let jobs = self.jobs.clone();
        // Counted before it is queued, so a reader woken by its result sees it counted.
        Tally::bump(&jobs.counters.jobs.submitted);
        let task = move || {
            // A panic escaping a rayon job aborts the process: nothing may escape, not
            // even from a destructor or a `then` callback.
            log_panic(
                "a rayon job's teardown or delivery (a destructor or a callback)",
                None,
                || job.run_here(&jobs, || ()),
            );
        };
        match &self.pool {
            Target::Global => rayon::spawn(task),
            Target::Own(pool) => pool.spawn(task),
            Target::Unavailable(_) => unreachable!("refused before the job was made"),
        }
        completion
    }
}

impl fmt::Debug for RayonPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let threads = match &self.pool {
            Target::Global => rayon::current_num_threads(),
            Target::Own(pool) => pool.current_num_threads(),
            Target::Unavailable(_) => 0,
        };
        f.debug_struct("RayonPool")
            .field("global", &matches!(self.pool, Target::Global))
            .field("threads", &threads)
            .finish()
    }
}

/// A forked child's own rayon pool, standing in for rayon's global one.
fn child_pool() -> Target {
    let built = rayon::ThreadPoolBuilder::new()
        .thread_name(|n| format!("loopbridge-rayon-{n}"))
        .build();
    match built {
        Ok(pool) => Target::Own(Arc::new(pool)),
        Err(error) => {
            let message = format!("no rayon pool could be started in this forked process: {error}");
            tracing::error!(
                target: "loopbridge::thread_start",
                what = "a forked child's rayon pool",
                error = %error,
                "{message}"
            );
            Target::Unavailable(message.into())
        }
    }
}
