//! Spinning before a park: the adaptive default (`SpinPolicy::Adaptive`), the fixed
//! budget (`BridgeBuilder::spin_before_park`) and none (`SpinPolicy::Off`) give the same results
//! and keep the same rules, leave nothing running once the bridge stops, and the adaptive
//! one stops spinning for jobs that outlast it (asserted on the bridge's counters, never
//! on timings).

mod common;

use std::time::Duration;

use common::wait;
use loopbridge::{Bridge, SpinPolicy};

fn spinning_bridge() -> Bridge {
    Bridge::builder()
        .spin_before_park(Duration::from_micros(200))
        .build()
        .unwrap()
}

#[test]
fn back_to_back_round_trips_return_every_value() {
    let bridge = spinning_bridge();
    let handle = bridge.handle();
    for n in 0..2_000u32 {
        assert_eq!(handle.submit(async move { n * 2 }).wait().unwrap(), n * 2);
        assert_eq!(handle.run_callback(move || n + 1).wait().unwrap(), n + 1);
    }
    let stats = handle.stats();
    assert_eq!(stats.submitted, 4_000);
    assert_eq!(stats.finished, 4_000);
}

#[test]
fn a_spinning_wait_still_times_out_and_still_sees_a_late_result() {
    let bridge = spinning_bridge();
    let handle = bridge.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let mut completion = handle.submit(async move { rx.await.unwrap() });
    // A timeout shorter than the spin: the spin is cut to the timeout.
    let error = completion
        .wait_timeout(Duration::from_micros(10))
        .unwrap_err();
    assert!(error.is_timeout());
    tx.send(5).unwrap();
    assert_eq!(wait(completion).unwrap(), 5);
}

#[test]
fn the_loop_keeps_its_rules_while_it_spins() {
    let bridge = spinning_bridge();
    let handle = bridge.handle();
    let inner = handle.clone();
    let refused = handle
        .run_callback(move || inner.submit(async { 1 }).wait())
        .wait()
        .unwrap();
    assert!(refused.unwrap_err().is_blocking_on_loop());
}

#[test]
fn the_spinning_dispatcher_is_not_a_job_and_stops_with_the_bridge() {
    let bridge = spinning_bridge();
    let handle = bridge.handle();
    handle.submit(async {}).wait().unwrap();
    // Staying awake is the dispatcher's own: it is neither listed nor counted.
    assert!(handle.jobs().is_empty());
    assert_eq!(handle.stats().submitted, 1);
    let report = bridge.shutdown(Duration::from_secs(10));
    assert!(report.is_clean(), "{report}");
    assert!(handle.submit(async {}).wait().unwrap_err().is_closed());
}

#[test]
fn timers_and_wakes_from_other_threads_work_while_the_loop_spins() {
    let bridge = spinning_bridge();
    let handle = bridge.handle();
    let slept = handle.submit(async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        "slept"
    });
    assert_eq!(slept.wait().unwrap(), "slept");
    for n in 0..50 {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = handle.submit(async move { rx.await.unwrap() });
        std::thread::spawn(move || tx.send(n).unwrap());
        assert_eq!(job.wait().unwrap(), n);
    }
}

/// Jobs that take far longer than any spin (a 50 ms timer) are parked for at once after
/// a few waits at most: the budget backs off instead of burning a core on every wait.
#[test]
fn long_jobs_stop_spinning_after_a_few_waits() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    const WAITS: u64 = 12;
    for n in 0..WAITS {
        let slept = handle.submit(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            n
        });
        assert_eq!(slept.wait().unwrap(), n);
    }
    let stats = handle.stats();
    assert_eq!(stats.spins_met, 0, "no spin outlasts 50 ms: {stats:?}");
    assert_eq!(stats.parks, WAITS, "every wait parked: {stats:?}");
    assert!(
        stats.spins_missed <= 3,
        "at most a few waits spun before the budget backed off: {stats:?}"
    );
}

/// Short jobs: every value comes back, and the counters add up: a spin that ran out
/// ended in a park.
#[test]
fn the_adaptive_default_returns_every_value_and_counts_consistently() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    for n in 0..2_000u32 {
        assert_eq!(handle.submit(async move { n + 1 }).wait().unwrap(), n + 1);
    }
    let mut timed = handle.submit(async { 9 });
    assert_eq!(timed.wait_timeout(Duration::from_secs(30)).unwrap(), 9);
    let stats = handle.stats();
    assert_eq!(stats.finished, 2_001);
    assert!(stats.spins_missed <= stats.parks, "{stats:?}");
    assert!(
        stats.spins_met + stats.parks <= 2_001,
        "one outcome per wait: {stats:?}"
    );
    assert!(stats.loop_spins_missed <= stats.loop_parks, "{stats:?}");
}

/// `SpinPolicy::Off` never spins, on either side.
#[test]
fn spinning_off_never_spins() {
    let bridge = Bridge::builder().spin(SpinPolicy::Off).build().unwrap();
    let handle = bridge.handle();
    for n in 0..500u32 {
        assert_eq!(handle.submit(async move { n }).wait().unwrap(), n);
    }
    let stats = handle.stats();
    assert_eq!(stats.spins_met + stats.spins_missed, 0, "{stats:?}");
    assert_eq!(
        stats.loop_spins_met + stats.loop_spins_missed,
        0,
        "{stats:?}"
    );
    assert!(
        stats.loop_parks >= 1,
        "the loop slept between jobs: {stats:?}"
    );
}

/// A fixed budget as a policy is refused past its limit as `spin_before_park` is, and a
/// zero one is no spinning at all.
#[test]
fn a_fixed_policy_is_checked_like_spin_before_park() {
    let refused = Bridge::builder()
        .spin(SpinPolicy::Fixed(Duration::from_secs(1)))
        .build()
        .unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        refused.to_string().contains("SpinPolicy::Fixed"),
        "{refused}"
    );
    let bridge = Bridge::builder()
        .spin_before_park(Duration::ZERO)
        .build()
        .unwrap();
    bridge.handle().submit(async {}).wait().unwrap();
    let stats = bridge.handle().stats();
    assert_eq!(stats.spins_met + stats.spins_missed, 0, "{stats:?}");
}
