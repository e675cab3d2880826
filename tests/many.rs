//! Waiting on many jobs: `wait_any`, `wait_all` and `as_completed` over loop and pool
//! jobs, mixed; timeouts that leave every completion usable; failed jobs yielded like
//! any other result; the loop-thread refusal.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{recv, WAIT};
use loopbridge::{
    as_completed, wait_all, wait_all_deadline, wait_any, wait_any_deadline, Bridge, RayonPool,
    ThreadPool, Waitable,
};

#[test]
fn wait_any_over_mixed_loop_and_pool_jobs_returns_the_one_that_finished() {
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(2).unwrap();
    let (release_pool, pool_gate) = mpsc::channel::<()>();
    let (release_loop, loop_gate) = tokio::sync::oneshot::channel::<()>();
    let on_loop = bridge.handle().submit(async move {
        loop_gate.await.unwrap();
        "loop"
    });
    let on_pool = pool.submit(move || {
        pool_gate.recv().unwrap();
        17_u64
    });
    let on_rayon = RayonPool::global().submit(|| vec![1, 2, 3]);
    // The rayon job is the only one that can finish.
    let jobs: [&dyn Waitable; 3] = [&on_loop, &on_pool, &on_rayon];
    assert_eq!(wait_any(jobs, WAIT).unwrap(), 2);
    assert_eq!(on_rayon.wait().unwrap(), [1, 2, 3]);

    release_pool.send(()).unwrap();
    let jobs: [&dyn Waitable; 2] = [&on_loop, &on_pool];
    assert_eq!(wait_any(jobs, WAIT).unwrap(), 1);
    release_loop.send(()).unwrap();
    // A done one is found at once, the lowest index first.
    wait_all(jobs, WAIT).unwrap();
    assert_eq!(wait_any(jobs, WAIT).unwrap(), 0);
    assert_eq!(
        (on_loop.wait().unwrap(), on_pool.wait().unwrap()),
        ("loop", 17)
    );
}

#[test]
fn wait_any_times_out_leaving_every_completion_usable() {
    let bridge = Bridge::new().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
    let jobs = vec![
        bridge.handle().submit(std::future::pending::<u8>()),
        bridge
            .handle()
            .job("answer")
            .submit(async move { rx.await.unwrap() }),
    ];
    let error = wait_any(&jobs, Duration::from_millis(5)).unwrap_err();
    let line = line!() - 1;
    assert!(error.is_timeout());
    assert_eq!(error.site().location().line(), line, "names the wait");
    assert!(error.to_string().contains("still running"));
    // Many timed-out waits leave nothing behind that a later one trips on.
    for _ in 0..50 {
        assert!(wait_any(&jobs, Duration::ZERO).unwrap_err().is_timeout());
    }
    tx.send(4).unwrap();
    assert_eq!(wait_any(jobs.iter(), WAIT).unwrap(), 1);
    let mut jobs = jobs.into_iter();
    let never = jobs.next().unwrap();
    assert_eq!(jobs.next().unwrap().wait().unwrap(), 4);
    assert!(never.cancel());
}

#[test]
fn wait_all_times_out_then_succeeds_on_the_same_completions() {
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(2).unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let quick = bridge.handle().submit(async { 1_u32 });
    let slow = pool.submit(move || {
        started_tx.send(()).unwrap();
        gate.recv().unwrap();
        2_u32
    });
    recv(&started, "the pool job started");
    let error = wait_all([&quick, &slow], Duration::from_millis(10)).unwrap_err();
    assert!(error.is_timeout());
    assert!(!slow.is_done());

    release.send(()).unwrap();
    wait_all([&quick, &slow], WAIT).unwrap();
    assert!(quick.is_done() && slow.is_done());
    assert_eq!(quick.wait().unwrap() + slow.wait().unwrap(), 3);

    let none: Vec<loopbridge::Completion<()>> = Vec::new();
    wait_all(&none, Duration::ZERO).unwrap();
}

#[test]
fn the_deadline_forms_share_one_deadline_and_name_their_call_on_a_timeout() {
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(2).unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let on_loop = bridge.handle().submit(async { 1_u32 });
    let on_pool = pool.submit(move || {
        started_tx.send(()).unwrap();
        gate.recv().unwrap();
        2_u32
    });
    recv(&started, "the pool job started");
    let jobs: [&dyn Waitable; 2] = [&on_pool, &on_loop];

    // A deadline in the past only looks: the loop job may or may not be done yet.
    let passed = Instant::now();
    let error = wait_all_deadline(jobs, passed).unwrap_err();
    let line = line!() - 1;
    assert!(error.is_timeout());
    assert_eq!(error.site().location().line(), line, "names the wait");
    assert!(!on_pool.is_done(), "still usable");

    let deadline = Instant::now() + WAIT;
    assert_eq!(wait_any_deadline(jobs, deadline).unwrap(), 1);
    let error = wait_any_deadline([&on_pool], Instant::now()).unwrap_err();
    let line = line!() - 1;
    assert!(error.is_timeout());
    assert_eq!(error.site().location().line(), line, "names the wait");

    release.send(()).unwrap();
    wait_all_deadline(jobs, deadline).unwrap();
    assert_eq!(
        wait_any_deadline(jobs, deadline).unwrap(),
        0,
        "done: the lowest index"
    );
    assert_eq!(on_pool.wait().unwrap() + on_loop.wait().unwrap(), 3);

    // On a loop thread both refuse at once, whatever the deadline.
    let handle = bridge.handle();
    let inner = handle.clone();
    let refused = handle
        .run_callback(move || {
            let pending = inner.submit(std::future::pending::<()>());
            let deadline = Instant::now() + WAIT;
            (
                wait_any_deadline([&pending], deadline).map_err(|e| e.is_blocking_on_loop()),
                wait_all_deadline([&pending], deadline).map_err(|e| e.is_blocking_on_loop()),
            )
        })
        .wait()
        .unwrap();
    assert_eq!(refused, (Err(true), Err(true)));
}

#[test]
fn as_completed_yields_cancelled_panicked_and_closed_jobs_like_any_other() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let pool = ThreadPool::new(1).unwrap();
    let cancelled = handle.submit(std::future::pending::<&str>());
    assert!(cancelled.cancel());
    let jobs = vec![
        cancelled,
        handle.submit(async { panic!("bad input") }),
        pool.submit(|| -> &str { panic!("disk on fire") }),
        handle.submit(async { "fine" }),
    ];
    let mut seen: Vec<(usize, Result<&str, loopbridge::Error>)> = as_completed(jobs).collect();
    seen.sort_by_key(|(index, _)| *index);
    assert_eq!(seen.len(), 4);
    assert!(seen[0].1.as_ref().unwrap_err().is_cancelled());
    assert_eq!(
        seen[1].1.as_ref().unwrap_err().panic_message(),
        Some("bad input")
    );
    assert_eq!(
        seen[2].1.as_ref().unwrap_err().panic_message(),
        Some("disk on fire")
    );
    assert_eq!(*seen[3].1.as_ref().unwrap(), "fine");

    // A job cut off by its bridge's shutdown is yielded as `Closed`.
    let closing = Bridge::new().unwrap();
    let mut done = as_completed(vec![closing.handle().submit(std::future::pending::<()>())]);
    closing.shutdown(Duration::from_millis(20));
    let (index, result) = done.next_timeout(WAIT).unwrap().unwrap();
    assert_eq!(index, 0);
    assert!(result.unwrap_err().is_closed());
    assert!(done.next_timeout(WAIT).unwrap().is_none());
}

#[test]
fn as_completed_yields_a_thousand_jobs_in_the_order_they_finish() {
    const JOBS: usize = 1000;
    let bridge = Bridge::new().unwrap();
    let mut gates = Vec::new();
    let jobs: Vec<_> = (0..JOBS)
        .map(|n| {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            gates.push(Some(tx));
            bridge.handle().submit(async move {
                rx.await.unwrap();
                n
            })
        })
        .collect();
    let mut done = as_completed(jobs);
    assert_eq!(done.len(), JOBS);
    // Released one at a time, in a shuffled order (a fixed permutation): each release
    // is the next result.
    for step in 0..JOBS {
        let n = (step * 7919) % JOBS;
        gates[n].take().unwrap().send(()).unwrap();
        let (index, result) = done.next_timeout(WAIT).unwrap().unwrap();
        assert_eq!((index, result.unwrap()), (n, n));
    }
    assert!(done.next().is_none());
}

#[test]
fn into_pending_gives_back_the_jobs_not_yet_yielded() {
    let pool = ThreadPool::new(2).unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let mut done = as_completed(vec![
        pool.submit(|| 1),
        pool.submit(move || {
            gate.recv().unwrap();
            2
        }),
    ]);
    assert_eq!(
        done.next().map(|(index, result)| (index, result.unwrap())),
        Some((0, 1))
    );
    assert!(done
        .next_timeout(Duration::from_millis(5))
        .unwrap_err()
        .is_timeout());
    let pending = done.into_pending();
    assert_eq!(pending.len(), 1);
    release.send(()).unwrap();
    let (index, job) = pending.into_iter().next().unwrap();
    assert_eq!((index, job.wait().unwrap()), (1, 2));
}

#[test]
fn every_multi_wait_refuses_on_a_loop_thread_at_once() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let inner = handle.clone();
    let (any, all, first, next) = handle
        .run_callback(move || {
            let pending = inner.submit(std::future::pending::<()>());
            let any = wait_any([&pending], WAIT).map_err(|e| e.is_blocking_on_loop());
            let all = wait_all([&pending], WAIT).map_err(|e| e.is_blocking_on_loop());
            let mut many = as_completed(vec![pending]);
            let first = many
                .next_timeout(WAIT)
                .map(|_| ())
                .map_err(|e| e.is_blocking_on_loop());
            // `next` on a loop thread yields the job as refused (and cancels it).
            let next = many
                .next()
                .map(|(index, result)| (index, result.unwrap_err().is_blocking_on_loop()));
            (any, all, first, next)
        })
        .wait()
        .unwrap();
    assert_eq!(any, Err(true));
    assert_eq!(all, Err(true));
    assert_eq!(first, Err(true));
    assert_eq!(next, Some((0, true)));
}

#[test]
#[should_panic(expected = "no completions")]
fn wait_any_over_nothing_panics() {
    let none: Vec<loopbridge::Completion<()>> = Vec::new();
    let _ = wait_any(&none, Duration::ZERO);
}
