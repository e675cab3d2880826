//! A job's future as the loop polls it: each poll guarded against panics, and the job's
//! slot resolved exactly once, also when the job is dropped unfinished. The dispatcher
//! around it times each poll and keeps the registry (see `dispatcher`).
//!
//! A `Send` future lives in its job's cell ([`InCell`]), so a submission makes one
//! allocation, as a tokio task does; the cell's own poll does what a wrapper future would
//! (it holds no reference to its cell, so nothing forms a cycle). A future built on the
//! loop thread (`submit_local`) is not `Send` and cannot live in a cell other threads
//! share: the dispatcher keeps it beside the job, wrapped in [`Run`] with its
//! [`Resolver`].
//!
//! | [`Stage`] | meaning | leaves by |
//! |---|---|---|
//! | `Live` | the future is in the cell; only the loop's hold on the job polls it | its end or a cancel seen at a poll (result delivered), or the loop letting go of the job (`Closed`): → `Gone` |
//! | `Gone` | the future was dropped in place and the job marked stopped | never |
//!
//! Exactly once: the future is dropped only on the move to `Gone`, under the lock; the
//! job is resolved by whichever of its end, a cancel or `Closed` wins in its slot.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::error::{panic_message, Error};
use crate::job::{deliver, scope, Body, Ended, JobCell, LoopJob, NoFuture, Schedule};
use crate::sync::{Mutex, MutexGuard};
use crate::util::{drop_payload, log_panic};

use super::state::with_polling_loop;

/// Ends a job with what its future produced: a value, a panic message, or `None` when it
/// stopped because it was cancelled. Counted before the result is delivered, so a reader
/// that wakes up finds the job in the counters.
fn end<T, B: ?Sized>(cell: &JobCell<T, B>, produced: Option<Result<T, String>>) {
    // The loop polling this job (see `dispatcher`); held apart from its thread-local,
    // which is not borrowed while user code runs.
    let state = with_polling_loop(|state| state.cloned());
    let tally = state.as_ref().map(|state| &state.counters.jobs);
    // Delivering runs user code (dropping an unread value, a `then` callback, waking a
    // reader); a panic there must not unwind into the dispatcher.
    let site = cell.record.site.clone();
    log_panic(
        "delivering a job's result (a destructor or a waker)",
        Some(&site),
        || match produced {
            None => {
                if let Some(tally) = tally {
                    tally.end(&cell.record, Ended::Cancelled);
                }
            }
            Some(produced) => deliver(cell, produced, tally),
        },
    );
}

/// Polls `fut` as the job `cell`'s future, inside the job's span and scope: `None` while
/// it is pending, else its value or the message of its panic.
fn poll_guarded<T, B: ?Sized, F: Future<Output = T>>(
    cell: &JobCell<T, B>,
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Option<Result<T, String>> {
    // The span is entered inside the guard: entering runs the application's subscriber,
    // and a panic there is the job's.
    let record = &cell.record;
    let polled = catch_unwind(AssertUnwindSafe(|| {
        let _context = record.span.enter();
        match &record.scope {
            // Submissions from inside join the job's scope.
            Some(scope) => scope::enter(Some(scope), || fut.poll(cx)),
            None => fut.poll(cx),
        }
    }));
    match polled {
        Ok(Poll::Pending) => None,
        Ok(Poll::Ready(value)) => Some(Ok(value)),
        Err(payload) => {
            let message = panic_message(&*payload);
            drop_payload(payload);
            Some(Err(message))
        }
    }
}

/// The body of a job whose `Send` future lives in its cell.
pub(crate) struct InCell<F> {
    stage: Mutex<Stage<F>>,
}

/// Where a cell's future is in its life (see the table above).
enum Stage<F> {
    Live(F),
    Gone,
}

impl<F> InCell<F> {
    pub(crate) fn new(fut: F) -> InCell<F> {
        InCell {
            stage: Mutex::new(Stage::Live(fut)),
        }
    }
}

impl<F: Future + Send + 'static> Body for InCell<F> {}

/// The future in `stage`, pinned where it lies, if it is still there.
#[allow(unsafe_code)]
fn pinned<F>(stage: &mut Stage<F>) -> Option<Pin<&mut F>> {
    match stage {
        // SAFETY: the stage is the body of a job cell inside an `Arc` allocation, which
        // never moves: the cell is built with the future in it and moved into its `Arc`
        // before any poll, and no code moves a cell out of its `Arc` (none calls
        // `Arc::try_unwrap`, `into_inner` or `get_mut` on one). The only write to a
        // stage after that is `drop_gone`'s assignment of `Stage::Gone`, which drops the
        // future in place, as does the cell's own drop if the future is still there:
        // the future is never moved after this pin, and is dropped before its memory is
        // reused, which is all `Pin` asks. The lock makes this `&mut` the only access.
        // No safe way: pinning in place needs either this or a second allocation (a
        // `Box::pin`), which is what the cell saves.
        Stage::Live(fut) => Some(unsafe { Pin::new_unchecked(fut) }),
        Stage::Gone => None,
    }
}

impl<F> JobCell<F::Output, InCell<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// Drops the future in place and marks the job stopped: the move to `Gone`.
    fn drop_gone(&self, mut stage: MutexGuard<'_, Stage<F>>) {
        /// Marks the job stopped, also when the future's destructor panics (an
        /// assignment that unwinds still leaves `Gone` in place).
        struct Stopped<'a>(&'a crate::job::JobRecord);
        impl Drop for Stopped<'_> {
            fn drop(&mut self) {
                self.0.stopped();
            }
        }
        let _stopped = Stopped(&self.record);
        *stage = Stage::Gone;
    }
}

impl<F> LoopJob for JobCell<F::Output, InCell<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn waker(self: Arc<Self>) -> Waker {
        Waker::from(self)
    }

    fn poll_future(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut stage = self.body.stage.lock();
        let Some(fut) = pinned(&mut stage) else {
            return Poll::Ready(());
        };
        let produced = if self.slot.is_resolved() {
            // Resolved meanwhile (cancelled): the future is dropped unpolled.
            None
        } else {
            match poll_guarded(self, fut, cx) {
                None => return Poll::Pending,
                produced => produced,
            }
        };
        end(self, produced);
        // Ended: the result is out, the future goes, and then the job has stopped.
        self.drop_gone(stage);
        Poll::Ready(())
    }

    fn drop_future(&self) {
        let stage = self.body.stage.lock();
        if let Stage::Live(_) = &*stage {
            let closed = Error::Closed {
                site: self.record.site.clone(),
            };
            let _ = self.resolve(Err(closed));
            self.drop_gone(stage);
        }
    }
}

/// A job whose future, if any, the dispatcher keeps beside it (a [`Run`]).
impl<T: Send + 'static> LoopJob for JobCell<T, NoFuture> {
    fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn waker(self: Arc<Self>) -> Waker {
        Waker::from(self)
    }

    fn poll_future(&self, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }

    fn drop_future(&self) {}
}

/// The producer half of a loop job's slot when its future lives beside it: whoever holds
/// it resolves the job. Dropped unfinished (the loop stopped before the job ended), it
/// resolves the job with `Closed`; whoever drops it then counts the job and removes it
/// from the registry.
pub(crate) struct Resolver<T> {
    cell: Arc<JobCell<T>>,
    ended: bool,
}

impl<T: Send + 'static> Resolver<T> {
    pub(crate) fn new(cell: Arc<JobCell<T>>) -> Resolver<T> {
        Resolver { cell, ended: false }
    }

    fn end(&mut self, produced: Option<Result<T, String>>) {
        self.ended = true;
        end(&self.cell, produced);
    }
}

impl<T> Drop for Resolver<T> {
    /// The job's future is dropped (it is dropped before its resolver, see `run`): the job
    /// has stopped, resolved with `Closed` if it had not ended.
    fn drop(&mut self) {
        if !self.ended {
            let closed = Error::Closed {
                site: self.cell.record.site.clone(),
            };
            let _ = self.cell.resolve(Err(closed));
        }
        self.cell.record.stopped();
    }
}

pin_project_lite::pin_project! {
    /// A future built on the loop thread as the loop polls it: the future and its
    /// resolver, and nothing else (no async state machine around them).
    pub(crate) struct Run<F: Future> {
        // Dropped first (fields drop in order), also when the loop drops an unfinished
        // job: the job has stopped only once its future is gone.
        #[pin]
        fut: Option<F>,
        resolver: Option<Resolver<F::Output>>,
    }
}

/// Runs `fut` as the job `resolver` resolves: each poll's panic caught, the result
/// delivered once. Stops without polling again once the job is resolved (cancelled).
pub(crate) fn run<F>(fut: F, resolver: Resolver<F::Output>) -> Run<F>
where
    F: Future,
    F::Output: Send + 'static,
{
    Run {
        fut: Some(fut),
        resolver: Some(resolver),
    }
}

impl<F> Future for Run<F>
where
    F: Future,
    F::Output: Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(resolver) = this.resolver.as_mut() else {
            return Poll::Ready(());
        };
        let produced = match this.fut.as_mut().as_pin_mut() {
            Some(fut) if !resolver.cell.slot.is_resolved() => {
                match poll_guarded(&resolver.cell, fut, cx) {
                    None => return Poll::Pending,
                    produced => produced,
                }
            }
            // Resolved meanwhile (cancelled): the future is dropped unpolled.
            _ => None,
        };
        resolver.end(produced);
        // Ended: the future goes first, then its resolver (which marks the job stopped).
        this.fut.set(None);
        drop(this.resolver.take());
        Poll::Ready(())
    }
}
