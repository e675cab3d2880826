//! [`PollClock`]: when the loop thread's running poll began, and [`Turn`]: whether the
//! dispatcher wants the loop thread (busy, or woken and not yet run, and since when).
//! Kept by the loop and the dispatcher's waker, read by the stall watchdog.
//!
//! A stall of the *loop* is the dispatcher not getting its turn while work waits for it:
//! it was woken (a push found it asleep) or it yielded to the runtime, and has not run
//! since. Whoever holds the loop thread then (a task spawned with tokio directly, a
//! driver's callback) is not one of the bridge's jobs, so only this shows it.
//!
//! The doze (see `doze`): a pending wake-up counts as busy. The waker stamps `waiting`
//! and then marks the loop busy; a dispatcher going to sleep clears the busy mark and
//! then looks at `waiting`, marking itself busy again if a wake-up came. Each side puts
//! a SeqCst fence between its two steps, so either the waker's mark comes after the
//! clearing (and, finding the loop idle, nudges the watchdog), or the dispatcher's look
//! comes after the stamp and sees it. A wake-up never leaves a loop marked idle.
//! loom: `loom-tests/watchdog.rs`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use crate::sync::{fence, AtomicBool, AtomicU64};
use crate::thread_clock::{ThreadClock, ThreadTimes};
use crate::util::{CachePadded, PollTimer};

use super::doze::Doze;

/// When the loop thread's running poll began, kept by the loop and read by the watchdog.
pub(crate) struct PollClock {
    epoch: Instant,
    /// When the running poll began, from `epoch`; padded away from the fields the
    /// watchdog writes.
    started: CachePadded<PollTimer>,
    /// Whether the dispatcher wants the loop thread; shared with its waker and the
    /// watchdog's list.
    pub(crate) turn: Arc<Turn>,
    /// The loop thread's CPU time and scheduling, captured on the loop thread (the
    /// loop's state is made there).
    pub(crate) thread: ThreadClock,
    /// What the watchdog last saw of this loop (only the watchdog touches it).
    pub(crate) sighting: parking_lot::Mutex<Option<Sighting>>,
}

/// A stall the watchdog has seen: which one, when it first read the loop thread's clocks
/// during it and what they read, and whether it was reported.
pub(crate) struct Sighting {
    pub(crate) stall: Stall,
    pub(crate) first_look: Option<(Instant, Option<ThreadTimes>)>,
    pub(crate) reported: bool,
}

/// One stall, told apart from every other: a job's poll, or the dispatcher waiting for
/// its turn, by the moment it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stall {
    Poll(u64),
    Loop(u64),
}

impl PollClock {
    /// Made on the loop thread, whose clocks it reads.
    pub(crate) fn new() -> PollClock {
        let epoch = Instant::now();
        PollClock {
            epoch,
            started: CachePadded(PollTimer::default()),
            turn: Arc::new(Turn::new(epoch)),
            thread: ThreadClock::current(),
            sighting: parking_lot::Mutex::new(None),
        }
    }

    /// The dispatcher has jobs to take in: from now on the watchdog watches this loop.
    pub(crate) fn dispatching(&self) {
        self.turn.busy();
    }

    /// The dispatcher sleeps: no job on this loop is being polled.
    pub(crate) fn idle(&self) {
        self.turn.idle();
    }

    pub(crate) fn is_dispatching(&self) -> bool {
        self.turn.is_busy()
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

    /// What holds the loop thread now, and for how long: a job's running poll, or else
    /// whatever keeps the woken dispatcher from its turn.
    pub(crate) fn stall(&self, now: Instant) -> Option<(Stall, Duration)> {
        if let Some((poll, elapsed)) = self.running(now) {
            return Some((Stall::Poll(poll), elapsed));
        }
        let (since, elapsed) = self.turn.waiting(now)?;
        Some((Stall::Loop(since), elapsed))
    }
}

/// Whether the dispatcher wants the loop thread, and since when it waits for it.
pub(crate) struct Turn {
    epoch: Instant,
    /// The dispatcher is taking in or polling jobs, or a wake-up of it is pending; clear
    /// while it sleeps unwoken, when nothing on the loop can stall.
    busy: AtomicBool,
    /// When the dispatcher was woken, or yielded to the runtime, and has not run since:
    /// nanoseconds after `epoch`, plus one; zero otherwise.
    waiting: AtomicU64,
    /// How to wake the watchdog once this loop is busy (set when it is watched).
    pub(crate) doze: OnceLock<Arc<Doze>>,
}

impl Turn {
    pub(crate) fn new(epoch: Instant) -> Turn {
        Turn {
            epoch,
            busy: AtomicBool::new(false),
            waiting: AtomicU64::new(0),
            doze: OnceLock::new(),
        }
    }

    fn mark(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(since).unwrap_or(u64::MAX - 1) + 1
    }

    /// Marks the loop busy; wakes the watchdog if it was not.
    pub(crate) fn busy(&self) {
        // ORDERING: ordered before the nudge's look at the watchdog by the nudge's fence
        // (see `doze`); SeqCst against `idle` (see the module comment).
        if !self.busy.swap(true, Ordering::SeqCst) {
            if let Some(doze) = self.doze.get() {
                doze.nudge();
            }
        }
    }

    /// The sleeping dispatcher was woken (on the waking thread): it waits for its turn
    /// from now on.
    pub(crate) fn woken(&self, now: Instant) {
        self.waiting.store(self.mark(now), Ordering::Relaxed);
        // ORDERING: the fence orders the stamp before the busy mark's swap; see the
        // module comment.
        fence(Ordering::SeqCst);
        self.busy();
    }

    /// The dispatcher yields to the runtime at `now`, meaning to run again at once.
    pub(crate) fn yielding(&self, now: Instant) {
        // ORDERING: written by the loop thread only while it is marked busy; read as a
        // report.
        self.waiting.store(self.mark(now), Ordering::Relaxed);
    }

    /// The dispatcher runs: it waits for nothing.
    pub(crate) fn running(&self) {
        // ORDERING: a stamp this store overwrites was made before the wake-up that let
        // the dispatcher run (a wake-up orders the two).
        self.waiting.store(0, Ordering::Relaxed);
    }

    /// The dispatcher goes to sleep (its waker registered): the loop is idle unless a
    /// wake-up came meanwhile.
    pub(crate) fn idle(&self) {
        // A swap rather than a store: no dearer where it matters (a SeqCst store is an
        // exchange on x86), and loom, which checks this argument, orders a plain store
        // against the waker's swap less strictly than the memory model does.
        self.busy.swap(false, Ordering::SeqCst);
        // ORDERING: the fence orders the clearing before the look at the stamp; see the
        // module comment.
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) != 0 {
            self.busy();
        }
    }

    /// The dispatcher is gone: nothing on this loop waits or runs.
    pub(crate) fn stopped(&self) {
        self.running();
        self.busy.store(false, Ordering::SeqCst);
    }

    pub(crate) fn is_busy(&self) -> bool {
        // ORDERING: the doze orders the watchdog's reads by its fence (see `doze`).
        self.busy.load(Ordering::SeqCst)
    }

    /// When the dispatcher began waiting for its turn (its mark) and for how long, if
    /// it waits.
    pub(crate) fn waiting(&self, now: Instant) -> Option<(u64, Duration)> {
        // ORDERING: read as a report.
        match self.waiting.load(Ordering::Relaxed) {
            0 => None,
            mark => {
                let began = self.epoch + Duration::from_nanos(mark - 1);
                Some((mark, now.saturating_duration_since(began)))
            }
        }
    }
}

/// The dispatcher's waker as the run queue holds it: stamps the [`Turn`] before it wakes
/// the dispatcher's task.
pub(crate) struct TurnWaker {
    turn: Arc<Turn>,
    task: Waker,
}

impl TurnWaker {
    /// A waker for the dispatcher's `task`.
    pub(crate) fn waker(turn: Arc<Turn>, task: Waker) -> Waker {
        Waker::from(Arc::new(TurnWaker { turn, task }))
    }
}

impl Wake for TurnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.turn.woken(Instant::now());
        self.task.wake_by_ref();
    }
}
