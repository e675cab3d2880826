//! The stall watchdog: one background thread for the whole process notices a poll that
//! is *still running* past its bridge's slow-poll threshold and reports it while the
//! loop is stalled, not only after the poll returns.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::event_loop::{Doze, LoopState};
use crate::sync::{AtomicBool, Condvar, Mutex};
use crate::util::log_panic;

/// The shortest pause between checks, whatever the thresholds: a zero threshold must
/// not turn the watchdog into a busy loop.
const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(1);

/// The longest pause between checks when no bridge asks for less.
const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(1);

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
    /// Drops the entries of bridges that are gone, and the room a crowd of them left.
    fn prune(&mut self) {
        self.bridges.retain(|(bridge, _)| bridge.strong_count() > 0);
        let keep = self.bridges.len().max(8);
        if self.bridges.capacity() > 4 * keep {
            self.bridges.shrink_to(2 * keep);
        }
    }

    fn any_dispatching(&self) -> bool {
        // ORDERING: ordered after the doze's announcement by its fence (see `doze`).
        self.bridges
            .iter()
            .any(|(_, dispatching)| dispatching.load(Ordering::SeqCst))
    }
}

/// The process's watchdog: of its fork generation, as a forked child inherits the
/// parent's watchdog but not its thread.
static WATCHDOG: std::sync::Mutex<Option<(u64, Arc<Watchdog>)>> = std::sync::Mutex::new(None);

/// The watchdog of fork generation `generation`, if it was started.
fn current(generation: u64) -> Option<Arc<Watchdog>> {
    let current = WATCHDOG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match &*current {
        Some((started_in, watchdog)) if *started_in == generation => Some(watchdog.clone()),
        _ => None,
    }
}

/// Puts a bridge under the watchdog, starting the watchdog thread on first use in this
/// process (a forked child inherits the parent's watchdog but not its thread, so it
/// starts its own).
pub(crate) fn watch(state: &Arc<LoopState>) {
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
    // A dropped bridge's entry keeps its state's allocation (a `Weak` does): prune here
    // too, not only when the watchdog wakes, which it need not do for a long time.
    watched.prune();
    watched
        .bridges
        .push((Arc::downgrade(state), state.poll_clock.dispatching.clone()));
    watched.added += 1;
    drop(watched);
    // Awake, it picks the new bridge's threshold; dozing, it sees `added` changed.
    watchdog.changed.notify_all();
    watchdog.doze.nudge();
}

/// Takes a bridge whose loop thread is ending off the watchdog's list, so that its state
/// goes as soon as its last handle does.
pub(crate) fn unwatch(state: &LoopState) {
    let Some(watchdog) = current(state.fork_generation) else {
        return;
    };
    let mut watched = watchdog.bridges.lock();
    watched
        .bridges
        .retain(|(bridge, _)| !std::ptr::eq(bridge.as_ptr(), state));
    watched.prune();
}

fn start() -> Arc<Watchdog> {
    let watchdog = Arc::new(Watchdog {
        bridges: Mutex::new(Watched::default()),
        changed: Condvar::new(),
        doze: Arc::new(Doze::default()),
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
                watched.prune();
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
                log_panic("the stall watchdog's check", None, || check(state, now));
                interval = interval.min(state.slow_poll_threshold / 2);
                busy |= state.poll_clock.is_dispatching();
            }
            // Possibly the last references to bridges and their jobs: user destructors.
            log_panic("the stall watchdog dropping a bridge", None, || drop(live));
            let watched = self.bridges.lock();
            if watched.added != added {
                continue; // a bridge came while checking: look at it now
            }
            if busy {
                let deadline = Instant::now() + interval.max(MIN_CHECK_INTERVAL);
                drop(self.changed.wait_until(&self.bridges, watched, deadline));
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

/// Reports the bridge's running poll once, if it has run past the threshold.
fn check(state: &LoopState, now: Instant) {
    let Some((poll, elapsed)) = state.poll_clock.running(now) else {
        return;
    };
    if elapsed < state.slow_poll_threshold || !state.poll_clock.first_report_of(poll) {
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
