//! Many threads, thousands of jobs, random cancels and detaches: every completion
//! resolves exactly once, every future is dropped exactly once, and the counters add up.

mod common;

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use common::{eventually, wait};
use loopbridge::{Bridge, Completion, Error, Handle};

/// Submitting threads.
const THREADS: usize = 4;
/// Jobs per thread; scale down for slow checkers, up for a soak.
const JOBS_PER_THREAD: usize = 5_000;
const JOBS: usize = THREADS * JOBS_PER_THREAD;

/// A tiny xorshift generator: reproducible per thread, no extra dependency.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Per-job counters shared by every thread.
struct Ledger {
    /// How often each job's future (or callback) was dropped.
    drops: Vec<AtomicU32>,
    /// How often each `then` callback ran.
    thens: Vec<AtomicU32>,
    /// Cancels that returned `true`.
    cancelled: AtomicU64,
    /// `then` callbacks registered.
    then_count: AtomicUsize,
    /// Results that were neither the value nor a cancellation.
    wrong: Mutex<Vec<String>>,
}

impl Ledger {
    fn new() -> Ledger {
        Ledger {
            drops: (0..JOBS).map(|_| AtomicU32::new(0)).collect(),
            thens: (0..JOBS).map(|_| AtomicU32::new(0)).collect(),
            cancelled: AtomicU64::new(0),
            then_count: AtomicUsize::new(0),
            wrong: Mutex::new(Vec::new()),
        }
    }

    fn wrong(&self, what: String) {
        self.wrong.lock().unwrap().push(what);
    }
}

/// Counts the drop of job `id`'s future into the ledger.
struct Tracked {
    id: usize,
    ledger: Arc<Ledger>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.ledger.drops[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

/// Submits job `id` one of three ways; it yields a few times, then returns `id`.
fn submit(
    handle: &Handle,
    rng: &mut XorShift,
    id: usize,
    ledger: &Arc<Ledger>,
) -> Completion<usize> {
    let tracked = Tracked {
        id,
        ledger: ledger.clone(),
    };
    let yields = rng.below(4);
    match rng.below(3) {
        0 => handle.submit(async move {
            let _tracked = tracked;
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            id
        }),
        1 => handle.submit_local(move || async move {
            let _tracked = tracked;
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            id
        }),
        _ => handle.run_callback(move || {
            let _tracked = tracked;
            id
        }),
    }
}

/// Checks a waited result: the value, or `Cancelled` exactly when a cancel won.
fn check(ledger: &Ledger, id: usize, cancel_won: bool, result: Result<usize, Error>) {
    match (cancel_won, result) {
        (false, Ok(value)) if value == id => {}
        (true, Err(error)) if error.is_cancelled() => {}
        (won, other) => ledger.wrong(format!("job {id} (cancel won: {won}) got {other:?}")),
    }
}

fn cancel(ledger: &Ledger, completion: &Completion<usize>) -> bool {
    let won = completion.cancel();
    if won {
        ledger.cancelled.fetch_add(1, Ordering::SeqCst);
    }
    won
}

fn run_thread(handle: &Handle, thread: usize, ledger: &Arc<Ledger>) {
    let mut rng = XorShift::new(thread as u64 + 1);
    let mut batch: Vec<(usize, Completion<usize>)> = Vec::new();
    for n in 0..JOBS_PER_THREAD {
        let id = thread * JOBS_PER_THREAD + n;
        let completion = submit(handle, &mut rng, id, ledger);
        match rng.below(5) {
            // Wait right away.
            0 => check(ledger, id, false, wait(completion)),
            // Cancel at once: usually before the loop got to it.
            1 => {
                let won = cancel(ledger, &completion);
                check(ledger, id, won, wait(completion));
            }
            // Keep it a while, then maybe cancel it mid-flight.
            2 => batch.push((id, completion)),
            // Hand it to a callback that must run exactly once.
            3 => {
                ledger.then_count.fetch_add(1, Ordering::SeqCst);
                let ledger = ledger.clone();
                completion.then(move |result| {
                    ledger.thens[id].fetch_add(1, Ordering::SeqCst);
                    check(&ledger, id, false, result);
                });
            }
            // Detach it: it runs on, unobserved.
            _ => drop(completion),
        }
        if batch.len() >= 16 {
            for (id, completion) in batch.drain(..) {
                let won = rng.below(2) == 0 && cancel(ledger, &completion);
                check(ledger, id, won, wait(completion));
            }
        }
    }
    for (id, completion) in batch {
        check(ledger, id, false, wait(completion));
    }
}

#[test]
fn every_job_resolves_once_and_every_future_is_dropped_once() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let ledger = Arc::new(Ledger::new());
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (handle, ledger, start) = (handle.clone(), ledger.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                run_thread(&handle, thread, &ledger);
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }

    let dropped = || {
        ledger
            .drops
            .iter()
            .map(|drops| drops.load(Ordering::SeqCst) as usize)
            .sum::<usize>()
    };
    eventually("every future is dropped", || dropped() >= JOBS);
    let thens = || {
        ledger
            .thens
            .iter()
            .map(|runs| runs.load(Ordering::SeqCst) as usize)
            .sum::<usize>()
    };
    let then_count = ledger.then_count.load(Ordering::SeqCst);
    eventually("every then callback ran", || thens() >= then_count);
    eventually("every job ended", || handle.stats().in_flight == 0);
    common::round_trip(&handle);

    let wrong = ledger.wrong.lock().unwrap();
    assert!(
        wrong.is_empty(),
        "{} wrong results: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    let twice: Vec<_> = (0..JOBS)
        .filter(|&id| ledger.drops[id].load(Ordering::SeqCst) != 1)
        .collect();
    assert!(
        twice.is_empty(),
        "futures not dropped exactly once: {twice:?}"
    );
    let thens_twice: Vec<_> = (0..JOBS)
        .filter(|&id| ledger.thens[id].load(Ordering::SeqCst) > 1)
        .collect();
    assert!(thens_twice.is_empty(), "then ran twice: {thens_twice:?}");
    assert_eq!(thens(), then_count);

    // The round trip is the one extra job.
    let stats = handle.stats();
    let cancelled = ledger.cancelled.load(Ordering::SeqCst);
    assert_eq!(stats.submitted, JOBS as u64 + 1);
    assert_eq!(stats.panicked, 0);
    assert_eq!(stats.cancelled, cancelled, "{stats:?}");
    assert_eq!(stats.finished, JOBS as u64 + 1 - cancelled, "{stats:?}");
    assert_eq!(stats.in_flight, 0);
}

#[test]
fn submissions_racing_a_shutdown_all_resolve() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let created = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (handle, start) = (handle.clone(), start.clone());
            let (created, dropped) = (created.clone(), dropped.clone());
            std::thread::spawn(move || {
                let mut rng = XorShift::new(100 + thread as u64);
                let mut completions = Vec::new();
                start.wait();
                // Submit until the bridge refuses.
                while handle.call_soon(|| {}).is_ok() {
                    created.fetch_add(1, Ordering::SeqCst);
                    let guard = common::DropCount(dropped.clone());
                    // Some never finish by themselves, so the shutdown must cut them off.
                    let forever = rng.below(8) == 0;
                    let yields = rng.below(3);
                    completions.push(handle.submit(async move {
                        let _guard = guard;
                        if forever {
                            std::future::pending::<()>().await;
                        }
                        for _ in 0..yields {
                            tokio::task::yield_now().await;
                        }
                    }));
                }
                completions
            })
        })
        .collect();
    start.wait();
    eventually("the threads are submitting", || {
        handle.stats().submitted >= 1_000
    });
    let report = bridge.shutdown(Duration::from_millis(20));
    let completions: Vec<Completion<()>> = threads
        .into_iter()
        .flat_map(|thread| thread.join().unwrap())
        .collect();

    // Every completion resolved: finished, or closed by the shutdown.
    let mut closed = 0;
    for completion in completions {
        match wait(completion) {
            Ok(()) => {}
            Err(error) if error.is_closed() => closed += 1,
            Err(error) => panic!("unexpected {error}"),
        }
    }
    assert!(closed > 0, "the never-ending jobs were closed ({report})");
    assert!(report.stuck.is_empty(), "{report}");
    eventually("every future is dropped", || {
        dropped.load(Ordering::SeqCst) >= created.load(Ordering::SeqCst)
    });
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        created.load(Ordering::SeqCst)
    );
}
