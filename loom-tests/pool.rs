//! loom models of the thread pool's own handoff: the real queue, worker loop, claim and
//! close (through `__loom::pool::PoolModel`), with loom threads as the pool's workers.
//! Each model targets one race and asserts what must hold in every interleaving.

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::pool::PoolModel;

/// A job's value, counting its drops: whoever ends up owning it drops it exactly once.
struct Value {
    drops: Arc<AtomicUsize>,
}

impl Drop for Value {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

/// A worker thread, as a real pool starts one when `submit` asks for it.
fn start_worker(pool: &Arc<PoolModel>) -> thread::JoinHandle<()> {
    let pool = pool.clone();
    thread::spawn(move || pool.serve())
}

/// A worker claiming a job races `cancel()`. Exactly one wins: either the worker claimed
/// first (the closure runs; `cancel` then returns `true` and the value is dropped, or
/// `false` and the value is delivered), or the cancel resolved the job first and the
/// closure never runs. Every outcome is counted once in the stats.
#[test]
fn worker_claim_racing_cancel_exactly_one_wins() {
    loom::model(|| {
        let pool = Arc::new(PoolModel::new(1));
        let ran = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let cancel_won_flag = Arc::new(AtomicBool::new(false));

        let (mut completion, start) = {
            let ran = ran.clone();
            let drops = drops.clone();
            pool.submit(move || {
                ran.fetch_add(1, SeqCst);
                Value { drops }
            })
        };
        assert!(start, "the first job starts the first worker");
        let worker = {
            let pool = pool.clone();
            let cancel_won_flag = cancel_won_flag.clone();
            thread::spawn(move || {
                // Read before the worker looks at the job: a cancel that had already won
                // happened before the claim.
                let cancelled_before_claim = cancel_won_flag.load(SeqCst);
                pool.serve();
                cancelled_before_claim
            })
        };

        let cancel_won = completion.cancel();
        cancel_won_flag.store(cancel_won, SeqCst);
        let cancelled_before_claim = worker.join().unwrap();

        let ran = ran.load(SeqCst);
        assert!(ran <= 1, "the closure ran {ran} times");
        if cancelled_before_claim {
            assert_eq!(
                ran, 0,
                "a job whose cancel won before the claim must never run"
            );
        }
        let stats = pool.stats();
        match completion
            .try_take()
            .expect("resolved once the worker is done")
        {
            Ok(value) => {
                assert!(!cancel_won, "a cancel that returned true lost to the value");
                assert_eq!(ran, 1);
                drop(value);
                assert_eq!(drops.load(SeqCst), 1);
                assert_eq!((stats.finished, stats.cancelled), (1, 0));
            }
            Err(error) => {
                assert!(cancel_won && error.is_cancelled(), "{error}");
                // A value made after the claim was dropped by the worker, exactly once.
                assert_eq!(drops.load(SeqCst), ran);
                assert_eq!((stats.finished, stats.cancelled), (0, 1));
            }
        }
        assert_eq!((stats.running, stats.workers), (0, 0));
    });
}

/// A shutdown (`close`) races a submission and the worker it starts. Every job resolves
/// exactly once (its `then` callback runs once): with its value if the closure ran,
/// else with `Closed`; nothing stays queued and every worker exits.
#[test]
fn shutdown_racing_submission_resolves_every_job_exactly_once() {
    loom::model(|| {
        let pool = Arc::new(PoolModel::new(1));
        let ran = Arc::new(AtomicBool::new(false));
        let resolutions = Arc::new(AtomicUsize::new(0));
        let got_value = Arc::new(AtomicBool::new(false));

        let submitter = {
            let pool = pool.clone();
            let ran = ran.clone();
            let resolutions = resolutions.clone();
            let got_value = got_value.clone();
            thread::spawn(move || {
                let (completion, start) = pool.submit(move || ran.store(true, SeqCst));
                completion.then(move |result| {
                    if let Err(error) = &result {
                        assert!(error.is_closed(), "{error}");
                    }
                    got_value.store(result.is_ok(), SeqCst);
                    resolutions.fetch_add(1, SeqCst);
                });
                if start {
                    start_worker(&pool).join().unwrap();
                }
            })
        };

        let cut_off = pool.close();
        submitter.join().unwrap();

        assert_eq!(resolutions.load(SeqCst), 1, "the job resolved exactly once");
        let ran = ran.load(SeqCst);
        assert_eq!(got_value.load(SeqCst), ran, "a value iff the closure ran");
        if cut_off == 1 {
            assert!(!ran, "a job the shutdown resolved must not run");
        }
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.workers, stats.idle_workers), (0, 0, 0));
        assert_eq!(stats.finished + stats.cancelled, stats.submitted);
    });
}

/// An idle worker retiring (its keep-alive ran out) races a submission. The job is
/// never stranded: the worker stays for it or a new one starts. Jobs never run more at
/// once than `max_workers`.
#[test]
fn retiring_worker_racing_submission_strands_no_job() {
    loom::model(|| {
        let pool = Arc::new(PoolModel::new(1));
        let ran = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let job = || {
            let ran = ran.clone();
            let running = running.clone();
            move || {
                assert_eq!(running.fetch_add(1, SeqCst), 0, "max_workers exceeded");
                ran.fetch_add(1, SeqCst);
                running.fetch_sub(1, SeqCst);
            }
        };

        let (mut first, start) = pool.submit(job());
        assert!(start);
        let worker = start_worker(&pool);
        let submitter = {
            let pool = pool.clone();
            let job = job();
            thread::spawn(move || {
                let (second, start) = pool.submit(job);
                if start {
                    start_worker(&pool).join().unwrap();
                }
                second
            })
        };
        let mut second = submitter.join().unwrap();
        worker.join().unwrap();

        assert_eq!(ran.load(SeqCst), 2, "a job was stranded");
        assert!(first.try_take().expect("first resolved").is_ok());
        assert!(second.try_take().expect("second resolved").is_ok());
        let stats = pool.stats();
        assert_eq!((stats.finished, stats.workers, stats.queued), (2, 0, 0));
    });
}

/// The worker a submission asked for cannot be started, while another submission races
/// it on a one-worker pool (which, seeing the seat taken, starts no worker of its own).
/// No job may be stranded: each either runs on a worker started later or resolves with
/// `Unavailable`.
#[test]
fn failed_worker_start_racing_submission_strands_no_job() {
    loom::model(|| {
        let pool = Arc::new(PoolModel::new(1));

        let other = thread::spawn({
            let pool = pool.clone();
            move || {
                let (completion, start) = pool.submit(|| 2);
                if start {
                    // This worker does start: a thread of its own, as a real pool would.
                    start_worker(&pool).join().unwrap();
                }
                completion
            }
        });
        let (first, start) = pool.submit(|| 1);
        if start {
            pool.worker_not_started();
        }
        let second = other.join().unwrap();

        for (completion, value) in [(first, 1), (second, 2)] {
            assert!(completion.is_done(), "a job was stranded with no worker");
            match completion.wait() {
                Ok(got) => assert_eq!(got, value),
                Err(error) => assert!(error.is_unavailable(), "{error}"),
            }
        }
        assert_eq!(pool.stats().queued, 0);
    });
}

/// A caller waits for a job's result, then submits again at once (the sequential
/// offload). The worker counts itself idle before it delivers, so the caller the result
/// wakes never finds it busy: the second job goes to it (or, if it retired meanwhile,
/// to one new worker), and the pool never holds two workers. Each job runs exactly once.
#[test]
fn submit_after_a_result_finds_the_worker_idle_and_starts_no_other() {
    loom::model(|| {
        let pool = Arc::new(PoolModel::new(2));
        let ran = Arc::new(AtomicUsize::new(0));
        let job = |value: u32| {
            let ran = ran.clone();
            move || {
                ran.fetch_add(1, SeqCst);
                value
            }
        };

        let (first, start) = pool.submit(job(1));
        assert!(start, "the first job starts the first worker");
        let worker = start_worker(&pool);
        assert_eq!(first.wait().unwrap(), 1);
        let stats = pool.stats();
        assert_eq!(
            stats.workers, stats.idle_workers,
            "a worker whose result is out is still counted busy"
        );

        let (second, start) = pool.submit(job(2));
        assert!(
            pool.stats().workers <= 1,
            "a second worker started for a sequential submission"
        );
        let other = start.then(|| start_worker(&pool));
        assert_eq!(second.wait().unwrap(), 2);
        worker.join().unwrap();
        if let Some(other) = other {
            other.join().unwrap();
        }
        assert_eq!(ran.load(SeqCst), 2, "each job runs exactly once");
        let stats = pool.stats();
        assert_eq!((stats.finished, stats.workers, stats.queued), (2, 0, 0));
    });
}

/// A shutdown (`close`, then the wait for busy workers) races a worker that has run its
/// job and counted itself idle, but is still delivering the result. The wait must not
/// end before the delivery has: once it says no worker is busy, the job's `then`
/// callback has run, exactly once (on the worker, or on the closing thread if the close
/// cut the job off), and its value was dropped exactly once.
#[test]
fn shutdown_waits_for_a_worker_still_delivering_its_result() {
    loom::model(|| {
        let pool = Arc::new(PoolModel::new(1));
        let drops = Arc::new(AtomicUsize::new(0));
        let resolutions = Arc::new(AtomicUsize::new(0));
        let got_value = Arc::new(AtomicBool::new(false));

        let (completion, start) = {
            let drops = drops.clone();
            pool.submit(move || Value { drops })
        };
        assert!(start);
        {
            let resolutions = resolutions.clone();
            let got_value = got_value.clone();
            completion.then(move |result| {
                if let Err(error) = &result {
                    assert!(error.is_closed(), "{error}");
                }
                got_value.store(result.is_ok(), SeqCst);
                drop(result);
                resolutions.fetch_add(1, SeqCst);
            });
        }
        let worker = start_worker(&pool);

        pool.close();
        while !pool.wait_for_busy() {
            thread::yield_now();
        }
        assert_eq!(
            resolutions.load(SeqCst),
            1,
            "the shutdown's wait ended before the worker delivered"
        );
        let made = usize::from(got_value.load(SeqCst));
        assert_eq!(
            drops.load(SeqCst),
            made,
            "a value made is dropped exactly once"
        );
        worker.join().unwrap();
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.workers, stats.running), (0, 0, 0));
        assert_eq!(stats.finished + stats.cancelled, stats.submitted);
    });
}
