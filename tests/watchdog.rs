//! The stall watchdog and the slow-poll counters: a loop stalled right now is reported
//! now, while the stalling poll still runs, and again with its total when it returns.

mod common;

use std::time::Duration;

use common::{capture_logs, eventually, logs_mentioning, round_trip, wait, Hold};
use loopbridge::Bridge;

#[test]
fn a_stalled_loop_is_reported_before_the_stalling_poll_returns() {
    capture_logs();
    let threshold = Duration::from_millis(10);
    let bridge = Bridge::builder()
        .slow_poll_threshold(threshold)
        .build()
        .unwrap();
    let handle = bridge.handle();

    let hold = Hold::with(|gate| handle.job("stall-probe-now").run_callback(gate));
    eventually("the watchdog reports the stall while it lasts", || {
        logs_mentioning("stall-probe-now")
            .iter()
            .any(|event| event.message.contains("still running"))
    });
    // The report came while the callback still held the loop.
    assert!(!hold.completion.is_done());
    let reports = logs_mentioning("stall-probe-now");
    let report = reports
        .iter()
        .find(|event| event.message.contains("still running"))
        .unwrap();
    assert_eq!(report.level, tracing::Level::WARN);
    assert!(report.site().contains("tests/watchdog.rs"), "{report:?}");

    wait(hold.release()).unwrap();
    eventually("the poll's total is logged when it returns", || {
        logs_mentioning("stall-probe-now")
            .iter()
            .any(|event| event.message.contains("slow poll"))
    });
    let stats = handle.stats();
    assert_eq!(stats.slow_polls, 1);
    assert!(stats.longest_poll >= threshold);
}

#[test]
fn one_stall_is_reported_once() {
    capture_logs();
    let bridge = Bridge::builder()
        .slow_poll_threshold(Duration::from_millis(5))
        .build()
        .unwrap();
    let handle = bridge.handle();

    let hold = Hold::with(|gate| handle.job("stall-probe-once").run_callback(gate));
    eventually("the stall is reported", || {
        !logs_mentioning("stall-probe-once").is_empty()
    });
    // Let the watchdog look several more times at the same stall: a job that yields
    // does not end the stall, so run nothing else; waiting on a second completion that
    // queues behind the held loop gives the watchdog time without a sleep.
    let mut queued = handle.run_callback(|| ());
    assert!(queued
        .wait_timeout(Duration::from_millis(50))
        .unwrap_err()
        .is_timeout());
    let while_stalled: Vec<_> = logs_mentioning("stall-probe-once")
        .into_iter()
        .filter(|event| event.message.contains("still running"))
        .collect();
    assert_eq!(while_stalled.len(), 1, "{while_stalled:?}");
    wait(hold.release()).unwrap();
    wait(queued).unwrap();
}

#[test]
fn polls_under_the_threshold_are_not_reported() {
    capture_logs();
    let bridge = Bridge::builder()
        .slow_poll_threshold(Duration::from_secs(3600))
        .build()
        .unwrap();
    let handle = bridge.handle();
    for _ in 0..100 {
        wait(handle.job("quick-probe").submit(async {
            tokio::task::yield_now().await;
        }))
        .unwrap();
    }
    round_trip(&handle);
    assert!(logs_mentioning("quick-probe").is_empty());
    let stats = handle.stats();
    assert_eq!(stats.slow_polls, 0);
    assert!(stats.longest_poll < Duration::from_secs(3600));
}

#[test]
fn a_then_callback_holding_the_loop_is_reported_as_its_jobs_stall() {
    capture_logs();
    let bridge = Bridge::builder()
        .slow_poll_threshold(Duration::from_millis(10))
        .build()
        .unwrap();
    let handle = bridge.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    // The callback runs on the loop thread when the job resolves there.
    handle
        .job("then-stall-probe")
        .submit(async move { rx.await.ok() })
        .then(move |_| {
            let _ = release_rx.recv();
            done_tx.send(()).unwrap();
        });
    tx.send(()).unwrap();
    eventually("the watchdog reports the callback holding the loop", || {
        logs_mentioning("then-stall-probe")
            .iter()
            .any(|event| event.message.contains("still running"))
    });
    drop(release_tx);
    common::recv(&done_rx, "the callback returned");
    eventually("the poll that ran the callback is counted slow", || {
        handle.stats().slow_polls >= 1
    });
}

#[test]
fn a_slow_poll_is_counted_once_even_when_its_log_line_is_slow() {
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    /// A log sink that takes longer than the threshold to write a warning.
    struct SlowSink;
    impl<S: tracing::Subscriber> Layer<S> for SlowSink {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            if *event.metadata().level() == tracing::Level::WARN {
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }

    // Margins of hundreds of milliseconds: a trivial job never takes that long, even on a
    // loaded machine.
    let bridge = Bridge::builder()
        .slow_poll_threshold(Duration::from_millis(200))
        .build()
        .unwrap();
    let handle = bridge.handle();
    // The loop thread's own subscriber, for this bridge only.
    wait(handle.run_callback(|| {
        std::mem::forget(tracing::subscriber::set_default(
            tracing_subscriber::registry().with(SlowSink),
        ))
    }))
    .unwrap();
    // What follows reaches the loop as one batch: one slow callback, then trivial ones.
    let release_tx = common::hold_outside_jobs(&handle);
    let slow = handle.run_callback(|| std::thread::sleep(Duration::from_millis(400)));
    let quick: Vec<_> = (0..10).map(|n| handle.run_callback(move || n)).collect();
    release_tx.send(()).unwrap();
    wait(slow).unwrap();
    for job in quick {
        wait(job).unwrap();
    }
    assert_eq!(handle.stats().slow_polls, 1, "{:?}", handle.stats());
}

#[test]
fn a_subscriber_panicking_as_a_jobs_span_closes_does_not_stop_the_loop() {
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    struct PanicsOnCloseOnTheLoop;
    impl<S: tracing::Subscriber> Layer<S> for PanicsOnCloseOnTheLoop {
        fn on_close(&self, _: tracing::span::Id, _: Context<'_, S>) {
            if std::thread::current().name() == Some("closing-loop") {
                panic!("on_close panicked");
            }
        }
    }
    let bridge = Bridge::builder()
        .thread_name("closing-loop")
        .build()
        .unwrap();
    let handle = bridge.handle();
    let subscriber = tracing_subscriber::registry().with(PanicsOnCloseOnTheLoop);
    // A detached job (its Completion dropped at once), submitted inside a span that
    // the submitter drops right after: the job's record holds the span's last handle.
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("request").in_scope(|| handle.add_job(async {}));
    });
    // The loop must keep serving.
    let mut next = handle.submit(async { 7 });
    let got = next.wait_timeout(common::WAIT);
    assert!(matches!(got, Ok(7)), "after a panicking on_close: {got:?}");
}

#[test]
fn a_slow_span_close_is_not_charged_to_the_next_job() {
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    struct SlowClose;
    impl<S: tracing::Subscriber> Layer<S> for SlowClose {
        fn on_close(&self, _: tracing::span::Id, _: Context<'_, S>) {
            if std::thread::current().name() == Some("slow-close-loop") {
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
    let bridge = Bridge::builder()
        .thread_name("slow-close-loop")
        .slow_poll_threshold(Duration::from_millis(200))
        .build()
        .unwrap();
    let handle = bridge.handle();
    // What follows reaches the loop as one batch.
    let release_tx = common::hold_outside_jobs(&handle);
    let subscriber = tracing_subscriber::registry().with(SlowClose);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("request").in_scope(|| handle.add_job(async {}));
    });
    // A trivial job right behind it, in the same batch.
    let trivial = handle.job("trivial").run_callback(|| ());
    release_tx.send(()).unwrap();
    wait(trivial).unwrap();
    // Neither job held the loop for 200 ms in its own poll.
    assert_eq!(handle.stats().slow_polls, 0, "{:?}", handle.stats());
}

#[test]
fn a_tokio_task_holding_the_loop_thread_is_reported_as_a_loop_stall() {
    capture_logs();
    let bridge = Bridge::builder()
        .thread_name("spawn-stall-loop")
        .slow_poll_threshold(Duration::from_millis(50))
        .build()
        .unwrap();
    let handle = bridge.handle();
    // A job spawns a tokio task (as a connection driver does) that holds the loop thread
    // until released: no job is being polled meanwhile.
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    wait(handle.submit(async move {
        tokio::spawn(async move {
            entered_tx.send(()).unwrap();
            // The workload: the loop thread is blocked until the test has seen the
            // report (or gives up and drops the sender).
            let _ = release_rx.recv();
        });
    }))
    .unwrap();
    common::recv(&entered_rx, "the spawned task holds the loop thread");
    // An unrelated job now waits for a loop that does not come to it.
    let waiting = handle.job("behind-the-task").run_callback(|| ());
    eventually("the loop stall is counted", || {
        handle.stats().loop_stalls >= 1
    });
    eventually("the loop stall is logged", || {
        logs_mentioning("spawn-stall-loop")
            .iter()
            .any(|event| event.message.contains("NOT one of the bridge's jobs"))
    });
    release_tx.send(()).unwrap();
    wait(waiting).unwrap();

    let reports = logs_mentioning("spawn-stall-loop");
    let report = reports
        .iter()
        .find(|event| event.message.contains("NOT one of the bridge's jobs"))
        .unwrap();
    assert_eq!(report.level, tracing::Level::WARN);
    assert_eq!(report.fields["thread"], "spawn-stall-loop");
    assert!(report.fields.contains_key("elapsed_ms"), "{report:?}");
    assert!(report.message.contains("tokio"), "{report:?}");
    if cfg!(target_os = "linux") {
        assert!(report.fields.contains_key("cpu_ms"), "{report:?}");
    }
    // The stall was nobody's poll.
    assert_eq!(handle.stats().slow_polls, 0, "{:?}", handle.stats());
}
