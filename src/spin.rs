//! The opt-in low-latency wait ([`BridgeBuilder::spin_before_park`](crate::BridgeBuilder::spin_before_park)):
//! a waiting thread spins on its result (here), and the loop's dispatcher stays awake
//! after its last work (see `dispatch`), each for a bounded time, before parking.
//! Parking and waking a sleeping thread costs microseconds; two threads that are both
//! awake hand a result over in well under one, at the price of burning a core each
//! while they spin.

use std::time::{Duration, Instant};

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
