//! Blocking waits called inside *another* tokio runtime's async context: on a
//! multi-thread runtime's worker the host's other tasks keep running and the call site
//! is reported once; on a current-thread runtime the bridge's `AssertMode` decides;
//! `spawn_blocking` threads and plain threads are not flagged.

use std::sync::{Mutex, Once};
use std::thread::ThreadId;
use std::time::Duration;

use loopbridge::{AssertMode, Bridge, Completion, Error, Handle};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Every `loopbridge` event: its level, its message and the thread that logged it (the
/// tests run in parallel and share this capture).
static EVENTS: Mutex<Vec<(tracing::Level, String, ThreadId)>> = Mutex::new(Vec::new());

struct Capture;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target().starts_with("loopbridge::") {
            let mut message = Message(String::new());
            event.record(&mut message);
            EVENTS.lock().unwrap().push((
                *event.metadata().level(),
                message.0,
                std::thread::current().id(),
            ));
        }
    }
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture))
            .unwrap();
    });
}

/// How many captured events mention `needle`.
fn reports_of(needle: &str) -> usize {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, message, _)| message.contains(needle))
        .count()
}

/// A job that needs a task of the host runtime: it asks the host task, which answers.
/// Waiting for it on the host's only thread, without letting the host run, deadlocks.
fn job_needing_a_host_task(bridge: &Handle) -> Completion<u32> {
    let (ask, asked) = tokio::sync::oneshot::channel::<u32>();
    let (answer, answered) = tokio::sync::oneshot::channel::<u32>();
    tokio::spawn(async move {
        let question = asked.await.unwrap();
        answer.send(question + 1).unwrap();
    });
    bridge.submit(async move {
        // The host task may be gone (the runtime ended) before a detached job runs.
        let _ = ask.send(41);
        answered.await.unwrap_or(0)
    })
}

/// One call site for the report-once check.
fn wait_here(completion: Completion<u32>) -> Result<u32, Error> {
    completion.wait()
}

#[test]
fn a_wait_in_a_multi_thread_worker_keeps_the_host_running_and_is_reported_once_per_site() {
    install();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    // One worker: without `block_in_place` the host task would wait behind the waiter.
    let host = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let before = reports_of("multi-thread tokio runtime");
    let answers = host.block_on(async move {
        tokio::spawn(async move {
            let mut answers = Vec::new();
            // After a `block_in_place` the task runs on without the worker's core until
            // it yields (a wait then blocks no other task, and is not one to report):
            // each wait here comes after a yield, back on a worker.
            for _ in 0..3 {
                tokio::task::yield_now().await;
                answers.push(wait_here(job_needing_a_host_task(&handle)).unwrap());
            }
            // The other waits take the same road.
            tokio::task::yield_now().await;
            let mut timed = job_needing_a_host_task(&handle);
            answers.push(timed.wait_timeout(Duration::from_secs(30)).unwrap());
            tokio::task::yield_now().await;
            answers.push(handle.block_on(async { 7 }).unwrap());
            answers
        })
        .await
        .unwrap()
    });
    assert_eq!(answers, [42, 42, 42, 42, 7]);
    // `wait_here`'s site once, `wait_timeout`'s once, `block_on`'s once.
    assert_eq!(reports_of("multi-thread tokio runtime") - before, 3);
}

#[test]
fn a_wait_in_a_current_thread_runtime_is_refused_in_panic_mode() {
    install();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let host = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    host.block_on(async move {
        // The deadlock case: the job needs a task of this very runtime.
        let completion = job_needing_a_host_task(&handle);
        let wait_line = line!() + 1;
        let error = completion.wait().unwrap_err();
        assert!(error.is_blocking_in_runtime(), "{error}");
        assert!(error.to_string().contains("current_thread"), "{error}");
        assert_eq!(error.site().location().line(), wait_line, "names the wait");

        // Every wait refuses; `block_on` submits nothing.
        let mut timed = handle.submit(async { 1 });
        assert!(timed
            .wait_timeout(Duration::from_secs(30))
            .unwrap_err()
            .is_blocking_in_runtime());
        let before = handle.stats().submitted;
        assert!(handle
            .block_on(async { 1 })
            .unwrap_err()
            .is_blocking_in_runtime());
        assert_eq!(handle.stats().submitted, before);
        // A cancelling wait that is refused cancels, as on a loop thread.
        let (_keep, never) = tokio::sync::oneshot::channel::<()>();
        let stuck = handle.submit(never);
        assert!(stuck
            .wait_timeout_or_cancel(Duration::from_secs(30))
            .unwrap_err()
            .is_blocking_in_runtime());

        // `.await` works, and so does the job that needs the host.
        assert_eq!(job_needing_a_host_task(&handle).await.unwrap(), 42);
        assert_eq!(timed.await.unwrap(), 1);
    });
    // Outside the runtime's context again: a plain wait.
    assert_eq!(bridge.handle().submit(async { 2 }).wait().unwrap(), 2);
}

#[test]
fn a_wait_in_a_current_thread_task_is_refused_too() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let host = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let refused = host.block_on(async move {
        tokio::spawn(async move { handle.submit(async { 1 }).wait() })
            .await
            .unwrap()
    });
    assert!(refused.unwrap_err().is_blocking_in_runtime());
}

#[test]
fn log_mode_logs_once_per_site_and_waits() {
    install();
    let bridge = Bridge::builder()
        .assert_mode(AssertMode::Log)
        .build()
        .unwrap();
    let handle = bridge.handle();
    let host = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let before = reports_of("current_thread tokio runtime");
    let values: Vec<u32> = host.block_on(async move {
        (0..3)
            .map(|n| handle.submit(async move { n }).wait().unwrap())
            .collect()
    });
    assert_eq!(values, [0, 1, 2]);
    assert_eq!(reports_of("current_thread tokio runtime") - before, 1);
}

#[test]
fn ignore_mode_waits_without_a_word() {
    install();
    let bridge = Bridge::builder()
        .assert_mode(AssertMode::Ignore)
        .build()
        .unwrap();
    let handle = bridge.handle();
    let host = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let value = host.block_on(async move { handle.block_on(async { 5 }) });
    assert_eq!(value.unwrap(), 5);
    // Only this thread's events: other tests log meanwhile.
    let here = std::thread::current().id();
    let logged = EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, thread)| *thread == here)
        .count();
    assert_eq!(logged, 0);
}

#[test]
fn spawn_blocking_threads_and_plain_threads_are_not_flagged() {
    install();
    let bridge = Bridge::new().unwrap();
    for host in [
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap(),
    ] {
        let handle = bridge.handle();
        let value = host.block_on(async move {
            tokio::task::spawn_blocking(move || {
                // The runtime's context is there, and a task id too: still fine to block.
                assert!(tokio::runtime::Handle::try_current().is_ok());
                wait_from_spawn_blocking(&handle)
            })
            .await
            .unwrap()
        });
        assert_eq!(value.unwrap(), 3);
    }
    assert_eq!(reports_of("spawn_blocking_site_marker"), 0);
    let handle = bridge.handle();
    let plain = std::thread::spawn(move || handle.block_on(async { 4 }));
    assert_eq!(plain.join().unwrap().unwrap(), 4);
}

/// A site that no other test waits at, so any report of it would be this test's.
fn wait_from_spawn_blocking(handle: &Handle) -> Result<u32, Error> {
    let site = line!() + 1;
    let result = handle.submit(async { 3 }).wait();
    let marker = format!("host_runtime.rs:{site}:");
    assert_eq!(reports_of(&marker), 0, "a spawn_blocking wait was reported");
    result
}

#[test]
fn a_multi_thread_block_on_caller_just_waits() {
    install();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let host = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    // `#[tokio::main]`'s body: the host's workers are other threads.
    let value = host.block_on(async move { handle.submit(async { 6 }).wait() });
    assert_eq!(value.unwrap(), 6);
}

#[test]
fn dropping_a_bridge_inside_either_runtime_is_safe() {
    for host in [
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap(),
    ] {
        let bridge = Bridge::builder()
            .shutdown_timeout(Duration::from_millis(10))
            .build()
            .unwrap();
        let pending = bridge.handle().submit(std::future::pending::<()>());
        host.block_on(async move { drop(bridge) });
        assert!(pending.wait().unwrap_err().is_closed());
    }
}

#[test]
fn multi_waits_and_stream_reads_in_a_current_thread_runtime_are_refused_too() {
    install();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let host = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    host.block_on(async move {
        // Each would wait for a job that needs a task of this very runtime.
        let jobs = vec![job_needing_a_host_task(&handle)];
        let line = line!() + 1;
        let all = loopbridge::wait_all(&jobs, Duration::from_secs(30)).unwrap_err();
        assert!(all.is_blocking_in_runtime(), "{all}");
        assert_eq!(all.site().location().line(), line, "names the wait");
        let any = loopbridge::wait_any(&jobs, Duration::from_secs(30)).unwrap_err();
        assert!(any.is_blocking_in_runtime(), "{any}");
        let mut finished = loopbridge::as_completed(jobs);
        let next = finished.next_timeout(Duration::from_secs(30)).unwrap_err();
        assert!(next.is_blocking_in_runtime(), "{next}");
        // A `for` loop ends: the job is yielded refused (and cancelled).
        let refused: Vec<_> = finished.by_ref().collect();
        assert_eq!(refused.len(), 1);
        assert!(refused[0].1.as_ref().unwrap_err().is_blocking_in_runtime());

        let (tx, rx) = tokio::sync::mpsc::channel::<u32>(1);
        tokio::spawn(async move {
            let _ = tx.send(7).await;
        });
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|n| (n, rx)) },
            );
        let items: Vec<_> = handle.iter(stream, 1).collect();
        assert_eq!(items.len(), 1, "{items:?}");
        assert!(items[0].as_ref().unwrap_err().is_blocking_in_runtime());
    });
}

#[test]
fn multi_waits_and_stream_reads_in_a_multi_thread_worker_keep_the_host_running() {
    install();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    // One worker: without `block_in_place` the host task would wait behind the waiter.
    let host = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let answers = host.block_on(async move {
        tokio::spawn(async move {
            let mut answers = Vec::new();
            tokio::task::yield_now().await;
            let jobs = vec![job_needing_a_host_task(&handle)];
            loopbridge::wait_all(&jobs, Duration::from_secs(30)).unwrap();
            tokio::task::yield_now().await;
            let jobs = vec![job_needing_a_host_task(&handle)];
            loopbridge::wait_any(&jobs, Duration::from_secs(30)).unwrap();
            tokio::task::yield_now().await;
            let mut finished = loopbridge::as_completed(vec![job_needing_a_host_task(&handle)]);
            let (_, answer) = finished
                .next_timeout(Duration::from_secs(30))
                .unwrap()
                .unwrap();
            answers.push(answer.unwrap());
            tokio::task::yield_now().await;
            let (tx, rx) = tokio::sync::mpsc::channel::<u32>(1);
            tokio::spawn(async move {
                let _ = tx.send(7).await;
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|n| (n, rx))
            });
            for item in handle.iter(stream, 1) {
                answers.push(item.unwrap());
            }
            answers
        })
        .await
        .unwrap()
    });
    assert_eq!(answers, [42, 7]);
}

/// Runs `body` in a task of `host` (on a worker, for a multi-thread runtime).
fn in_a_host_task<R: Send + 'static>(
    host: &tokio::runtime::Runtime,
    body: impl std::future::Future<Output = R> + Send + 'static,
) -> R {
    host.block_on(async move { tokio::spawn(body).await.unwrap() })
}

#[test]
fn a_shutdown_inside_either_runtime_finishes_in_the_background_and_lets_the_host_run() {
    for host in [
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap(),
    ] {
        let bridge = Bridge::new().unwrap();
        let (report, answer) = in_a_host_task(&host, async move {
            let job = job_needing_a_host_task(&bridge.handle());
            // Waiting here for the timeout would keep the host task from answering.
            let report = bridge.shutdown(Duration::from_secs(30));
            (report, job.await)
        });
        assert!(report.finishing_in_background, "{report}");
        assert!(!report.is_clean(), "{report}");
        assert_eq!(answer.unwrap(), 42, "the job got the host task's answer");
    }
}

#[test]
fn a_shutdown_from_spawn_blocking_waits_and_reports_in_full() {
    let host = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (report, answer) = host.block_on(async move {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let job = handle.submit(async move { rx.await.unwrap_or(0) });
        // A host task that answers only once the shutdown has begun: the job is in flight
        // when it does, and ends by itself while the shutdown waits.
        let closing = handle.closing();
        tokio::spawn(async move {
            closing.await;
            let _ = tx.send(42);
        });
        let report = tokio::task::spawn_blocking(move || bridge.shutdown(Duration::from_secs(30)))
            .await
            .unwrap();
        (report, job.await)
    });
    assert!(!report.finishing_in_background, "{report}");
    assert_eq!(report.finished, 1, "{report}");
    assert!(report.is_clean(), "{report}");
    assert_eq!(answer.unwrap(), 42);
}

#[test]
fn pool_and_thread_bound_shutdowns_inside_either_runtime_let_the_host_run() {
    for host in [
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap(),
    ] {
        // A pool job and a thread-bound call, each running and waiting for an answer
        // from a host task that only runs if the shutdown lets the host go on.
        let pool = loopbridge::ThreadPool::new(1).unwrap();
        let bound = loopbridge::ThreadBound::spawn("host-bound", || Ok::<_, ()>(1u32)).unwrap();
        let (pool_tx, pool_rx) = tokio::sync::oneshot::channel::<u32>();
        let (call_tx, call_rx) = tokio::sync::oneshot::channel::<u32>();
        let (started_tx, started) = std::sync::mpsc::channel();
        let started_call = started_tx.clone();
        let job = pool.submit(move || {
            started_tx.send(()).unwrap();
            pool_rx.blocking_recv().unwrap() + 1
        });
        let call = bound.call(move |n| {
            started_call.send(()).unwrap();
            call_rx.blocking_recv().unwrap() + *n
        });
        started.recv().unwrap();
        started.recv().unwrap();
        let (reports, answers) = in_a_host_task(&host, async move {
            tokio::spawn(async move {
                pool_tx.send(41).unwrap();
                call_tx.send(41).unwrap();
            });
            let reports = [
                pool.shutdown(Duration::from_secs(30)),
                bound.shutdown(Duration::from_secs(30)),
            ];
            (reports, (job.await, call.await))
        });
        for report in &reports {
            assert!(report.finishing_in_background, "{report}");
            assert!(report.stuck.is_empty(), "{report}");
        }
        assert_eq!(
            answers.0.unwrap(),
            42,
            "the pool job got the host task's answer"
        );
        assert_eq!(
            answers.1.unwrap(),
            42,
            "the call got the host task's answer"
        );
    }
}
