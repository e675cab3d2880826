//! [`Budget`]: how long the next spin should last, learned from how the last ones went.
//!
//! A spin that met its result tells how long it took: the budget is a few times the
//! recent typical (so ordinary jitter still meets), between a floor and a ceiling. Spins
//! that run out [`MISSES_TO_BACK_OFF`] times in a row (the jobs are long, or the machine
//! is too busy for the other side to run) bring the budget to zero; from then on only a
//! probe spins, after [`FIRST_PROBE`] waits, then twice as many after each probe that
//! runs out too (up to 1024 waits), so steadily long jobs pay for one probe in a
//! thousand waits and a return to short jobs is noticed soon.
//!
//! Shared by the threads that wait through it with relaxed atomics and no lock: it is a
//! prediction, and two racing updates only make it a little less accurate.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Spins that run out in a row before the budget falls to zero.
const MISSES_TO_BACK_OFF: u32 = 2;

/// Waits between the back-off and the first probe.
const FIRST_PROBE: u32 = 16;

/// The most waits between two probes: `FIRST_PROBE << 6`, 1024.
const LAST_PROBE_SHIFT: u32 = 6;

/// How much longer than the recent typical a spin may last.
const HEADROOM: u32 = 4;

/// The bounds of one kind of spin.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The shortest budget while spinning pays.
    pub(crate) floor: Duration,
    /// The longest budget while spinning pays.
    pub(crate) ceiling: Duration,
    /// How long a probe (or a first spin, with nothing learned) lasts.
    pub(crate) probe: Duration,
}

#[derive(Default)]
pub(crate) struct Budget {
    /// How long recent spins that met took, in nanoseconds: a moving average (each new
    /// one weighs a quarter); zero until one met.
    typical: AtomicU32,
    /// Spins that ran out in a row.
    misses: AtomicU32,
    /// Waits since the last probe, while backed off.
    since_probe: AtomicU32,
    /// Probes that ran out in a row: each doubles the waits until the next.
    failed_probes: AtomicU32,
}

// ORDERING: every field is a prediction read and written with relaxed atomics; nothing
// else is published through them, and a lost update only costs accuracy.
impl Budget {
    /// A budget that starts backed off: it spins only to probe until a probe meets.
    pub(crate) fn backed_off() -> Budget {
        let budget = Budget::default();
        budget.misses.store(MISSES_TO_BACK_OFF, Ordering::Relaxed);
        budget
    }

    /// How long the next spin may last (zero: park at once). While backed off, a wait
    /// brings the next probe `weight` waits closer: a waiter that sees the other side
    /// awake has better reason to probe than one that does not.
    pub(crate) fn next(&self, limits: Limits, weight: u32) -> Duration {
        if self.misses.load(Ordering::Relaxed) < MISSES_TO_BACK_OFF {
            return match self.typical.load(Ordering::Relaxed) {
                0 => limits.probe,
                typical => Duration::from_nanos(u64::from(typical) * u64::from(HEADROOM))
                    .clamp(limits.floor, limits.ceiling),
            };
        }
        let shift = self
            .failed_probes
            .load(Ordering::Relaxed)
            .min(LAST_PROBE_SHIFT);
        let waited = self.since_probe.fetch_add(weight, Ordering::Relaxed) + weight;
        if waited >= FIRST_PROBE << shift {
            self.since_probe.store(0, Ordering::Relaxed);
            return limits.probe;
        }
        Duration::ZERO
    }

    /// A spin ended: `Some(took)` if it met its result (or work), `None` if it ran out.
    pub(crate) fn record(&self, met: Option<Duration>) {
        match met {
            Some(took) => {
                let took = u32::try_from(took.as_nanos()).unwrap_or(u32::MAX).max(1);
                let typical = match self.typical.load(Ordering::Relaxed) {
                    // After a back-off the old typical says nothing about the new jobs.
                    _ if self.misses.load(Ordering::Relaxed) >= MISSES_TO_BACK_OFF => took,
                    0 => took,
                    old => ((u64::from(old) * 3 + u64::from(took)) / 4) as u32,
                };
                self.typical.store(typical.max(1), Ordering::Relaxed);
                self.misses.store(0, Ordering::Relaxed);
                self.failed_probes.store(0, Ordering::Relaxed);
            }
            None => {
                let misses = self.misses.load(Ordering::Relaxed);
                if misses >= MISSES_TO_BACK_OFF {
                    // A probe that ran out.
                    let failed = self.failed_probes.load(Ordering::Relaxed);
                    self.failed_probes
                        .store(failed.saturating_add(1), Ordering::Relaxed);
                } else {
                    self.misses.store(misses + 1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(all(test, not(loopbridge_loom)))]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        floor: Duration::from_micros(4),
        ceiling: Duration::from_micros(20),
        probe: Duration::from_micros(50),
    };

    #[test]
    fn short_spins_keep_a_budget_a_few_times_their_length() {
        let budget = Budget::default();
        assert_eq!(
            budget.next(LIMITS, 1),
            LIMITS.probe,
            "nothing learned: a probe"
        );
        for _ in 0..20 {
            budget.record(Some(Duration::from_micros(3)));
        }
        assert_eq!(budget.next(LIMITS, 1), Duration::from_micros(12));
        budget.record(Some(Duration::from_nanos(100)));
        assert!(budget.next(LIMITS, 1) >= LIMITS.floor);
    }

    #[test]
    fn misses_back_off_to_rare_probes_and_a_met_probe_resumes() {
        let budget = Budget::default();
        budget.record(Some(Duration::from_micros(2)));
        budget.record(None);
        assert!(!budget.next(LIMITS, 1).is_zero(), "one miss is not enough");
        budget.record(None);
        let spins = (0..FIRST_PROBE)
            .filter(|_| !budget.next(LIMITS, 1).is_zero())
            .count();
        assert_eq!(spins, 1, "one probe in the first {FIRST_PROBE} waits");
        budget.record(None);
        let spins = (0..2 * FIRST_PROBE)
            .filter(|_| !budget.next(LIMITS, 1).is_zero())
            .count();
        assert_eq!(spins, 1, "a failed probe doubles the wait for the next");
        budget.record(Some(Duration::from_micros(30)));
        assert_eq!(
            budget.next(LIMITS, 1),
            LIMITS.ceiling,
            "met: spinning again"
        );
    }
}
