//! `Handle::stats` counters, slow-poll accounting, and `Handle::jobs` (live jobs, oldest
//! first, with their names).

mod common;

use std::time::{Duration, Instant};

use common::{capture_logs, eventually, round_trip, wait, Hold};
use loopbridge::{Bridge, LoopStats};

#[test]
fn counters_follow_each_way_a_job_ends() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    assert_eq!(handle.stats(), LoopStats::default());

    wait(handle.submit(async { 1 })).unwrap();
    wait(handle.run_callback(|| 2)).unwrap();
    let _ = wait::<()>(handle.submit(async { panic!("counted") }));
    let cancelled = handle.submit(std::future::pending::<()>());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let in_flight = handle.submit(async move { rx.await.ok() });

    let stats = handle.stats();
    assert_eq!(stats.submitted, 5);
    assert_eq!(stats.finished, 2);
    assert_eq!(stats.panicked, 1);
    assert_eq!(stats.cancelled, 0);
    assert_eq!(stats.in_flight, 2);

    assert!(cancelled.cancel());
    // The loop counts the cancel when it drops the future.
    eventually("the cancel is counted", || handle.stats().cancelled == 1);
    let stats = handle.stats();
    assert_eq!(stats.in_flight, 1);

    tx.send(()).unwrap();
    wait(in_flight).unwrap();
    let stats = handle.stats();
    assert_eq!(
        (
            stats.submitted,
            stats.finished,
            stats.cancelled,
            stats.panicked,
            stats.in_flight
        ),
        (5, 3, 1, 1, 0)
    );
}

#[test]
fn refused_and_add_job_submissions_are_counted_as_jobs_only_when_accepted() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = std::sync::mpsc::channel();
    handle.add_job(async move { tx.send(()).unwrap() });
    handle.call_soon(|| {}).unwrap();
    common::recv(&rx, "the add_job job ran");
    round_trip(&handle);
    let stats = handle.stats();
    assert_eq!((stats.submitted, stats.finished), (3, 3));

    let _ = bridge.shutdown(common::WAIT);
    drop(handle.submit(async {}));
    assert_eq!(handle.stats().submitted, 3, "refused after shutdown");
}

#[test]
fn every_poll_over_the_threshold_is_counted_and_logged_with_site_and_name() {
    capture_logs();
    // A zero threshold makes every poll slow, so the count is exact without timing.
    let bridge = Bridge::builder()
        .slow_poll_threshold(Duration::ZERO)
        .build()
        .unwrap();
    let handle = bridge.handle();
    let job = handle.job("slow one");
    let line = line!() + 1;
    let completion = job.submit(async {
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
    });
    wait(completion).unwrap();
    // Three polls: two yields and the last. The last poll's time includes delivering
    // its result, so it is counted just after the waiter wakes.
    let slow_logs = || -> Vec<_> {
        common::logs_at(file!(), line)
            .into_iter()
            .filter(|event| event.message.contains("slow poll"))
            .collect()
    };
    eventually("the three slow polls are counted and logged", || {
        handle.stats().slow_polls == 3 && slow_logs().len() == 3
    });
    let logged = slow_logs();
    assert_eq!(logged.len(), 3, "one line per slow poll: {logged:#?}");
    assert!(logged.iter().all(|event| event.field("name") == "slow one"));
}

#[test]
fn polls_under_the_threshold_are_not_counted() {
    let bridge = Bridge::builder()
        .slow_poll_threshold(Duration::MAX)
        .build()
        .unwrap();
    let handle = bridge.handle();
    for _ in 0..10 {
        wait(handle.submit(async { tokio::task::yield_now().await })).unwrap();
    }
    assert_eq!(handle.stats().slow_polls, 0);
}

#[test]
fn longest_poll_covers_the_longest_callback() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let inside = wait(handle.run_callback(|| {
        let began = Instant::now();
        let mut x = 0u64;
        for n in 0..10_000u64 {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(n));
        }
        std::hint::black_box(x);
        began.elapsed()
    }))
    .unwrap();
    // The poll contains the callback, so it is at least as long as the callback measured
    // (recorded as the poll returns, just after the result is delivered).
    eventually("the callback's poll is recorded", || {
        handle.stats().longest_poll >= inside
    });
}

#[test]
fn jobs_lists_live_jobs_oldest_first_with_their_names() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    assert!(handle.jobs().is_empty());

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let first = handle.job("first").submit(async move { rx.await.ok() });
    let line = line!() + 1;
    let second = handle.submit(std::future::pending::<()>());
    let third = handle.job("third").submit(std::future::pending::<()>());

    let jobs = handle.jobs();
    let names: Vec<_> = jobs.iter().map(|job| job.site.name()).collect();
    assert_eq!(names, [Some("first"), None, Some("third")]);
    assert_eq!(jobs[1].site.location().line(), line);
    assert!(jobs.windows(2).all(|pair| pair[0].age >= pair[1].age));

    // Polled once each, after the loop gets to them.
    round_trip(&handle);
    assert!(handle.jobs().iter().all(|job| job.polls >= 1));

    // Ended jobs leave the list; the rest keep their order.
    tx.send(()).unwrap();
    wait(first).unwrap();
    assert!(second.cancel());
    eventually("the ended jobs leave the list", || handle.jobs().len() == 1);
    assert_eq!(handle.jobs()[0].site.name(), Some("third"));
    let later = handle.job("fourth").submit(std::future::pending::<()>());
    let jobs = handle.jobs();
    let names: Vec<_> = jobs.iter().map(|job| job.site.name()).collect();
    assert_eq!(names, [Some("third"), Some("fourth")]);
    assert!(third.cancel() && later.cancel());
}

#[test]
fn a_callback_is_polled_once() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let hold = Hold::with(|gate| handle.job("held").run_callback(gate));
    let jobs = handle.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].polls, 1);
    wait(hold.release()).unwrap();
    eventually("the callback leaves the list", || handle.jobs().is_empty());
}
