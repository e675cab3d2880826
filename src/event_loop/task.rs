//! A job's future as the loop polls it: each poll guarded against panics, and the job's
//! slot resolved exactly once, also when the job is dropped unfinished. The dispatcher
//! around it times each poll and keeps the registry (see `dispatcher`).

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::{panic_message, Error, Site};
use crate::job::{deliver, scope, Ended, JobCell, ScopeState};
use crate::util::log_panic;

use super::state::{with_polling_loop, LoopState};

/// A job admitted to the loop, not yet on its way there.
pub(crate) struct Admitted<T> {
    pub(crate) cell: Arc<JobCell<T>>,
    pub(crate) resolver: Resolver<T>,
    /// Its key in the registry.
    pub(crate) key: usize,
}

/// Admits a new job to `state`'s loop (see [`LoopState::register`]), with the resolver
/// its future will carry; `Closed` once the bridge has closed.
///
/// `holds_room`: the job has its place among the loop's pending jobs already (a
/// `LoopPermit`'s); otherwise it takes one, or is refused with `QueueFull`.
pub(crate) fn admit<T: Send + 'static>(
    state: &LoopState,
    site: Site,
    scope: Option<Arc<ScopeState>>,
    holds_room: bool,
) -> Result<Admitted<T>, Error> {
    let (cell, key) = state.register(site, scope, holds_room)?;
    let resolver = Resolver::new(cell.clone());
    Ok(Admitted {
        cell,
        resolver,
        key,
    })
}

/// The producer half of a loop job's slot: whoever holds it resolves the job. Dropped
/// unfinished (the loop stopped before the job ended), it resolves the job with
/// `Closed`; whoever drops it then counts the job and removes it from the registry.
pub(crate) struct Resolver<T> {
    cell: Arc<JobCell<T>>,
    ended: bool,
}

impl<T: Send + 'static> Resolver<T> {
    fn new(cell: Arc<JobCell<T>>) -> Resolver<T> {
        Resolver { cell, ended: false }
    }

    /// Ends the job with what its future produced: a value, a panic message, or `None`
    /// when it stopped because it was cancelled. Counted before the result is delivered,
    /// so a reader that wakes up finds the job in the counters.
    fn end(&mut self, produced: Option<Result<T, String>>) {
        self.ended = true;
        // The loop polling this job (see `dispatcher`); held apart from its
        // thread-local, which is not borrowed while user code runs.
        let state = with_polling_loop(|state| state.cloned());
        let tally = state.as_ref().map(|state| &state.counters.jobs);
        // Delivering runs user code (dropping an unread value, a `then` callback, waking
        // a reader); a panic there must not unwind into the dispatcher.
        let site = self.cell.record.site.clone();
        log_panic(
            "delivering a job's result (a destructor or a waker)",
            Some(&site),
            || match produced {
                None => {
                    if let Some(tally) = tally {
                        tally.end(&self.cell.record, Ended::Cancelled);
                    }
                }
                Some(produced) => deliver(&self.cell, produced, tally),
            },
        );
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
    /// A job's future as the loop polls it: the submitted future and its resolver, and
    /// nothing else (no async state machine around them), so the box a submission
    /// allocates is the future plus 16 bytes.
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
                // The span is entered inside the guard: entering runs the application's
                // subscriber, and a panic there is the job's.
                let record = &resolver.cell.record;
                let polled = catch_unwind(AssertUnwindSafe(|| {
                    let _context = record.span.enter();
                    match &record.scope {
                        // Submissions from inside join the job's scope.
                        Some(scope) => scope::enter(Some(scope), || fut.poll(cx)),
                        None => fut.poll(cx),
                    }
                }));
                match polled {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(value)) => Some(Ok(value)),
                    Err(payload) => Some(Err(panic_message(&*payload))),
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
