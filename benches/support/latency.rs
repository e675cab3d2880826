//! The latency distribution of a round trip under a steady load, not only its median:
//! two submitting threads each start one round trip every `interval` (sleeping between
//! them, so the CPUs stay free for the loop), and every round trip is timed.

use std::thread;
use std::time::{Duration, Instant};

/// Quantiles of the timed round trips.
#[derive(Clone, Copy, Debug)]
pub struct Distribution {
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub samples: usize,
}

impl Distribution {
    pub fn of(mut samples: Vec<Duration>) -> Distribution {
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Distribution {
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            samples: samples.len(),
        }
    }
}

/// Two threads each run `round_trip` `per_thread` times, one every `interval`; returns
/// every round trip's time.
pub fn under_load(
    interval: Duration,
    per_thread: usize,
    round_trip: &(dyn Fn() + Sync),
) -> Vec<Duration> {
    thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(move || {
                    let mut times = Vec::with_capacity(per_thread);
                    let mut next = Instant::now();
                    for _ in 0..per_thread {
                        let now = Instant::now();
                        if next > now {
                            thread::sleep(next - now);
                        }
                        let started = Instant::now();
                        round_trip();
                        times.push(started.elapsed());
                        next = started + interval;
                    }
                    times
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|thread| thread.join().expect("submitting thread"))
            .collect()
    })
}

/// The median of `n` back-to-back round trips on one thread.
pub fn median_round_trip(n: usize, round_trip: &dyn Fn()) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let started = Instant::now();
            round_trip();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}
