//! `global()`: one lazily started, process-wide bridge, shared by every thread.

mod common;

use std::sync::{Arc, Barrier};

use common::wait;
use loopbridge::{global, is_any_loop_thread};

#[test]
fn every_thread_gets_the_same_handle() {
    let threads = 4;
    let start = Arc::new(Barrier::new(threads));
    // Racing first uses must still start exactly one bridge.
    let addresses: Vec<usize> = (0..threads)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                std::ptr::from_ref(global()) as usize
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    assert!(addresses.iter().all(|&address| address == addresses[0]));
    assert_eq!(addresses[0], std::ptr::from_ref(global()) as usize);

    let loop_threads: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(|| {
                wait(global().run_callback(|| std::thread::current().id())).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    assert!(
        loop_threads.iter().all(|&id| id == loop_threads[0]),
        "one loop thread"
    );
}

#[test]
fn the_global_bridge_runs_on_its_named_loop_thread() {
    let name = wait(global().run_callback(|| std::thread::current().name().map(str::to_owned)));
    assert_eq!(name.unwrap().as_deref(), Some("loopbridge-global"));
    assert!(!global().is_loop_thread());
    let on_loop =
        wait(global().submit(async { (global().is_loop_thread(), is_any_loop_thread()) }));
    assert_eq!(on_loop.unwrap(), (true, true));
}

#[test]
fn the_global_bridge_runs_async_code_and_keeps_its_rules() {
    assert_eq!(global().block_on(async { 1 + 2 }).unwrap(), 3);
    let timed = global().block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_millis(1),
            std::future::pending::<()>(),
        )
        .await
        .is_err()
    });
    assert!(timed.unwrap());
    let refused = wait(global().run_callback(|| global().block_on(async {}))).unwrap();
    assert!(refused.unwrap_err().is_blocking_on_loop());
    let error = wait(global().submit(async { panic!("global job") })).unwrap_err();
    assert_eq!(error.panic_message(), Some("global job"));
    assert_eq!(
        global().block_on(async { "still serving" }).unwrap(),
        "still serving"
    );
}
