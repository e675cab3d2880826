//! The opt-in low-latency wait ([`Builder::spin_before_park`](crate::Builder::spin_before_park)):
//! a waiting thread spins on its result, and the loop thread stays awake after its last
//! job, each for a bounded time, before parking. Parking and waking a sleeping thread
//! costs microseconds; two threads that are both awake hand a result over in well under
//! one, at the price of burning a core each while they spin.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::handle::LoopState;

/// How many spins between two reads of the clock.
const SPINS_PER_CLOCK_READ: u32 = 64;

/// Spins until `done()` holds or `limit` has passed; `true` if it holds.
pub(crate) fn spin_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    if limit.is_zero() {
        return done();
    }
    let started = Instant::now();
    loop {
        for _ in 0..SPINS_PER_CLOCK_READ {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        if started.elapsed() >= limit {
            return done();
        }
        // Let a thread that shares this CPU (possibly the one producing the result) run:
        // spinning without yielding there only delays it.
        std::thread::yield_now();
    }
}

/// Notes loop activity and, if the loop is not already being kept awake, starts the task
/// that keeps it awake for the spin time after the last activity. Called on the loop
/// thread when a job ends.
pub(crate) fn keep_loop_awake(state: &Arc<LoopState>) {
    let spin = &state.spin;
    if spin.limit.is_zero() {
        return;
    }
    // ORDERING: both fields are written and read on the loop thread only; relaxed
    // atomics are how the shared state holds them.
    spin.last_activity
        .store(state.poll_clock.now_nanos(), Ordering::Relaxed);
    if !spin.awake.swap(true, Ordering::Relaxed) {
        tokio::spawn(stay_awake(state.clone()));
    }
}

/// Keeps the loop thread from parking until the spin time has passed since the last
/// activity: each yield polls the I/O driver without blocking and takes up newly
/// submitted jobs at once.
async fn stay_awake(state: Arc<LoopState>) {
    let spin = &state.spin;
    let limit = u64::try_from(spin.limit.as_nanos()).unwrap_or(u64::MAX);
    loop {
        let idle_for = state
            .poll_clock
            .now_nanos()
            .saturating_sub(spin.last_activity.load(Ordering::Relaxed));
        if idle_for >= limit || state.closed.load(Ordering::Relaxed) {
            spin.awake.store(false, Ordering::Relaxed);
            return;
        }
        // Lets the runtime poll its queues and the I/O driver without blocking, and a
        // waiting thread that shares this CPU run.
        std::thread::yield_now();
        tokio::task::yield_now().await;
    }
}

/// A bridge's spin settings and the loop thread's spin state.
#[derive(Default)]
pub(crate) struct Spin {
    /// How long to spin before parking; zero turns spinning off.
    pub(crate) limit: Duration,
    /// When the loop last ended a job, in the poll clock's nanoseconds.
    last_activity: std::sync::atomic::AtomicU64,
    /// Whether a task is keeping the loop awake.
    awake: std::sync::atomic::AtomicBool,
}

impl Spin {
    pub(crate) fn new(limit: Duration) -> Spin {
        Spin {
            limit,
            ..Spin::default()
        }
    }
}
