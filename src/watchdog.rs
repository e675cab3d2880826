//! The stall watchdog: one background thread for the whole process notices a poll that
//! is *still running* past its bridge's slow-poll threshold and reports it while the
//! loop is stalled, not only after the poll returns.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::doze::Doze;
use crate::handle::LoopState;
use crate::sync::{AtomicBool, CachePadded};

/// The shortest pause between checks, whatever the thresholds: a zero threshold must
/// not turn the watchdog into a busy loop.
const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(1);

/// The longest pause between checks when no bridge asks for less.
const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// When the loop thread's running poll began, kept by the loop and read by the watchdog.
pub(crate) struct PollClock {
    epoch: Instant,
    /// Nanoseconds after `epoch` at which the running poll began, plus one; zero while
    /// the loop is not polling a job.
    started: CachePadded<AtomicU64>,
    /// The `started` value of the last poll the watchdog reported, so each stall is
    /// reported once.
    reported: AtomicU64,
    /// The dispatcher is taking in or polling jobs; clear while it sleeps, when nothing
    /// on the loop can stall. Shared with the watchdog's list.
    dispatching: Arc<AtomicBool>,
    /// How to wake the watchdog once this loop is dispatching (set when it is watched).
    doze: OnceLock<Arc<Doze>>,
}

impl PollClock {
    pub(crate) fn new() -> PollClock {
        PollClock {
            epoch: Instant::now(),
            started: CachePadded(AtomicU64::new(0)),
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

    fn is_dispatching(&self) -> bool {
        self.dispatching.load(Ordering::Relaxed)
    }

    // ORDERING: the clock publishes only its own value (a timestamp read as a report);
    // relaxed is enough, and keeps the per-poll cost to two plain stores.
    pub(crate) fn poll_began(&self, now: Instant) {
        let since = now.saturating_duration_since(self.epoch).as_nanos();
        let since = u64::try_from(since).unwrap_or(u64::MAX - 1);
        self.started.store(since + 1, Ordering::Relaxed);
    }

    pub(crate) fn poll_ended(&self) {
        self.started.store(0, Ordering::Relaxed);
    }

    /// The running poll's identity and how long it has run, if one runs.
    fn running(&self, now: Instant) -> Option<(u64, Duration)> {
        match self.started.load(Ordering::Relaxed) {
            0 => None,
            started => {
                let began = self.epoch + Duration::from_nanos(started - 1);
                Some((started, now.saturating_duration_since(began)))
            }
        }
    }
}

struct Watchdog {
    bridges: Mutex<Watched>,
    changed: Condvar,
    /// Where the watchdog sleeps while no loop is dispatching.
    doze: Arc<Doze>,
}

/// The bridges under watch (each with its dispatcher's busy mark, readable without
/// touching the bridge), and how many were ever added (so a bridge added while the
/// watchdog was checking, with the list unlocked, is not missed).
#[derive(Default)]
struct Watched {
    bridges: Vec<(Weak<LoopState>, Arc<AtomicBool>)>,
    added: u64,
}

impl Watched {
    fn any_dispatching(&self) -> bool {
        // ORDERING: ordered after the doze's announcement by its fence (see `doze`).
        self.bridges
            .iter()
            .any(|(_, dispatching)| dispatching.load(Ordering::SeqCst))
    }
}

/// Puts a bridge under the watchdog, starting the watchdog thread on first use in this
/// process (a forked child inherits the parent's watchdog but not its thread, so it
/// starts its own).
pub(crate) fn watch(state: &Arc<LoopState>) {
    static WATCHDOG: std::sync::Mutex<Option<(u64, Arc<Watchdog>)>> = std::sync::Mutex::new(None);
    let watchdog = {
        let mut current = WATCHDOG
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*current {
            Some((generation, watchdog)) if *generation == state.fork_generation => {
                watchdog.clone()
            }
            _ => {
                let watchdog = start();
                *current = Some((state.fork_generation, watchdog.clone()));
                watchdog
            }
        }
    };
    let _ = state.poll_clock.doze.set(watchdog.doze.clone());
    let mut watched = watchdog.bridges.lock();
    watched
        .bridges
        .push((Arc::downgrade(state), state.poll_clock.dispatching.clone()));
    watched.added += 1;
    drop(watched);
    watchdog.changed.notify_one();
}

fn start() -> Arc<Watchdog> {
    let watchdog = Arc::new(Watchdog {
        bridges: Mutex::new(Watched::default()),
        changed: Condvar::new(),
        doze: Arc::default(),
    });
    let running = watchdog.clone();
    let spawned = std::thread::Builder::new()
        .name("loopbridge-watchdog".to_owned())
        .spawn(move || running.run());
    if let Err(error) = spawned {
        tracing::error!(target: "loopbridge", "cannot start the stall watchdog: {error}");
    }
    watchdog
}

impl Watchdog {
    fn run(&self) {
        loop {
            // The bridges are checked, and their last references possibly dropped, with
            // the list unlocked: dropping a bridge's state runs user code (destructors,
            // callbacks), which may start another bridge and so need the list.
            let (live, added): (Vec<Arc<LoopState>>, u64) = {
                let mut watched = self.bridges.lock();
                watched
                    .bridges
                    .retain(|(bridge, _)| bridge.strong_count() > 0);
                let live = watched
                    .bridges
                    .iter()
                    .filter_map(|(bridge, _)| bridge.upgrade())
                    .collect();
                (live, watched.added)
            };
            let now = Instant::now();
            let mut interval = MAX_CHECK_INTERVAL;
            let mut busy = false;
            for state in &live {
                // Reporting runs the application's subscriber: a panic there must not
                // end the one watchdog of the process.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| check(state, now))) {
                    report_own_panic(&*payload);
                }
                interval = interval.min(state.slow_poll_threshold / 2);
                busy |= state.poll_clock.is_dispatching();
            }
            // Possibly the last references to bridges and their jobs: user destructors.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(live))) {
                report_own_panic(&*payload);
            }
            let mut watched = self.bridges.lock();
            if watched.added != added {
                continue; // a bridge came while checking: look at it now
            }
            if busy {
                self.changed
                    .wait_for(&mut watched, interval.max(MIN_CHECK_INTERVAL));
                continue;
            }
            drop(watched);
            // No loop is dispatching: nothing can stall until one starts, and that one
            // wakes the watchdog.
            self.doze.sleep_unless(|| {
                let watched = self.bridges.lock();
                watched.added != added || watched.any_dispatching()
            });
        }
    }
}

fn report_own_panic(payload: &(dyn std::any::Any + Send)) {
    // Best effort: the subscriber that panicked may panic again.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        tracing::error!(
            target: "loopbridge",
            "the stall watchdog caught a panic: {}",
            crate::error::panic_message(payload)
        );
    }));
}

/// Reports the bridge's running poll once, if it has run past the threshold.
fn check(state: &LoopState, now: Instant) {
    let Some((poll, elapsed)) = state.poll_clock.running(now) else {
        return;
    };
    if elapsed < state.slow_poll_threshold
        || state.poll_clock.reported.swap(poll, Ordering::Relaxed) == poll
    {
        return;
    }
    let job = state
        .registry
        .snapshot()
        .into_iter()
        .find(|job| job.record().running_poll(now).is_some());
    let site = job.map_or_else(
        || "<unknown>".to_owned(),
        |job| job.record().site.to_string(),
    );
    tracing::warn!(
        target: "loopbridge",
        site = %site,
        thread = %state.thread_name,
        elapsed_ms = elapsed.as_secs_f64() * 1e3,
        "loop stalled: job {site} has held the loop thread '{}' for {elapsed:?} and is still running (threshold {:?})",
        state.thread_name,
        state.slow_poll_threshold
    );
}
