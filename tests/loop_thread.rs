//! The loop-thread rules: blocking waits on a loop thread are refused at once,
//! submitting from it is fine, `verify_loop_thread` and `check_blocking` report per
//! `AssertMode`.

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{capture_logs, eventually, logs_at, round_trip, wait};
use loopbridge::{check_blocking, is_any_loop_thread, AssertMode, Bridge, Error};

/// Asserts a refusal made at this file's `line`.
#[track_caller]
fn assert_refused_at(error: &Error, line: u32) {
    assert!(error.is_blocking_on_loop(), "{error}");
    assert_eq!(error.site().location().file(), file!());
    assert_eq!(error.site().location().line(), line);
    assert!(
        error.to_string().contains(&common::at(file!(), line)),
        "{error}"
    );
}

#[test]
fn waits_on_the_loop_thread_are_refused_at_once() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let inner = handle.clone();
    // Each of these would deadlock if it waited: the job it waits for needs this very
    // thread. The outer wait is bounded, so a hang fails the test.
    let lines = wait(handle.run_callback(move || {
        let mut never = inner.submit(std::future::pending::<()>());
        let timed_line = line!() + 1;
        let timed = never.wait_timeout(Duration::from_secs(3600)).unwrap_err();
        let block_line = line!() + 1;
        let blocked = inner.block_on(std::future::pending::<()>()).unwrap_err();
        // Refused even once there is nothing left to wait for.
        assert!(never.cancel());
        let wait_line = line!() + 1;
        let waited = never.wait().unwrap_err();
        [
            (timed, timed_line),
            (waited, wait_line),
            (blocked, block_line),
        ]
    }))
    .unwrap();
    for (error, line) in &lines {
        assert_refused_at(error, *line);
    }
}

#[test]
fn a_finished_completion_is_refused_too_and_keeps_its_value() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let done = handle.submit(async { 11 });
    eventually("the job resolves", || done.is_done());
    let (mut done, refused) = wait(handle.run_callback(move || {
        let mut done = done;
        let refused = done.wait_timeout(Duration::ZERO).unwrap_err();
        (done, refused)
    }))
    .unwrap();
    assert!(refused.is_blocking_on_loop(), "{refused}");
    // Nothing was taken: off the loop the value is still there.
    assert_eq!(done.wait_timeout(common::WAIT).unwrap(), 11);

    let done = handle.submit(async { 12 });
    eventually("the job resolves", || done.is_done());
    let refused = wait(handle.run_callback(move || done.wait())).unwrap();
    assert!(refused.unwrap_err().is_blocking_on_loop());
}

#[test]
fn waits_on_another_bridges_loop_thread_are_refused() {
    let first = Bridge::new().unwrap();
    let second = Bridge::new().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
    let foreign = first.handle().submit(async move { rx.await.unwrap() });
    let other = first.handle();
    let refused = wait(second.handle().run_callback(move || {
        let mut foreign = foreign;
        let timed = foreign.wait_timeout(Duration::from_secs(3600));
        let blocked = other.block_on(async { 1 });
        (foreign, timed, blocked)
    }))
    .unwrap();
    let (foreign, timed, blocked) = refused;
    assert!(timed.unwrap_err().is_blocking_on_loop());
    assert!(blocked.unwrap_err().is_blocking_on_loop());
    tx.send(5).unwrap();
    assert_eq!(wait(foreign).unwrap(), 5);
}

#[test]
fn block_on_refused_on_the_loop_never_runs_its_future() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let ran = Arc::new(AtomicBool::new(false));
    let (inner, flag) = (handle.clone(), ran.clone());
    let refused =
        wait(handle.run_callback(move || {
            inner.block_on(async move { flag.store(true, Ordering::SeqCst) })
        }))
        .unwrap();
    assert!(refused.unwrap_err().is_blocking_on_loop());
    round_trip(&handle);
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn submitting_from_the_loop_thread_is_fine() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let inner = handle.clone();
    let (submitted, called, local) = wait(handle.run_callback(move || {
        (
            inner.submit(async { 1 }),
            inner.run_callback(|| 2),
            inner.submit_local(|| async { 3 }),
        )
    }))
    .unwrap();
    assert_eq!(wait(submitted).unwrap(), 1);
    assert_eq!(wait(called).unwrap(), 2);
    assert_eq!(wait(local).unwrap(), 3);

    // And awaiting what was submitted, from a job on the same loop.
    let inner = handle.clone();
    let sum = wait(handle.submit(async move {
        inner.submit(async { 4 }).await.unwrap() + inner.run_callback(|| 5).await.unwrap()
    }));
    assert_eq!(sum.unwrap(), 9);
}

#[test]
fn on_loop_thread_and_is_loop_thread_tell_the_threads_apart() {
    let first = Bridge::new().unwrap();
    let second = Bridge::new().unwrap();
    assert!(!is_any_loop_thread());
    assert!(!first.handle().is_loop_thread());
    let probe = first.handle();
    let (any, mine) = wait(
        second
            .handle()
            .run_callback(move || (is_any_loop_thread(), probe.is_loop_thread())),
    )
    .unwrap();
    assert!(any, "any bridge's loop thread is a loop thread");
    assert!(!mine, "but not the first bridge's");
}

#[test]
fn verify_loop_thread_passes_on_the_loop() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let probe = handle.clone();
    wait(handle.run_callback(move || probe.verify_loop_thread("on the loop"))).unwrap();
}

#[test]
fn verify_loop_thread_off_the_loop_panics_naming_what_where_and_which_threads() {
    let bridge = Bridge::builder()
        .thread_name("verify-loop")
        .build()
        .unwrap();
    let handle = bridge.handle();
    let outcome = std::thread::Builder::new()
        .name("verify-caller".to_owned())
        .spawn(move || {
            let line = line!() + 1;
            let verify = || handle.verify_loop_thread("update cache");
            let caught = std::panic::catch_unwind(AssertUnwindSafe(verify));
            let message = caught.map_err(|payload| common::panic_text(&*payload));
            (message, line)
        })
        .unwrap()
        .join()
        .unwrap();
    let (caught, line) = outcome;
    let message = caught.unwrap_err();
    assert!(message.contains("update cache"), "{message}");
    assert!(message.contains("verify-loop"), "{message}");
    assert!(message.contains("verify-caller"), "{message}");
    assert!(message.contains(&common::at(file!(), line)), "{message}");
}

#[test]
fn verify_loop_thread_on_another_bridges_loop_panics() {
    let first = Bridge::new().unwrap();
    let second = Bridge::new().unwrap();
    let probe = first.handle();
    let error = wait(
        second
            .handle()
            .run_callback(move || probe.verify_loop_thread("first's state")),
    )
    .unwrap_err();
    assert!(
        error.panic_message().unwrap().contains("first's state"),
        "{error}"
    );
}

#[test]
fn verify_loop_thread_in_log_mode_logs_once_per_call_site() {
    capture_logs();
    let bridge = Bridge::builder()
        .assert_mode(AssertMode::Log)
        .build()
        .unwrap();
    let handle = bridge.handle();
    let mut line = 0;
    for _ in 0..3 {
        line = line!() + 1;
        handle.verify_loop_thread("log mode check");
    }
    let logged = logs_at(file!(), line);
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert!(logged[0].message.contains("log mode check"), "{logged:#?}");
    assert_eq!(logged[0].level, tracing::Level::ERROR);
}

#[test]
fn verify_loop_thread_in_ignore_mode_does_nothing() {
    capture_logs();
    let bridge = Bridge::builder()
        .assert_mode(AssertMode::Ignore)
        .build()
        .unwrap();
    let line = line!() + 1;
    bridge.handle().verify_loop_thread("ignored check");
    assert!(logs_at(file!(), line).is_empty());
}

#[test]
fn check_blocking_off_the_loop_is_a_no_op() {
    capture_logs();
    // No bridge's rules apply off a loop thread, whatever its mode.
    let _bridge = Bridge::new().unwrap();
    let line = line!() + 1;
    check_blocking("read a file");
    assert!(logs_at(file!(), line).is_empty());
}

#[test]
fn check_blocking_on_the_loop_panics_in_panic_mode() {
    let bridge = Bridge::builder()
        .thread_name("strict-loop")
        .build()
        .unwrap();
    let handle = bridge.handle();
    let line = line!() + 1;
    let completion = handle.run_callback(|| check_blocking("sync db query"));
    let error = wait(completion).unwrap_err();
    let message = error.panic_message().unwrap();
    assert!(message.contains("sync db query"), "{message}");
    assert!(message.contains("strict-loop"), "{message}");
    // The panic names the check's caller: the closure on the submitting line.
    assert!(message.contains(&common::at(file!(), line)), "{message}");
    assert_eq!(error.site().location().line(), line);
}

#[test]
fn check_blocking_on_the_loop_follows_log_and_ignore_modes() {
    capture_logs();
    let logging = Bridge::builder()
        .assert_mode(AssertMode::Log)
        .build()
        .unwrap();
    let line = line!() + 3;
    let check = || {
        for _ in 0..3 {
            check_blocking("legacy sleep");
        }
    };
    wait(logging.handle().run_callback(check)).unwrap();
    let logged = logs_at(file!(), line);
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert!(logged[0].message.contains("legacy sleep"), "{logged:#?}");

    let ignoring = Bridge::builder()
        .assert_mode(AssertMode::Ignore)
        .build()
        .unwrap();
    let line = line!() + 1;
    let check = || check_blocking("ignored sleep");
    wait(ignoring.handle().run_callback(check)).unwrap();
    assert!(logs_at(file!(), line).is_empty());
}

#[test]
fn non_blocking_reads_on_the_loop_thread_are_fine() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let mut done = handle.submit(async { 6 });
    eventually("the job resolves", || done.is_done());
    let pending = handle.submit(std::future::pending::<()>());
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = wait(handle.run_callback(move || {
        let taken = done.try_take().map(|result| result.unwrap());
        let cancelled = pending.cancel();
        // Already resolved, so `then` runs here, at once.
        pending.then(move |result| tx.send(result.unwrap_err().is_cancelled()).unwrap());
        (taken, cancelled)
    }));
    assert_eq!(outcome.unwrap(), (Some(6), true));
    assert!(common::recv(&rx, "then ran on the loop"));
}
