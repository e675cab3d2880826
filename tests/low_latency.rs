//! The opt-in low-latency wait (`BridgeBuilder::spin_before_park`): the same results and the
//! same rules as the default wait, and nothing left running once the bridge stops.

mod common;

use std::time::Duration;

use common::wait;
use loopbridge::Bridge;

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
