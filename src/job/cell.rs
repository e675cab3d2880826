//! [`JobCell`]: a job's record, its place in the loop's scheduling, its result slot and
//! (for a `Send` future submitted to a loop) the future itself, in the one allocation a
//! job and its [`Completion`](crate::Completion) share.
//!
//! The cell is generic over its last field, the body: a job whose future lives in its
//! cell has a body of that future's type, every other job [`NoFuture`]. The completion,
//! the registry and the dispatcher see the cell with its body erased (`dyn Body`, an
//! unsizing coercion of the `Arc`), so they do not depend on the future's type.

use std::sync::Arc;
use std::task::Wake;

use crate::error::{Error, Site};
use crate::slot::{Resolved, Slot};

use super::home::JobHome;
use super::record::{JobRecord, LiveJob};
use super::schedule::Schedule;
use super::scope::ScopeState;

/// What a cell holds after its result slot; erased as `dyn Body` where only the record,
/// schedule and slot matter.
pub(crate) trait Body: Send + Sync + 'static {}

/// The body of a job whose closure or future its executor keeps elsewhere: a pool job's
/// closure in its queue, a future built on the loop thread in the dispatcher's table.
pub(crate) struct NoFuture;

impl Body for NoFuture {}

/// A job's record, schedule, result slot and body, shared by the job and its completion.
pub(crate) struct JobCell<T, B: ?Sized = dyn Body> {
    pub(crate) record: JobRecord,
    /// How the job is queued for a poll on its loop (no loop polls pool jobs).
    pub(crate) schedule: Schedule,
    pub(crate) slot: Slot<T>,
    /// Last, so that the cell can be seen with its body erased.
    pub(crate) body: B,
}

impl<T> JobCell<T, NoFuture> {
    /// A job of the executor whose [`JobHome`] is `home` (a loop's, if it has a run
    /// queue), in `scope` if given.
    pub(crate) fn owned(
        site: Site,
        scope: Option<Arc<ScopeState>>,
        home: Arc<JobHome>,
    ) -> JobCell<T, NoFuture> {
        let site = site.in_scope(scope.as_ref().map(|scope| scope.path.clone()));
        let mut record = JobRecord::new(site, home);
        record.scope = scope;
        JobCell {
            record,
            schedule: Schedule::new(),
            slot: Slot::new(),
            body: NoFuture,
        }
    }

    /// A job that is already resolved with `error` (refused before it was submitted).
    pub(crate) fn failed(error: Error) -> JobCell<T, NoFuture> {
        JobCell {
            record: JobRecord::refused(error.site().clone()),
            schedule: Schedule::new(),
            slot: Slot::resolved(Err(error)),
            body: NoFuture,
        }
    }

    /// This cell, with `body` as its body.
    pub(crate) fn with_body<B: Body>(self, body: B) -> JobCell<T, B> {
        let JobCell {
            record,
            schedule,
            slot,
            body: NoFuture,
        } = self;
        JobCell {
            record,
            schedule,
            slot,
            body,
        }
    }
}

impl<T, B: ?Sized> JobCell<T, B> {
    /// `true` for a pool job that was resolved (cut off, cancelled) before it ran and is
    /// still waiting in its queue: it never runs; it stops when its pool reaches it.
    pub(crate) fn is_parked(&self) -> bool {
        // A pool job (no loop schedules it) with a result and no run begun: its worker's
        // claim will find it resolved, so it never runs.
        // ORDERING: see `run_claimed`: the resolve came before this fence.
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        self.record.home.queue.is_none()
            && self.slot.is_resolved()
            && self
                .record
                .running_poll(std::time::Instant::now())
                .is_none()
            && self.record.polls() == 0
    }

    /// `Forked` when the job is still pending and the executor that would run it was
    /// left behind in a fork: waiting for it would never end.
    pub(crate) fn orphaned(&self) -> Option<Error> {
        if self.slot.is_resolved() {
            return None;
        }
        crate::process::check_not_forked(self.record.home.fork_generation, &self.record.site).err()
    }

    /// Queues a loop job for another poll (see [`Schedule::wake`]); a pool job is never
    /// polled.
    pub(crate) fn wake(&self) {
        if let Some(queue) = &self.record.home.queue {
            self.schedule.wake(queue);
        }
    }

    /// Offers the job's result; reports it if it is an error nobody will read.
    pub(crate) fn resolve(&self, result: Result<T, Error>) -> Resolved {
        let resolved = self.slot.resolve(result);
        if let Resolved::Unread(Some(error)) = &resolved {
            report_unread(&self.record, error);
        }
        resolved
    }
}

/// A loop job's waker: it queues the job for another poll.
impl<T: Send + 'static, B: Body> Wake for JobCell<T, B> {
    fn wake(self: Arc<Self>) {
        JobCell::wake(&self);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        JobCell::wake(self);
    }
}

impl<T: Send, B: Body> LiveJob for JobCell<T, B> {
    fn record(&self) -> &JobRecord {
        &self.record
    }

    fn cut_off(&self, error: Error) -> bool {
        !matches!(self.resolve(Err(error)), Resolved::AlreadyResolved)
    }

    fn interrupt(&self, error: Error) -> bool {
        let won = self.cut_off(error);
        if won {
            // A loop job is polled once more, sees it is resolved and drops its future.
            self.wake();
        }
        won
    }

    fn is_resolved(&self) -> bool {
        self.slot.is_resolved()
    }

    fn is_parked(&self) -> bool {
        JobCell::is_parked(self)
    }
}

/// Logs an error that no reader will see, so it is never silently lost. Only failures
/// (a panic, a job that could not run) are worth a log line: cancellation and shutdown
/// are reported where they happen. Whichever thread finds the error unread (the one
/// that resolved the job, or the one that dropped its completion), the event goes to the
/// dispatcher of the bridge or pool that ran the job.
pub(crate) fn report_unread(record: &JobRecord, error: &Error) {
    record.home.dispatch.in_scope(|| match error {
        Error::Panicked { message, site } => tracing::error!(
            target: "loopbridge::unobserved_panic",
            site = %site.location(),
            name = site.name(),
            scope = site.scope(),
            panic = %message,
            "job {site} panicked and nobody read its result: {message}"
        ),
        Error::Unavailable { message, site } => tracing::error!(
            target: "loopbridge::unobserved_unavailable",
            site = %site.location(),
            name = site.name(),
            scope = site.scope(),
            error = %message,
            "job {site} could not run and nobody read its result: {message}"
        ),
        _ => {}
    });
}
