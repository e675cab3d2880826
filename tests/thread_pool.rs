//! ThreadPool: results from sync and async code, workers started on demand and retired
//! when idle, max_workers never exceeded, panics, cancellation, bounded queues with
//! backpressure, stats, and a bounded shutdown (also by dropping the last clone).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::Duration;

use common::{
    capture_logs, eventually, logs_mentioning, recv, wait, ConcurrencyProbe, DropCount, Hold, WAIT,
};
use loopbridge::{Bridge, Completion, ThreadPool};

/// Short enough to keep the suite fast, for shutdowns that must give up on a job.
const CUT_OFF: Duration = Duration::from_millis(20);

/// Scales down under slow checkers.
const STRESS: usize = if cfg!(miri) { 20 } else { 2_000 };

/// Holds one of `pool`'s workers in a job until released.
fn occupy(pool: &ThreadPool) -> Hold {
    Hold::with(|gate| pool.submit(gate))
}

/// A closure that records whether it ran, and signals (by dropping its sender) once the
/// pool is done with it, whether it ran it or dropped it unrun.
fn tracked() -> (
    impl FnOnce() + Send + 'static,
    Arc<AtomicBool>,
    mpsc::Receiver<()>,
) {
    let ran = Arc::new(AtomicBool::new(false));
    let (done_tx, done) = mpsc::channel::<()>();
    let flag = ran.clone();
    let job = move || {
        let _done = done_tx;
        flag.store(true, Ordering::SeqCst);
    };
    (job, ran, done)
}

/// Waits until the pool has dropped (run or not) a closure from [`tracked`].
fn finished_with(done: &mpsc::Receiver<()>) {
    assert!(
        done.recv_timeout(WAIT)
            .is_err_and(|e| e == mpsc::RecvTimeoutError::Disconnected),
        "the pool never dropped the job"
    );
}

#[test]
fn a_result_comes_back_to_sync_and_async_callers() {
    let pool = ThreadPool::new(2).unwrap();
    assert_eq!(wait(pool.submit(|| 6 * 7)).unwrap(), 42);

    let bridge = Bridge::new().unwrap();
    let offload = pool.clone();
    let sum = bridge
        .handle()
        .block_on(async move { offload.submit(|| (1..=4).sum::<i32>()).await })
        .unwrap();
    assert_eq!(sum.unwrap(), 10);
}

#[test]
fn workers_are_named_after_the_prefix_and_start_on_demand() {
    let pool = ThreadPool::builder()
        .name("disk")
        .max_workers(2)
        .build()
        .unwrap();
    assert_eq!(pool.stats().workers, 0, "no thread before the first job");
    let name = wait(pool.submit(|| std::thread::current().name().map(str::to_owned)))
        .unwrap()
        .unwrap();
    assert_eq!(name, "disk-0");
    let stats = pool.stats();
    assert_eq!(stats.workers, 1, "one job needs one worker");
}

#[test]
fn an_idle_worker_is_reused_rather_than_a_new_one_started() {
    let pool = ThreadPool::builder()
        .name("reuse")
        .max_workers(4)
        .build()
        .unwrap();
    for _ in 0..20 {
        let name = wait(pool.submit(|| std::thread::current().name().map(str::to_owned)))
            .unwrap()
            .unwrap();
        assert_eq!(name, "reuse-0");
        // The worker goes back to idle right after delivering the result.
        eventually("the worker is idle again", || {
            pool.stats().idle_workers == 1
        });
    }
    assert_eq!(pool.stats().workers, 1);
}

/// Regression: a worker delivered its result before counting itself idle, so the caller
/// it woke, submitting again at once, found no idle worker and started another; after a
/// few thousand sequential offloads the pool had all its workers.
#[test]
fn sequential_submit_then_wait_never_grows_the_pool_past_one_worker() {
    let pool = ThreadPool::builder()
        .max_workers(4)
        .keep_alive(Duration::from_secs(3600))
        .build()
        .unwrap();
    for i in 0..STRESS {
        assert_eq!(wait(pool.submit(move || i)).unwrap(), i);
        // No `eventually`: the worker counts itself idle before the result is out.
        let stats = pool.stats();
        assert_eq!(
            (stats.workers, stats.idle_workers),
            (1, 1),
            "after offload {i}"
        );
    }
    // The same from a job on a loop, awaiting each offload.
    let bridge = Bridge::new().unwrap();
    let offloads = pool.clone();
    bridge
        .handle()
        .block_on(async move {
            for i in 0..STRESS {
                assert_eq!(offloads.submit(move || i).await.unwrap(), i);
            }
        })
        .unwrap();
    assert_eq!(pool.stats().workers, 1);
    assert_eq!(pool.stats().finished, 2 * STRESS as u64);
}

#[test]
fn max_workers_is_never_exceeded() {
    const MAX: usize = 3;
    const JOBS: usize = 4 * MAX;
    let pool = ThreadPool::new(MAX).unwrap();
    let probe = ConcurrencyProbe::new();
    let jobs: Vec<Completion<()>> = (0..JOBS).map(|_| pool.submit(probe.job())).collect();
    probe.wait_started(MAX);
    // Every worker is busy: the rest wait in the queue, and no fourth worker exists.
    let stats = pool.stats();
    assert_eq!(stats.workers, MAX);
    assert_eq!(stats.running, MAX);
    assert_eq!(stats.queued, JOBS - MAX);
    assert_eq!(stats.idle_workers, 0);

    probe.release(JOBS);
    for job in jobs {
        wait(job).unwrap();
    }
    assert_eq!(probe.peak(), MAX);
    assert!(pool.stats().workers <= MAX);
}

#[test]
fn an_idle_worker_retires_after_keep_alive_and_a_new_one_starts_later() {
    let pool = ThreadPool::builder()
        .name("brief")
        .keep_alive(Duration::from_millis(5))
        .build()
        .unwrap();
    wait(pool.submit(|| ())).unwrap();
    eventually("the idle worker retired", || pool.stats().workers == 0);
    let name = wait(pool.submit(|| std::thread::current().name().map(str::to_owned)))
        .unwrap()
        .unwrap();
    assert_eq!(name, "brief-1", "a fresh worker, with the next number");
}

#[test]
fn a_panic_becomes_panicked_with_message_and_site_and_the_worker_lives_on() {
    let pool = ThreadPool::builder()
        .name("sturdy")
        .max_workers(1)
        .build()
        .unwrap();
    let line = line!() + 1;
    let error = wait(pool.submit(|| -> () { panic!("bad sector {}", 7) })).unwrap_err();
    assert!(error.is_panic(), "{error}");
    assert_eq!(error.panic_message(), Some("bad sector 7"));
    assert_eq!(error.site().location().file(), file!());
    assert_eq!(error.site().location().line(), line);
    assert!(error.to_string().contains("bad sector 7"));

    let name = wait(pool.submit(|| std::thread::current().name().map(str::to_owned)))
        .unwrap()
        .unwrap();
    assert_eq!(name, "sturdy-0", "the same worker serves on");
    assert_eq!(pool.stats().panicked, 1);
}

#[test]
fn a_panic_nobody_reads_is_logged_with_its_site() {
    capture_logs();
    let pool = ThreadPool::new(1).unwrap();
    let (done_tx, done) = mpsc::channel::<()>();
    drop(pool.submit(move || {
        let _done = done_tx;
        panic!("unread pool panic 5b1e")
    }));
    finished_with(&done);
    eventually("the unread panic is logged", || {
        logs_mentioning("unread pool panic 5b1e")
            .iter()
            .any(|event| event.site().contains(file!()))
    });
}

#[test]
fn cancel_before_the_job_starts_means_it_never_runs() {
    let pool = ThreadPool::new(1).unwrap();
    let hold = occupy(&pool);
    let (job, ran, done) = tracked();
    let queued = pool.submit(job);
    assert!(queued.cancel());
    assert!(!queued.cancel(), "only the first cancel wins");
    wait(hold.release()).unwrap();

    finished_with(&done);
    assert!(
        !ran.load(Ordering::SeqCst),
        "a job cancelled before it started ran"
    );
    assert!(wait(queued).unwrap_err().is_cancelled());
    let stats = pool.stats();
    assert_eq!((stats.cancelled, stats.finished), (1, 1));
}

#[test]
fn cancel_while_running_resolves_at_once_and_drops_the_result() {
    let pool = ThreadPool::new(1).unwrap();
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
    assert!(
        running.is_done(),
        "cancel is immediate, also for a running job"
    );
    release.send(()).unwrap();
    assert!(wait(running)
        .err()
        .is_some_and(|error| error.is_cancelled()));

    eventually("the job's value was dropped", || {
        drops.load(Ordering::SeqCst) == 1
    });
    eventually("the job is counted as cancelled", || {
        let stats = pool.stats();
        stats.cancelled == 1 && stats.finished == 0 && stats.running == 0
    });
}

#[test]
fn cancel_after_the_value_is_in_returns_false_and_keeps_the_value() {
    let pool = ThreadPool::new(1).unwrap();
    let mut completion = pool.submit(|| "kept");
    eventually("the job is done", || completion.is_done());
    assert!(!completion.cancel());
    assert_eq!(completion.wait_timeout(WAIT).unwrap(), "kept");
}

#[test]
fn waiting_on_a_pool_job_from_a_loop_thread_is_blocking_on_loop() {
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(1).unwrap();
    let error = wait(
        bridge
            .handle()
            .run_callback(move || pool.submit(|| 1).wait()),
    )
    .unwrap()
    .unwrap_err();
    assert!(error.is_blocking_on_loop(), "{error}");
}

#[test]
fn a_job_blocked_in_the_pool_does_not_stall_the_loop() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let pool = ThreadPool::new(1).unwrap();
    let (release, release_rx) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let offload = pool.clone();
    let awaiting = handle.submit(async move {
        offload
            .submit(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                "unblocked"
            })
            .await
    });
    recv(&started, "the pool job started");
    // The loop job is parked on the pool job; callbacks keep running meanwhile.
    for n in 0..10 {
        assert_eq!(wait(handle.run_callback(move || n * 2)).unwrap(), n * 2);
    }
    assert!(!awaiting.is_done());
    release.send(()).unwrap();
    assert_eq!(wait(awaiting).unwrap().unwrap(), "unblocked");
}

#[test]
fn many_threads_submitting_at_once_get_every_result() {
    let pool = ThreadPool::new(4).unwrap();
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads));
    let submitters: Vec<_> = (0..threads)
        .map(|t| {
            let pool = pool.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let jobs: Vec<_> = (0..STRESS / threads)
                    .map(|n| pool.submit(move || t * 1_000_000 + n))
                    .collect();
                jobs.into_iter()
                    .enumerate()
                    .all(|(n, job)| wait(job).unwrap() == t * 1_000_000 + n)
            })
        })
        .collect();
    for submitter in submitters {
        assert!(submitter.join().unwrap());
    }
    let stats = pool.stats();
    assert_eq!(stats.finished as usize, STRESS / threads * threads);
    assert_eq!(stats.queued, 0);
    assert!(stats.workers <= 4);
}

// ---- bounded queues and backpressure ----------------------------------------------------

/// A pool of one worker, held busy, with a queue of one that is full.
struct Full {
    pool: ThreadPool,
    hold: Hold,
    queued: Completion<u32>,
}

fn full_pool() -> Full {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let hold = occupy(&pool);
    let queued = pool.submit(|| 1);
    Full { pool, hold, queued }
}

#[test]
fn submit_to_a_full_queue_is_refused_at_once_with_queue_full() {
    let Full { pool, hold, queued } = full_pool();
    let line = line!() + 1;
    let refused = pool.submit(|| 2);
    assert!(refused.is_done(), "the refusal is immediate");
    let error = wait(refused).unwrap_err();
    assert!(error.is_queue_full(), "{error}");
    assert_eq!(error.site().location().line(), line);
    assert_eq!(pool.stats().refused, 1);

    wait(hold.release()).unwrap();
    assert_eq!(wait(queued).unwrap(), 1);
    assert_eq!(
        wait(pool.submit(|| 3)).unwrap(),
        3,
        "room again once the queue drains"
    );
}

#[test]
fn submit_timeout_waits_for_room_then_submits() {
    let Full { pool, hold, queued } = full_pool();
    let producer = {
        let pool = pool.clone();
        std::thread::spawn(move || wait(pool.submit_timeout(|| 2, WAIT)))
    };
    wait(hold.release()).unwrap();
    assert_eq!(producer.join().unwrap().unwrap(), 2);
    assert_eq!(wait(queued).unwrap(), 1);
}

#[test]
fn submit_timeout_without_room_in_time_is_queue_full() {
    let Full { pool, hold, queued } = full_pool();
    let error = wait(pool.submit_timeout(|| 2, Duration::from_millis(5))).unwrap_err();
    assert!(error.is_queue_full(), "{error}");
    wait(hold.release()).unwrap();
    wait(queued).unwrap();
}

#[test]
fn submit_timeout_on_a_loop_thread_is_refused_without_waiting() {
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(1).unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let error = wait(bridge.handle().run_callback(move || {
        let mut refused = pool.submit_timeout(move || flag.store(true, Ordering::SeqCst), WAIT);
        refused.try_take()
    }))
    .unwrap()
    .expect("resolved at once")
    .unwrap_err();
    assert!(error.is_blocking_on_loop(), "{error}");
    assert!(!ran.load(Ordering::SeqCst), "nothing was submitted");
}

#[test]
fn reserve_waits_for_room_without_blocking_the_loop() {
    let Full { pool, hold, queued } = full_pool();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let producer = pool.clone();
    let (waiting_tx, waiting) = mpsc::channel();
    let submitted = handle.submit(async move {
        let reserve = producer.reserve();
        waiting_tx.send(()).unwrap();
        let permit = reserve.await?;
        permit.submit(|| 2).await
    });
    recv(&waiting, "the loop job is waiting for room");
    for n in 0..10 {
        assert_eq!(
            wait(handle.run_callback(move || n)).unwrap(),
            n,
            "the loop serves on"
        );
    }
    assert!(!submitted.is_done());

    wait(hold.release()).unwrap();
    assert_eq!(wait(submitted).unwrap().unwrap(), 2);
    assert_eq!(wait(queued).unwrap(), 1);
}

#[test]
fn waiters_for_room_are_served_in_order_and_a_dropped_one_passes_its_turn_on() {
    let Full { pool, hold, queued } = full_pool();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let order = Arc::new(Mutex::new(Vec::new()));

    // The first waiter gives up; its place must not be lost.
    let quitter = {
        let pool = pool.clone();
        handle.submit(async move { pool.reserve().await.map(drop) })
    };
    let waiters: Vec<_> = (1..=2)
        .map(|n| {
            let (pool, order) = (pool.clone(), order.clone());
            handle.submit(async move {
                let permit = pool.reserve().await?;
                order.lock().unwrap().push(n);
                permit.submit(move || n).await
            })
        })
        .collect();
    common::round_trip(&handle); // every waiter has polled once and is in line
    assert!(quitter.cancel());

    wait(hold.release()).unwrap();
    for (n, waiter) in (1..=2).zip(waiters) {
        assert_eq!(wait(waiter).unwrap().unwrap(), n);
    }
    assert_eq!(*order.lock().unwrap(), [1, 2]);
    wait(queued).unwrap();
}

#[test]
fn an_unused_permit_gives_its_place_back() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let bridge = Bridge::new().unwrap();
    let inner = pool.clone();
    let refused = bridge
        .handle()
        .block_on(async move {
            let permit = inner.reserve().await.unwrap();
            let refused = inner.submit(|| ()).await;
            drop(permit);
            let accepted = inner.submit(|| "accepted").await;
            (refused, accepted)
        })
        .unwrap();
    assert!(refused.0.unwrap_err().is_queue_full());
    assert_eq!(refused.1.unwrap(), "accepted");
}

#[test]
fn shutdown_refuses_waiters_for_room_with_closed() {
    let Full { pool, hold, queued } = full_pool();
    let bridge = Bridge::new().unwrap();
    let producer = pool.clone();
    let waiting = bridge
        .handle()
        .submit(async move { producer.reserve().await.map(drop) });
    common::round_trip(&bridge.handle());
    let blocked = {
        let pool = pool.clone();
        std::thread::spawn(move || wait(pool.submit_timeout(|| (), WAIT)))
    };

    // The worker stays held, so no room ever frees up: only the shutdown ends the waits.
    let report = pool.shutdown(CUT_OFF);
    assert_eq!(report.stuck.len(), 1, "{report}");
    assert!(wait(waiting).unwrap().unwrap_err().is_closed());
    assert!(blocked.join().unwrap().unwrap_err().is_closed());
    assert!(wait(queued).unwrap_err().is_closed());
    assert!(wait(hold.release()).unwrap_err().is_closed());
}

// ---- stats --------------------------------------------------------------------------------

#[test]
fn stats_are_readable_at_any_time() {
    let pool = ThreadPool::new(1).unwrap();
    assert_eq!(pool.stats(), loopbridge::PoolStats::default());
    let hold = occupy(&pool);
    let queued = pool.submit(|| ());
    let cancelled = pool.submit(|| ());
    assert!(cancelled.cancel());
    let stats = pool.stats();
    assert_eq!(stats.submitted, 3);
    assert_eq!(stats.running, 1);
    assert_eq!(
        stats.queued, 2,
        "a cancelled job keeps its place until a worker drops it"
    );
    assert_eq!((stats.workers, stats.idle_workers), (1, 0));

    wait(hold.release()).unwrap();
    wait(queued).unwrap();
    let panicked = pool.submit(|| panic!("counted"));
    assert!(wait(panicked).unwrap_err().is_panic());
    // The worker counts itself idle before it delivers the result; the job leaves
    // `running` once the delivery is done.
    eventually("the worker is done with the job", || {
        let stats = pool.stats();
        stats.idle_workers == 1 && stats.running == 0
    });
    let stats = pool.stats();
    assert_eq!(
        (
            stats.finished,
            stats.cancelled,
            stats.panicked,
            stats.queued,
            stats.running
        ),
        (2, 1, 1, 0, 0)
    );
}

// ---- shutdown -------------------------------------------------------------------------------

#[test]
fn shutdown_resolves_queued_jobs_closed_and_lets_running_ones_finish() {
    let pool = ThreadPool::new(1).unwrap();
    let hold = occupy(&pool);
    let (job, ran, done) = tracked();
    let queued = pool.submit(job);
    // Lets the running job finish once the shutdown has dealt with the queued one.
    let finisher = std::thread::spawn(move || {
        finished_with(&done);
        hold.release()
    });

    let report = pool.shutdown(WAIT);
    assert!(wait(queued).unwrap_err().is_closed());
    assert!(
        !ran.load(Ordering::SeqCst),
        "a queued job ran after shutdown began"
    );
    wait(finisher.join().unwrap()).unwrap();
    assert!(report.stuck.is_empty(), "{report}");
    assert_eq!(report.cancelled, 1);
    assert_eq!(report.finished, 1);
}

#[test]
fn shutdown_lists_a_job_still_running_at_the_timeout_and_leaves_its_thread_behind() {
    let pool = ThreadPool::new(1).unwrap();
    let line = line!() + 1;
    let hold = Hold::with(|gate| pool.submit(gate));
    let report = pool.shutdown(CUT_OFF);

    assert_eq!(report.stuck.len(), 1, "{report}");
    let stuck = &report.stuck[0];
    assert_eq!(stuck.site.location().file(), file!());
    assert_eq!(stuck.site.location().line(), line);
    assert!(stuck.running_for > Duration::ZERO);
    assert_eq!(
        report.cancelled, 1,
        "the stuck job's completion is resolved"
    );
    assert!(wait(hold.release()).unwrap_err().is_closed());
}

#[test]
fn submissions_after_shutdown_fail_with_closed_at_once() {
    let pool = ThreadPool::builder().queue_capacity(4).build().unwrap();
    let clone = pool.clone();
    assert!(pool.shutdown(WAIT).is_clean());
    let refused = clone.submit(|| ());
    assert!(refused.is_done());
    assert!(wait(refused).unwrap_err().is_closed());
    assert!(wait(clone.submit_timeout(|| (), WAIT))
        .unwrap_err()
        .is_closed());
    let bridge = Bridge::new().unwrap();
    let reserved = bridge
        .handle()
        .block_on(async move { clone.reserve().await.map(drop) });
    assert!(reserved.unwrap().unwrap_err().is_closed());
    eventually("idle workers exit", || pool.stats().workers == 0);
}

#[test]
fn shutdown_from_one_of_its_own_jobs_does_not_wait_for_itself() {
    let pool = ThreadPool::new(2).unwrap();
    let inner = pool.clone();
    let report = wait(pool.submit(move || inner.shutdown(WAIT))).unwrap();
    assert!(report.stuck.is_empty(), "{report}");
    assert!(wait(pool.submit(|| ())).unwrap_err().is_closed());
}

#[test]
fn shutdown_on_a_loop_thread_does_not_wait() {
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(1).unwrap();
    let hold = occupy(&pool);
    let inner = pool.clone();
    let report = wait(bridge.handle().run_callback(move || inner.shutdown(WAIT))).unwrap();
    assert!(
        report.stuck.is_empty(),
        "nothing is abandoned when nothing was waited for"
    );
    // The running job was not cut off: it finishes normally.
    wait(hold.release()).unwrap();
    assert!(wait(pool.submit(|| ())).unwrap_err().is_closed());
}

#[test]
fn shutdown_racing_submissions_leaves_no_completion_pending() {
    let pool = ThreadPool::new(2).unwrap();
    let threads = 3;
    let barrier = Arc::new(Barrier::new(threads + 1));
    let submitters: Vec<_> = (0..threads)
        .map(|_| {
            let pool = pool.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                (0..STRESS / 10)
                    .map(|n| pool.submit(move || n))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    barrier.wait();
    let report = pool.shutdown(WAIT);
    assert!(report.stuck.is_empty());
    for submitter in submitters {
        for (n, job) in submitter.join().unwrap().into_iter().enumerate() {
            match wait(job) {
                Ok(value) => assert_eq!(value, n),
                Err(error) => assert!(error.is_closed(), "{error}"),
            }
        }
    }
}

#[test]
fn dropping_the_last_clone_shuts_down_in_the_background_without_blocking() {
    let pool = ThreadPool::new(1).unwrap();
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let running = pool.submit(move || {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        "finished after the drop"
    });
    recv(&started, "the job started");
    let (job, ran, done) = tracked();
    let queued = pool.submit(job);

    // Returns while the job still runs: the job is released only afterwards.
    drop(pool);
    assert!(wait(queued).unwrap_err().is_closed());
    finished_with(&done);
    assert!(!ran.load(Ordering::SeqCst));
    release.send(()).unwrap();
    assert_eq!(wait(running).unwrap(), "finished after the drop");
}

#[test]
fn invalid_configurations_are_refused_by_build() {
    use std::io::ErrorKind::InvalidInput;
    assert_eq!(ThreadPool::new(0).unwrap_err().kind(), InvalidInput);
    assert_eq!(ThreadPool::new(1 << 20).unwrap_err().kind(), InvalidInput);
    let capacity = ThreadPool::builder().queue_capacity(0).build();
    assert_eq!(capacity.unwrap_err().kind(), InvalidInput);
}

#[test]
fn pools_and_their_handles_are_clone_send_and_sync() {
    fn clone_send_sync<T: Clone + Send + Sync>() {}
    fn send_sync<T: Send + Sync>() {}
    clone_send_sync::<ThreadPool>();
    #[cfg(feature = "rayon")]
    clone_send_sync::<loopbridge::RayonPool>();
    send_sync::<loopbridge::PoolReserve>();
    send_sync::<loopbridge::PoolPermit>();
    send_sync::<Completion<String>>();
}

#[test]
fn try_reserve_takes_a_place_only_when_there_is_room_and_names_its_caller() {
    let unbounded = ThreadPool::new(1).unwrap();
    assert_eq!(
        wait(unbounded.try_reserve().unwrap().submit(|| 1)).unwrap(),
        1
    );

    let bounded = ThreadPool::builder()
        .max_workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let hold = Hold::with(|gate| bounded.submit(gate));
    let queued = bounded.try_reserve().unwrap().submit(|| 2);
    let (full, line) = (bounded.try_reserve().unwrap_err(), line!());
    assert!(full.is_queue_full(), "{full}");
    assert_eq!(full.site().location().line(), line);
    wait(hold.release()).unwrap();
    assert_eq!(wait(queued).unwrap(), 2);

    let _ = bounded.shutdown(common::WAIT);
    assert!(bounded.try_reserve().unwrap_err().is_closed());
    let _ = unbounded.shutdown(common::WAIT);
    assert!(unbounded.try_reserve().unwrap_err().is_closed());
}
