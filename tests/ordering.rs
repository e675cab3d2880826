//! FIFO: what one thread hands to the loop with `call_soon`, `run_callback` and
//! `submit` starts in the order it was handed over.

mod common;

use std::sync::{Arc, Barrier, Mutex};

use common::{wait, Hold};
use loopbridge::{Bridge, Completion, Handle};

const COUNT: usize = 300;

type Log = Arc<Mutex<Vec<(usize, usize)>>>;

/// Hands `COUNT` jobs to the loop from the calling thread, cycling through the three
/// ways in; each records `(source, n)` when it starts.
fn hand_over(handle: &Handle, log: &Log, source: usize) -> Vec<Completion<()>> {
    let mut completions = Vec::new();
    for n in 0..COUNT {
        let log = log.clone();
        let record = move || log.lock().unwrap().push((source, n));
        match n % 3 {
            0 => handle.call_soon(record).unwrap(),
            1 => completions.push(handle.run_callback(record)),
            // The future records on its first poll, which is when it starts.
            _ => completions.push(handle.submit(async move { record() })),
        }
    }
    completions
}

fn order_of(log: &Log, source: usize) -> Vec<usize> {
    let log = log.lock().unwrap();
    log.iter()
        .filter(|(from, _)| *from == source)
        .map(|(_, n)| *n)
        .collect()
}

fn wait_all(completions: Vec<Completion<()>>) {
    for completion in completions {
        wait(completion).unwrap();
    }
}

#[test]
fn call_soon_callbacks_run_in_submission_order() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    // Holding the loop lets every callback queue up before any runs.
    let hold = Hold::loop_of(&handle);
    let log = Log::default();
    for n in 0..COUNT {
        let log = log.clone();
        handle
            .call_soon(move || log.lock().unwrap().push((0, n)))
            .unwrap();
    }
    wait(hold.release()).unwrap();
    common::round_trip(&handle);
    assert_eq!(order_of(&log, 0), (0..COUNT).collect::<Vec<_>>());
}

#[test]
fn call_soon_run_callback_and_submit_share_one_queue() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let log = Log::default();

    let hold = Hold::loop_of(&handle);
    let completions = hand_over(&handle, &log, 0);
    wait(hold.release()).unwrap();
    wait_all(completions);
    common::round_trip(&handle);
    assert_eq!(order_of(&log, 0), (0..COUNT).collect::<Vec<_>>());

    // Also while the loop is running them as they come.
    let completions = hand_over(&handle, &log, 1);
    wait_all(completions);
    common::round_trip(&handle);
    assert_eq!(order_of(&log, 1), (0..COUNT).collect::<Vec<_>>());
}

#[test]
fn each_threads_jobs_keep_their_order_when_threads_race() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let log = Log::default();
    let threads = 3;
    let start = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|source| {
            let (handle, log, start) = (handle.clone(), log.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                wait_all(hand_over(&handle, &log, source));
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    common::round_trip(&handle);
    for source in 0..threads {
        assert_eq!(order_of(&log, source), (0..COUNT).collect::<Vec<_>>());
    }
}

#[test]
fn jobs_handed_over_from_the_loop_thread_keep_their_order() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let log = Log::default();
    let (inner, inner_log) = (handle.clone(), log.clone());
    let completions = wait(handle.run_callback(move || hand_over(&inner, &inner_log, 0))).unwrap();
    wait_all(completions);
    common::round_trip(&handle);
    assert_eq!(order_of(&log, 0), (0..COUNT).collect::<Vec<_>>());
}
