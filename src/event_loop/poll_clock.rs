//! [`PollClock`]: when the loop thread's running poll began and whether its dispatcher
//! is busy, kept by the loop and read by the stall watchdog.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::sync::AtomicBool;
use crate::util::{CachePadded, PollTimer};

use super::doze::Doze;

/// When the loop thread's running poll began, kept by the loop and read by the watchdog.
pub(crate) struct PollClock {
    epoch: Instant,
    /// When the running poll began, from `epoch`; padded away from the fields the
    /// watchdog writes.
    started: CachePadded<PollTimer>,
    /// The `started` value of the last poll the watchdog reported, so each stall is
    /// reported once.
    reported: AtomicU64,
    /// The dispatcher is taking in or polling jobs; clear while it sleeps, when nothing
    /// on the loop can stall. Shared with the watchdog's list.
    pub(crate) dispatching: Arc<AtomicBool>,
    /// How to wake the watchdog once this loop is dispatching (set when it is watched).
    pub(crate) doze: OnceLock<Arc<Doze>>,
}

impl PollClock {
    pub(crate) fn new() -> PollClock {
        PollClock {
            epoch: Instant::now(),
            started: CachePadded(PollTimer::default()),
            reported: AtomicU64::new(0),
            dispatching: Arc::new(AtomicBool::new(false)),
            doze: OnceLock::new(),
        }
    }

    /// The dispatcher has jobs to take in: from now on the watchdog watches this loop.
    pub(crate) fn dispatching(&self) {
        // ORDERING: ordered before the nudge's look at the watchdog by the nudge's fence
        // (see `doze`).
        if !self.dispatching.swap(true, Ordering::SeqCst) {
            if let Some(doze) = self.doze.get() {
                doze.nudge();
            }
        }
    }

    /// The dispatcher sleeps: no job on this loop is being polled.
    pub(crate) fn idle(&self) {
        // ORDERING: a watchdog that still sees the loop busy only checks it once more.
        self.dispatching.store(false, Ordering::Relaxed);
    }

    pub(crate) fn is_dispatching(&self) -> bool {
        self.dispatching.load(Ordering::Relaxed)
    }

    pub(crate) fn poll_began(&self, now: Instant) {
        self.started.began(self.epoch, now);
    }

    pub(crate) fn poll_ended(&self) {
        self.started.ended();
    }

    /// The running poll's identity and how long it has run, if one runs.
    pub(crate) fn running(&self, now: Instant) -> Option<(u64, Duration)> {
        self.started.running(self.epoch, now)
    }

    /// Marks `poll` as reported; `true` if it had not been yet.
    pub(crate) fn first_report_of(&self, poll: u64) -> bool {
        // ORDERING: one reader (the watchdog) writes it; nothing is published through it.
        self.reported.swap(poll, Ordering::Relaxed) != poll
    }
}
