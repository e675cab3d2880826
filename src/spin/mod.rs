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

use std::time::Duration;
#[cfg(not(loopbridge_loom))]
use std::time::Instant;

/// How many spins between two reads of the clock.
#[cfg(not(loopbridge_loom))]
const SPINS_PER_CLOCK_READ: u32 = 64;

/// Spins until `done()` holds or `limit` has passed: `Some(how long it took)` if it
/// holds.
#[cfg(not(loopbridge_loom))]
pub(crate) fn spin_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    if done() {
        return Some(Duration::ZERO);
    }
    if limit.is_zero() {
        return None;
    }
    let started = Instant::now();
    loop {
        for _ in 0..SPINS_PER_CLOCK_READ {
            std::hint::spin_loop();
            if done() {
                return Some(started.elapsed());
            }
        }
        let spun = started.elapsed();
        if spun >= limit {
            return done().then_some(spun);
        }
        // Let a thread that shares this CPU (possibly the one producing the result) run:
        // spinning without yielding there only delays it.
        std::thread::yield_now();
    }
}

/// Under loom time means nothing: a spin is two looks, each after a yield to the model.
#[cfg(loopbridge_loom)]
pub(crate) fn spin_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    if done() {
        return Some(Duration::ZERO);
    }
    if limit.is_zero() {
        return None;
    }
    for _ in 0..2 {
        loom::thread::yield_now();
        if done() {
            return Some(Duration::ZERO);
        }
    }
    None
}
