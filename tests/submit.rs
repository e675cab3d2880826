//! Getting work onto the loop: `submit`, `submit_local`, `block_on`, `run_callback`,
//! `add_job`, named jobs, and the call sites they record.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::Duration;

use common::{recv, wait};
use loopbridge::{Bridge, Completion, Error, Handle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn handles_and_errors_cross_threads() {
    // The contract: Handle and Error are Send + Sync, so they can go anywhere.
    assert_send_sync::<Handle>();
    assert_send_sync::<Error>();
    assert_send_sync::<loopbridge::Site>();
    assert_send_sync::<Bridge>();
}

#[test]
fn submit_returns_the_future_output() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    assert_eq!(wait(handle.submit(async { 6 * 7 })).unwrap(), 42);
    let owned = wait(handle.submit(async { vec![String::from("a"), String::from("b")] }));
    assert_eq!(owned.unwrap(), ["a", "b"]);
    // The unit type and results of the job's own are values like any other.
    wait(handle.submit(async {})).unwrap();
    let inner: Result<u8, String> = wait(handle.submit(async { Err("no".to_owned()) })).unwrap();
    assert_eq!(inner, Err("no".to_owned()));
}

#[test]
fn submitted_futures_run_on_the_named_loop_thread() {
    let bridge = Bridge::builder()
        .thread_name("submit-loop")
        .build()
        .unwrap();
    let handle = bridge.handle();
    let probe = handle.clone();
    let (name, on_loop) = wait(handle.submit(async move {
        let name = std::thread::current().name().map(str::to_owned);
        (name, probe.is_loop_thread())
    }))
    .unwrap();
    assert_eq!(name.as_deref(), Some("submit-loop"));
    assert!(on_loop);
    assert!(!handle.is_loop_thread());
}

#[test]
fn submit_local_builds_a_non_send_future_on_the_loop() {
    let bridge = Bridge::builder().thread_name("local-loop").build().unwrap();
    let handle = bridge.handle();
    let completion = handle.submit_local(|| {
        // `make` itself runs on the loop thread, where the Rc is created and stays.
        let made_on = std::thread::current().name().map(str::to_owned);
        let shared = Rc::new(RefCell::new(vec![1]));
        async move {
            shared.borrow_mut().push(2);
            tokio::task::yield_now().await;
            shared.borrow_mut().push(3);
            (made_on, shared.borrow().clone())
        }
    });
    let (made_on, values) = wait(completion).unwrap();
    assert_eq!(made_on.as_deref(), Some("local-loop"));
    assert_eq!(values, [1, 2, 3]);
}

#[test]
fn block_on_waits_for_the_value_from_any_thread() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    assert_eq!(handle.block_on(async { "here" }).unwrap(), "here");
    let workers: Vec<_> = (0..4u64)
        .map(|n| {
            let handle = handle.clone();
            std::thread::spawn(move || handle.block_on(async move { n * 10 }))
        })
        .collect();
    let results: Vec<u64> = workers
        .into_iter()
        .map(|worker| worker.join().unwrap().unwrap())
        .collect();
    assert_eq!(results, [0, 10, 20, 30]);
}

#[test]
fn run_callback_runs_the_closure_on_the_loop_thread() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let probe = handle.clone();
    let (value, on_loop) =
        wait(handle.run_callback(move || (String::from("cb"), probe.is_loop_thread()))).unwrap();
    assert_eq!(value, "cb");
    assert!(on_loop);
}

#[test]
fn add_job_runs_to_the_end() {
    let bridge = Bridge::new().unwrap();
    let (tx, rx) = mpsc::channel();
    bridge.handle().add_job(async move {
        tokio::task::yield_now().await;
        tx.send("ran").unwrap();
    });
    assert_eq!(recv(&rx, "the add_job job ran"), "ran");
}

#[test]
fn a_dropped_completion_detaches_its_job_which_keeps_running() {
    let bridge = Bridge::new().unwrap();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    drop(bridge.handle().submit(async move {
        go_rx.await.unwrap();
        done_tx.send("finished").unwrap();
    }));
    go_tx.send(()).unwrap();
    assert_eq!(recv(&done_rx, "the detached job finished"), "finished");
}

#[test]
fn every_submission_names_the_line_that_made_it() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let here = file!();

    let (c, line) = (handle.submit(async { 1 }), line!());
    check_site(c, here, line, None);
    let (c, line) = (handle.submit_local(|| async { 1 }), line!());
    check_site(c, here, line, None);
    let (c, line) = (handle.run_callback(|| 1), line!());
    check_site(c, here, line, None);

    let job = handle.job("named");
    let (c, line) = (job.submit(async { 1 }), line!());
    check_site(c, here, line, Some("named"));
    let (c, line) = (job.submit_local(|| async { 1 }), line!());
    check_site(c, here, line, Some("named"));
    let (c, line) = (job.run_callback(|| 1), line!());
    check_site(c, here, line, Some("named"));

    // A named site displays as "name at file:line:col".
    let c = handle.job("sync users").submit(async {});
    assert!(c
        .site()
        .to_string()
        .starts_with(&format!("sync users at {here}:")));
    wait(c).unwrap();
}

#[track_caller]
fn check_site(c: Completion<i32>, file: &str, line: u32, name: Option<&str>) {
    assert_eq!(c.site().location().file(), file);
    assert_eq!(c.site().location().line(), line);
    assert_eq!(c.site().name(), name);
    assert!(c.site().to_string().contains(&common::at(file, line)));
    assert_eq!(wait(c).unwrap(), 1);
}

#[test]
fn errors_from_block_on_and_call_soon_name_their_call() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let inner = handle.clone();
    let refused = handle.run_callback(move || {
        let line = line!() + 1;
        (inner.block_on(async {}).unwrap_err(), line)
    });
    let (error, line) = wait(refused).unwrap();
    assert!(error.is_blocking_on_loop());
    assert_eq!(error.site().location().file(), file!());
    assert_eq!(error.site().location().line(), line);

    let _ = bridge.shutdown(common::WAIT);
    let (error, line) = (handle.block_on(async {}).unwrap_err(), line!());
    assert!(error.is_closed());
    assert_eq!(error.site().location().line(), line);
    let (error, line) = (handle.call_soon(|| {}).unwrap_err(), line!());
    assert!(error.is_closed());
    assert_eq!(error.site().location().line(), line);
}

#[test]
fn tokio_timers_work_inside_a_job() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let outcome = wait(handle.submit(async {
        let before = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let slept = before.elapsed();
        // A timeout around a future that never completes needs the time driver to fire.
        let timed_out =
            tokio::time::timeout(Duration::from_millis(1), std::future::pending::<()>())
                .await
                .is_err();
        (slept >= Duration::from_millis(2), timed_out)
    }))
    .unwrap();
    assert_eq!(outcome, (true, true));
}

#[test]
fn a_loopback_tcp_exchange_works_inside_a_job() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let echoed = wait(handle.submit(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = async {
            let (mut socket, _) = listener.accept().await?;
            let mut request = [0u8; 4];
            socket.read_exact(&mut request).await?;
            request.reverse();
            socket.write_all(&request).await?;
            Ok::<_, std::io::Error>(())
        };
        let client = async {
            let mut socket = tokio::net::TcpStream::connect(address).await?;
            socket.write_all(b"ping").await?;
            let mut reply = Vec::new();
            socket.read_to_end(&mut reply).await?;
            Ok::<_, std::io::Error>(reply)
        };
        let (served, reply) = tokio::join!(server, client);
        served?;
        reply
    }))
    .unwrap()
    .unwrap();
    assert_eq!(echoed, b"gnip");
}

#[test]
fn a_job_can_await_another_job() {
    let bridge = Bridge::new().unwrap();
    let other = Bridge::new().unwrap();
    let handle = bridge.handle();
    let same = handle.clone();
    let foreign = other.handle();
    let total = wait(handle.submit(async move {
        let here = same.submit(async { 20 }).await.unwrap();
        let there = foreign.run_callback(|| 22).await.unwrap();
        here + there
    }))
    .unwrap();
    assert_eq!(total, 42);
}

#[test]
fn jobs_that_never_stop_waking_do_not_starve_timers_or_tokio_tasks() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let stop = Arc::new(AtomicBool::new(false));
    // Busy jobs: always ready to run again, so the loop's queue is never empty.
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            handle.submit(std::future::poll_fn(move |cx| {
                if stop.load(Ordering::Relaxed) {
                    return Poll::Ready(());
                }
                cx.waker().wake_by_ref();
                Poll::Pending
            }))
        })
        .collect();
    // A timer and a task spawned with tokio directly still get their turn.
    let timer = handle.submit(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let task = tokio::spawn(async { 7 });
        task.await.unwrap()
    });
    assert_eq!(wait(timer).unwrap(), 7);
    stop.store(true, Ordering::Relaxed);
    for job in busy {
        wait(job).unwrap();
    }
}
