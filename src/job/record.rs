//! [`JobRecord`]: what the crate knows about one job, whatever runs it, and [`LiveJob`],
//! a job seen without its output type (as the registry and shutdown see it).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Site};
use crate::util::{PollTimer, Stamp};

use super::home::JobHome;
use super::scope::ScopeState;
use super::stop::StopSignal;

/// What the crate knows about one job, kept beside its result in one allocation.
pub(crate) struct JobRecord {
    pub(crate) site: Site,
    submitted: Stamp,
    /// How many polls (or runs) the job had; saturates.
    polls: AtomicU32,
    /// The job's end has been counted (see [`Tally::end`](super::Tally::end)): whichever
    /// side ends or gives up on the job first counts it, and no other side does.
    counted: AtomicBool,
    /// When the running poll (or pool run) started, measured from `submitted`.
    poll: PollTimer,
    /// What the job shares with every other job of its executor (its fork generation,
    /// spinner, assert mode, `tracing` dispatcher, run queue).
    pub(crate) home: Arc<JobHome>,
    /// The `tracing` span current where the job was submitted; the job runs inside it,
    /// so its logs keep the submitter's context (as `asyncio.to_thread` copies
    /// contextvars).
    pub(crate) span: SubmitterSpan,
    /// The scope the job belongs to, if any, and its key among the scope's members.
    pub(crate) scope: Option<Arc<ScopeState>>,
    scope_key: AtomicUsize,
    /// Whether the job has really stopped (see `stop`).
    stop: StopSignal,
}

impl JobRecord {
    pub(crate) fn new(site: Site, home: Arc<JobHome>) -> JobRecord {
        JobRecord {
            site,
            submitted: Stamp::now(),
            polls: AtomicU32::new(0),
            counted: AtomicBool::new(false),
            poll: PollTimer::default(),
            home,
            span: SubmitterSpan::current(),
            scope: None,
            scope_key: AtomicUsize::new(usize::MAX),
            stop: StopSignal::running(),
        }
    }

    /// The record of a job refused before it ran: it has stopped already.
    pub(crate) fn refused(site: Site) -> JobRecord {
        let mut record = JobRecord::new(site, JobHome::refused());
        record.stop = StopSignal::stopped();
        record
    }

    /// The job became a member of its scope under `key`.
    pub(crate) fn joined_scope(&self, key: usize) {
        // ORDERING: published to the job's runner by the queue it is sent through.
        self.scope_key.store(key, Ordering::Relaxed);
    }

    /// The job has really stopped (its future dropped, or its closure returned or dropped
    /// unrun): it leaves its scope, and whoever waits for it is woken.
    pub(crate) fn stopped(&self) {
        if let Some(scope) = &self.scope {
            // ORDERING: stored before the job was sent to its runner (see `joined_scope`).
            let key = self.scope_key.load(Ordering::Relaxed);
            if key != usize::MAX {
                scope.leave(key);
            }
        }
        self.stop.stop();
    }

    /// Waits until the job has really stopped or `deadline` passes; `true` if it stopped.
    pub(crate) fn wait_stopped(&self, deadline: Instant) -> bool {
        self.stop.wait_until(deadline)
    }

    // ORDERING: `polls` is written only by the thread that polls the job and read by
    // others as a report; no other memory is published through it, so relaxed suffices.
    pub(crate) fn poll_began(&self, now: Instant) {
        // One writer: a load and a store, not a read-modify-write.
        let polls = self.polls.load(Ordering::Relaxed).saturating_add(1);
        self.polls.store(polls, Ordering::Relaxed);
        self.poll.began(self.submitted.instant(), now);
    }

    pub(crate) fn poll_ended(&self) {
        self.poll.ended();
    }

    /// Claims the counting of the job's end; `true` for the one caller that gets it.
    pub(crate) fn claim_count(&self) -> bool {
        // ORDERING: only decides who counts; the counters publish nothing.
        !self.counted.swap(true, Ordering::Relaxed)
    }

    /// `true` once some side has counted the job's end.
    pub(crate) fn is_counted(&self) -> bool {
        self.counted.load(Ordering::Relaxed)
    }

    pub(crate) fn polls(&self) -> u64 {
        u64::from(self.polls.load(Ordering::Relaxed))
    }

    /// When the job was submitted.
    pub(crate) fn submitted(&self) -> Instant {
        self.submitted.instant()
    }

    /// How long the poll running now has run, if one is running.
    pub(crate) fn running_poll(&self, now: Instant) -> Option<Duration> {
        self.poll
            .running(self.submitted.instant(), now)
            .map(|(_, running_for)| running_for)
    }
}

/// The `tracing` span current where a job was submitted, kept (boxed) only when there is
/// one: most submissions have none, and a span inline would add 40 bytes to every job.
pub(crate) struct SubmitterSpan(Option<Box<tracing::Span>>);

impl SubmitterSpan {
    fn current() -> SubmitterSpan {
        let span = tracing::Span::current();
        SubmitterSpan((!span.is_none()).then(|| Box::new(span)))
    }

    /// Enters the span, if there is one, until the guard drops.
    pub(crate) fn enter(&self) -> Option<tracing::span::Entered<'_>> {
        self.0.as_deref().map(tracing::Span::enter)
    }
}

/// A live job, whatever its output type.
pub(crate) trait LiveJob: Send + Sync {
    fn record(&self) -> &JobRecord;
    /// Cuts the job off: resolves it with `error` (`Closed`, `Panicked`) if it is still
    /// pending; `true` if it was, so the caller counts it.
    fn cut_off(&self, error: Error) -> bool;
    /// Like `cut_off`, and a loop job is woken so that the loop drops it at its next
    /// poll (as a cancel does).
    fn interrupt(&self, error: Error) -> bool;
    /// `true` once the job has a result (it may still be delivering it).
    fn is_resolved(&self) -> bool;
    /// `true` for a pool job that was resolved (cut off, cancelled) before it ran and is
    /// still waiting in its queue: it never runs; it stops when its pool reaches it.
    fn is_parked(&self) -> bool;
}
