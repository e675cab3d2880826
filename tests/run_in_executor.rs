//! Handle::run_in_executor: the bridge's default thread pool, started on first use,
//! sized like asyncio's, named after the loop thread, and shut down with the bridge.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{recv, wait, ConcurrencyProbe, Hold, WAIT};
use loopbridge::Bridge;

/// Short enough to keep the suite fast, for shutdowns that must give up on a job.
const CUT_OFF: Duration = Duration::from_millis(20);

#[test]
fn jobs_run_on_workers_named_after_the_loop_thread() {
    let bridge = Bridge::builder().thread_name("plugins").build().unwrap();
    let handle = bridge.handle();
    let name = wait(handle.run_in_executor(|| std::thread::current().name().map(str::to_owned)))
        .unwrap()
        .unwrap();
    assert_eq!(name, "plugins-executor-0");
    let on_loop = wait(handle.run_in_executor(loopbridge::is_any_loop_thread)).unwrap();
    assert!(!on_loop);
}

#[test]
fn async_code_on_the_loop_awaits_it_without_stalling_the_loop() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (release, release_rx) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let inner = handle.clone();
    let awaiting = handle.submit(async move {
        inner
            .run_in_executor(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                "read the file"
            })
            .await
    });
    recv(&started, "the executor job started");
    for n in 0..10 {
        assert_eq!(wait(handle.run_callback(move || n + 1)).unwrap(), n + 1);
    }
    assert!(!awaiting.is_done());
    release.send(()).unwrap();
    assert_eq!(wait(awaiting).unwrap().unwrap(), "read the file");
}

#[test]
fn the_default_pool_has_asyncios_max_workers() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max = (cpus + 4).min(32);
    let jobs = max + 2;
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let probe = ConcurrencyProbe::new();
    let completions: Vec<_> = (0..jobs)
        .map(|_| handle.run_in_executor(probe.job()))
        .collect();
    // `max` jobs start at once: the pool grows to its limit for them...
    probe.wait_started(max);
    assert_eq!(probe.live(), max);
    probe.release(jobs);
    for completion in completions {
        wait(completion).unwrap();
    }
    // ...and never beyond it.
    assert_eq!(probe.peak(), max);
}

#[test]
fn a_panic_becomes_panicked_with_the_callers_site_and_name() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let line = line!() + 1;
    let error = wait(handle.run_in_executor(|| -> () { panic!("no such file") })).unwrap_err();
    assert_eq!(error.panic_message(), Some("no such file"));
    assert_eq!(error.site().location().line(), line);

    let named = wait(
        handle
            .job("load config")
            .run_in_executor(|| -> () { panic!("bad toml") }),
    );
    let error = named.unwrap_err();
    assert_eq!(error.site().name(), Some("load config"));
    assert!(error.to_string().contains("load config"), "{error}");
    assert_eq!(
        wait(handle.run_in_executor(|| 5)).unwrap(),
        5,
        "the pool serves on"
    );
}

#[test]
fn waiting_on_it_from_the_loop_thread_is_blocking_on_loop() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let inner = handle.clone();
    let error = wait(handle.run_callback(move || inner.run_in_executor(|| 1).wait()))
        .unwrap()
        .unwrap_err();
    assert!(error.is_blocking_on_loop(), "{error}");
}

#[test]
fn bridge_shutdown_reports_a_stuck_executor_job_and_resolves_it_closed() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let line = line!() + 1;
    let stuck = Hold::with(|gate| handle.run_in_executor(gate));
    let report = bridge.shutdown(CUT_OFF);

    assert_eq!(report.stuck.len(), 1, "{report}");
    assert_eq!(report.stuck[0].site.location().file(), file!());
    assert_eq!(report.stuck[0].site.location().line(), line);
    assert!(report.cancelled >= 1, "{report}");
    assert!(wait(stuck.release()).unwrap_err().is_closed());
    assert!(wait(handle.run_in_executor(|| ())).unwrap_err().is_closed());
}

#[test]
fn bridge_shutdown_lets_a_loop_job_awaiting_an_executor_job_finish() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (release, release_rx) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let inner = handle.clone();
    let awaiting = handle.submit(async move {
        inner
            .run_in_executor(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                "flushed"
            })
            .await
    });
    recv(&started, "the executor job started");
    // Releases the executor job only once the shutdown has begun, so the shutdown must
    // wait for it (and for the loop job awaiting it).
    let probe = handle.clone();
    let releaser = std::thread::spawn(move || {
        common::eventually("the shutdown began", || probe.call_soon(|| {}).is_err());
        release.send(()).unwrap();
    });
    let report = bridge.shutdown(WAIT);
    releaser.join().unwrap();

    assert!(report.is_clean(), "{report}");
    assert!(report.finished >= 1, "{report}");
    assert_eq!(wait(awaiting).unwrap().unwrap(), "flushed");
}

#[test]
fn the_pool_never_starts_once_the_bridge_is_shut_down() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    assert!(bridge.shutdown(WAIT).is_clean());
    let refused = handle.run_in_executor(|| ());
    assert!(refused.is_done());
    assert!(wait(refused).unwrap_err().is_closed());
}

#[test]
fn dropping_the_bridge_shuts_the_executor_down_within_its_timeout() {
    let bridge = Bridge::builder().shutdown_timeout(CUT_OFF).build().unwrap();
    let handle = bridge.handle();
    let stuck = Hold::with(|gate| handle.run_in_executor(gate));
    drop(bridge);
    assert!(wait(stuck.release()).unwrap_err().is_closed());
}

#[cfg(target_os = "linux")]
#[test]
fn the_pool_starts_on_first_use() {
    /// Threads of this process whose name starts with `prefix` (the kernel keeps 15
    /// bytes of a name).
    fn threads_named(prefix: &str) -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim_end().starts_with(prefix))
            .count()
    }
    let bridge = Bridge::builder().thread_name("lazy7").build().unwrap();
    let handle = bridge.handle();
    common::round_trip(&handle);
    assert_eq!(
        threads_named("lazy7-executor"),
        0,
        "no pool thread before first use"
    );
    // Asking for its stats does not start it either.
    assert_eq!(handle.executor_stats(), loopbridge::PoolStats::default());
    assert_eq!(threads_named("lazy7-executor"), 0);
    wait(handle.run_in_executor(|| ())).unwrap();
    assert_eq!(threads_named("lazy7-executor"), 1);
    let stats = handle.executor_stats();
    assert_eq!((stats.workers, stats.finished), (1, 1), "{stats:?}");
}
