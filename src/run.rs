//! A job's future as the loop polls it: each poll guarded against panics, and the job's
//! slot resolved exactly once, also when the job is dropped unfinished. The dispatcher
//! around it times each poll and keeps the registry (see `dispatch`).

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;

use crate::completion::JobCell;
use crate::dispatch::with_polling_loop;
use crate::error::{panic_message, Error};
use crate::handle::LoopState;
use crate::slot::Resolved;
use crate::stats::Counters;

/// A job's claim on its slot; whoever holds it resolves the job. Dropped unfinished (the
/// loop stopped before the job ended), it resolves the job with `Closed`; whoever drops
/// it then counts the job and removes it from the registry.
pub(crate) struct Finish<T> {
    cell: Arc<JobCell<T>>,
    ended: bool,
}

impl<T: Send + 'static> Finish<T> {
    /// Registers the job as live and returns its claim and registry key, or refuses it
    /// (`None`) once the bridge has closed.
    ///
    /// Registering before checking `closed` is what makes the check exact: the stopping
    /// loop closes the bridge first and looks at the registry after, so a job that finds
    /// the bridge open here is seen by the loop and run (or resolved) by it.
    pub(crate) fn register(cell: Arc<JobCell<T>>, state: &LoopState) -> Option<(Finish<T>, usize)> {
        let key = state.registry.insert(cell.clone());
        // ORDERING: the registry's lock orders this insert against the stopping loop's
        // look at the registry, which comes after the SeqCst store of `closed`: if that
        // look missed the job, this load comes after the store and sees it.
        if state.closed.load(Ordering::SeqCst) {
            state.deregister(key);
            return None;
        }
        Counters::bump(&state.counters.submitted);
        Some((Finish { cell, ended: false }, key))
    }

    /// Ends the job with what its future produced: a value, a panic message, or `None`
    /// when it stopped because it was cancelled. Counted before the result is delivered,
    /// so a reader that wakes up finds the job in the counters.
    fn end(&mut self, produced: Option<Result<T, String>>) {
        self.ended = true;
        // Delivering runs user code (dropping an unread value, a `then` callback, waking
        // a reader); a panic there must not unwind into the dispatcher.
        // The loop polling this job (see `dispatch`); held apart from its thread-local,
        // which is not borrowed while user code runs.
        let state = with_polling_loop(|state| state.cloned());
        let counters = state.as_ref().map(|state| &state.counters);
        let delivered = catch_unwind(AssertUnwindSafe(|| self.deliver(counters, produced)));
        if let Err(payload) = delivered {
            tracing::error!(
                target: "loopbridge",
                site = %self.cell.record.site,
                "delivering a job's result panicked (a destructor or a waker): {}",
                panic_message(&*payload)
            );
        }
    }

    fn deliver(&self, counters: Option<&Counters>, produced: Option<Result<T, String>>) {
        let bump = |pick: fn(&Counters) -> &AtomicU64| {
            if let Some(counters) = counters {
                Counters::bump(pick(counters));
            }
        };
        match produced {
            None => bump(|counters| &counters.cancelled),
            Some(Ok(value)) => {
                bump(|counters| &counters.finished);
                if let Resolved::AlreadyResolved = self.cell.resolve(Ok(value)) {
                    // A cancel won the race: the value was dropped, so count it cancelled.
                    if let Some(counters) = counters {
                        counters.finished.fetch_sub(1, Ordering::Relaxed);
                    }
                    bump(|counters| &counters.cancelled);
                }
            }
            Some(Err(message)) => {
                bump(|counters| &counters.panicked);
                let site = self.cell.record.site.clone();
                let panicked = Error::Panicked {
                    message: message.clone(),
                    site: site.clone(),
                };
                if let Resolved::AlreadyResolved = self.cell.resolve(Err(panicked)) {
                    tracing::debug!(target: "loopbridge", site = %site, "cancelled job panicked: {message}");
                }
            }
        }
    }
}

impl<T> Drop for Finish<T> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let closed = Error::Closed {
            site: self.cell.record.site.clone(),
        };
        let _ = self.cell.resolve(Err(closed));
    }
}

/// Runs `fut` as the job `finish` claims: each poll's panic caught, the result delivered
/// once. Stops without polling again once the job is resolved (cancelled).
pub(crate) async fn run<F>(fut: F, finish: Finish<F::Output>)
where
    F: Future,
    F::Output: Send + 'static,
{
    let mut fut = pin!(fut);
    let mut finish = finish;
    poll_fn(|cx| {
        if finish.cell.slot.is_resolved() {
            finish.end(None);
            return Poll::Ready(());
        }
        let produced = {
            // The span is entered inside the guard: entering runs the application's
            // subscriber, and a panic there is the job's.
            let polled = catch_unwind(AssertUnwindSafe(|| {
                let _context = finish.cell.record.span.enter();
                fut.as_mut().poll(cx)
            }));
            match polled {
                Ok(Poll::Pending) => None,
                Ok(Poll::Ready(value)) => Some(Ok(value)),
                Err(payload) => Some(Err(panic_message(&*payload))),
            }
        };
        match produced {
            None => Poll::Pending,
            produced => {
                finish.end(produced);
                Poll::Ready(())
            }
        }
    })
    .await;
}
