//! The stall watchdog: one background thread for the whole process notices a stall that
//! is *still going on* past its bridge's slow-poll threshold and reports it while the
//! loop is stalled, not only after it ends: a job's poll still running, or the loop's
//! dispatcher, woken with work for it, kept from its turn by code that is not a job (a
//! task spawned with tokio directly). Where the platform tells, each report says whether
//! the loop thread was running code meanwhile, blocked, or not scheduled.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::event_loop::{Doze, LoopState, Sighting, Stall, Turn};
use crate::sync::{Condvar, Mutex};
use crate::thread_clock::ThreadTimes;
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

/// The bridges under watch (each with its dispatcher's turn, whose busy mark is readable
/// without touching the bridge), and how many were ever added (so a bridge added while
/// the watchdog was checking, with the list unlocked, is not missed).
#[derive(Default)]
struct Watched {
    bridges: Vec<(Weak<LoopState>, Arc<Turn>)>,
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
        self.bridges.iter().any(|(_, turn)| turn.is_busy())
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
    let _ = state.poll_clock.turn.doze.set(watchdog.doze.clone());
    let mut watched = watchdog.bridges.lock();
    // A dropped bridge's entry keeps its state's allocation (a `Weak` does): prune here
    // too, not only when the watchdog wakes, which it need not do for a long time.
    watched.prune();
    watched
        .bridges
        .push((Arc::downgrade(state), state.poll_clock.turn.clone()));
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
        tracing::error!(
            target: "loopbridge::thread_start",
            what = "the stall watchdog",
            error = %error,
            "cannot start the stall watchdog: {error}"
        );
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
                // Its events go to the bridge's dispatcher.
                log_panic("the stall watchdog's check", None, || {
                    state.dispatch.in_scope(|| check(state, now));
                });
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

/// Reports the bridge's stall once, if it has lasted past the threshold: a job's poll
/// still running, or the dispatcher kept from its turn by other code on the loop thread.
///
/// The loop thread's clocks are read when a stall has lasted a quarter of the threshold
/// (a job's ordinary poll is over long before), and again at the report, which so waits
/// for a look after that first reading: what the thread did in between is what the
/// report says.
fn check(state: &LoopState, now: Instant) {
    let clock = &state.poll_clock;
    let threshold = state.slow_poll_threshold;
    let mut sighting = clock.sighting.lock();
    let Some((stall, elapsed)) = clock.stall(now) else {
        *sighting = None;
        return;
    };
    let seen = match &mut *sighting {
        Some(seen) if seen.stall == stall => seen,
        other => other.insert(Sighting {
            stall,
            first_look: None,
            reported: false,
        }),
    };
    if seen.reported || elapsed < threshold / 4 {
        return;
    }
    let Some((looked, before)) = seen.first_look else {
        let times = clock.thread.read();
        seen.first_look = Some((now, times));
        if times.is_some() || elapsed < threshold {
            return;
        }
        // Nothing to measure with on this platform: report now.
        seen.reported = true;
        drop(sighting);
        report(state, stall, elapsed, None);
        return;
    };
    if elapsed < threshold {
        return;
    }
    seen.reported = true;
    drop(sighting);
    let activity = before
        .zip(clock.thread.read())
        .map(|(before, after)| Activity::between(before, after, now - looked));
    report(state, stall, elapsed, activity);
}

fn report(state: &LoopState, stall: Stall, elapsed: Duration, activity: Option<Activity>) {
    let thread = &state.thread_name;
    let threshold = state.slow_poll_threshold;
    let cpu_ms = activity.as_ref().map(|activity| activity.cpu_ms);
    let measured_ms = activity.as_ref().map(|activity| activity.measured_ms);
    let thread_state = activity
        .as_ref()
        .map_or("unknown", |activity| activity.state);
    let what = activity.as_ref().map_or(
        "the platform does not tell whether it ran code",
        |activity| activity.words,
    );
    match stall {
        Stall::Poll(_) => {
            let now = Instant::now();
            let job = state
                .registry
                .snapshot()
                .into_iter()
                .find(|job| job.record().running_poll(now).is_some());
            let site = job.as_ref().map(|job| job.record().site.clone());
            let location = site.as_ref().map(|site| site.location().to_string());
            let shown = site
                .as_ref()
                .map_or_else(|| "<unknown>".to_owned(), ToString::to_string);
            tracing::warn!(
                target: "loopbridge::loop_stall",
                site = location,
                name = site.as_ref().and_then(|site| site.name()),
                scope = site.as_ref().and_then(|site| site.scope()),
                thread = %thread,
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                threshold_ms = threshold.as_secs_f64() * 1e3,
                cpu_ms,
                measured_ms,
                thread_state,
                "loop stalled: job {shown} has held the loop thread '{thread}' for {elapsed:?} and is still running (threshold {threshold:?}); meanwhile the thread was {what}"
            );
        }
        Stall::Loop(_) => {
            state.counters.loop_stalls.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "loopbridge::foreign_stall",
                thread = %thread,
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                threshold_ms = threshold.as_secs_f64() * 1e3,
                cpu_ms,
                measured_ms,
                thread_state,
                "loop stalled by code that is NOT one of the bridge's jobs: jobs have waited {elapsed:?} for the loop thread '{thread}' (threshold {threshold:?}), held by other code on it, e.g. a task spawned with tokio directly (tokio::spawn, spawn_local) that blocks; meanwhile the thread was {what}"
            );
        }
    }
}

/// What the loop thread did over part of a stall, from its clocks.
struct Activity {
    /// The CPU time it used, in milliseconds.
    cpu_ms: f64,
    /// Over how long a part of the stall, in milliseconds.
    measured_ms: f64,
    /// One word for it: running, not scheduled, blocked or off cpu.
    state: &'static str,
    /// The same, for the report's message.
    words: &'static str,
}

impl Activity {
    /// What the clocks say of the `span` between the readings `before` and `after`.
    fn between(before: ThreadTimes, after: ThreadTimes, span: Duration) -> Activity {
        let cpu = after.cpu.saturating_sub(before.cpu);
        let off_cpu = span.saturating_sub(cpu);
        let waited = before
            .run_queue
            .zip(after.run_queue)
            .map(|(before, after)| after.saturating_sub(before));
        let (state, words) = if cpu >= off_cpu {
            ("running", "running code (on the CPU)")
        } else {
            match waited {
                Some(waited) if waited * 2 >= off_cpu => (
                    "not scheduled",
                    "not scheduled (the machine is busy): ready to run, waiting for a CPU",
                ),
                Some(_) => (
                    "blocked",
                    "blocked, off the CPU in a blocking call (a sleep, a lock, synchronous I/O)",
                ),
                None => (
                    "off cpu",
                    "off the CPU: blocked in a call, or not scheduled (the machine is busy)",
                ),
            }
        };
        Activity {
            cpu_ms: cpu.as_secs_f64() * 1e3,
            measured_ms: span.as_secs_f64() * 1e3,
            state,
            words,
        }
    }
}
