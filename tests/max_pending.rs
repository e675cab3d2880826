//! `BridgeBuilder::max_pending`: backpressure on the loop itself, with the vocabulary of a
//! bounded `ThreadPool`: `QueueFull` at once, a timed wait, an async `reserve`.

mod common;

use std::time::Duration;

use loopbridge::Bridge;
use tokio::sync::oneshot;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn the_whole_submit_family_is_refused_once_the_loop_is_full() {
    let bridge = Bridge::builder().max_pending(2).build().unwrap();
    let handle = bridge.handle();
    let (release, released) = oneshot::channel::<()>();
    let (_keep, never) = oneshot::channel::<()>();
    let first = handle.submit(async move { released.await.unwrap() });
    let second = handle.submit(never);
    assert!(handle.submit(async {}).wait().unwrap_err().is_queue_full());
    assert!(handle.call_soon(|| {}).unwrap_err().is_queue_full());
    assert!(handle
        .run_callback(|| 1)
        .wait()
        .unwrap_err()
        .is_queue_full());
    assert!(handle
        .submit_local(|| async {})
        .wait()
        .unwrap_err()
        .is_queue_full());
    assert!(handle.block_on(async {}).unwrap_err().is_queue_full());
    // A cancelled job gives its place back once it is gone, and so does an ended one.
    second.cancel();
    common::eventually("the cancelled job's place", || handle.try_reserve().is_ok());
    release.send(()).unwrap();
    first.wait().unwrap();
    common::eventually("both places", || {
        let places = (handle.try_reserve(), handle.try_reserve());
        places.0.is_ok() && places.1.is_ok()
    });
}

#[test]
fn a_timed_submission_waits_for_room_and_gives_up_at_its_timeout() {
    let bridge = Bridge::builder().max_pending(1).build().unwrap();
    let handle = bridge.handle();
    let (release, released) = oneshot::channel::<()>();
    let busy = handle.submit(async move { released.await.unwrap() });
    let error = handle
        .submit_timeout(async {}, Duration::from_millis(5))
        .wait()
        .unwrap_err();
    assert!(error.is_queue_full());
    let waiter = {
        let handle = handle.clone();
        std::thread::spawn(move || handle.submit_timeout(async { 7 }, LONG).wait())
    };
    release.send(()).unwrap();
    busy.wait().unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 7);
    // A job's place comes back once the loop has dropped it, just after its result: a
    // submission right after the wait could still find the loop full.
    common::eventually("the job's place is back", || handle.try_reserve().is_ok());
    // On the loop thread it is refused.
    let inner = handle.clone();
    let refused = handle
        .run_callback(move || inner.submit_timeout(async {}, LONG).wait())
        .wait()
        .unwrap();
    assert!(refused.unwrap_err().is_blocking_on_loop());
}

#[test]
fn async_producers_wait_for_room_without_blocking_their_loop() {
    let producer = Bridge::new().unwrap();
    let target = Bridge::builder().max_pending(3).build().unwrap();
    let handle = target.handle();
    let sum = producer
        .handle()
        .block_on(async move {
            let mut jobs = Vec::new();
            for n in 0..200u64 {
                let permit = handle.reserve().await?;
                jobs.push(permit.submit(async move {
                    tokio::task::yield_now().await;
                    n
                }));
            }
            let mut sum = 0;
            for job in jobs {
                sum += job.await?;
            }
            Ok::<u64, loopbridge::Error>(sum)
        })
        .unwrap()
        .unwrap();
    assert_eq!(sum, (0..200).sum());
}

#[test]
fn shutdown_refuses_producers_waiting_for_room() {
    let bridge = Bridge::builder()
        .max_pending(1)
        .shutdown_timeout(Duration::from_millis(10))
        .build()
        .unwrap();
    let handle = bridge.handle();
    let (_keep, never) = oneshot::channel::<()>();
    let _busy = handle.submit(never);
    let waiter = {
        let handle = handle.clone();
        std::thread::spawn(move || handle.submit_timeout(async {}, LONG).wait())
    };
    let report = bridge.shutdown(Duration::from_millis(10));
    assert_eq!(report.cancelled, 1);
    assert!(waiter.join().unwrap().unwrap_err().is_closed());
    assert!(handle.try_reserve().unwrap_err().is_closed());
}

#[test]
fn an_unused_permit_gives_its_place_back() {
    let bridge = Bridge::builder().max_pending(1).build().unwrap();
    let handle = bridge.handle();
    let permit = handle.try_reserve().unwrap();
    assert!(handle.try_reserve().unwrap_err().is_queue_full());
    drop(permit);
    assert_eq!(handle.submit(async { 3 }).wait().unwrap(), 3);
}

#[test]
fn without_a_bound_nothing_changes() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let jobs: Vec<_> = (0..1000).map(|n| handle.submit(async move { n })).collect();
    let total: u64 = jobs.into_iter().map(|job| job.wait().unwrap()).sum();
    assert_eq!(total, (0..1000).sum());
    assert_eq!(
        handle
            .try_reserve()
            .unwrap()
            .submit(async { 1 })
            .wait()
            .unwrap(),
        1
    );
}
