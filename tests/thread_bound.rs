//! `ThreadBound<T>`: a `!Send` value on a thread of its own, reached by calls from any
//! thread and from the loop.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{eventually, recv, wait, WAIT};
use loopbridge::{Bridge, SpawnError, ThreadBound};

/// A value that must stay on its thread: neither `Send` nor `Sync`.
type Log = Rc<RefCell<Vec<(usize, usize)>>>;

fn log(name: &str) -> ThreadBound<Log> {
    ThreadBound::spawn(name, || {
        Ok::<_, std::io::Error>(Rc::new(RefCell::new(Vec::new())))
    })
    .expect("spawn")
}

/// A call that blocks its thread until released, and says when it started (its site is
/// the caller's).
#[track_caller]
fn blocker<T: 'static>(bound: &ThreadBound<T>) -> (loopbridge::Completion<()>, mpsc::Sender<()>) {
    let (started_tx, started) = mpsc::channel();
    let (release, held) = mpsc::channel::<()>();
    let busy = bound.call(move |_| {
        started_tx.send(()).unwrap();
        let _ = held.recv();
    });
    recv(&started, "the blocking call started");
    (busy, release)
}

#[test]
fn a_not_send_value_is_built_used_and_dropped_on_its_own_thread() {
    struct OnThread {
        made_on: std::thread::ThreadId,
        _not_send: Rc<()>,
        dropped_on: mpsc::Sender<std::thread::ThreadId>,
    }
    impl Drop for OnThread {
        fn drop(&mut self) {
            let _ = self.dropped_on.send(std::thread::current().id());
        }
    }
    let (dropped_tx, dropped) = mpsc::channel();
    let bound = ThreadBound::spawn("owner", move || {
        Ok::<_, ()>(OnThread {
            made_on: std::thread::current().id(),
            _not_send: Rc::new(()),
            dropped_on: dropped_tx,
        })
    })
    .map_err(|_| "spawn")
    .unwrap();
    let (made_on, used_on) =
        wait(bound.call(|v| (v.made_on, std::thread::current().id()))).unwrap();
    assert_eq!(made_on, used_on);
    assert_ne!(used_on, std::thread::current().id());
    let report = bound.shutdown(WAIT);
    assert!(report.is_clean(), "{report}");
    assert_eq!(recv(&dropped, "the value was dropped"), made_on);
}

#[test]
fn calls_from_many_threads_run_one_at_a_time_in_each_threads_order() {
    const THREADS: usize = 4;
    const CALLS: usize = 200;
    let bound = ThreadBound::builder()
        .unbounded()
        .spawn(|| Ok::<_, ()>(Rc::new(RefCell::new(Vec::new())) as Log))
        .map_err(|_| "spawn")
        .unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let bound = bound.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let calls: Vec<_> = (0..CALLS)
                    .map(|n| bound.call(move |log| log.borrow_mut().push((t, n))))
                    .collect();
                for call in calls {
                    wait(call).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let seen = wait(bound.call(|log| log.borrow().clone())).unwrap();
    assert_eq!(seen.len(), THREADS * CALLS);
    for t in 0..THREADS {
        let order: Vec<usize> = seen
            .iter()
            .filter(|(who, _)| *who == t)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(
            order,
            (0..CALLS).collect::<Vec<_>>(),
            "thread {t}'s calls out of order"
        );
    }
}

#[test]
fn calls_are_awaited_from_the_loop() {
    let bound = log("awaited");
    let bridge = Bridge::new().unwrap();
    let on_loop = bound.clone();
    let len = bridge
        .handle()
        .block_on(async move {
            for n in 0..10 {
                on_loop
                    .call(move |log| log.borrow_mut().push((0, n)))
                    .await?;
            }
            on_loop.call(|log| log.borrow().len()).await
        })
        .unwrap()
        .unwrap();
    assert_eq!(len, 10);
}

#[test]
fn a_full_mailbox_refuses_try_and_times_out_and_reserve_waits() {
    let bound = ThreadBound::builder()
        .mailbox_capacity(1)
        .spawn(|| Ok::<_, ()>(0u32))
        .map_err(|_| "spawn")
        .unwrap();
    let (busy, release) = blocker(&bound);
    let queued = bound.call(|n| {
        *n += 1;
        *n
    });
    let refused = bound.call(|n| *n);
    assert!(wait(refused).unwrap_err().is_queue_full());
    assert!(bound.try_reserve().unwrap_err().is_queue_full());
    let timed = bound.call_timeout(|n| *n, Duration::from_millis(1));
    assert!(wait(timed).unwrap_err().is_queue_full());
    assert_eq!(bound.stats().refused, 2);

    let bridge = Bridge::new().unwrap();
    let on_loop = bound.clone();
    let (reserving_tx, reserving) = mpsc::channel();
    let reserved = bridge.handle().submit(async move {
        // On the loop a timed blocking call is refused, whatever the room.
        let blocked = on_loop.call_timeout(|n| *n, WAIT);
        reserving_tx.send(()).unwrap();
        let permit = on_loop.reserve().await?;
        let value = permit.call(|n| *n * 10).await?;
        Ok::<_, loopbridge::Error>((blocked.await.unwrap_err().is_blocking_on_loop(), value))
    });
    recv(&reserving, "the loop job is reserving");
    release.send(()).unwrap();
    wait(busy).unwrap();
    assert_eq!(wait(queued).unwrap(), 1);
    assert_eq!(wait(reserved).unwrap().unwrap(), (true, 10));
}

#[test]
fn a_nested_call_is_refused_as_reentrant_and_a_call_from_a_callback_runs_inline() {
    let bound = ThreadBound::spawn("nested", || Ok::<_, ()>(1u32))
        .map_err(|_| "spawn")
        .unwrap();
    let inner = bound.clone();
    let line = line!() + 1;
    let nested = wait(bound.call(move |_| inner.call(|n| *n).wait())).unwrap();
    let error = nested.unwrap_err();
    assert!(error.is_reentrant(), "{error}");
    assert_eq!(error.site().location().line(), line);

    // A `then` callback runs on the owning thread as the result is delivered, with the
    // value no longer borrowed: a call made there runs inline instead of deadlocking.
    // The callback is registered while the call waits behind a blocked one, so it runs
    // on the owning thread.
    let again = bound.clone();
    let (done_tx, done) = mpsc::channel();
    let (busy, release) = blocker(&bound);
    bound.call(|n| *n += 1).then(move |_| {
        let on_owner = std::thread::current().name() == Some("nested");
        let mut inline = again.call(|n| *n * 100);
        let _ = done_tx.send((on_owner, inline.try_take()));
    });
    release.send(()).unwrap();
    wait(busy).unwrap();
    let (on_owner, inline) = recv(&done, "the callback ran");
    assert!(on_owner, "the callback ran on the owning thread");
    let inline = inline.expect("resolved inline, at once");
    assert_eq!(inline.unwrap(), 200);
}

#[test]
fn a_panic_in_a_call_names_its_site_and_leaves_the_value_usable() {
    let bound = ThreadBound::spawn("panics", || Ok::<_, ()>(vec![1u8]))
        .map_err(|_| "spawn")
        .unwrap();
    let line = line!() + 1;
    let error = wait(bound.call(|v| -> u8 {
        v.push(2);
        panic!("broken row")
    }))
    .unwrap_err();
    assert_eq!(error.panic_message(), Some("broken row"));
    assert_eq!(error.site().location().line(), line);
    // Not poisoned: what the call did before it panicked is kept.
    assert_eq!(wait(bound.call(|v| v.clone())).unwrap(), [1, 2]);
    assert_eq!(bound.stats().panicked, 1);
}

#[test]
fn spawn_reports_the_closures_error_and_panic() {
    let failed = ThreadBound::<u8>::spawn("fails", || Err("cannot open"));
    assert!(matches!(failed, Err(SpawnError::Make("cannot open"))));
    let panicked = ThreadBound::<u8>::spawn("panics", || -> Result<u8, ()> { panic!("in make") });
    match panicked {
        Err(SpawnError::Failed(error)) => assert_eq!(error.panic_message(), Some("in make")),
        other => panic!("expected a panic, got {:?}", other.map(|_| ())),
    }
    let bridge = Bridge::new().unwrap();
    let on_loop = bridge.handle().run_callback(|| {
        match ThreadBound::<u8>::spawn("on loop", || Ok::<_, ()>(1)) {
            Err(SpawnError::Failed(error)) => error.is_blocking_on_loop(),
            _ => false,
        }
    });
    assert!(
        wait(on_loop).unwrap(),
        "a blocking spawn on the loop is refused"
    );
}

#[test]
fn shutdown_refuses_queued_calls_and_names_a_stuck_one() {
    let bound = log("stuck");
    let line = line!() + 1;
    let (busy, release) = blocker(&bound);
    let queued = bound.call(|log| log.borrow().len());
    let report = bound.shutdown(Duration::from_millis(20));
    assert_eq!(report.stuck.len(), 1, "{report}");
    assert_eq!(report.stuck[0].site.location().line(), line);
    assert_eq!(
        report.cancelled, 2,
        "the queued call and the stuck one's completion"
    );
    assert!(wait(queued).unwrap_err().is_closed());
    assert!(wait(busy).unwrap_err().is_closed());
    assert!(wait(bound.call(|_| ())).unwrap_err().is_closed());
    release.send(()).unwrap();
    // Once the call returns, the thread drops the value and exits: a second shutdown
    // finds nothing left.
    let again = bound.shutdown(WAIT);
    assert!(again.stuck.is_empty(), "{again}");
}

#[test]
fn dropping_the_last_handle_inside_an_async_context_does_not_wait() {
    let bound = ThreadBound::builder()
        .shutdown_timeout(WAIT * 100)
        .spawn(|| Ok::<_, ()>(0u8))
        .map_err(|_| "spawn")
        .unwrap();
    let (busy, release) = blocker(&bound);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // If the drop waited for the blocked call (with this timeout), this would hang.
    runtime.block_on(async move { drop(bound) });
    release.send(()).unwrap();
    // The running call finished in the background (or was cut off): it resolves.
    let _ = wait(busy);
}

#[test]
fn dropping_the_last_handle_on_a_plain_thread_drops_the_value_there() {
    let (dropped_tx, dropped) = mpsc::channel::<()>();
    struct Tell(mpsc::Sender<()>);
    impl Drop for Tell {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let bound = ThreadBound::spawn("dropped", move || Ok::<_, ()>(Tell(dropped_tx)))
        .map_err(|_| "spawn")
        .unwrap();
    wait(bound.call(|_| ())).unwrap();
    drop(bound);
    // The drop waited for the value's drop, so it is already done.
    assert!(
        dropped.try_recv().is_ok(),
        "the value was dropped before the handle's drop returned"
    );
}

#[test]
fn a_scopes_close_refuses_and_cancels_the_calls_queued_from_its_jobs() {
    let bound = log("scoped");
    let bridge = Bridge::new().unwrap();
    let scope = bridge.handle().scope("plugin");
    let (busy, release) = blocker(&bound);
    let in_scope = bound.clone();
    let queued = wait(
        scope
            .handle()
            .run_callback(move || in_scope.call(|log| log.borrow().len())),
    )
    .unwrap();
    let report = scope.close(WAIT);
    assert!(report.stuck.is_empty(), "{report}");
    assert!(
        wait(queued).unwrap_err().is_closed(),
        "the queued scoped call was cut off"
    );
    release.send(()).unwrap();
    wait(busy).unwrap();
    // The value is fine, and calls outside the scope go on.
    assert_eq!(wait(bound.call(|log| log.borrow().len())).unwrap(), 0);
    eventually("the cut-off call was taken out and counted", || {
        bound.stats().cancelled == 1
    });
}

#[test]
fn a_call_longer_than_the_slow_threshold_is_logged_with_its_site_and_counted() {
    common::capture_logs();
    let bound = ThreadBound::builder()
        .name("slow")
        .slow_call_threshold(Duration::from_nanos(1))
        .spawn(|| Ok::<_, ()>(()))
        .map_err(|_| "spawn")
        .unwrap();
    let (started_tx, started) = mpsc::channel();
    let (release, held) = mpsc::channel::<()>();
    let line = line!() + 1;
    let slow = bound.call(move |_| {
        started_tx.send(()).unwrap();
        held.recv().unwrap();
    });
    // Released only once it is running: it outlasts the 1 ns threshold without a clock.
    recv(&started, "the slow call started");
    release.send(()).unwrap();
    wait(slow).unwrap();
    assert_eq!(bound.stats().slow_calls, 1);
    assert!(bound.stats().longest_call > Duration::ZERO);
    eventually("the slow call was logged", || {
        !common::logs_at(file!(), line).is_empty()
    });
}

#[test]
fn the_handle_is_send_and_sync_whatever_the_value() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let bound = log("marker");
    send_sync(&bound);
    send_sync(&bound.try_reserve().unwrap());
}
