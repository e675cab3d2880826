//! [`Spinner`]: one bridge's spinning, for its waiters and its loop thread: the policy,
//! what was learned, where each side was last seen, and the counts [`LoopStats`] shows.
//!
//! [`LoopStats`]: crate::LoopStats

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::util::CachePadded;

use super::budget::{Budget, Limits};
use super::{cpu, spin_until, Met, SpinPolicy};

/// A waiter's spin while the loop is awake: a few round trips with both sides awake, so
/// that a short hiccup of either side does not make both park.
const WAITER: Limits = Limits {
    floor: Duration::from_micros(10),
    ceiling: Duration::from_micros(30),
    probe: Duration::from_micros(50),
};

/// A waiter's probe while the loop sleeps: it outlasts the loop's wake-up on another CPU,
/// so that a pair of threads that both park learns again that they could both spin.
const THROUGH_WAKE: Limits = Limits {
    floor: Duration::from_micros(150),
    ceiling: Duration::from_micros(150),
    probe: Duration::from_micros(150),
};

/// The loop's spin after a batch, waiting for the next submission.
const LOOP: Limits = Limits {
    floor: Duration::from_micros(20),
    ceiling: Duration::from_micros(50),
    probe: Duration::from_micros(50),
};

/// How much a wait that found the loop awake brings a backed-off waiter's probe nearer.
const AWAKE_WEIGHT: u32 = 4;

/// Waiter budgets, one per submitting call site (by the address of its `Location`,
/// so two sites may share one): a bridge that runs quick lookups and slow queries side by
/// side learns each apart. Measured with 20 quick jobs then one 1 ms timer job from two
/// sites, over and over: one budget per bridge spun and missed on nearly every slow job
/// (~105 misses per 2 100 waits, +30 % process CPU); one per site missed ~6 (probes).
const SITES: usize = 32;

/// No CPU seen yet.
const UNKNOWN: u32 = u32::MAX;

/// Its fields sit on three groups of cache lines by who writes them, so that a round
/// trip in which both sides spin moves no line of the spinner's between their CPUs but
/// the ones it must: waiters write `waiters`, the loop thread writes `looping`, and
/// `seen` changes only when a thread moves to another CPU or the loop parks (each side
/// reads it on every wait).
pub(crate) struct Spinner {
    policy: SpinPolicy,
    only_one_cpu: bool,
    sites: [Budget; SITES],
    /// Waits that find the loop asleep: probes only, now and then.
    through_wake: Budget,
    seen: CachePadded<Seen>,
    waiters: CachePadded<WaiterSide>,
    looping: CachePadded<LoopSide>,
}

/// Where each side was last seen.
struct Seen {
    /// Where the loop thread ran when it last woke or looked for work.
    loop_cpu: AtomicU32,
    /// Where the last waiter was when it began to wait.
    waiter_cpu: AtomicU32,
    /// The loop thread is not parked (it runs, or spins for work).
    loop_awake: AtomicBool,
}

/// Written by waiters.
#[derive(Default)]
struct WaiterSide {
    /// Waiters spinning now (counted under [`SpinPolicy::Adaptive`] only, the one policy
    /// that reads it): the loop spins after a batch only for a waiter that is awake to
    /// submit again at once (a parked one's wake-up outlasts any budget).
    spinning: AtomicU32,
    spins_met: AtomicU64,
    spins_missed: AtomicU64,
    parks: AtomicU64,
}

/// Written by the loop thread alone.
#[derive(Default)]
struct LoopSide {
    budget: Budget,
    spins_met: AtomicU64,
    spins_missed: AtomicU64,
    parks: AtomicU64,
}

/// A snapshot of a [`Spinner`]'s counts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SpinCounts {
    pub(crate) spins_met: u64,
    pub(crate) spins_missed: u64,
    pub(crate) parks: u64,
    pub(crate) loop_spins_met: u64,
    pub(crate) loop_spins_missed: u64,
    pub(crate) loop_parks: u64,
}

/// The loop's spin for work after a batch: how long, and whether it teaches its budget.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoopSpin {
    pub(crate) budget: Duration,
    learns: bool,
}

// ORDERING: every field is a hint or a count, read and written with relaxed atomics:
// none publishes other memory, and the park after a spin is what hands results over.
impl Spinner {
    pub(crate) fn new(policy: SpinPolicy) -> Spinner {
        Spinner {
            policy,
            only_one_cpu: cpu::only_one(),
            sites: std::array::from_fn(|_| Budget::default()),
            through_wake: Budget::backed_off(),
            seen: CachePadded(Seen {
                loop_cpu: AtomicU32::new(UNKNOWN),
                waiter_cpu: AtomicU32::new(UNKNOWN),
                loop_awake: AtomicBool::new(true),
            }),
            waiters: CachePadded(WaiterSide::default()),
            looping: CachePadded(LoopSide::default()),
        }
    }

    /// A waiter on a job submitted at `site` spins (for at most `most`) until `done()`
    /// holds or its budget runs out (then it parks: counted here).
    pub(crate) fn before_park(
        &self,
        site: &'static Location<'static>,
        most: Duration,
        mut done: impl FnMut() -> bool,
    ) {
        let (budget, learner) = self.waiter_budget(site);
        let budget = budget.min(most);
        let counts = &self.waiters;
        if budget.is_zero() {
            if !done() {
                counts.parks.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let adaptive = self.policy == SpinPolicy::Adaptive;
        if adaptive {
            counts.spinning.fetch_add(1, Ordering::Relaxed);
        }
        let met = spin_until(budget, &mut done);
        if let Some(learner) = learner {
            learner.record(met.map(Met::took));
        }
        let count = if met.is_some() {
            &counts.spins_met
        } else {
            &counts.spins_missed
        };
        count.fetch_add(1, Ordering::Relaxed);
        if adaptive {
            // ORDERING: Release, after the count of a met spin: a loop that no longer
            // sees this waiter spinning sees that it met (see `loop_spin`).
            counts.spinning.fetch_sub(1, Ordering::Release);
        }
        if met.is_none() {
            counts.parks.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waiter_budget(&self, site: &'static Location<'static>) -> (Duration, Option<&Budget>) {
        if cfg!(loopbridge_loom) {
            // Under loom every spinning wait spins (two looks), so the models cover the
            // spin and the park after it whatever a scheduler would decide.
            return match self.policy {
                SpinPolicy::Off => (Duration::ZERO, None),
                _ => (Duration::from_nanos(1), None),
            };
        }
        let here = cpu::current();
        if let Some(cpu) = here {
            store_if_changed(&self.seen.waiter_cpu, cpu);
        }
        let shares_cpu = here.is_some() && here == self.cpu_of_loop();
        match self.policy {
            SpinPolicy::Off => (Duration::ZERO, None),
            _ if self.only_one_cpu || shares_cpu => (Duration::ZERO, None),
            SpinPolicy::Fixed(spin) => (spin, None),
            SpinPolicy::Adaptive => {
                // A sleeping loop's wake-up alone outlasts any budget but a rare probe.
                if !self.seen.loop_awake.load(Ordering::Relaxed) {
                    let learner = &self.through_wake;
                    return (learner.next(THROUGH_WAKE, 1), Some(learner));
                }
                let learner = &self.sites[site_index(site)];
                (learner.next(WAITER, AWAKE_WEIGHT), Some(learner))
            }
        }
    }

    fn cpu_of_loop(&self) -> Option<u32> {
        Some(self.seen.loop_cpu.load(Ordering::Relaxed)).filter(|&cpu| cpu != UNKNOWN)
    }

    /// A mark taken as the loop starts a batch, for [`loop_spin`](Spinner::loop_spin)
    /// (only [`SpinPolicy::Adaptive`] reads it: the waiters' line stays theirs otherwise).
    pub(crate) fn batch_mark(&self) -> u64 {
        match self.policy {
            SpinPolicy::Adaptive => self.waiters.spins_met.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    /// How long the loop thread, done with the batch that began at `mark`, spins for more
    /// work before it parks.
    pub(crate) fn loop_spin(&self, mark: u64) -> LoopSpin {
        let here = cpu::current();
        if let Some(cpu) = here {
            store_if_changed(&self.seen.loop_cpu, cpu);
        }
        let waiter = self.seen.waiter_cpu.load(Ordering::Relaxed);
        let shares_cpu = here.is_some_and(|cpu| cpu == waiter);
        let (budget, learns) = match self.policy {
            SpinPolicy::Off => (Duration::ZERO, false),
            _ if self.only_one_cpu || shares_cpu => (Duration::ZERO, false),
            SpinPolicy::Fixed(spin) => (spin, false),
            SpinPolicy::Adaptive => {
                // ORDERING: Acquire pairs with the waiter's Release (see `before_park`).
                let awake = self.waiters.spinning.load(Ordering::Acquire) > 0
                    || self.waiters.spins_met.load(Ordering::Relaxed) != mark;
                if awake {
                    (self.looping.budget.next(LOOP, 1), true)
                } else {
                    (Duration::ZERO, false)
                }
            }
        };
        LoopSpin { budget, learns }
    }

    /// The loop's spin ended: `Some(took)` if work came.
    pub(crate) fn loop_spun(&self, spin: LoopSpin, met: Option<Duration>) {
        if spin.budget.is_zero() {
            return;
        }
        if spin.learns {
            self.looping.budget.record(met);
        }
        let count = if met.is_some() {
            &self.looping.spins_met
        } else {
            &self.looping.spins_missed
        };
        count.fetch_add(1, Ordering::Relaxed);
    }

    /// The loop thread is about to park (or may: it sleeps unless work is queued).
    pub(crate) fn loop_parking(&self) {
        self.seen.loop_awake.store(false, Ordering::Relaxed);
    }

    /// The loop thread parked and woke again.
    pub(crate) fn loop_parked(&self) {
        self.looping.parks.fetch_add(1, Ordering::Relaxed);
    }

    /// The loop thread runs again.
    pub(crate) fn loop_woke(&self) {
        self.seen.loop_awake.store(true, Ordering::Relaxed);
        if let Some(cpu) = cpu::current() {
            store_if_changed(&self.seen.loop_cpu, cpu);
        }
    }

    pub(crate) fn counts(&self) -> SpinCounts {
        let (waiters, looping) = (&self.waiters, &self.looping);
        let read = |count: &AtomicU64| count.load(Ordering::Relaxed);
        SpinCounts {
            spins_met: read(&waiters.spins_met),
            spins_missed: read(&waiters.spins_missed),
            parks: read(&waiters.parks),
            loop_spins_met: read(&looping.spins_met),
            loop_spins_missed: read(&looping.spins_missed),
            loop_parks: read(&looping.parks),
        }
    }
}

/// Stores `cpu` unless it is there already: a line the other side reads on every wait
/// stays in both CPUs' caches while no thread moves.
fn store_if_changed(seen: &AtomicU32, cpu: u32) {
    if seen.load(Ordering::Relaxed) != cpu {
        seen.store(cpu, Ordering::Relaxed);
    }
}

fn site_index(site: &'static Location<'static>) -> usize {
    let address = site as *const Location<'static> as usize;
    // `Location`s are a few words apart in the binary's read-only data.
    (address >> 3 ^ address >> 11) % SITES
}
