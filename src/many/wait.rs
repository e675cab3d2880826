//! [`wait_any`] and [`wait_all`]: one blocking wait on many jobs.

use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Site};
use crate::host_runtime::{self, Waiting};
use crate::loop_thread;
use crate::notify::{Notifier, Notify, Watcher};
use crate::util::deadline_after;

use super::waitable::sealed::Target;
use super::waitable::{Waitable, Watched};

/// Blocks until one of `completions` is done, for at most `timeout`, and returns its
/// index (in the order the iterator gave them). Takes no value: read it from that
/// completion, which is done now. Loop and pool jobs, of any output types, mix in one
/// call (see [`Waitable`]).
///
/// When several are done, the lowest index among those found done is returned; a job
/// that resolved while the call waited is returned as soon as it resolved.
///
/// # Errors
///
/// [`Error::Timeout`] if none resolved within `timeout` (every completion stays usable;
/// `site` names this call, `submitted` the first job that is still pending).
/// [`Error::BlockingOnLoop`] at once on a loop thread. [`Error::Forked`] at once when
/// none is done and a pending one belongs to a bridge or pool left behind in a fork.
///
/// # Blocking
///
/// Blocks for at most `timeout`; on a loop thread it returns `Err(BlockingOnLoop)` at
/// once. Inside another tokio runtime's async context it follows
/// [`Completion::wait`](crate::Completion::wait)'s rule, for the strictest of the jobs'
/// [`AssertMode`](crate::AssertMode)s: `block_in_place` on a multi-thread worker,
/// [`Error::BlockingInRuntime`] (or the mode's log) on a current-thread runtime. No thread is started and nothing polls: each job tells the waiting thread when
/// it resolves, so the cost of a wake-up does not grow with the number of completions
/// (registering and unregistering costs one lock per completion per call).
///
/// # Panics
///
/// If `completions` is empty: nothing could ever be done.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use loopbridge::{wait_any, Waitable};
///
/// let bridge = loopbridge::Bridge::new()?;
/// let pool = loopbridge::ThreadPool::new(1)?;
/// let never = bridge.handle().submit(std::future::pending::<String>());
/// let sum = pool.submit(|| 2 + 2);
///
/// let index = wait_any([&never as &dyn Waitable, &sum], Duration::from_secs(30))?;
/// assert_eq!(index, 1);
/// assert_eq!(sum.wait()?, 4);
///
/// // A Vec of one type goes in by reference.
/// let jobs = vec![never];
/// let error = wait_any(&jobs, Duration::from_millis(10)).unwrap_err();
/// assert!(error.is_timeout());
/// assert!(!jobs[0].is_done(), "still usable");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn wait_any<I>(completions: I, timeout: Duration) -> Result<usize, Error>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    wait_any_until(completions, deadline_after(timeout), Location::caller())
}

/// Blocks until one of `completions` is done, until `deadline` at the latest:
/// [`wait_any`] with an instant instead of a duration, for the waits of one request that
/// share a deadline (as [`Completion::wait_deadline`](crate::Completion::wait_deadline)).
///
/// # Errors
///
/// As [`wait_any`]; [`Error::Timeout`] if none resolved by `deadline`.
///
/// # Blocking
///
/// Blocks until `deadline` at most (not at all if it has passed: then it only finds a
/// job that is done already); on a loop thread it returns `Err(BlockingOnLoop)` at once.
///
/// # Panics
///
/// If `completions` is empty.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use loopbridge::{wait_any_deadline, Waitable};
///
/// let bridge = loopbridge::Bridge::new()?;
/// let handle = bridge.handle();
/// let never = handle.submit(std::future::pending::<()>());
/// let quick = handle.submit(async { 5 });
/// let deadline = Instant::now() + Duration::from_secs(30);
/// assert_eq!(wait_any_deadline([&never as &dyn Waitable, &quick], deadline)?, 1);
///
/// // A deadline that has passed only looks.
/// let error = wait_any_deadline([&never], Instant::now()).unwrap_err();
/// assert!(error.is_timeout());
/// assert!(!never.is_done(), "still usable");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn wait_any_deadline<I>(completions: I, deadline: Instant) -> Result<usize, Error>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    wait_any_until(completions, deadline, Location::caller())
}

fn wait_any_until<I>(
    completions: I,
    deadline: Instant,
    at: &'static Location<'static>,
) -> Result<usize, Error>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    let items: Vec<I::Item> = completions.into_iter().collect();
    assert!(
        !items.is_empty(),
        "`wait_any` called at {at} with no completions: none could ever be done"
    );
    let jobs: Vec<&dyn Watched> = items.iter().map(|item| item.target().job).collect();
    let waiting = admit(&jobs, at)?;
    if let Some(done) = jobs.iter().position(|job| job.is_resolved()) {
        return Ok(done);
    }
    if let Some(forked) = jobs.iter().find_map(|job| job.orphaned()) {
        return Err(forked);
    }
    let mut wait = Registration::new(&jobs);
    let result = match wait.register() {
        Some(done) => Ok(done),
        None => {
            let mut told = Vec::new();
            if waiting.run(|| wait.notifier.drain(&mut told, Some(deadline))) {
                Ok(told[0])
            } else {
                Err(timed_out(&jobs, at))
            }
        }
    };
    wait.unregister();
    result
}

/// Blocks until every one of `completions` is done, for at most `timeout`. Takes no
/// value: read each from its completion. Loop and pool jobs, of any output types, mix in
/// one call (see [`Waitable`]). Returns at once for none.
///
/// # Errors
///
/// [`Error::Timeout`] if some were still pending after `timeout`; every completion stays
/// usable, so the same call can be made again (`site` names this call, `submitted` the
/// first job still pending). [`Error::BlockingOnLoop`] at once on a loop thread.
/// [`Error::Forked`] at once when a pending one belongs to a bridge or pool left behind in
/// a fork (it would never be done).
///
/// # Blocking
///
/// Blocks for at most `timeout`; on a loop thread it returns `Err(BlockingOnLoop)` at
/// once. Inside another tokio runtime's async context it follows
/// [`Completion::wait`](crate::Completion::wait)'s rule, for the strictest of the jobs'
/// [`AssertMode`](crate::AssertMode)s: `block_in_place` on a multi-thread worker,
/// [`Error::BlockingInRuntime`] (or the mode's log) on a current-thread runtime.
/// Each job that resolves tells the waiting thread, in O(1): no thread per wait,
/// no polling, no rescan of the others.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let handle = bridge.handle();
/// let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
/// let jobs = vec![handle.submit(async { 1 }), handle.submit(async move { rx.await.unwrap() })];
///
/// let error = loopbridge::wait_all(&jobs, Duration::from_millis(10)).unwrap_err();
/// assert!(error.is_timeout());
///
/// tx.send(2).unwrap();
/// loopbridge::wait_all(&jobs, Duration::from_secs(30))?;
/// let values: Vec<u32> = jobs.into_iter().map(|job| job.wait().unwrap()).collect();
/// assert_eq!(values, [1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn wait_all<I>(completions: I, timeout: Duration) -> Result<(), Error>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    wait_all_until(completions, deadline_after(timeout), Location::caller())
}

/// Blocks until every one of `completions` is done, until `deadline` at the latest:
/// [`wait_all`] with an instant instead of a duration, for the waits of one request that
/// share a deadline (as [`Completion::wait_deadline`](crate::Completion::wait_deadline)).
///
/// # Errors
///
/// As [`wait_all`]; [`Error::Timeout`] if some were still pending at `deadline` (every
/// completion stays usable).
///
/// # Blocking
///
/// Blocks until `deadline` at most (not at all if it has passed); on a loop thread it
/// returns `Err(BlockingOnLoop)` at once.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let pool = loopbridge::ThreadPool::new(2)?;
/// let jobs: Vec<_> = (1..=3).map(|n| pool.submit(move || n * 2)).collect();
/// let deadline = Instant::now() + Duration::from_secs(30);
/// loopbridge::wait_all_deadline(&jobs, deadline)?;
/// let total: i32 = jobs.into_iter().map(|job| job.wait().unwrap()).sum();
/// assert_eq!(total, 12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn wait_all_deadline<I>(completions: I, deadline: Instant) -> Result<(), Error>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    wait_all_until(completions, deadline, Location::caller())
}

fn wait_all_until<I>(
    completions: I,
    deadline: Instant,
    at: &'static Location<'static>,
) -> Result<(), Error>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    let items: Vec<I::Item> = completions.into_iter().collect();
    if loop_thread::is_any_loop_thread() {
        return Err(Error::BlockingOnLoop {
            site: Site::new(at, None),
        });
    }
    let all: Vec<&dyn Watched> = items.iter().map(|item| item.target().job).collect();
    if all.is_empty() {
        return Ok(());
    }
    let waiting = admit(&all, at)?;
    let jobs: Vec<&dyn Watched> = all.into_iter().filter(|job| !job.is_resolved()).collect();
    if jobs.is_empty() {
        return Ok(());
    }
    if let Some(forked) = jobs.iter().find_map(|job| job.orphaned()) {
        return Err(forked);
    }
    let mut wait = Registration::new(&jobs);
    let mut left = wait.register_all();
    let mut told = Vec::new();
    let result = loop {
        if left == 0 {
            break Ok(());
        }
        told.clear();
        if !waiting.run(|| wait.notifier.drain(&mut told, Some(deadline))) {
            break Err(timed_out(&jobs, at));
        }
        left -= told.len();
    };
    wait.unregister();
    result
}

/// Whether a multi-wait called at `at` on `jobs` may block here, and how: refused on a
/// loop thread, and inside another tokio runtime as `host_runtime` says for the
/// strictest of the jobs' modes (as [`Completion::wait`](crate::Completion::wait) does
/// for one job), whether or not one is done already.
fn admit(jobs: &[&dyn Watched], at: &'static Location<'static>) -> Result<Waiting, Error> {
    let site = Site::new(at, None);
    if loop_thread::is_any_loop_thread() {
        return Err(Error::BlockingOnLoop { site });
    }
    let mode = host_runtime::strictest(jobs.iter().map(|job| job.assert_mode()));
    host_runtime::admit_wait(mode, &site, at)
}

/// `Timeout` for a multi-wait called at `at`: names the first job still pending.
fn timed_out(jobs: &[&dyn Watched], at: &'static Location<'static>) -> Error {
    let first = jobs
        .iter()
        .find(|job| !job.is_resolved())
        .unwrap_or(&jobs[0]);
    Error::Timeout {
        site: first.site().at(at),
        submitted: first.site().clone(),
        cancelled: false,
    }
}

/// One multi-wait's watchers on its jobs, taken off again when it returns.
struct Registration<'a> {
    jobs: &'a [&'a dyn Watched],
    notifier: Arc<Notifier>,
    notify: Arc<dyn Notify>,
    /// How many of `jobs` (from the front) carry a watcher.
    registered: usize,
}

impl<'a> Registration<'a> {
    fn new(jobs: &'a [&'a dyn Watched]) -> Registration<'a> {
        let notifier = Arc::new(Notifier::new(jobs.len()));
        Registration {
            jobs,
            notify: notifier.clone(),
            notifier,
            registered: 0,
        }
    }

    fn watcher(&self, index: usize) -> Watcher {
        Watcher {
            notify: self.notify.clone(),
            index,
        }
    }

    /// Watches the jobs in order until one is found resolved: its index, or `None` when
    /// all are watched.
    fn register(&mut self) -> Option<usize> {
        for (index, job) in self.jobs.iter().enumerate() {
            if !job.watch(&self.watcher(index)) {
                return Some(index);
            }
            self.registered = index + 1;
        }
        None
    }

    /// Watches every job: how many will tell (the others are resolved already).
    fn register_all(&mut self) -> usize {
        let mut watching = 0;
        for (index, job) in self.jobs.iter().enumerate() {
            if job.watch(&self.watcher(index)) {
                watching += 1;
            }
        }
        self.registered = self.jobs.len();
        watching
    }

    fn unregister(&mut self) {
        let mut watcher = self.watcher(0);
        for (index, job) in self.jobs[..self.registered].iter().enumerate() {
            watcher.index = index;
            job.unwatch(&watcher);
        }
        self.registered = 0;
    }
}

/// Also on a panic (a misused value elsewhere): no watcher outlives its wait.
impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.unregister();
    }
}
