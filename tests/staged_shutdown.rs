//! Staged shutdown: hooks run first while jobs keep running, then jobs get the rest of
//! the timeout, then what is left is cut off; the report says how long each stage took
//! and what held it up.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{recv, wait, WAIT};
use loopbridge::Bridge;

#[test]
fn hooks_run_before_any_job_is_cut_off() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let pending = handle.submit(std::future::pending::<()>());
    let probe = Arc::new(pending);
    let seen = probe.clone();
    let (saw_tx, saw_rx) = mpsc::channel();
    let _hook = handle.on_shutdown("check jobs", move || async move {
        // Jobs are still running while hooks run.
        saw_tx.send(seen.is_done()).unwrap();
    });
    let report = bridge.shutdown(Duration::from_millis(50));
    assert!(
        !recv(&saw_rx, "the hook ran"),
        "the pending job was not cut off yet"
    );
    let names: Vec<_> = report.stages.iter().map(|stage| stage.name).collect();
    assert_eq!(names, ["hooks", "jobs", "teardown"], "{report}");
    assert!(report.stages[0].held_up_by.is_empty());
    assert_eq!(report.cancelled, 1, "{report}");
    assert!(probe.is_done());
}

#[test]
fn a_dropped_hook_guard_removes_the_hook() {
    let bridge = Bridge::new().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let hook = bridge.handle().on_shutdown("never", move || async move {
        flag.store(true, Ordering::SeqCst);
    });
    drop(hook);
    let report = bridge.shutdown(WAIT);
    assert!(report.is_clean(), "{report}");
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn a_hook_that_never_ends_is_cut_off_after_its_share_and_named() {
    let bridge = Bridge::builder().shutdown_hook_share(0.5).build().unwrap();
    let _hook = bridge
        .handle()
        .on_shutdown("flush to a dead server", std::future::pending::<()>);
    let report = bridge.shutdown(Duration::from_millis(40));
    let hooks = &report.stages[0];
    assert_eq!(hooks.name, "hooks");
    assert_eq!(hooks.held_up_by.len(), 1, "{report}");
    assert_eq!(hooks.held_up_by[0].name(), Some("flush to a dead server"));
    assert!(!report.loop_left_behind, "{report}");
}

#[test]
fn jobs_learn_that_the_bridge_is_closing_and_wind_down() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let watcher = handle.clone();
    let (done_tx, done_rx) = mpsc::channel();
    let job = handle.submit(async move {
        watcher.closing().await;
        done_tx.send("wound down").unwrap();
        7
    });
    assert!(!handle.is_closing());
    let report = bridge.shutdown(WAIT);
    assert_eq!(
        recv(&done_rx, "the job saw the bridge closing"),
        "wound down"
    );
    assert_eq!((report.finished, report.cancelled), (1, 0), "{report}");
    assert_eq!(wait(job).unwrap(), 7);
    assert!(handle.is_closing());
}

#[test]
fn a_shutdown_on_the_loop_thread_still_runs_the_hooks() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (ran_tx, ran_rx) = mpsc::channel();
    let _hook = handle.on_shutdown("goodbye", move || async move {
        ran_tx.send(()).unwrap();
    });
    let report = wait(handle.run_callback(move || bridge.shutdown(WAIT))).unwrap();
    assert!(report.finishing_in_background, "{report}");
    recv(&ran_rx, "the hook ran");
}

#[test]
fn a_scopes_hooks_run_before_its_jobs_are_cut_off_on_close_and_on_bridge_shutdown() {
    let bridge = Bridge::new().unwrap();
    let plugin = bridge.handle().scope("plugin");
    let job = Arc::new(plugin.handle().submit(std::future::pending::<()>()));
    let seen = job.clone();
    let (saw_tx, saw_rx) = mpsc::channel();
    let _goodbye = plugin.on_close("goodbye", move || async move {
        saw_tx.send(seen.is_done()).unwrap();
    });
    let report = plugin.close(WAIT);
    assert!(
        !recv(&saw_rx, "the scope's hook ran"),
        "its job was not cut off yet"
    );
    assert_eq!(report.stages[0].name, "hooks", "{report}");
    assert!(job.is_done());

    // A scope's hooks also run when its bridge shuts down.
    let parent = bridge.handle().scope("other");
    let other = parent.child("nested");
    let (ran_tx, ran_rx) = mpsc::channel();
    let _hook = other.on_close("nested goodbye", move || async move {
        ran_tx.send(()).unwrap();
    });
    let report = bridge.shutdown(WAIT);
    recv(
        &ran_rx,
        "the nested scope's hook ran with the bridge's shutdown",
    );
    assert!(report.stages[0].held_up_by.is_empty(), "{report}");
    assert!(parent.is_closed() && other.is_closed());
}
