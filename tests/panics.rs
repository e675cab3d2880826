//! A panic in a job becomes `Error::Panicked` with its message and site, the loop keeps
//! serving, and a panic nobody reads is logged exactly once.

mod common;

use std::sync::mpsc;

use common::{capture_logs, eventually, logs_at, round_trip, wait, Logged};
use loopbridge::{Bridge, Error, Handle};

/// Asserts `error` is the panic `message` of the job submitted at this file's `line`.
#[track_caller]
fn assert_panicked(error: &Error, message: &str, line: u32) {
    assert!(error.is_panic(), "{error}");
    assert_eq!(error.panic_message(), Some(message));
    assert_eq!(error.site().location().file(), file!());
    assert_eq!(error.site().location().line(), line);
    let shown = error.to_string();
    assert!(shown.contains(message), "{shown}");
    assert!(shown.contains(&common::at(file!(), line)), "{shown}");
}

#[track_caller]
fn assert_serving(handle: &Handle) {
    assert_eq!(wait(handle.submit(async { "serving" })).unwrap(), "serving");
}

/// The panic reports logged for jobs submitted at `line` of this file.
fn panic_logs(line: u32) -> Vec<Logged> {
    logs_at(file!(), line)
        .into_iter()
        .filter(|event| event.message.contains("panicked"))
        .collect()
}

/// Waits for the panic report of the job at `line`, lets the loop settle, and checks it
/// was the only one.
#[track_caller]
fn assert_logged_once(handle: &Handle, line: u32, message: &str) -> Logged {
    eventually("the unread panic was logged", || {
        !panic_logs(line).is_empty()
    });
    // Anything still queued that could log again has run after a round trip.
    round_trip(handle);
    let logged = panic_logs(line);
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert!(logged[0].message.contains(message), "{logged:#?}");
    assert_eq!(logged[0].level, tracing::Level::ERROR);
    logged[0].clone()
}

#[test]
fn a_panicking_future_becomes_panicked_and_the_loop_keeps_serving() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let line = line!() + 1;
    let completion = handle.submit(async { panic!("future broke") });
    let error: Error = wait::<()>(completion).unwrap_err();
    assert_panicked(&error, "future broke", line);
    assert_serving(&handle);

    // A panic after an await, with a formatted message, too.
    let line = line!() + 1;
    let completion = handle.submit(async {
        tokio::task::yield_now().await;
        let n = 7;
        if n == 7 {
            panic!("late panic {n}");
        }
    });
    assert_panicked(&wait(completion).unwrap_err(), "late panic 7", line);
    assert_serving(&handle);
}

#[test]
fn a_panicking_callback_becomes_panicked() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let line = line!() + 1;
    let completion = handle.run_callback(|| -> u8 { panic!("callback broke") });
    assert_panicked(&wait(completion).unwrap_err(), "callback broke", line);
    assert_serving(&handle);
}

#[test]
fn panics_in_submit_local_make_and_future_become_panicked() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let line = line!() + 1;
    let completion = handle.submit_local(|| -> std::future::Ready<u8> { panic!("make broke") });
    assert_panicked(&wait(completion).unwrap_err(), "make broke", line);
    assert_serving(&handle);

    let line = line!() + 1;
    let completion = handle.submit_local(|| async { panic!("local future broke") });
    assert_panicked(
        &wait::<()>(completion).unwrap_err(),
        "local future broke",
        line,
    );
    assert_serving(&handle);
}

#[test]
fn a_non_string_panic_payload_still_becomes_panicked() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let completion = handle.run_callback(|| std::panic::panic_any(17u32));
    let error = wait::<()>(completion).unwrap_err();
    assert!(error.is_panic());
    assert_eq!(error.panic_message(), Some("<non-string panic payload>"));
    assert_serving(&handle);
}

#[test]
fn a_named_job_panic_names_the_job() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let job = handle.job("importer");
    let error = wait::<()>(job.submit(async { panic!("bad row") })).unwrap_err();
    assert_eq!(error.site().name(), Some("importer"));
    assert!(error.to_string().contains("importer"), "{error}");
}

#[test]
fn many_panics_do_not_wear_the_loop_down() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let completions: Vec<_> = (0..50)
        .map(|n| {
            handle.submit(async move {
                if n % 2 == 0 {
                    panic!("even {n}")
                } else {
                    n
                }
            })
        })
        .collect();
    for (n, completion) in completions.into_iter().enumerate() {
        match wait(completion) {
            Ok(value) => assert_eq!(value, n),
            Err(error) => assert_eq!(error.panic_message(), Some(format!("even {n}").as_str())),
        }
    }
    assert_eq!(handle.stats().panicked, 25);
    assert_serving(&handle);
}

#[test]
fn a_panic_whose_completion_was_dropped_while_pending_is_logged_once() {
    capture_logs();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let line = line!() + 1;
    let completion = handle.submit(async move {
        let _ = rx.await;
        panic!("nobody reads me");
    });
    drop(completion);
    tx.send(()).unwrap();
    let logged = assert_logged_once(&handle, line, "nobody reads me");
    assert!(logged.site().contains(file!()), "{logged:?}");
    assert_serving(&handle);
}

#[test]
fn a_panic_whose_completion_was_dropped_after_it_resolved_is_logged_once() {
    capture_logs();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let line = line!() + 1;
    let completion = handle.submit(async { panic!("resolved, then dropped") });
    eventually("the job resolves", || completion.is_done());
    assert!(
        panic_logs(line).is_empty(),
        "not logged while it can still be read"
    );
    drop(completion);
    assert_logged_once(&handle, line, "resolved, then dropped");
}

#[test]
fn a_panic_that_was_read_is_not_logged() {
    capture_logs();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let line = line!() + 1;
    let completion = handle.submit(async { panic!("seen by the caller") });
    assert!(wait::<()>(completion).unwrap_err().is_panic());
    round_trip(&handle);
    assert!(panic_logs(line).is_empty(), "{:#?}", panic_logs(line));
}

#[test]
fn an_add_job_panic_is_logged_once_with_its_site() {
    capture_logs();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let job = handle.job("nightly report");
    let line = line!() + 1;
    job.add_job(async { panic!("report failed") });
    let logged = assert_logged_once(&handle, line, "report failed");
    assert_eq!(logged.field("name"), "nightly report", "{logged:?}");
    assert_serving(&handle);
    assert_eq!(handle.stats().panicked, 1);
}

#[test]
fn a_call_soon_panic_is_logged_once_with_its_site() {
    capture_logs();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let line = line!() + 1;
    handle.call_soon(|| panic!("soon failed")).unwrap();
    assert_logged_once(&handle, line, "soon failed");
    // Callbacks after it still run.
    let (tx, rx) = mpsc::channel();
    handle.call_soon(move || tx.send(()).unwrap()).unwrap();
    common::recv(&rx, "a later callback ran");
}

#[test]
fn a_value_that_panics_when_dropped_unread_is_counted_once_and_the_loop_lives() {
    // Delivering a result can run user code: here, dropping a value nobody will read.
    // Its panic must not count the job twice, nor leave the loop looking stalled.
    struct ExplodesOnDrop;
    impl Drop for ExplodesOnDrop {
        fn drop(&mut self) {
            panic!("drop exploded");
        }
    }
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    drop(handle.submit(async move {
        rx.await.ok();
        ExplodesOnDrop
    }));
    tx.send(()).unwrap();
    eventually("the job ends", || {
        handle.jobs().is_empty() && handle.stats().finished == 1
    });
    round_trip(&handle);
    let stats = handle.stats();
    assert_eq!(
        (
            stats.submitted,
            stats.finished,
            stats.cancelled,
            stats.in_flight
        ),
        (2, 2, 0, 0),
        "{stats:?}"
    );
}

/// A future that is ready at once and panics when it is dropped afterwards.
struct PanicsWhenDropped;

impl std::future::Future for PanicsWhenDropped {
    type Output = u32;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u32> {
        std::task::Poll::Ready(1)
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("the finished future's destructor panicked");
    }
}

#[test]
fn a_future_whose_destructor_panics_keeps_its_value_and_the_loop_serving() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    assert_eq!(wait(handle.submit(PanicsWhenDropped)).unwrap(), 1);
    round_trip(&handle);
    eventually("the job is counted once", || handle.stats().in_flight == 0);
    let stats = handle.stats();
    assert_eq!((stats.finished, stats.panicked), (2, 0), "{stats:?}");
}

#[test]
fn a_cancelled_job_whose_destructor_panics_keeps_the_other_jobs_and_the_loop_serving() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let bystander = handle.submit(async move { rx.await.unwrap() });
    let victim = handle.submit(async {
        let _guard = PanicOnDrop;
        std::future::pending::<()>().await;
    });
    eventually("both jobs were polled", || {
        handle.jobs().iter().all(|job| job.polls >= 1)
    });
    assert!(victim.cancel());
    tx.send(5).unwrap();
    assert_eq!(wait(bystander).unwrap(), 5);
    round_trip(&handle);
    eventually("every job ended", || handle.stats().in_flight == 0);
}

#[test]
fn an_unread_value_is_dropped_where_its_completion_is_dropped() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let completion = handle.submit(async { PanicOnDrop });
    eventually("the job resolved", || completion.is_done());
    // Nobody reads the value: it is dropped with the completion, on this thread, and its
    // panic is this thread's, not the loop's.
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(completion)));
    assert!(dropped.is_err());
    round_trip(&handle);
}

#[test]
fn a_tracing_subscriber_panicking_in_a_jobs_span_makes_the_job_panicked() {
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    struct PanicsOnEnterOnTheLoop;
    impl<S: tracing::Subscriber> Layer<S> for PanicsOnEnterOnTheLoop {
        fn on_enter(&self, _: &tracing::span::Id, _: Context<'_, S>) {
            if std::thread::current().name() == Some("poisoned-loop") {
                panic!("the subscriber panicked");
            }
        }
    }

    let bridge = Bridge::builder()
        .thread_name("poisoned-loop")
        .build()
        .unwrap();
    let handle = bridge.handle();
    let subscriber = tracing_subscriber::registry().with(PanicsOnEnterOnTheLoop);
    // The job runs inside the span current where it was submitted, and a span carries
    // its subscriber with it to the loop thread.
    let completion = tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("request").in_scope(|| handle.submit(async { 1 }))
    });
    let error = wait(completion).unwrap_err();
    assert!(error.is_panic(), "{error}");
    round_trip(&handle);
    eventually("the job is counted", || handle.stats().in_flight == 0);
    assert_eq!(handle.stats().panicked, 1);
}

/// A value whose destructor panics (unless the thread is already unwinding).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a destructor panicked");
        }
    }
}

/// A panic payload whose own destructor panics.
struct PayloadPanicsWhenDropped;

impl Drop for PayloadPanicsWhenDropped {
    fn drop(&mut self) {
        panic!("the payload's destructor panicked");
    }
}

/// A future that panics with such a payload when polled, and (if `drop_panics`) panics
/// in its own destructor too, or panics with such a payload only there.
struct Hostile {
    poll_panics: bool,
    drop_panics: bool,
}

impl std::future::Future for Hostile {
    type Output = u32;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u32> {
        if self.poll_panics {
            std::panic::panic_any(PayloadPanicsWhenDropped);
        }
        std::task::Poll::Ready(1)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if self.drop_panics {
            if self.poll_panics {
                panic!("the future's destructor panicked");
            }
            std::panic::panic_any(PayloadPanicsWhenDropped);
        }
    }
}

#[test]
fn panic_payloads_and_destructors_that_panic_again_never_stop_the_loop() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    for (poll_panics, drop_panics) in [(true, false), (true, true), (false, true)] {
        // The completion is held while the job ends (the usual case), then read.
        let job = handle.submit(Hostile {
            poll_panics,
            drop_panics,
        });
        let result = wait(job);
        if poll_panics {
            assert!(result.unwrap_err().is_panic());
        }
        assert_serving(&handle);
    }
}
