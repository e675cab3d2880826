//! The wait before a park: a waiting thread spins on its result, and the loop's
//! dispatcher on its run queue, for a bounded time before they park.
//!
//! Parking and waking a sleeping thread costs tens of microseconds on a VM (the wake-up
//! is an interrupt to another CPU), and a default round trip pays it twice: the loop
//! wakes for the submission, the caller for the result. Two threads that are both awake
//! hand a result over in about a microsecond. A spin that meets its result is cheaper in
//! CPU as well as in time than a park; one that runs out is pure waste. So the default
//! ([`SpinPolicy::Adaptive`]) learns, per bridge, how long spins need to be from what
//! recent waits took (`budget.rs`), and spins only where it can pay (`spinner.rs`):
//! never on a machine with one CPU, never when the other side shares this CPU or sleeps.
//!
//! The spin itself only reads an atomic; the park after it is the same as without a
//! spin, so a spin cannot lose a wake-up (loom: `loom-tests/spin.rs`).

mod budget;
mod cpu;
mod policy;
mod spinner;

pub use policy::SpinPolicy;
pub(crate) use spinner::{SpinCounts, Spinner};

use std::time::{Duration, Instant};

/// How many spins between two reads of the clock.
#[cfg(not(loopbridge_loom))]
const SPINS_PER_CLOCK_READ: u32 = 64;

/// A spin that met its condition. How long it took is read from the clock only when
/// asked: a waiter that learns nothing from it (a fixed spin) hands the result over
/// without that read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Met {
    /// When the spin began to wait; `None` if its first look met.
    started: Option<Instant>,
}

impl Met {
    /// How long the spin waited.
    pub(crate) fn took(self) -> Duration {
        self.started
            .map_or(Duration::ZERO, |started| started.elapsed())
    }
}

/// Spins until `done()` holds or `limit` has passed: `Some` if it holds.
#[cfg(not(loopbridge_loom))]
pub(crate) fn spin_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Met> {
    if done() {
        return Some(Met { started: None });
    }
    if limit.is_zero() {
        return None;
    }
    let started = Instant::now();
    let met = Met {
        started: Some(started),
    };
    loop {
        for _ in 0..SPINS_PER_CLOCK_READ {
            std::hint::spin_loop();
            if done() {
                return Some(met);
            }
        }
        if started.elapsed() >= limit {
            return done().then_some(met);
        }
        // Let a thread that shares this CPU (possibly the one producing the result) run:
        // spinning without yielding there only delays it.
        std::thread::yield_now();
    }
}

/// Under loom time means nothing: a spin is two looks, each after a yield to the model.
#[cfg(loopbridge_loom)]
pub(crate) fn spin_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Met> {
    let met = Some(Met { started: None });
    if done() {
        return met;
    }
    if limit.is_zero() {
        return None;
    }
    for _ in 0..2 {
        loom::thread::yield_now();
        if done() {
            return met;
        }
    }
    None
}
