//! Shutdown: refused submissions, every pending completion resolved, in-flight jobs
//! waited for up to the timeout, a loop thread stuck in a job left behind and reported,
//! and no panic or deadlock wherever the bridge is dropped.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{capture_logs, eventually, recv, wait, DropCount, DropSignal, Hold, WAIT};
use loopbridge::{Bridge, Error, Handle};

/// Short enough to keep the suite fast, for shutdowns that must cut jobs off.
const CUT_OFF: Duration = Duration::from_millis(20);

#[track_caller]
fn assert_closed_at(error: &Error, line: u32) {
    assert!(error.is_closed(), "{error}");
    assert_eq!(error.site().location().file(), file!());
    assert_eq!(error.site().location().line(), line);
}

fn shutdown_has_started(handle: &Handle) -> bool {
    handle.call_soon(|| {}).is_err()
}

#[test]
fn a_clean_shutdown_reports_nothing_abandoned() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    wait(handle.submit(async { 1 })).unwrap();
    let report = bridge.shutdown(WAIT);
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.finished, 0,
        "jobs done before the shutdown are not its work"
    );
    assert!(report.stuck.is_empty());
}

#[test]
fn an_unbounded_shutdown_of_an_idle_bridge_returns() {
    // A timeout too large to add to the clock must not overflow.
    let bridge = Bridge::new().unwrap();
    let report = bridge.shutdown(Duration::MAX);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn an_unbounded_shutdown_with_the_whole_timeout_for_hooks_returns() {
    // The hooks' share of `Duration::MAX` must not overflow either (it panicked, also in
    // the bridge's drop and in a scope's close).
    let bridge = Bridge::builder()
        .shutdown_timeout(Duration::MAX)
        .shutdown_hook_share(1.0)
        .build()
        .unwrap();
    let scope = bridge.handle().scope("unbounded");
    let _hook = scope.on_close("bye", || async {});
    assert!(scope.close(Duration::MAX).is_clean());
    let report = bridge.shutdown(Duration::MAX);
    assert!(report.is_clean(), "{report}");
    let dropped = Bridge::builder()
        .shutdown_timeout(Duration::MAX)
        .shutdown_hook_share(1.0)
        .build()
        .unwrap();
    drop(dropped);
}

#[test]
fn every_submission_after_shutdown_fails_closed_at_once() {
    capture_logs();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let _ = bridge.shutdown(WAIT);
    let before = handle.stats();

    let line = line!() + 1;
    let submitted = handle.submit(async { 1 });
    assert!(submitted.is_done(), "resolved before submit returned");
    assert_closed_at(&submitted.wait().unwrap_err(), line);

    let made = Arc::new(AtomicBool::new(false));
    let flag = made.clone();
    let line = line!() + 1;
    let local = handle.submit_local(move || async move { flag.store(true, Ordering::SeqCst) });
    assert_closed_at(&local.wait().unwrap_err(), line);
    assert!(!made.load(Ordering::SeqCst));

    let line = line!() + 1;
    let called = handle.run_callback(|| 3);
    assert_closed_at(&called.wait().unwrap_err(), line);

    let line = line!() + 1;
    let blocked = handle.block_on(async { 4 });
    assert_closed_at(&blocked.unwrap_err(), line);

    // The refused callback is dropped, never run.
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let guard = DropSignal(dropped_tx);
    let line = line!() + 1;
    let soon = handle.call_soon(move || drop(guard));
    assert_closed_at(&soon.unwrap_err(), line);
    assert!(
        dropped_rx.try_recv().is_ok(),
        "dropped before call_soon returned"
    );

    // add_job has no completion: the job is dropped at once and a warning names it.
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let guard = DropSignal(dropped_tx);
    let line = line!() + 1;
    handle.add_job(async move { drop(guard) });
    assert!(
        dropped_rx.try_recv().is_ok(),
        "dropped before add_job returned"
    );
    let logged = common::logs_at(file!(), line);
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert_eq!(logged[0].level, tracing::Level::WARN);

    // A callback on a refused completion runs at once, with the refusal.
    let (then_tx, then_rx) = mpsc::channel();
    handle
        .submit(async { 5 })
        .then(move |result| then_tx.send(result).unwrap());
    assert!(then_rx.try_recv().unwrap().unwrap_err().is_closed());

    let named = handle.job("late").submit(async {});
    assert_eq!(named.wait().unwrap_err().site().name(), Some("late"));

    // Refused calls never reached the loop.
    assert_eq!(handle.stats().submitted, before.submitted);
}

#[test]
fn a_dropped_bridge_refuses_submissions_too() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    drop(bridge);
    assert!(handle.submit(async {}).wait().unwrap_err().is_closed());
    assert!(handle.call_soon(|| {}).unwrap_err().is_closed());
}

#[test]
fn pending_completions_resolve_closed_and_none_stays_pending() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let drops = Arc::new(AtomicUsize::new(0));

    let guard = DropCount(drops.clone());
    let pending = handle.submit(async move {
        let _guard = guard;
        std::future::pending::<u8>().await
    });
    let guard = DropCount(drops.clone());
    let local = handle.submit_local(move || async move {
        let _guard = guard;
        std::future::pending::<u8>().await
    });
    let (then_tx, then_rx) = mpsc::channel();
    handle
        .submit(std::future::pending::<u8>())
        .then(move |result| then_tx.send(result).unwrap());
    let waiting_on = handle.submit(std::future::pending::<u8>());
    // A completion is itself a future: this job awaits another.
    let awaiting = handle.submit(waiting_on);
    let started = handle.jobs().len();
    assert_eq!(started, 5);

    let report = bridge.shutdown(CUT_OFF);
    assert_eq!(report.cancelled, 5, "{report}");
    assert_eq!(report.finished, 0, "{report}");
    assert!(report.stuck.is_empty(), "{report}");
    assert!(!report.is_clean());

    // All resolved by the time shutdown returned.
    assert!(pending.is_done() && local.is_done() && awaiting.is_done());
    assert!(pending.wait().unwrap_err().is_closed());
    assert!(local.wait().unwrap_err().is_closed());
    assert!(awaiting.wait().unwrap_err().is_closed());
    let then_result = then_rx
        .try_recv()
        .expect("then ran before shutdown returned");
    assert!(then_result.unwrap_err().is_closed());
    assert_eq!(drops.load(Ordering::SeqCst), 2, "both futures were dropped");
    assert!(handle.jobs().is_empty());
    assert_eq!(handle.stats().in_flight, 0);
}

#[test]
fn jobs_in_flight_are_waited_for_up_to_the_timeout() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let (done_tx, done_rx) = mpsc::channel();

    let (mut go, done, inner) = (go_rx.clone(), done_tx.clone(), handle.clone());
    handle.add_job(async move {
        go.wait_for(|go| *go).await.unwrap();
        // A job still running during shutdown cannot start new ones.
        let refused = inner.submit(async {}).await;
        done.send(("add_job", refused.unwrap_err().is_closed()))
            .unwrap();
    });
    let mut go = go_rx;
    let submitted = handle.submit(async move {
        go.wait_for(|go| *go).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        done_tx.send(("submit", true)).unwrap();
        "kept"
    });

    let shutdown = std::thread::spawn(move || bridge.shutdown(WAIT));
    // Each probe accepted before the shutdown began is a job that may end during it.
    let mut probes = 0;
    eventually("the shutdown started", || {
        let started = shutdown_has_started(&handle);
        probes += usize::from(!started);
        started
    });
    go_tx.send(true).unwrap();

    let report = shutdown.join().unwrap();
    assert!((2..=2 + probes).contains(&report.finished), "{report}");
    assert!(report.is_clean(), "{report}");
    let mut done: Vec<_> = done_rx.try_iter().collect();
    done.sort();
    assert_eq!(done, [("add_job", true), ("submit", true)]);
    assert_eq!(submitted.wait().unwrap(), "kept");
}

#[test]
fn an_add_job_still_running_at_the_timeout_is_cancelled() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let guard = DropSignal(dropped_tx);
    handle.add_job(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    });
    let report = bridge.shutdown(CUT_OFF);
    assert_eq!(report.cancelled, 1, "{report}");
    assert!(report.stuck.is_empty(), "{report}");
    recv(&dropped_rx, "the cut-off add_job future was dropped");
}

#[test]
fn a_job_blocking_the_loop_thread_is_reported_stuck_and_left_behind() {
    capture_logs();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let job = handle.job("blocker");
    let line = line!() + 1;
    let hold = Hold::with(|gate| job.run_callback(gate));
    let pending = handle.submit(std::future::pending::<()>());
    // Queued behind the blocker, never started.
    let queued = handle.run_callback(|| 5);

    let report = bridge.shutdown(CUT_OFF);
    assert_eq!(report.stuck.len(), 1, "{report}");
    let stuck = &report.stuck[0];
    assert_eq!(stuck.site.name(), Some("blocker"));
    assert_eq!(stuck.site.location().file(), file!());
    assert_eq!(stuck.site.location().line(), line);
    assert!(report.to_string().contains("blocker"), "{report}");
    assert_eq!(report.cancelled, 3, "{report}");

    // Every completion resolved, the blocker's own included, though its thread is stuck.
    assert!(hold.completion.is_done());
    assert!(pending.wait().unwrap_err().is_closed());
    assert!(queued.wait().unwrap_err().is_closed());
    let tag = common::at(file!(), line);
    let logged = common::logs_mentioning(&tag);
    assert!(
        logged
            .iter()
            .any(|event| event.message.contains("left behind")),
        "{logged:#?}"
    );

    // Released late, the blocker's result is dropped: its completion stays Closed.
    assert!(wait(hold.release()).unwrap_err().is_closed());
}

#[test]
fn a_local_job_blocking_the_loop_is_reported_stuck_whether_in_make_or_in_its_future() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let line = line!() + 1;
    let hold = Hold::with(|gate| handle.submit_local(move || async move { gate() }));
    let report = bridge.shutdown(CUT_OFF);
    assert_eq!(report.stuck.len(), 1, "{report}");
    assert_eq!(report.stuck[0].site.location().line(), line);
    assert!(wait(hold.release()).unwrap_err().is_closed());

    // `make` runs on the loop too: blocking there is the same stall.
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let blocking_make = |gate: Box<dyn FnOnce() + Send>| {
        move || {
            gate();
            std::future::ready(())
        }
    };
    let line = line!() + 1;
    let hold = Hold::with(|gate| handle.submit_local(blocking_make(gate)));
    let report = bridge.shutdown(CUT_OFF);
    assert_eq!(report.stuck.len(), 1, "{report}");
    assert_eq!(report.stuck[0].site.location().line(), line);
    assert!(wait(hold.release()).unwrap_err().is_closed());
}

#[test]
fn dropping_a_bridge_inside_a_runtime_does_not_panic() {
    let bridge = Bridge::builder().shutdown_timeout(CUT_OFF).build().unwrap();
    let handle = bridge.handle();
    let pending = handle.submit(std::future::pending::<()>());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        assert_eq!(handle.submit(async { 1 }).await.unwrap(), 1);
        drop(bridge);
        assert!(pending.await.unwrap_err().is_closed());
    });
}

#[tokio::test]
async fn dropping_a_bridge_in_a_current_thread_test_does_not_panic() {
    let bridge = Bridge::builder().shutdown_timeout(CUT_OFF).build().unwrap();
    let pending = bridge.handle().submit(std::future::pending::<()>());
    assert_eq!(bridge.handle().submit(async { 2 }).await.unwrap(), 2);
    drop(bridge);
    assert!(pending.await.unwrap_err().is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_a_bridge_in_a_multi_thread_runtime_does_not_panic() {
    let bridge = Bridge::new().unwrap();
    let pending = bridge.handle().submit(std::future::pending::<()>());
    let report = bridge.shutdown(CUT_OFF);
    assert_eq!(report.cancelled, 1, "{report}");
    assert!(pending.await.unwrap_err().is_closed());
}

#[test]
fn dropping_a_bridge_on_another_bridges_loop_does_not_panic() {
    let host = Bridge::new().unwrap();
    let guest = Bridge::builder().shutdown_timeout(CUT_OFF).build().unwrap();
    let guest_handle = guest.handle();
    let pending = guest_handle.submit(std::future::pending::<()>());
    wait(host.handle().run_callback(move || drop(guest))).unwrap();
    assert!(wait(pending).unwrap_err().is_closed());
    assert!(guest_handle.call_soon(|| {}).is_err());
}

#[test]
fn shutdown_from_the_bridges_own_loop_thread_does_not_deadlock() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let pending = handle.submit(std::future::pending::<()>());
    // The bounded wait turns a deadlock into a failure.
    let report = wait(handle.run_callback(move || bridge.shutdown(CUT_OFF))).unwrap();
    assert!(report.stuck.is_empty(), "{report}");
    assert!(shutdown_has_started(&handle));
    assert!(wait(pending).unwrap_err().is_closed());
    assert!(handle.submit(async {}).wait().unwrap_err().is_closed());
}

#[test]
fn dropping_a_bridge_on_its_own_loop_thread_does_not_deadlock() {
    let bridge = Bridge::builder().shutdown_timeout(CUT_OFF).build().unwrap();
    let handle = bridge.handle();
    let pending = handle.submit(std::future::pending::<()>());
    wait(handle.submit(async move { drop(bridge) })).unwrap();
    assert!(wait(pending).unwrap_err().is_closed());
    assert!(handle.run_callback(|| ()).wait().unwrap_err().is_closed());
}

#[test]
fn unloading_a_plugin_bridge_from_a_host_callback_does_not_stall_the_host_loop() {
    // A plugin host unloads a plugin (drops its bridge) from a callback on the host's
    // loop. Waiting there for the plugin's jobs would stall every host job for the
    // plugin's whole shutdown timeout.
    let host = Bridge::new().unwrap();
    let plugin = Bridge::builder()
        .shutdown_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let plugin_handle = plugin.handle();
    let plugin_job = plugin_handle.submit(std::future::pending::<()>());
    // Bounded by WAIT: a host callback that waited for the plugin's hour-long timeout
    // fails this test instead of hanging it.
    wait(host.handle().run_callback(move || drop(plugin))).unwrap();
    assert!(plugin_handle.call_soon(|| {}).unwrap_err().is_closed());
    wait(host.handle().run_callback(|| ())).unwrap();
    drop(plugin_job);
}

#[test]
fn a_plugin_unloaded_from_a_host_callback_still_resolves_every_pending_job() {
    // Even when the unloading callback does not wait, the plugin's shutdown is finished
    // in the background: a plugin loop held by a blocking job is abandoned at its
    // timeout, and every pending completion resolves.
    let host = Bridge::new().unwrap();
    let plugin = Bridge::builder().shutdown_timeout(CUT_OFF).build().unwrap();
    let plugin_handle = plugin.handle();
    let blocking = Hold::loop_of(&plugin_handle);
    let queued = plugin_handle.submit(async { "never runs" });
    wait(host.handle().run_callback(move || drop(plugin))).unwrap();
    assert!(wait(queued).unwrap_err().is_closed());
    drop(blocking);
}

#[test]
fn a_loop_held_by_an_untracked_task_is_reported_left_behind() {
    // A task spawned with `tokio::spawn` from a job is not a job the bridge tracks; if
    // it blocks the loop past the timeout, no job is stuck, yet the thread is left
    // behind: the report must not call that clean.
    let bridge = Bridge::new().unwrap();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    wait(bridge.handle().submit(async move {
        tokio::spawn(async move {
            entered_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
    }))
    .unwrap();
    recv(&entered_rx, "the untracked task holds the loop");
    let report = bridge.shutdown(CUT_OFF);
    drop(release_tx);
    assert!(report.loop_left_behind, "{report}");
    assert!(!report.is_clean());
    assert!(report.to_string().contains("left behind"), "{report}");
}

/// Reports whether it was dropped inside a tokio runtime.
struct ReportsRuntimeOnDrop(mpsc::Sender<bool>);

impl Drop for ReportsRuntimeOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(tokio::runtime::Handle::try_current().is_ok());
    }
}

#[test]
fn jobs_cut_off_by_shutdown_are_dropped_inside_the_runtime() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let job = handle.submit(async move {
        // A destructor may need tokio: to spawn a last cleanup, or to read a handle.
        let _guard = ReportsRuntimeOnDrop(dropped_tx);
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await;
    });
    recv(&started_rx, "the job started");
    let report = bridge.shutdown(Duration::from_millis(1));
    assert_eq!(report.cancelled, 1);
    assert!(recv(&dropped_rx, "the cut-off job was dropped"));
    assert!(wait(job).unwrap_err().is_closed());
}

/// Takes longer to drop than the loop's teardown is given.
struct SlowToDrop;

impl Drop for SlowToDrop {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(600));
    }
}

#[test]
fn a_job_slower_to_drop_than_the_teardown_grace_is_counted_once() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let guard = SlowToDrop;
    let job = handle.submit(async move {
        let _guard = guard;
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await;
    });
    recv(&started_rx, "the job started");
    // The loop is still dropping the job when the shutdown gives up on it: whichever
    // side resolves it counts it.
    let report = bridge.shutdown(Duration::from_millis(1));
    assert!(wait(job).unwrap_err().is_closed());
    assert_eq!(report.cancelled, 1, "{report}");
}

#[test]
fn a_subscriber_panicking_as_cut_off_jobs_close_leaves_every_job_counted() {
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    struct PanicsOnCloseOnTheLoop;
    impl<S: tracing::Subscriber> Layer<S> for PanicsOnCloseOnTheLoop {
        fn on_close(&self, _: tracing::span::Id, _: Context<'_, S>) {
            if std::thread::current().name() == Some("closing-at-shutdown") {
                panic!("on_close panicked");
            }
        }
    }

    let bridge = Bridge::builder()
        .thread_name("closing-at-shutdown")
        .build()
        .unwrap();
    let handle = bridge.handle();
    let subscriber = tracing_subscriber::registry().with(PanicsOnCloseOnTheLoop);
    // Detached jobs whose records hold the last handles of their spans.
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..2 {
            tracing::info_span!("request").in_scope(|| handle.add_job(std::future::pending()));
        }
    });
    eventually("both jobs were polled", || {
        handle.jobs().iter().filter(|job| job.polls > 0).count() == 2
    });
    let report = bridge.shutdown(Duration::from_millis(10));
    assert_eq!(report.cancelled, 2, "{report}");
    assert_eq!(handle.stats().in_flight, 0, "{:?}", handle.stats());
}

/// Blocks in its destructor until told to go on.
struct BlocksOnDrop(mpsc::Receiver<()>);

impl Drop for BlocksOnDrop {
    fn drop(&mut self) {
        let _ = self.0.recv();
    }
}

#[test]
fn a_job_whose_drop_blocks_is_counted_and_does_not_leave_the_loop_behind() {
    // Broke: a cut-off job whose destructor outlasted the teardown grace made shutdown
    // give up on the loop: `loop_left_behind` was true with no job stuck, and the
    // counters never saw the job end (`in_flight` stayed 1).
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (release_tx, release_rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let guard = BlocksOnDrop(release_rx);
    let job = handle.submit(async move {
        let _guard = guard;
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await;
    });
    recv(&started_rx, "the job started");
    // Returns while the destructor still blocks the loop thread: the teardown's slow
    // half is off the caller's path.
    let report = bridge.shutdown(Duration::ZERO);
    assert!(job.is_done(), "resolved before shutdown returned");
    assert_eq!(report.cancelled, 1, "{report}");
    assert!(!report.loop_left_behind, "{report}");
    assert!(report.stuck.is_empty(), "{report}");
    let stats = handle.stats();
    assert_eq!((stats.cancelled, stats.in_flight), (1, 0), "{stats:?}");
    assert!(wait(job).unwrap_err().is_closed());
    release_tx.send(()).unwrap();
}

#[test]
fn a_shutdown_cutting_off_many_jobs_counts_each_exactly_once() {
    // Broke: with a great many pending jobs the teardown outlasted its grace, and the
    // jobs the stopping thread resolved itself were missing from `LoopStats::cancelled`.
    const JOBS: usize = 100_000;
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let jobs: Vec<_> = (0..JOBS)
        .map(|_| handle.submit(std::future::pending::<()>()))
        .collect();
    let report = bridge.shutdown(Duration::ZERO);
    assert_eq!(report.cancelled, JOBS, "{report}");
    assert!(!report.loop_left_behind, "{report}");
    assert!(
        jobs.iter().all(|job| job.is_done()),
        "every job resolved by the return"
    );
    let stats = handle.stats();
    assert_eq!(
        (stats.submitted, stats.cancelled),
        (JOBS as u64, JOBS as u64)
    );
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert!(jobs
        .into_iter()
        .all(|job| job.wait().unwrap_err().is_closed()));
}

#[test]
fn dropping_a_bridge_on_a_worker_of_another_runtime_does_not_block_that_worker() {
    // Broke: dropping a bridge on a multi-thread runtime's worker while a job was pending
    // blocked that worker for the whole shutdown timeout (5 s by default).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let bridge = Bridge::builder()
        .shutdown_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let pending = bridge.handle().submit(std::future::pending::<()>());
    let (dropped_tx, dropped_rx) = mpsc::channel();
    runtime.spawn(async move {
        drop(bridge);
        dropped_tx.send(()).unwrap();
    });
    // Within the test's generous wait, far below the hour the timeout would block.
    let dropped = dropped_rx.recv_timeout(WAIT);
    // Not dropped: dropping a runtime waits for its workers, one of which may be blocked.
    runtime.shutdown_background();
    assert!(
        dropped.is_ok(),
        "the drop did not return on the runtime's worker"
    );
    assert!(
        !pending.is_done(),
        "the job keeps its timeout, finished in the background"
    );
    pending.cancel();
}

#[test]
fn a_shutdown_that_finishes_in_the_background_is_not_reported_clean() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    // From its own loop thread: it cannot wait there, so it cannot know how it ends.
    let report = wait(handle.run_callback(move || bridge.shutdown(WAIT))).unwrap();
    assert!(report.finishing_in_background, "{report}");
    assert!(!report.is_clean(), "{report}");
}
