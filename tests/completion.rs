//! `Completion<T>`: timed waits, taking the value, `is_done`, honest cancellation,
//! `then`, and awaiting it as a future.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{eventually, recv, round_trip, wait, DropSignal, Hold};
use loopbridge::{Bridge, Completion};

fn assert_send_sync_unpin<T: Send + Sync + Unpin>() {}

#[test]
fn completion_is_send_sync_and_unpin_for_a_send_value() {
    // `Cell` is Send but not Sync: the completion is still shareable.
    assert_send_sync_unpin::<Completion<std::cell::Cell<u8>>>();
    assert_send_sync_unpin::<Completion<String>>();
}

#[test]
fn wait_timeout_does_not_cancel_and_the_completion_can_be_waited_again() {
    let bridge = Bridge::new().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let guard = DropSignal(dropped_tx);
    let mut completion = bridge.handle().submit(async move {
        let _guard = guard;
        rx.await.unwrap()
    });

    // The job cannot finish before `tx` sends, so this must time out.
    let wait_line = line!() + 2;
    let error = completion
        .wait_timeout(Duration::from_millis(1))
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(matches!(
        error,
        loopbridge::Error::Timeout {
            cancelled: false,
            ..
        }
    ));
    // The wait made this error: it names the wait, and the job's site as `submitted`.
    assert_eq!(error.site().location().line(), wait_line);
    if let loopbridge::Error::Timeout { submitted, .. } = &error {
        assert_eq!(submitted.location(), completion.site().location());
    }
    let error = completion.wait_timeout(Duration::ZERO).unwrap_err();
    assert!(error.is_timeout(), "{error}");

    // Still running: not resolved, future not dropped, sender still connected.
    assert!(!completion.is_done());
    assert!(dropped_rx.try_recv().is_err());
    tx.send(7).unwrap();
    assert_eq!(completion.wait_timeout(common::WAIT).unwrap(), 7);
}

#[test]
fn an_unbounded_wait_timeout_returns_the_value() {
    // A timeout too large to add to the clock must not overflow.
    let bridge = Bridge::new().unwrap();
    let mut completion = bridge.handle().submit(async { 3 });
    assert_eq!(completion.wait_timeout(Duration::MAX).unwrap(), 3);
}

#[test]
fn a_wait_after_the_value_was_taken_panics() {
    let bridge = Bridge::new().unwrap();
    let mut completion = bridge.handle().submit(async { 5 });
    assert_eq!(completion.wait_timeout(common::WAIT).unwrap(), 5);
    assert!(completion.is_done());

    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        completion.try_take();
    }));
    let message = common::panic_text(&*again.unwrap_err());
    assert!(message.contains("taken"), "{message}");
    assert!(message.contains(file!()), "names the job's site: {message}");

    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = completion.wait_timeout(Duration::ZERO);
    }));
    assert!(again.is_err());
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _ = completion.wait();
    }));
    assert!(again.is_err());
}

#[test]
fn then_after_the_value_was_taken_panics() {
    let bridge = Bridge::new().unwrap();
    let mut completion = bridge.handle().submit(async { 5 });
    assert_eq!(completion.wait_timeout(common::WAIT).unwrap(), 5);
    let called = Arc::new(AtomicBool::new(false));
    let flag = called.clone();
    let misuse = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        completion.then(move |_| flag.store(true, Ordering::SeqCst));
    }));
    assert!(misuse.is_err());
    assert!(!called.load(Ordering::SeqCst));
}

#[test]
fn an_error_can_be_read_again() {
    // Errors carry no value to move out, so reading one twice is not misuse.
    let bridge = Bridge::new().unwrap();
    let mut completion = bridge.handle().submit(std::future::pending::<()>());
    assert!(completion.cancel());
    assert!(completion.try_take().unwrap().unwrap_err().is_cancelled());
    let again = completion.wait_timeout(Duration::ZERO).unwrap_err();
    assert!(again.is_cancelled());
    assert!(completion.wait().unwrap_err().is_cancelled());
}

#[test]
fn try_take_and_is_done_follow_the_job() {
    let bridge = Bridge::new().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<&str>();
    let mut completion = bridge.handle().submit(async move { rx.await.unwrap() });
    assert!(!completion.is_done());
    assert!(completion.try_take().is_none());
    // A `None` does not consume anything: the job still delivers.
    tx.send("in").unwrap();
    eventually("the job resolves", || completion.is_done());
    assert_eq!(completion.try_take().unwrap().unwrap(), "in");
    assert!(completion.is_done(), "a taken completion stays done");
}

#[test]
fn a_poll_after_the_value_was_returned_panics() {
    let bridge = Bridge::new().unwrap();
    let mut completion = bridge.handle().submit(async { 9 });
    eventually("the job resolves", || completion.is_done());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(
        Pin::new(&mut completion).poll(&mut cx),
        Poll::Ready(Ok(9))
    ));
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = Pin::new(&mut completion).poll(&mut cx);
    }));
    assert!(again.is_err());
}

#[test]
fn cancel_is_immediate_and_every_later_read_says_cancelled() {
    let bridge = Bridge::builder()
        .thread_name("cancel-loop")
        .build()
        .unwrap();
    let (dropped_tx, dropped_rx) = mpsc::channel();
    // The guard is captured, not created in the body: the future owns it even if it is
    // never polled.
    let guard = DropSignal(dropped_tx);
    let mut completion = bridge.handle().submit(async move {
        let _guard = guard;
        std::future::pending::<u32>().await
    });
    assert!(
        dropped_rx.try_recv().is_err(),
        "a pending job is not dropped"
    );

    assert!(completion.cancel());
    // Resolved the moment cancel returns, whatever the loop is doing.
    assert!(completion.is_done());
    assert!(!completion.cancel(), "only the first cancel wins");
    let error = completion.try_take().unwrap().unwrap_err();
    assert!(error.is_cancelled());
    assert_eq!(error.site().location(), completion.site().location());
    assert!(error.to_string().contains(file!()), "{error}");
    assert!(completion
        .wait_timeout(Duration::ZERO)
        .unwrap_err()
        .is_cancelled());
    assert!(completion.wait().unwrap_err().is_cancelled());

    // The future itself is dropped, on the loop thread.
    assert_eq!(
        recv(&dropped_rx, "the cancelled future was dropped"),
        "cancel-loop"
    );
}

#[test]
fn cancel_stops_a_running_future_at_its_next_await() {
    let bridge = Bridge::new().unwrap();
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let (second_tx, second_rx) = tokio::sync::oneshot::channel::<()>();
    let (progress_tx, progress_rx) = mpsc::channel();
    let completion = bridge.handle().submit(async move {
        first_rx.await.unwrap();
        progress_tx.send("first").unwrap();
        let _ = second_rx.await;
        progress_tx.send("second").unwrap();
    });
    first_tx.send(()).unwrap();
    assert_eq!(
        recv(&progress_rx, "the job passed its first await"),
        "first"
    );

    assert!(completion.cancel());
    // The future was dropped: its receiver is gone and it never got further.
    eventually("the future is dropped", || second_tx.is_closed());
    assert!(progress_rx.recv_timeout(Duration::ZERO).is_err());
    assert!(completion.wait().unwrap_err().is_cancelled());
}

#[test]
fn cancel_after_the_value_is_in_returns_false_and_the_value_stays() {
    let bridge = Bridge::new().unwrap();
    let completion = bridge.handle().submit(async { String::from("kept") });
    eventually("the job resolves", || completion.is_done());
    assert!(!completion.cancel());
    assert_eq!(completion.wait().unwrap(), "kept");
}

#[test]
fn a_cancelled_callback_that_had_not_started_never_runs() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let hold = Hold::loop_of(&handle);
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let guard = DropSignal(dropped_tx);
    let completion = handle.run_callback(move || {
        let _guard = guard;
        flag.store(true, Ordering::SeqCst);
    });
    assert!(completion.cancel());
    wait(hold.release()).unwrap();
    round_trip(&handle);
    recv(&dropped_rx, "the cancelled callback was dropped");
    assert!(!ran.load(Ordering::SeqCst));
    assert!(completion.wait().unwrap_err().is_cancelled());
}

#[test]
fn a_cancelled_local_job_that_had_not_started_never_builds_its_future() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let hold = Hold::loop_of(&handle);
    let made = Arc::new(AtomicBool::new(false));
    let flag = made.clone();
    let completion = handle.submit_local(move || {
        flag.store(true, Ordering::SeqCst);
        async {}
    });
    assert!(completion.cancel());
    wait(hold.release()).unwrap();
    round_trip(&handle);
    // The local job travels through the loop twice; wait for it to be counted as ended.
    eventually("the cancelled job ends", || handle.stats().in_flight == 0);
    assert!(!made.load(Ordering::SeqCst), "make ran for a cancelled job");
    assert!(completion.wait().unwrap_err().is_cancelled());
}

#[test]
fn cancel_drops_a_running_local_future_on_the_loop_thread() {
    let bridge = Bridge::builder()
        .thread_name("local-cancel")
        .build()
        .unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let completion = bridge.handle().submit_local(move || {
        let guard = std::rc::Rc::new(DropSignal(dropped_tx));
        async move {
            let _guard = guard;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await
        }
    });
    recv(&started_rx, "the local job started");
    assert!(completion.cancel());
    assert_eq!(
        recv(&dropped_rx, "the local future was dropped"),
        "local-cancel"
    );
    assert!(completion.wait().unwrap_err().is_cancelled());
}

#[test]
fn then_runs_once_on_the_completing_thread() {
    let bridge = Bridge::builder().thread_name("then-loop").build().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(None));
    let (count, record) = (calls.clone(), seen.clone());
    handle
        .submit(async move { rx.await.unwrap() })
        .then(move |result| {
            count.fetch_add(1, Ordering::SeqCst);
            let thread = std::thread::current().name().map(str::to_owned);
            *record.lock().unwrap() = Some((result.unwrap(), thread));
        });
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "not before the job resolves"
    );
    tx.send(3).unwrap();
    eventually("then ran", || calls.load(Ordering::SeqCst) > 0);
    round_trip(&handle);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let seen = seen.lock().unwrap().take().unwrap();
    assert_eq!(seen, (3, Some("then-loop".to_owned())));
}

#[test]
fn then_on_a_resolved_completion_runs_at_once_on_the_caller() {
    let bridge = Bridge::new().unwrap();
    let completion = bridge.handle().submit(async { 4 });
    eventually("the job resolves", || completion.is_done());
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    completion.then(move |result| {
        *record.lock().unwrap() = Some((result.unwrap(), std::thread::current().id()));
    });
    // Already run, before `then` returned.
    let (value, thread) = seen.lock().unwrap().take().expect("then ran at once");
    assert_eq!(value, 4);
    assert_eq!(thread, std::thread::current().id());
}

#[test]
fn then_receives_errors_too() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = mpsc::channel();
    handle
        .submit(async { panic!("for then") })
        .then(move |result: Result<(), _>| {
            tx.send(result.unwrap_err()).unwrap();
        });
    let error = recv(&rx, "then got the error");
    assert_eq!(error.panic_message(), Some("for then"));
}

#[test]
fn a_panic_in_then_is_caught_logged_and_the_loop_keeps_serving() {
    common::capture_logs();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let job = handle.job("then-panic");
    let line = line!() + 1;
    let pending = job.submit(async move { rx.await.unwrap() });
    pending.then(|_| panic!("then exploded"));
    tx.send(()).unwrap();
    // Only the `then` report: a slow poll on a busy machine (or printing the panic's
    // backtrace, which runs inside the timed poll) may log at this site too.
    let then_logs = || -> Vec<_> {
        common::logs_at(file!(), line)
            .into_iter()
            .filter(|event| event.message.contains("callback panicked"))
            .collect()
    };
    eventually("the then panic was logged", || !then_logs().is_empty());
    round_trip(&handle);
    let logged = then_logs();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].message.contains("then exploded"), "{logged:?}");
    assert_eq!(logged[0].field("name"), "then-panic", "{logged:?}");
    assert_eq!(wait(handle.submit(async { "alive" })).unwrap(), "alive");

    // Run at once on this thread, the panic does not reach the caller either.
    let done = handle.submit(async {});
    eventually("the job resolves", || done.is_done());
    done.then(|_| panic!("then exploded here"));
}

#[test]
fn a_job_awaits_completions_whatever_they_resolve_to() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
    let later = handle.submit(async move { rx.await.unwrap() });
    let cancelled = handle.submit(std::future::pending::<u8>());
    assert!(cancelled.cancel());
    let panicked = handle.submit(async { panic!("awaited panic") });
    let awaiting = handle.submit(async move {
        let later = later.await;
        let cancelled = cancelled.await;
        let panicked: Result<u8, _> = panicked.await;
        (later, cancelled, panicked)
    });
    // The awaiting job waits for `later`, which waits for this send.
    tx.send(8).unwrap();
    let (later, cancelled, panicked) = wait(awaiting).unwrap();
    assert_eq!(later.unwrap(), 8);
    assert!(cancelled.unwrap_err().is_cancelled());
    assert_eq!(panicked.unwrap_err().panic_message(), Some("awaited panic"));
}

#[tokio::test]
async fn a_completion_is_awaited_from_another_runtime() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    assert_eq!(handle.submit(async { 1 }).await.unwrap(), 1);

    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let pending = handle.submit(async move { rx.await.unwrap() });
    let sender = tokio::spawn(async move { tx.send(2).unwrap() });
    assert_eq!(pending.await.unwrap(), 2);
    sender.await.unwrap();

    let cancelled = handle.submit(std::future::pending::<()>());
    assert!(cancelled.cancel());
    assert!(cancelled.await.unwrap_err().is_cancelled());
}
