//! [`as_completed`] and [`AsCompleted`]: many jobs' results, in the order they finish.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::host_runtime::{self, Waiting};
use crate::loop_thread;
use crate::notify::{Notifier, Notify, Watcher};
use crate::process;
use crate::util::deadline_after;

/// Yields the results of `completions` as `(index, result)` in the order the jobs
/// finish (`index` is the position in `completions`; jobs already done come first, by
/// index). Cancelled, panicked and closed jobs are yielded like any other result, each
/// exactly once; so is a job left behind in a fork, as [`Error::Forked`].
///
/// Iterating blocks the calling thread ([`next_timeout`](AsCompleted::next_timeout)
/// and [`next_deadline`](AsCompleted::next_deadline) bound the wait), and
/// [`into_pending`](AsCompleted::into_pending) gives back the completions not yet
/// yielded. Dropping the iterator drops those completions, which detaches their jobs
/// (as dropping any [`Completion`] does).
///
/// All results share one type `T`; for jobs of different types, map them to a common
/// type (an enum) in the jobs, or wait for them with [`wait_any`](crate::wait_any).
///
/// # Blocking
///
/// Creating it never blocks. Each job that resolves pushes its index onto one ready list
/// and wakes the reader: a result costs O(1), whatever the number of jobs, and no thread
/// polls. On a loop thread, [`next`](Iterator::next) never blocks: results that are in
/// are yielded, and when it would have to wait it yields every remaining job, in index
/// order, with [`Error::BlockingOnLoop`], cancelling it (as
/// [`wait_timeout_or_cancel`](Completion::wait_timeout_or_cancel) does there), so a
/// `for` loop ends; `next_timeout` returns `Err(BlockingOnLoop)` and keeps them.
/// Inside another tokio runtime's async context it follows
/// [`Completion::wait`](crate::Completion::wait)'s rule, for the strictest of the remaining jobs'
/// [`AssertMode`](crate::AssertMode)s: `block_in_place` on a multi-thread worker,
/// [`Error::BlockingInRuntime`] (or the mode's log) on a current-thread runtime. Refused there,
/// `next` yields the remaining jobs the same way, with that error.
///
/// # Panics
///
/// Reading a completion whose value was already taken (by a wait before it was passed
/// in) panics, as reading it directly does.
///
/// # Examples
///
/// ```
/// let pool = loopbridge::ThreadPool::new(4)?;
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let jobs = vec![
///     pool.submit(move || { rx.recv().unwrap(); "slow" }),
///     pool.submit(|| "quick"),
///     pool.submit(|| panic!("bad input")),
/// ];
/// let mut done = loopbridge::as_completed(jobs);
/// let mut first_two: Vec<usize> = done.by_ref().take(2).map(|(index, _)| index).collect();
/// first_two.sort();
/// assert_eq!(first_two, [1, 2], "the slow one is still running");
///
/// tx.send(()).unwrap();
/// let (index, result) = done.next().unwrap();
/// assert_eq!((index, result?), (0, "slow"));
/// assert!(done.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn as_completed<T, I>(completions: I) -> AsCompleted<T>
where
    I: IntoIterator<Item = Completion<T>>,
{
    let completions: Vec<Completion<T>> = completions.into_iter().collect();
    let notifier = Arc::new(Notifier::new(completions.len()));
    let notify: Arc<dyn Notify> = notifier.clone();
    let mut ready = VecDeque::new();
    let completions: Vec<Option<Completion<T>>> = completions
        .into_iter()
        .enumerate()
        .map(|(index, completion)| {
            let cell = completion.cell();
            let watched = cell.orphaned().is_none()
                && cell.slot.watch(&Watcher {
                    notify: notify.clone(),
                    index,
                });
            if !watched {
                ready.push_back(index);
            }
            Some(completion)
        })
        .collect();
    AsCompleted {
        left: completions.len(),
        completions,
        notifier,
        notify,
        ready,
        told: Vec::new(),
        generation: process::generation(),
    }
}

/// The iterator [`as_completed`] returns: `(index, result)` in the order the jobs
/// finish.
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::new()?;
/// let jobs = (0..3u32).map(|n| bridge.handle().submit(async move { n * 10 }));
/// let mut seen: Vec<(usize, u32)> = Vec::new();
/// for (index, result) in loopbridge::as_completed(jobs) {
///     seen.push((index, result?));
/// }
/// seen.sort();
/// assert_eq!(seen, [(0, 0), (1, 10), (2, 20)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping it drops the completions not yet yielded, which detaches their jobs"]
pub struct AsCompleted<T> {
    /// By index; `None` once yielded (or given back).
    completions: Vec<Option<Completion<T>>>,
    notifier: Arc<Notifier>,
    /// The same notifier, as the slots hold it.
    notify: Arc<dyn Notify>,
    /// Indices of jobs that resolved and are not yet yielded.
    ready: VecDeque<usize>,
    /// Scratch for the notifier's drain.
    told: Vec<usize>,
    /// Completions not yet yielded.
    left: usize,
    /// The fork generation of the last orphan check.
    generation: u64,
}

impl<T> AsCompleted<T> {
    /// The next job to finish, waiting for at most `timeout`: `Ok(None)` once every job
    /// has been yielded.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none finished within `timeout` (nothing is lost: call again);
    /// [`Error::BlockingOnLoop`] on a loop thread when no result is in.
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout`, and not at all when a result is in; on a loop
    /// thread it never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let jobs = vec![handle.submit(std::future::pending::<u8>()), handle.submit(async { 7 })];
    /// let mut done = loopbridge::as_completed(jobs);
    /// let (index, result) = done.next_timeout(Duration::from_secs(30))?.unwrap();
    /// assert_eq!((index, result?), (1, 7));
    /// assert!(done.next_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    ///
    /// let pending = done.into_pending();
    /// assert_eq!(pending.len(), 1);
    /// assert_eq!(pending[0].0, 0);
    /// assert!(pending[0].1.cancel());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    #[allow(clippy::type_complexity)]
    pub fn next_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<(usize, Result<T, Error>)>, Error> {
        self.next_until(Some(deadline_after(timeout)), Location::caller())
    }

    /// The next job to finish, waiting until `deadline` at the latest: the overall
    /// deadline of a fan-out. As [`next_timeout`](AsCompleted::next_timeout) otherwise.
    ///
    /// # Errors
    ///
    /// As [`next_timeout`](AsCompleted::next_timeout).
    ///
    /// # Blocking
    ///
    /// Blocks until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = loopbridge::ThreadPool::new(4)?;
    /// let jobs: Vec<_> = (0..4).map(|n| pool.submit(move || n * 10)).collect();
    /// let deadline = Instant::now() + Duration::from_secs(30);
    /// let mut done = loopbridge::as_completed(jobs);
    /// let mut total = 0;
    /// while let Some((_, result)) = done.next_deadline(deadline)? {
    ///     total += result?;
    /// }
    /// assert_eq!(total, 60);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    #[allow(clippy::type_complexity)]
    pub fn next_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<(usize, Result<T, Error>)>, Error> {
        self.next_until(Some(deadline), Location::caller())
    }

    /// How many jobs are not yet yielded.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = loopbridge::ThreadPool::new(1)?;
    /// let mut done = loopbridge::as_completed(vec![pool.submit(|| 1), pool.submit(|| 2)]);
    /// assert_eq!(done.remaining(), 2);
    /// done.next();
    /// assert_eq!(done.remaining(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remaining(&self) -> usize {
        self.left
    }

    /// Gives back the completions not yet yielded, with their indices, in index order.
    /// Some may have finished meanwhile; none has been read.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let jobs = vec![bridge.handle().submit(std::future::pending::<()>())];
    /// let pending = loopbridge::as_completed(jobs).into_pending();
    /// let (index, job) = &pending[0];
    /// assert_eq!(*index, 0);
    /// assert!(!job.is_done());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_pending(mut self) -> Vec<(usize, Completion<T>)> {
        let mut watcher = Watcher {
            notify: self.notify.clone(),
            index: 0,
        };
        std::mem::take(&mut self.completions)
            .into_iter()
            .enumerate()
            .filter_map(|(index, completion)| {
                let completion = completion?;
                watcher.index = index;
                completion.cell().slot.unwatch(&watcher);
                Some((index, completion))
            })
            .collect()
    }

    #[track_caller]
    #[allow(clippy::type_complexity)]
    fn next_until(
        &mut self,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> Result<Option<(usize, Result<T, Error>)>, Error> {
        loop {
            if let Some(found) = self.take_ready() {
                return Ok(Some(found));
            }
            if self.left == 0 {
                return Ok(None);
            }
            if self.found_orphans() {
                continue;
            }
            let (waiting, deadline) = if loop_thread::is_any_loop_thread() {
                // Only what is in already: a loop thread must not wait.
                (Waiting::Here, Some(Instant::now()))
            } else {
                (self.admit(at)?, deadline)
            };
            self.told.clear();
            let (notifier, told) = (&self.notifier, &mut self.told);
            if waiting.run(|| notifier.drain(told, deadline)) {
                self.ready.extend(self.told.drain(..));
                continue;
            }
            return Err(self.refusal(at));
        }
    }

    /// A job that told it resolved, with its result.
    #[track_caller]
    fn take_ready(&mut self) -> Option<(usize, Result<T, Error>)> {
        while let Some(index) = self.ready.pop_front() {
            let Some(mut completion) = self.completions[index].take() else {
                continue;
            };
            match completion.take_now() {
                Some(result) => {
                    self.left -= 1;
                    return Some((index, result));
                }
                None => self.completions[index] = Some(completion),
            }
        }
        None
    }

    /// After a fork, queues the jobs whose executor stayed in the parent (they yield
    /// `Forked`). One atomic load when there was no fork since the last look.
    fn found_orphans(&mut self) -> bool {
        let now = process::generation();
        if now == self.generation {
            return false;
        }
        self.generation = now;
        let before = self.ready.len();
        for (index, completion) in self.completions.iter().enumerate() {
            if completion
                .as_ref()
                .is_some_and(|completion| completion.cell().orphaned().is_some())
            {
                self.ready.push_back(index);
            }
        }
        self.ready.len() > before
    }

    /// Whether the wait for the next result called at `at` may block here, and how:
    /// inside another tokio runtime as `host_runtime` says for the strictest mode of
    /// the jobs left (as [`Completion::wait`] does for one); the refusal names the first.
    fn admit(&self, at: &'static Location<'static>) -> Result<Waiting, Error> {
        let left = || self.completions.iter().flatten();
        let mode = host_runtime::strictest(
            left().map(|completion| completion.cell().record.home.assert_mode),
        );
        let Some(first) = left().next() else {
            return Ok(Waiting::Here);
        };
        host_runtime::admit_wait(mode, first.site(), at)
    }

    /// Why a wait that found nothing returns: the loop thread, or the deadline.
    fn refusal(&self, at: &'static Location<'static>) -> Error {
        if loop_thread::is_any_loop_thread() {
            return Error::BlockingOnLoop {
                site: Site::new(at, None),
            };
        }
        let first = self.completions.iter().flatten().next();
        match first {
            Some(first) => Error::Timeout {
                site: first.site().at(at),
                submitted: first.site().clone(),
                cancelled: false,
            },
            None => unreachable!("a wait with nothing left returns Ok(None)"),
        }
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = (usize, Result<T, Error>);

    /// Blocks until the next job finishes; `None` once all have been yielded. On a loop
    /// thread it does not block (see [`AsCompleted`]).
    #[track_caller]
    fn next(&mut self) -> Option<Self::Item> {
        let at = Location::caller();
        match self.next_until(None, at) {
            Ok(next) => next,
            Err(refused) => {
                // Only a refused wait gets here (no deadline): on a loop thread, or in
                // another runtime that refuses blocking waits. Yield the first remaining
                // job as refused, and cancel it, since nobody will read it.
                let index = self.completions.iter().position(Option::is_some)?;
                let completion = self.completions[index].take()?;
                completion.cancel();
                self.left -= 1;
                let error = match refused {
                    Error::BlockingOnLoop { .. } => Error::BlockingOnLoop {
                        site: completion.site().at(at),
                    },
                    other => other,
                };
                drop(completion);
                Some((index, Err(error)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> ExactSizeIterator for AsCompleted<T> {}

impl<T> FusedIterator for AsCompleted<T> {}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.left)
            .field("ready", &self.ready.len())
            .finish()
    }
}
