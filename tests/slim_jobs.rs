//! The smaller job layout: local futures kept beside the table by place, the registry
//! key in the job's schedule, errors and listeners out of line in the result slot.

mod common;

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};

use common::{eventually, hold_outside_jobs, recv, round_trip, wait, DropCount};
use loopbridge::{wait_any, Bridge, Completion};

/// A future that counts its polls and waits for `rx`.
struct Counted {
    polls: Arc<AtomicUsize>,
    rx: tokio::sync::oneshot::Receiver<u32>,
}

impl Future for Counted {
    type Output = u32;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.rx).poll(cx).map(|got| got.unwrap_or(0))
    }
}

/// A job that wakes itself in its last poll leaves a `Woken(place)` behind it; the next
/// job placed there (here a local one) gets that wake: it must be its own future that is
/// polled, and it must still run to its own result.
#[test]
fn a_wake_left_by_an_ended_job_polls_the_local_job_now_at_its_place() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    for round in 0..20u32 {
        let release = hold_outside_jobs(&handle);
        // A: wakes itself, then ends in the same poll.
        let first = handle.submit(poll_fn(|cx| {
            cx.waker().wake_by_ref();
            Poll::Ready(1u32)
        }));
        // B: a local job, built on the loop thread, placed where A was.
        let polls = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let (built_tx, built_rx) = mpsc::channel();
        let counted = polls.clone();
        let second = handle.submit_local(move || {
            built_tx.send(()).unwrap();
            let _not_send = std::rc::Rc::new(());
            Counted { polls: counted, rx }
        });
        // C: another local job, so the side map holds more than B's future.
        let (other_tx, other_rx) = tokio::sync::oneshot::channel::<u32>();
        let third = handle.submit_local(move || async move { other_rx.await.unwrap() + 100 });
        drop(release);
        recv(&built_rx, "the local job was built");
        assert_eq!(wait(first).unwrap(), 1);
        round_trip(&handle);
        assert!(polls.load(Ordering::SeqCst) >= 1);
        tx.send(round).unwrap();
        other_tx.send(round).unwrap();
        assert_eq!(wait(second).unwrap(), round);
        assert_eq!(wait(third).unwrap(), round + 100);
    }
    eventually("every job ended", || handle.stats().in_flight == 0);
    assert!(handle.jobs().is_empty());
}

/// A local future whose destructor panics: when its job is cancelled, when it is cut off
/// by the bridge's shutdown, and when it never started. Each future is dropped exactly
/// once, the loop goes on polling other jobs, and the registry is left empty.
#[test]
fn local_futures_are_dropped_once_each_way_a_job_leaves_the_loop() {
    struct PanicOnDrop(#[allow(dead_code)] DropCount);
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("a local future's destructor panics");
            }
        }
    }

    let drops = Arc::new(AtomicUsize::new(0));
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();

    // Cancelled while running.
    let (started_tx, started_rx) = mpsc::channel();
    let guard = drops.clone();
    let cancelled = handle.submit_local(move || {
        let guard = PanicOnDrop(DropCount(guard));
        async move {
            let _guard = std::rc::Rc::new(guard);
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await
        }
    });
    recv(&started_rx, "the local job started");
    assert!(cancelled.cancel());
    eventually("the cancelled future was dropped", || {
        drops.load(Ordering::SeqCst) == 1
    });
    assert!(wait(cancelled).unwrap_err().is_cancelled());
    // The loop still runs jobs, local and not.
    assert_eq!(wait(handle.submit_local(|| async { 5u8 })).unwrap(), 5);
    assert_eq!(wait(handle.submit(async { 6u8 })).unwrap(), 6);
    eventually("the cancelled job left the registry", || {
        handle.jobs().is_empty()
    });

    // Cut off at shutdown: some running, some never built.
    let mut pending: Vec<Completion<()>> = Vec::new();
    let mut started = Vec::new();
    for _ in 0..3 {
        let (started_tx, started_rx) = mpsc::channel();
        let guard = drops.clone();
        pending.push(handle.submit_local(move || {
            let guard = PanicOnDrop(DropCount(guard));
            async move {
                let _guard = guard;
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await
            }
        }));
        started.push(started_rx);
    }
    for rx in &started {
        recv(rx, "a local job started");
    }
    let release = hold_outside_jobs(&handle);
    let built = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let built = built.clone();
        let guard = drops.clone();
        let guard = PanicOnDrop(DropCount(guard));
        pending.push(handle.submit_local(move || {
            built.fetch_add(1, Ordering::SeqCst);
            async move {
                let _guard = guard;
                std::future::pending::<()>().await
            }
        }));
    }
    let closer = std::thread::spawn(move || bridge.shutdown(std::time::Duration::ZERO));
    drop(release);
    closer.join().unwrap();
    for completion in pending {
        let error = wait(completion).unwrap_err();
        assert!(error.is_closed() || error.is_cancelled(), "{error}");
    }
    // 1 cancelled + 3 running + 3 queued (dropped with their builders or futures).
    assert_eq!(drops.load(Ordering::SeqCst), 7);
}

/// A job's error is read through `try_take` more than once, and a completion with a
/// watcher and a callback-less detach sees its error only once logged.
#[test]
fn an_error_reads_the_same_each_time_and_watchers_hear_of_it() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut failing = handle.submit(async move {
        rx.await.unwrap();
        panic!("the job fails");
    });
    let (other_tx, other_rx) = tokio::sync::oneshot::channel::<()>();
    let other = handle.submit(async move { other_rx.await.is_ok() });
    let waiter = std::thread::spawn(move || {
        let completions = vec![other];
        let found = wait_any(&completions, common::WAIT).unwrap();
        (found, completions)
    });
    tx.send(()).unwrap();
    eventually("the job failed", || failing.is_done());
    let first = failing.try_take().unwrap().unwrap_err();
    let second = failing.try_take().unwrap().unwrap_err();
    assert_eq!(first.to_string(), second.to_string());
    assert!(first.is_panic() && second.is_panic());
    other_tx.send(()).unwrap();
    let (found, mut completions) = waiter.join().unwrap();
    assert_eq!(found, 0);
    assert!(completions[0].try_take().unwrap().unwrap());
}

/// A `then` callback registered while pending runs once the job is cut off by the
/// bridge's shutdown, with `Closed`; one registered after the result is in runs at once.
#[test]
fn then_sees_a_result_whether_registered_before_or_after_it() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = mpsc::channel();
    let sent = tx.clone();
    handle
        .submit(std::future::pending::<u8>())
        .then(move |result| {
            sent.send(result.map_err(|error| error.is_closed()))
                .unwrap()
        });
    let done = handle.submit(async { 9u8 });
    eventually("the job ended", || done.is_done());
    done.then(move |result| tx.send(result.map_err(|error| error.is_closed())).unwrap());
    assert_eq!(recv(&rx, "then after the result"), Ok(9));
    bridge.shutdown(std::time::Duration::ZERO);
    assert_eq!(recv(&rx, "then at shutdown"), Err(true));
}

/// Each way a job ends removes it from the registry under its own key (kept in the
/// job's schedule): with room for one pending job, the next submission always gets in.
#[test]
fn every_ended_job_gives_its_registry_place_back() {
    let bridge = Bridge::builder().max_pending(1).build().unwrap();
    let handle = bridge.handle();
    let place_back = || eventually("the job's place is back", || handle.try_reserve().is_ok());
    for _ in 0..3 {
        assert_eq!(wait(handle.submit(async { 1u8 })).unwrap(), 1);
        place_back();
        assert_eq!(wait(handle.submit_local(|| async { 2u8 })).unwrap(), 2);
        place_back();
        let local = handle.submit_local(std::future::pending::<()>);
        round_trip_refused(&handle);
        assert!(local.cancel());
        place_back();
        let queued = {
            let release = hold_outside_jobs(&handle);
            let queued = handle.submit_local(|| async { 3u8 });
            drop(release);
            queued
        };
        assert_eq!(wait(queued).unwrap(), 3);
        place_back();
    }
}

/// With the only place taken, a further submission is refused at once.
fn round_trip_refused(handle: &loopbridge::Handle) {
    assert!(handle.submit(async {}).wait().unwrap_err().is_queue_full());
}
