//! RayonPool: results from sync and async code, panics caught instead of aborting the
//! process, and cancellation before and after a job starts.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use common::{eventually, recv, wait, DropCount, WAIT};
use loopbridge::{Bridge, RayonPool};

/// A rayon pool of one thread, so a job holding it keeps every other job waiting.
fn one_thread(name: &'static str) -> RayonPool {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(move |n| format!("{name}-{n}"))
        .build()
        .unwrap();
    RayonPool::new(Arc::new(pool))
}

/// Holds `pool`'s thread until the returned sender is used or dropped.
fn hold(pool: &RayonPool) -> (mpsc::Sender<()>, loopbridge::Completion<()>) {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let held = pool.submit(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    recv(&started, "the holding job started");
    (release, held)
}

#[test]
fn the_global_pool_returns_results_to_sync_and_async_callers() {
    let pool = RayonPool::global();
    let on_rayon = wait(pool.submit(|| rayon::current_thread_index().is_some())).unwrap();
    assert!(on_rayon);

    let bridge = Bridge::new().unwrap();
    let sum = bridge
        .handle()
        .block_on(async move { pool.submit(|| (1..=1_000u64).sum::<u64>()).await })
        .unwrap();
    assert_eq!(sum.unwrap(), 500_500);
}

#[test]
fn a_custom_pool_runs_jobs_on_its_own_threads() {
    let pool = one_thread("crunch");
    let name = wait(pool.submit(|| std::thread::current().name().map(str::to_owned)))
        .unwrap()
        .unwrap();
    assert_eq!(name, "crunch-0");
}

#[test]
fn a_panic_becomes_panicked_and_the_process_and_pool_live_on() {
    let pool = one_thread("sturdy");
    let line = line!() + 1;
    let error = wait(pool.submit(|| -> u8 { panic!("division by {}", 0) })).unwrap_err();
    assert!(error.is_panic(), "{error}");
    assert_eq!(error.panic_message(), Some("division by 0"));
    assert_eq!(error.site().location().file(), file!());
    assert_eq!(error.site().location().line(), line);
    assert_eq!(wait(pool.submit(|| 9)).unwrap(), 9, "the pool serves on");

    // A panic in a `then` callback on the rayon thread is caught too.
    let (tx, rx) = mpsc::channel();
    pool.submit(|| 1).then(move |_| {
        tx.send(()).unwrap();
        panic!("callback panic");
    });
    recv(&rx, "the callback ran");
    assert_eq!(wait(pool.submit(|| 10)).unwrap(), 10);
}

#[test]
fn cancel_before_the_job_starts_means_it_never_runs() {
    let pool = one_thread("cancel-early");
    let (release, held) = hold(&pool);
    let ran = Arc::new(AtomicBool::new(false));
    let (done_tx, done) = mpsc::channel::<()>();
    let flag = ran.clone();
    let queued = pool.submit(move || {
        let _done = done_tx;
        flag.store(true, Ordering::SeqCst);
    });
    assert!(queued.cancel());
    release.send(()).unwrap();
    wait(held).unwrap();

    // The closure is dropped once the pool is done with the job, run or not.
    assert_eq!(
        done.recv_timeout(WAIT),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    assert!(
        !ran.load(Ordering::SeqCst),
        "a job cancelled before it started ran"
    );
    assert!(wait(queued).unwrap_err().is_cancelled());
}

#[test]
fn cancel_while_running_resolves_at_once_and_drops_the_result() {
    let pool = one_thread("cancel-late");
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = drops.clone();
    let running = pool.submit(move || {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        DropCount(counter)
    });
    recv(&started, "the job started");
    assert!(running.cancel());
    assert!(running.is_done());
    release.send(()).unwrap();
    assert!(wait(running)
        .err()
        .is_some_and(|error| error.is_cancelled()));
    eventually("the result was dropped", || {
        drops.load(Ordering::SeqCst) == 1
    });
}

#[test]
fn awaiting_a_rayon_job_does_not_stall_the_loop() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let pool = one_thread("no-stall");
    let (release, held) = hold(&pool);
    let offload = pool.clone();
    let awaiting = handle.submit(async move { offload.submit(|| "computed").await });
    for n in 0..10 {
        assert_eq!(wait(handle.run_callback(move || n)).unwrap(), n);
    }
    assert!(!awaiting.is_done());
    release.send(()).unwrap();
    wait(held).unwrap();
    assert_eq!(wait(awaiting).unwrap().unwrap(), "computed");
}

#[test]
fn waiting_on_a_rayon_job_from_a_loop_thread_is_blocking_on_loop() {
    let bridge = Bridge::new().unwrap();
    let error = wait(
        bridge
            .handle()
            .run_callback(|| RayonPool::global().submit(|| 1).wait()),
    )
    .unwrap()
    .unwrap_err();
    assert!(error.is_blocking_on_loop(), "{error}");
}
