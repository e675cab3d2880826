//! How a job runs on the loop: every poll is timed and guarded against panics, and the
//! job's slot is resolved exactly once, also when its task is dropped unfinished.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use crate::completion::JobCell;
use crate::error::{panic_message, Error};
use crate::handle::LoopState;
use crate::slot::Resolved;
use crate::stats::Counters;

/// A job's claim on its slot and its registry entry; whoever holds it ends the job.
/// Dropped unfinished (its task cancelled or dropped at shutdown), it resolves the job
/// with `Cancelled` or `Closed`.
pub(crate) struct Finish<T> {
    cell: Arc<JobCell<T>>,
    state: Arc<LoopState>,
    key: usize,
    ended: bool,
}

impl<T: Send + 'static> Finish<T> {
    /// Registers the job as live, or refuses it (`None`) once the bridge has closed.
    ///
    /// Registering before checking `closed` is what makes the check exact: the stopping
    /// loop closes the bridge first and looks at the registry after, so a job that finds
    /// the bridge open here is seen by the loop and run (or resolved) by it.
    pub(crate) fn register(cell: Arc<JobCell<T>>, state: Arc<LoopState>) -> Option<Finish<T>> {
        let key = state.registry.insert(cell.clone());
        // ORDERING: the registry's lock orders this insert against the stopping loop's
        // look at the registry, which comes after the SeqCst store of `closed`: if that
        // look missed the job, this load comes after the store and sees it.
        if state.closed.load(Ordering::SeqCst) {
            state.registry.remove(key);
            wake_if_idle(&state);
            return None;
        }
        Counters::bump(&state.counters.submitted);
        Some(Finish {
            cell,
            state,
            key,
            ended: false,
        })
    }

    /// Ends the job with what its future produced: a value, a panic message, or `None`
    /// when it stopped because it was cancelled.
    fn end(&mut self, produced: Option<Result<T, String>>) {
        // From here on `end` alone counts the job, even if delivering its result panics.
        self.ended = true;
        crate::spin::keep_loop_awake(&self.state);
        // Delivering runs user code (dropping an unread value, waking a reader); a panic
        // there must not skip the bookkeeping below or the poll's timer.
        let delivered = catch_unwind(AssertUnwindSafe(|| self.deliver(produced)));
        self.deregister();
        if let Err(payload) = delivered {
            tracing::error!(
                target: "loopbridge",
                site = %self.cell.record.site,
                "delivering a job's result panicked (a destructor or a waker): {}",
                panic_message(&*payload)
            );
        }
    }

    /// Counts the job's end and delivers its result. Counted before the result is
    /// delivered, so a reader that wakes up sees the job in the counters (and, resolved,
    /// no longer among the live jobs). Deregistered after: while `then` callbacks run,
    /// the watchdog can still name the job.
    fn deliver(&self, produced: Option<Result<T, String>>) {
        let counters = &self.state.counters;
        match produced {
            None => Counters::bump(&counters.cancelled),
            Some(Ok(value)) => {
                Counters::bump(&counters.finished);
                if let Resolved::AlreadyResolved = self.cell.resolve(Ok(value)) {
                    // A cancel won the race: the value was dropped, so count it cancelled.
                    counters.finished.fetch_sub(1, Ordering::Relaxed);
                    Counters::bump(&counters.cancelled);
                }
            }
            Some(Err(message)) => {
                Counters::bump(&counters.panicked);
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

impl<T> Finish<T> {
    fn deregister(&mut self) {
        self.ended = true;
        self.state.registry.remove(self.key);
        wake_if_idle(&self.state);
    }
}

/// Wakes a stopping loop waiting for its last job, if the registry just became empty.
fn wake_if_idle(state: &LoopState) {
    // ORDERING: Acquire pairs with shutdown's SeqCst store of `closed`. A removal that
    // misses the flag comes before the stopping loop's own look at the registry (the
    // registry's lock orders them), so that look sees the removal.
    if state.closed.load(Ordering::Acquire) && state.registry.len() == 0 {
        state.idle.notify_one();
    }
}

impl<T> Drop for Finish<T> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let site = self.cell.record.site.clone();
        let error = if self.state.closed.load(Ordering::Acquire) {
            Error::Closed { site }
        } else {
            Error::Cancelled { site }
        };
        Counters::bump(&self.state.counters.cancelled);
        self.deregister();
        let _ = self.cell.resolve(Err(error));
    }
}

/// Runs `fut` as the job `finish` claims: each poll timed, each panic caught, the result
/// delivered once. Stops without polling again once the job is resolved (cancelled).
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
        let timer = PollTimer::start(&finish);
        let produced = {
            let _context = finish.cell.record.span.enter();
            match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                Ok(Poll::Pending) => None,
                Ok(Poll::Ready(value)) => Some(Ok(value)),
                Err(payload) => Some(Err(panic_message(&*payload))),
            }
        };
        // Delivering the result runs `then` callbacks and may drop the value: part of
        // the poll's time on the loop, so inside the timer.
        let ended = produced.is_some();
        if ended {
            finish.end(produced);
        }
        timer.stop(&finish);
        if ended {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Times one poll, marking the job as being polled while it runs.
struct PollTimer {
    began: Instant,
}

impl PollTimer {
    fn start<T>(finish: &Finish<T>) -> PollTimer {
        let began = Instant::now();
        finish.cell.record.poll_began(began);
        finish.state.poll_clock.poll_began(began);
        PollTimer { began }
    }

    fn stop<T>(self, finish: &Finish<T>) {
        let record = &finish.cell.record;
        record.poll_ended();
        finish.state.poll_clock.poll_ended();
        let elapsed = self.began.elapsed();
        let state = &finish.state;
        state.counters.record_poll(elapsed);
        if elapsed >= state.slow_poll_threshold {
            Counters::bump(&state.counters.slow_polls);
            tracing::warn!(
                target: "loopbridge",
                site = %record.site,
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "slow poll: a job held the loop thread for {elapsed:?} (threshold {:?})",
                state.slow_poll_threshold
            );
        }
    }
}
