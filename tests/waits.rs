//! Waits that give up: which line their errors name (the wait's, through `#[track_caller]`
//! helpers too), the cancelling waits, and what a poll after the value was taken reports.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Once};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{at, eventually, panic_text, recv, DropCount, DropSignal};
use loopbridge::{Bridge, Completion, Error, ThreadPool};

/// A user's "give it a moment" wait, as a thread-per-connection server writes one for
/// every call: marked `#[track_caller]`, so its errors name the line that called it.
#[track_caller]
fn wait_briefly<T>(completion: &mut Completion<T>) -> Result<T, Error> {
    completion.wait_timeout(Duration::ZERO)
}

/// The same helper, for a call that must not outlive its wait.
#[track_caller]
fn query<T>(completion: Completion<T>) -> Result<T, Error> {
    completion.wait_timeout_or_cancel(Duration::ZERO)
}

/// `cancelled` of a `Timeout`.
#[track_caller]
fn cancelled(error: &Error) -> bool {
    match error {
        Error::Timeout { cancelled, .. } => *cancelled,
        other => panic!("not a timeout: {other}"),
    }
}

#[test]
fn a_timeout_names_the_waiting_line_and_still_the_submitting_one() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let slow = handle.job("slow");
    let submit_line = line!() + 1;
    let mut completion = slow.submit(std::future::pending::<()>());

    let wait_line = line!() + 1;
    let error = completion.wait_timeout(Duration::ZERO).unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(error.site().location().file(), file!());
    assert_eq!(error.site().location().line(), wait_line, "{error}");
    assert_eq!(error.site().name(), Some("slow"), "the job's name is kept");
    let text = error.to_string();
    assert!(text.contains(&at(file!(), wait_line)), "{text}");
    assert!(text.contains(&at(file!(), submit_line)), "{text}");
    assert!(text.contains("still running"), "{text}");
    assert!(completion.cancel());
}

#[test]
fn a_track_caller_helper_passes_its_caller_through_to_a_timeout() {
    let bridge = Bridge::new().unwrap();
    let mut completion = bridge.handle().submit(std::future::pending::<()>());

    let caller_line = line!() + 1;
    let error = wait_briefly(&mut completion).unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(error.site().location().file(), file!());
    assert_eq!(error.site().location().line(), caller_line, "{error}");
    assert!(completion.cancel());
}

#[test]
fn a_track_caller_helper_passes_its_caller_through_to_blocking_on_loop() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let inner = handle.clone();
    let (error, caller_line) = common::wait(handle.submit(async move {
        let mut completion = inner.submit(std::future::pending::<()>());
        let caller_line = line!() + 1;
        let error = wait_briefly(&mut completion).unwrap_err();
        completion.cancel();
        (error, caller_line)
    }))
    .unwrap();
    assert!(error.is_blocking_on_loop(), "{error}");
    assert_eq!(error.site().location().file(), file!());
    assert_eq!(error.site().location().line(), caller_line, "{error}");
}

#[test]
fn the_jobs_own_errors_name_the_submitting_line() {
    let bridge = Bridge::new().unwrap();
    let submit_line = line!() + 1;
    let mut completion = bridge.handle().submit(std::future::pending::<()>());
    assert!(completion.cancel());
    let error = wait_briefly(&mut completion).unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    assert_eq!(error.site().location().line(), submit_line, "{error}");
}

#[test]
fn a_track_caller_helper_passes_its_caller_through_to_a_cancelling_wait() {
    let bridge = Bridge::new().unwrap();
    let submit_line = line!() + 1;
    let completion = bridge.handle().submit(std::future::pending::<()>());
    let caller_line = line!() + 1;
    let error = query(completion).unwrap_err();
    assert!(cancelled(&error), "{error}");
    assert_eq!(error.site().location().file(), file!());
    assert_eq!(error.site().location().line(), caller_line, "{error}");
    let Error::Timeout { submitted, .. } = &error else {
        unreachable!()
    };
    assert_eq!(submitted.location().line(), submit_line);
}

#[test]
fn wait_deadline_leaves_the_job_running() {
    let bridge = Bridge::new().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let mut completion = bridge.handle().submit(async move { rx.await.unwrap() });
    let wait_line = line!() + 1;
    let error = completion.wait_deadline(Instant::now()).unwrap_err();
    assert!(!cancelled(&error), "{error}");
    assert_eq!(error.site().location().line(), wait_line, "{error}");
    assert!(
        error.to_string().ends_with("it is still running"),
        "{error}"
    );
    assert!(!completion.is_done());
    tx.send(4).unwrap();
    let deadline = Instant::now() + common::WAIT;
    assert_eq!(completion.wait_deadline(deadline).unwrap(), 4);
}

// ---- waits that cancel -------------------------------------------------------------------

#[test]
fn a_cancelling_wait_drops_a_loop_job_that_never_finishes() {
    let bridge = Bridge::new().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCount(drops.clone());
    let completion = bridge.handle().submit(async move {
        let _guard = guard;
        std::future::pending::<u32>().await
    });

    let wait_line = line!() + 1;
    let error = completion.wait_timeout_or_cancel(Duration::ZERO);
    let error = error.unwrap_err();
    assert!(error.is_timeout() && cancelled(&error), "{error}");
    assert!(
        !error.is_cancelled(),
        "a timeout, not a cancel by someone else"
    );
    assert_eq!(error.site().location().line(), wait_line, "{error}");
    let text = error.to_string();
    assert!(text.ends_with("it was cancelled"), "{text}");
    assert!(!text.contains("still running"), "{text}");

    eventually("the cancelled future is dropped", || {
        drops.load(Ordering::SeqCst) == 1
    });
    eventually("the job ends", || bridge.handle().stats().in_flight == 0);
}

#[test]
fn a_deadline_cancelling_wait_drops_the_future_on_the_loop_thread() {
    let bridge = Bridge::builder()
        .thread_name("deadline-loop")
        .build()
        .unwrap();
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let guard = DropSignal(dropped_tx);
    let completion = bridge.handle().submit(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    });
    let error = completion
        .wait_deadline_or_cancel(Instant::now())
        .unwrap_err();
    assert!(cancelled(&error), "{error}");
    assert_eq!(
        recv(&dropped_rx, "the cancelled future was dropped"),
        "deadline-loop"
    );
}

#[test]
fn a_cancelling_wait_on_a_pool_job_not_yet_started_means_it_never_runs() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let busy = pool.submit(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    recv(&started_rx, "the only worker is busy");

    let ran = Arc::new(AtomicBool::new(false));
    let drops = Arc::new(AtomicUsize::new(0));
    let (flag, guard) = (ran.clone(), DropCount(drops.clone()));
    let queued = pool.submit(move || {
        let _guard = guard;
        flag.store(true, Ordering::SeqCst);
    });
    let error = queued.wait_timeout_or_cancel(Duration::ZERO).unwrap_err();
    assert!(cancelled(&error), "{error}");

    release_tx.send(()).unwrap();
    common::wait(busy).unwrap();
    // Whether a worker skipped the cancelled job first or the shutdown cut it off, it is
    // dropped unrun.
    pool.shutdown(common::WAIT);
    eventually("the cancelled closure is dropped", || {
        drops.load(Ordering::SeqCst) == 1
    });
    assert!(!ran.load(Ordering::SeqCst), "a cancelled pool job ran");
    assert_eq!(pool.stats().cancelled, 1);
}

#[test]
fn a_cancelling_wait_returns_the_value_of_a_job_that_finishes_in_time() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();

    // Resolved before the wait.
    let done = handle.submit(async { 1 });
    eventually("the job resolves", || done.is_done());
    assert_eq!(done.wait_timeout_or_cancel(Duration::ZERO).unwrap(), 1);

    // Resolved while the wait blocks (or before: either way, in time).
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let later = handle.submit(async move { rx.await.unwrap() });
    let sender = std::thread::spawn(move || tx.send(2).unwrap());
    assert_eq!(later.wait_timeout_or_cancel(common::WAIT).unwrap(), 2);
    sender.join().unwrap();

    let deadline = Instant::now() + common::WAIT;
    let pool = ThreadPool::new(1).unwrap();
    assert_eq!(
        pool.submit(|| 3).wait_deadline_or_cancel(deadline).unwrap(),
        3
    );
}

#[test]
fn a_cancelling_wait_returns_the_jobs_own_error_naming_the_submitting_line() {
    let bridge = Bridge::new().unwrap();
    let submit_line = line!() + 1;
    let panicked = bridge.handle().submit(async { panic!("in the job") });
    let error = panicked.wait_timeout_or_cancel(common::WAIT).unwrap_err();
    assert_eq!(error.panic_message(), Some("in the job"));
    assert_eq!(error.site().location().line(), submit_line, "{error}");

    let cancelled_before = bridge.handle().submit(std::future::pending::<()>());
    assert!(cancelled_before.cancel());
    let error = query(cancelled_before).unwrap_err();
    assert!(error.is_cancelled(), "{error}");
}

#[test]
fn a_cancelling_wait_on_a_loop_thread_is_refused_and_cancels_the_job() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let inner = handle.clone();
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCount(drops.clone());
    let (error, wait_line) = common::wait(handle.submit(async move {
        let completion = inner.job("inner").submit(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        let wait_line = line!() + 1;
        let error = completion.wait_timeout_or_cancel(common::WAIT).unwrap_err();
        (error, wait_line)
    }))
    .unwrap();
    assert!(error.is_blocking_on_loop(), "{error}");
    assert_eq!(error.site().location().line(), wait_line, "{error}");
    assert_eq!(error.site().name(), Some("inner"));
    eventually("the refused wait's job is dropped", || {
        drops.load(Ordering::SeqCst) == 1
    });
}

// ---- a poll after the value was taken ----------------------------------------------------

thread_local! {
    /// Where the last panic on this thread was raised, as the panic hook saw it.
    static PANICKED_AT: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

/// Runs `f`, which must panic; returns the panic's message and the `file`, `line` it
/// was raised at.
fn panic_of(f: impl FnOnce()) -> (String, (String, u32)) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(location) = info.location() {
                let seen = (location.file().to_owned(), location.line());
                PANICKED_AT.with(|at| *at.borrow_mut() = Some(seen));
            }
            previous(info);
        }));
    });
    PANICKED_AT.with(|at| at.borrow_mut().take());
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("the closure panics");
    let location = PANICKED_AT
        .with(|at| at.borrow_mut().take())
        .expect("the hook saw the panic");
    (panic_text(&*payload), location)
}

fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut future = std::pin::pin!(future);
    future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn awaiting_a_completion_whose_value_was_taken_names_the_await_and_the_job() {
    let bridge = Bridge::new().unwrap();
    let submit_line = line!() + 1;
    let mut completion = bridge.handle().submit(async { 9 });
    assert_eq!(completion.wait_timeout(common::WAIT).unwrap(), 9);

    let await_line = line!() + 1;
    let awaiting = async move { completion.await.map(|n| n + 1) };
    let (message, location) = panic_of(|| {
        let _ = poll_once(awaiting);
    });
    assert_eq!(location, (file!().to_owned(), await_line), "{message}");
    assert!(
        message.contains("polled after it returned its value"),
        "{message}"
    );
    assert!(message.contains(&at(file!(), submit_line)), "{message}");
}

#[test]
fn a_second_poll_names_the_polling_line_and_the_job() {
    let bridge = Bridge::new().unwrap();
    let submit_line = line!() + 1;
    let mut completion = bridge.handle().submit(async { 9 });
    common::eventually("the job resolves", || completion.is_done());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(
        Pin::new(&mut completion).poll(&mut cx),
        Poll::Ready(Ok(9))
    ));

    let poll_line = line!() + 2;
    let (message, location) = panic_of(|| {
        let _ = Pin::new(&mut completion).poll(&mut cx);
    });
    assert_eq!(location, (file!().to_owned(), poll_line), "{message}");
    assert!(
        message.contains("polled after it returned its value"),
        "{message}"
    );
    assert!(message.contains(&at(file!(), submit_line)), "{message}");
}
