//! `LazyBridge`: a library's own bridge in a `static`, started on first use, apart from
//! other libraries' and from `global()`, and shut down on demand. (No test here uses
//! `global()`, so that one of them can check it was never started.)

use std::sync::{Arc, Barrier};
use std::time::Duration;

use loopbridge::{Bridge, LazyBridge};

static FIRST_LIBRARY: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("lib-one"));
static SECOND_LIBRARY: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("lib-two"));
static RACED: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("lib-raced"));

fn loop_thread_name(bridge: &LazyBridge) -> String {
    bridge
        .handle()
        .run_callback(|| std::thread::current().name().map(str::to_owned))
        .wait()
        .unwrap()
        .unwrap()
}

/// The names of this process's threads (Linux: from `/proc`).
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[test]
fn two_libraries_get_bridges_of_their_own_and_never_start_the_global_one() {
    assert_eq!(loop_thread_name(&FIRST_LIBRARY), "lib-one");
    assert_eq!(loop_thread_name(&SECOND_LIBRARY), "lib-two");
    let first = FIRST_LIBRARY
        .handle()
        .run_callback(|| std::thread::current().id());
    let second = SECOND_LIBRARY
        .handle()
        .run_callback(|| std::thread::current().id());
    assert_ne!(first.wait().unwrap(), second.wait().unwrap());
    #[cfg(target_os = "linux")]
    {
        let names = thread_names();
        assert!(names.iter().any(|name| name == "lib-one"), "{names:?}");
        assert!(
            !names.iter().any(|name| name.starts_with("loopbridge-glob")),
            "a lazy bridge started the global one: {names:?}"
        );
    }
}

#[test]
fn racing_first_uses_start_exactly_one_bridge() {
    let threads = 4;
    let start = Arc::new(Barrier::new(threads));
    let seen: Vec<(usize, std::thread::ThreadId)> = (0..threads)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let handle = RACED.handle();
                let loop_thread = handle
                    .run_callback(|| std::thread::current().id())
                    .wait()
                    .unwrap();
                (std::ptr::from_ref(handle) as usize, loop_thread)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    assert!(seen.iter().all(|entry| *entry == seen[0]), "{seen:?}");
}

#[test]
fn shutting_one_library_down_leaves_the_other_serving() {
    static UNLOADED: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("unloaded"));
    static STAYS: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("stays"));
    assert_eq!(UNLOADED.handle().block_on(async { 1 }).unwrap(), 1);
    assert_eq!(STAYS.handle().block_on(async { 2 }).unwrap(), 2);
    let pending = UNLOADED.handle().submit(std::future::pending::<()>());

    let report = UNLOADED.shutdown(Duration::from_millis(20));
    assert_eq!(report.cancelled, 1);
    assert!(pending.wait().unwrap_err().is_closed());
    assert!(UNLOADED
        .handle()
        .block_on(async {})
        .unwrap_err()
        .is_closed());
    assert_eq!(
        UNLOADED.shutdown(Duration::ZERO).cancelled,
        0,
        "a second shutdown is empty"
    );
    assert_eq!(STAYS.handle().block_on(async { 3 }).unwrap(), 3);
}

#[test]
fn shutting_down_a_bridge_that_never_started_does_not_start_it() {
    static NEVER: LazyBridge = LazyBridge::new(Bridge::builder);
    assert!(NEVER.shutdown(Duration::from_secs(1)).is_clean());
    assert!(!NEVER.is_started());
}

#[test]
fn a_failed_start_is_retried_and_reported() {
    static REFUSED: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("bad\0"));
    assert!(REFUSED.try_handle().is_err());
    assert!(REFUSED.try_handle().is_err());
    let panic = std::panic::catch_unwind(|| REFUSED.handle().clone()).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("cannot start a lazy bridge"), "{message}");
}

#[test]
fn a_lazy_bridge_that_is_not_static_shuts_down_when_dropped() {
    let lazy = LazyBridge::new(|| Bridge::builder().shutdown_timeout(Duration::from_millis(10)));
    let pending = lazy.handle().submit(std::future::pending::<()>());
    drop(lazy);
    assert!(pending.wait().unwrap_err().is_closed());
}

static HOSTED: LazyBridge = LazyBridge::new(Bridge::builder);

#[test]
fn a_shutdown_inside_an_async_host_finishes_in_the_background_and_lets_the_host_run() {
    let host = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    host.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        // The job needs a host task, which is ready to run as soon as the host gets to it.
        let job = HOSTED.handle().submit(async move { rx.await.unwrap_or(0) });
        tokio::spawn(async move {
            let _ = tx.send(7);
        });
        let report = HOSTED.shutdown(Duration::from_secs(30));
        assert!(report.finishing_in_background, "{report}");
        assert!(!report.is_clean(), "{report}");
        assert_eq!(job.await.unwrap(), 7, "the job was not cut off");
    });
    assert!(HOSTED
        .handle()
        .submit(async {})
        .wait()
        .unwrap_err()
        .is_closed());
}
