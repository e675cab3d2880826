//! Regressions found by review: scope and staged-shutdown accounting in races and
//! corner cases. Each test states a documented property; a failure shows the defect.
//! No test asserts a timing: a wait that would run out its (hour-long) timeout fails
//! the test's own generous deadline instead.

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{recv, round_trip, wait, WAIT};

/// A timeout no test waits out: reaching it fails the test's own deadline first.
const HOUR: Duration = Duration::from_secs(3600);
use loopbridge::{Bridge, Scope, ThreadPool};

/// A pool job that joins a scope (from inside a scoped loop job) and is then refused by
/// the pool (its permit outlived the pool's shutdown) must not stay "in flight" in the
/// scope's stats forever.
#[test]
fn scope_stats_after_a_pool_refuses_a_scoped_job() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let scope = handle.scope("s");
    let pool = ThreadPool::builder().queue_capacity(1).build().unwrap();
    let job = scope.handle().submit(async move {
        let permit = pool.try_reserve().expect("room");
        // On the loop thread: closes the pool without waiting.
        let _ = pool.shutdown(Duration::ZERO);
        permit.submit(|| ()).await
    });
    let refused = wait(job).expect("loop job ran");
    assert!(refused.unwrap_err().is_closed());
    round_trip(&handle);
    let stats = scope.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}

/// A child scope is "counted in this one's stats": the parent's counters must not go
/// backwards when the child is dropped.
#[test]
fn parent_stats_keep_a_dropped_childs_counts() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let parent = handle.scope("p");
    let child = parent.child("c");
    wait(child.handle().submit(async {})).unwrap();
    assert_eq!(parent.stats().submitted, 1);
    drop(child);
    // The loop has torn the child's job down completely once a later job ran.
    round_trip(&handle);
    assert_eq!(parent.stats().submitted, 1, "{:?}", parent.stats());
}

/// A scope close cuts off a queued pool job of the scope at once ("a queued pool job
/// never runs"): its report must count it (cancelled) or name it (stuck).
#[test]
fn scope_close_reports_a_queued_pool_job_it_cut_off() {
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(1).unwrap();
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    // Holds the pool's only worker; it belongs to no scope.
    let busy = pool.submit(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    recv(&started, "the busy job started");
    let scope = bridge.handle().scope("s");
    let inner = pool.clone();
    let (queued_tx, queued) = mpsc::channel();
    let job = scope.handle().submit(async move {
        let pool_job = inner.submit(|| ());
        queued_tx.send(()).unwrap();
        pool_job.await
    });
    recv(&queued, "the scoped pool job is queued");
    let report = scope.close(Duration::from_millis(300));
    release.send(()).unwrap();
    assert!(job.wait().unwrap_err().is_closed());
    wait(busy).unwrap();
    assert_eq!(
        report.cancelled + report.stuck.len(),
        2,
        "the loop job and the queued pool job were both cut off: {report:?}"
    );
}

/// `Scope::close` from a `then` callback of one of the scope's own pool jobs (the job
/// has delivered its value, so nothing of it is left to wait for) must not wait for
/// that job to its full timeout.
#[test]
fn scope_close_from_a_then_callback_on_a_pool_worker() {
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(1).unwrap();
    let _keep_pool = pool.clone();
    let scope = bridge.handle().scope("s");
    let scoped = scope.handle();
    let slot: Arc<Mutex<Option<Scope>>> = Arc::new(Mutex::new(Some(scope)));
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (done_tx, done) = mpsc::channel();
    let job = scoped.submit(async move {
        let pool_job = pool.submit(move || gate_rx.recv().ok());
        pool_job.then(move |_| {
            let scope = slot.lock().unwrap().take().unwrap();
            let report = scope.close(HOUR);
            done_tx.send(report).unwrap();
        });
    });
    wait(job).unwrap();
    gate_tx.send(()).unwrap();
    // Waiting for the job whose callback called it would take the whole hour.
    let report = recv(&done, "the close in the callback returned");
    assert!(report.stuck.is_empty(), "{report}");
}

/// "Dropping a bridge inside an async context ... finishes in the background": it must
/// not block the runtime's worker for the shutdown timeout because a default-pool job
/// is still running.
#[test]
fn bridge_drop_in_an_async_context_does_not_wait_for_the_default_pool() {
    let bridge = Bridge::builder().shutdown_timeout(HOUR).build().unwrap();
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let _busy = bridge.handle().run_in_executor(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    recv(&started, "the default-pool job started");
    let (dropped_tx, dropped) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async move { drop(bridge) });
        dropped_tx.send(()).unwrap();
    });
    // Blocking for the pool's job would take the whole hour.
    recv(&dropped, "the drop returned in the async context");
    release.send(()).unwrap();
}

/// Shutting a bridge down from inside a scoped job of a scope that is already closing:
/// the bridge's hooks belong to no scope and must still run.
#[test]
fn hooks_run_when_the_shutdown_comes_from_a_closing_scope() {
    let bridge = Bridge::builder()
        .shutdown_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let handle = bridge.handle();
    let (ran_tx, ran) = mpsc::channel();
    let _hook = handle.on_shutdown("goodbye", move || async move {
        ran_tx.send(()).unwrap();
    });
    let scope = handle.scope("s");
    let (started_tx, started) = mpsc::channel();
    let job = scope.handle().run_in_executor(move || {
        let token = loopbridge::cancellation_token().expect("in a scope");
        started_tx.send(()).unwrap();
        while !token.is_cancelled() {
            std::thread::yield_now();
        }
        bridge.shutdown(Duration::from_secs(1))
    });
    recv(&started, "the scoped pool job started");
    let drained = std::thread::spawn(move || scope.drain(WAIT));
    let _ = job.wait();
    let _ = drained.join();
    assert!(
        ran.recv_timeout(Duration::from_secs(2)).is_ok(),
        "the shutdown hook never ran"
    );
}

/// Control for p7: the same shutdown, made outside every scope, runs the hook.
#[test]
fn control_outside_scopes_the_hook_runs() {
    let bridge = Bridge::builder()
        .shutdown_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let handle = bridge.handle();
    let (ran_tx, ran) = mpsc::channel();
    let _hook = handle.on_shutdown("goodbye", move || async move {
        ran_tx.send(()).unwrap();
    });
    let scope = handle.scope("s");
    let (started_tx, started) = mpsc::channel();
    let job = scope.handle().run_in_executor(move || {
        let token = loopbridge::cancellation_token().expect("in a scope");
        started_tx.send(()).unwrap();
        while !token.is_cancelled() {
            std::thread::yield_now();
        }
        loopbridge::outside_scopes(|| bridge.shutdown(Duration::from_secs(1)))
    });
    recv(&started, "the scoped pool job started");
    let drained = std::thread::spawn(move || scope.drain(WAIT));
    let _ = job.wait();
    let _ = drained.join();
    assert!(
        ran.recv_timeout(Duration::from_secs(2)).is_ok(),
        "the shutdown hook never ran"
    );
}

/// A child scope created while its parent closes must end up closed ("a child of a
/// closed parent is closed from the start"). Stress probe: a race, so it may pass by luck.
#[test]
fn a_child_created_during_its_parents_close_is_closed() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let mut open = 0;
    for _ in 0..200 {
        let parent = handle.scope("p");
        let h = parent.handle();
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let b = barrier.clone();
        let creator = std::thread::spawn(move || {
            let mut children = Vec::new();
            b.wait();
            loop {
                let child = h.scope("c");
                let closed = child.is_closed();
                children.push(child);
                if closed {
                    break;
                }
            }
            children
        });
        barrier.wait();
        let _ = parent.close(Duration::ZERO);
        let children = creator.join().unwrap();
        open += children.iter().filter(|child| !child.is_closed()).count();
        for child in children {
            std::mem::forget(child.close(Duration::ZERO));
        }
    }
    assert_eq!(open, 0, "children left open under a closed parent");
}

/// `Bridge::shutdown` from a `then` callback of a default-pool job (run on that pool's
/// worker after the job delivered): nothing is left running, so it must not wait out its
/// timeout for the very worker it runs on.
#[test]
fn bridge_shutdown_from_a_then_callback_on_the_default_pool() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (done_tx, done) = mpsc::channel();
    handle
        .run_in_executor(move || gate_rx.recv().ok())
        .then(move |_| {
            let report = bridge.shutdown(HOUR);
            done_tx.send(report).unwrap();
        });
    gate_tx.send(()).unwrap();
    // Waiting for its own worker would take the whole hour.
    let report = recv(&done, "the shutdown in the callback returned");
    assert!(report.stuck.is_empty(), "{report}");
}
