//! `LoopBound<T>`: values built, used and dropped on the loop thread, inside its runtime,
//! whichever thread drops the last handle; async closes that shutdown waits for.

mod common;

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread::{self, ThreadId};
use std::time::Duration;

use loopbridge::{AsyncClose, Bridge, Handle, LoopBound};

use common::{recv, wait};

/// Where a value was dropped.
#[derive(Debug)]
struct Seen {
    thread: ThreadId,
    in_runtime: bool,
}

/// A value that reports where it is dropped.
struct Observed {
    value: Box<dyn Any>,
    seen: mpsc::Sender<Seen>,
}

impl Drop for Observed {
    fn drop(&mut self) {
        let _ = self.seen.send(Seen {
            thread: thread::current().id(),
            in_runtime: tokio::runtime::Handle::try_current().is_ok(),
        });
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    TcpStream,
    Receiver,
    Interval,
}

/// The tokio resource of `kind`, made on the loop thread (inside its runtime).
fn make(kind: Kind) -> Box<dyn Any> {
    match kind {
        Kind::TcpStream => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (_accepted, _) = listener.accept().unwrap();
            stream.set_nonblocking(true).unwrap();
            Box::new(tokio::net::TcpStream::from_std(stream).unwrap())
        }
        Kind::Receiver => {
            let (tx, rx) = tokio::sync::mpsc::channel::<u32>(1);
            Box::new((tx, rx))
        }
        Kind::Interval => Box::new(tokio::time::interval(Duration::from_millis(1))),
    }
}

fn loop_thread(handle: &Handle) -> ThreadId {
    wait(handle.run_callback(|| thread::current().id())).unwrap()
}

fn bind_observed(
    handle: &Handle,
    kind: Kind,
) -> (
    loopbridge::Completion<LoopBound<Observed>>,
    mpsc::Receiver<Seen>,
) {
    let (seen, dropped) = mpsc::channel();
    let bound = handle.bind(move || Observed {
        value: make(kind),
        seen,
    });
    (bound, dropped)
}

fn assert_dropped_on_loop(dropped: &mpsc::Receiver<Seen>, loop_id: ThreadId) {
    let seen = recv(dropped, "the value's drop");
    assert_eq!(
        seen.thread, loop_id,
        "dropped off the loop thread: {seen:?}"
    );
    assert!(seen.in_runtime, "dropped outside the runtime: {seen:?}");
}

fn dropped_from_a_plain_thread(kind: Kind) {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let loop_id = loop_thread(&handle);
    let (bound, dropped) = bind_observed(&handle, kind);
    let bound = wait(bound).unwrap();
    // Used on the loop (it is there), then dropped from another thread.
    assert!(wait(bound.with(|observed| observed.value.is::<()>())).is_ok());
    thread::spawn(move || drop(bound)).join().unwrap();
    assert_dropped_on_loop(&dropped, loop_id);
}

#[test]
fn a_tcp_stream_dropped_from_a_plain_thread_drops_on_the_loop() {
    dropped_from_a_plain_thread(Kind::TcpStream);
}

#[test]
fn a_receiver_dropped_from_a_plain_thread_drops_on_the_loop() {
    dropped_from_a_plain_thread(Kind::Receiver);
}

#[test]
fn an_interval_dropped_from_a_plain_thread_drops_on_the_loop() {
    dropped_from_a_plain_thread(Kind::Interval);
}

/// Dropped inside another runtime's async context (the test's own runtime).
async fn dropped_in_a_host_runtime(kind: Kind) {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let loop_id = handle
        .run_callback(|| thread::current().id())
        .await
        .unwrap();
    let (bound, dropped) = bind_observed(&handle, kind);
    let bound = bound.await.unwrap();
    drop(bound);
    let seen = tokio::task::spawn_blocking(move || recv(&dropped, "the value's drop"))
        .await
        .unwrap();
    assert_eq!(seen.thread, loop_id, "{seen:?}");
    assert!(seen.in_runtime, "{seen:?}");
    tokio::task::spawn_blocking(move || drop(bridge))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tcp_stream_dropped_in_a_current_thread_runtime_drops_on_the_loop() {
    dropped_in_a_host_runtime(Kind::TcpStream).await;
}

#[tokio::test]
async fn a_receiver_dropped_in_a_current_thread_runtime_drops_on_the_loop() {
    dropped_in_a_host_runtime(Kind::Receiver).await;
}

#[tokio::test]
async fn an_interval_dropped_in_a_current_thread_runtime_drops_on_the_loop() {
    dropped_in_a_host_runtime(Kind::Interval).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_stream_dropped_in_a_multi_thread_runtime_drops_on_the_loop() {
    dropped_in_a_host_runtime(Kind::TcpStream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_dropped_in_a_multi_thread_runtime_drops_on_the_loop() {
    dropped_in_a_host_runtime(Kind::Receiver).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interval_dropped_in_a_multi_thread_runtime_drops_on_the_loop() {
    dropped_in_a_host_runtime(Kind::Interval).await;
}

#[test]
fn a_handle_dropped_on_the_loop_drops_the_value_there_at_once() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let loop_id = loop_thread(&handle);
    let (bound, dropped) = bind_observed(&handle, Kind::Interval);
    let bound = wait(bound).unwrap();
    // Dropped inside a callback: gone before the callback returns.
    let gone = wait(handle.run_callback(move || {
        drop(bound);
        true
    }))
    .unwrap();
    assert!(gone);
    let seen = dropped.try_recv().expect("dropped within the callback");
    assert_eq!(seen.thread, loop_id);
    assert!(seen.in_runtime);
}

#[test]
fn values_still_bound_at_shutdown_drop_on_the_loop_inside_the_runtime() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let loop_id = loop_thread(&handle);
    let (bound, dropped) = bind_observed(&handle, Kind::TcpStream);
    let bound = wait(bound).unwrap();
    let report = bridge.shutdown(Duration::from_secs(10));
    assert!(report.is_clean(), "{report}");
    // Dropped by the shutdown, before it returned.
    let seen = dropped.try_recv().expect("dropped by the shutdown");
    assert_eq!(seen.thread, loop_id);
    assert!(seen.in_runtime);
    // The handle outlives the bridge: using it is refused, dropping it does nothing more.
    assert!(wait(bound.with(|_| ())).unwrap_err().is_closed());
    drop(bound);
    assert!(dropped.try_recv().is_err());
}

#[test]
fn values_that_are_not_send_stay_on_the_loop() {
    let bridge = Bridge::new().unwrap();
    let names = wait(
        bridge
            .handle()
            .bind(|| Rc::new(RefCell::new(Vec::<String>::new()))),
    )
    .unwrap();
    let writer = names.clone();
    thread::spawn(move || wait(writer.with(|names| names.borrow_mut().push("ada".into()))))
        .join()
        .unwrap()
        .unwrap();
    let (len, strong) =
        wait(names.with(|names| (names.borrow().len(), Rc::strong_count(names)))).unwrap();
    assert_eq!((len, strong), (1, 1));
}

#[test]
fn with_from_many_threads_counts_every_call() {
    const THREADS: usize = 8;
    const CALLS: usize = 200;
    let bridge = Bridge::new().unwrap();
    let counter = wait(
        bridge
            .handle()
            .bind(|| Rc::new(std::cell::Cell::new(0_usize))),
    )
    .unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let counter = counter.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                for _ in 0..CALLS {
                    wait(counter.with(|c| c.set(c.get() + 1))).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(wait(counter.with(|c| c.get())).unwrap(), THREADS * CALLS);
}

#[test]
fn with_async_keeps_the_borrow_across_awaits_and_takes_turns() {
    let bridge = Bridge::new().unwrap();
    let log = wait(bridge.handle().bind(Vec::<(u32, &'static str)>::new)).unwrap();
    let jobs: Vec<_> = (0..4)
        .map(|n| {
            log.with_async(async move |log: &mut Vec<(u32, &'static str)>| {
                log.push((n, "begin"));
                tokio::time::sleep(Duration::from_millis(1)).await;
                tokio::task::yield_now().await;
                log.push((n, "end"));
                n
            })
        })
        .collect();
    let plain = log.with(|log| log.push((9, "with")));
    for (n, job) in jobs.into_iter().enumerate() {
        assert_eq!(wait(job).unwrap(), n as u32);
    }
    wait(plain).unwrap();
    let log = wait(log.with(|log| log.clone())).unwrap();
    // Serialized, first come first served: no job's begin and end are split.
    let expected: Vec<_> = (0..4)
        .flat_map(|n| [(n, "begin"), (n, "end")])
        .chain([(9, "with")])
        .collect();
    assert_eq!(log, expected);
}

#[test]
fn with_async_reads_a_bound_receiver_across_awaits() {
    let bridge = Bridge::new().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<u32>(4);
    let rx = wait(bridge.handle().bind(move || rx)).unwrap();
    let sum = rx.with_async(async |rx: &mut tokio::sync::mpsc::Receiver<u32>| {
        let mut sum = 0;
        while let Some(n) = rx.recv().await {
            sum += n;
        }
        sum
    });
    for n in 1..=4 {
        tx.blocking_send(n).unwrap();
    }
    drop(tx);
    assert_eq!(wait(sum).unwrap(), 10);
}

#[test]
fn a_panic_in_with_is_an_error_and_the_value_stays() {
    let bridge = Bridge::new().unwrap();
    let value = wait(bridge.handle().bind(|| 41)).unwrap();
    let error = wait(value.with(|_| -> () { panic!("bad update") })).unwrap_err();
    assert_eq!(error.panic_message(), Some("bad update"));
    assert_eq!(wait(value.with(|v| *v + 1)).unwrap(), 42);
}

#[test]
fn bind_on_a_closed_bridge_is_refused_without_running_make() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    drop(bridge);
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let error = wait(handle.bind(move || flag.store(true, Ordering::SeqCst))).unwrap_err();
    assert!(error.is_closed());
    assert!(error.site().location().file().ends_with("loop_bound.rs"));
    assert!(!ran.load(Ordering::SeqCst));
}

/// A client whose close awaits a timer and a oneshot, then sets its flag.
struct Client {
    go: tokio::sync::oneshot::Receiver<()>,
    closed: Arc<AtomicBool>,
}

impl AsyncClose for Client {
    async fn close(self) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let _ = self.go.await;
        self.closed.store(true, Ordering::SeqCst);
    }
}

fn client(
    handle: &Handle,
) -> (
    LoopBound<Client>,
    tokio::sync::oneshot::Sender<()>,
    Arc<AtomicBool>,
) {
    let (go_tx, go) = tokio::sync::oneshot::channel();
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    let bound = wait(handle.bind_closing(move || Client { go, closed: flag })).unwrap();
    (bound, go_tx, closed)
}

#[test]
fn the_close_of_a_dropped_value_ends_before_shutdown_returns() {
    let bridge = Bridge::new().unwrap();
    let (bound, go, closed) = client(&bridge.handle());
    drop(bound); // the close starts, and waits for `go`
    go.send(()).unwrap();
    let report = bridge.shutdown(Duration::from_secs(30));
    assert!(closed.load(Ordering::SeqCst), "{report}");
    assert!(report.is_clean(), "{report}");
    assert!(report.unclosed.is_empty());
}

#[test]
fn a_value_still_bound_at_shutdown_is_closed_before_shutdown_returns() {
    let bridge = Bridge::new().unwrap();
    let (bound, go, closed) = client(&bridge.handle());
    go.send(()).unwrap();
    let report = bridge.shutdown(Duration::from_secs(30));
    assert!(closed.load(Ordering::SeqCst), "{report}");
    assert!(report.is_clean(), "{report}");
    drop(bound); // closed already: nothing more happens
    assert!(closed.load(Ordering::SeqCst));
}

#[test]
fn a_close_still_running_at_the_deadline_is_cut_off_and_named() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    // One close as a job (its handle dropped), one by the shutdown (its handle alive).
    let (dropped, _go_dropped, dropped_closed) = client(&handle);
    let (alive, _go_alive, alive_closed) = client(&handle);
    drop(dropped);
    let report = bridge.shutdown(Duration::from_millis(100));
    assert!(!dropped_closed.load(Ordering::SeqCst));
    assert!(!alive_closed.load(Ordering::SeqCst));
    assert!(!report.is_clean(), "{report}");
    assert_eq!(report.unclosed.len(), 2, "{report}");
    for site in &report.unclosed {
        assert!(site.name().unwrap().starts_with("close "), "{site}");
        assert!(site.name().unwrap().contains("Client"), "{site}");
    }
    let jobs = report
        .stages
        .iter()
        .find(|stage| stage.name == "jobs")
        .unwrap();
    assert_eq!(jobs.held_up_by.len(), 2, "{report}");
    assert!(report.to_string().contains("did not end"), "{report}");
    drop(alive);
}

#[test]
fn close_runs_the_close_and_waits_for_it() {
    let bridge = Bridge::new().unwrap();
    let (bound, go, closed) = client(&bridge.handle());
    go.send(()).unwrap();
    bound.close(common::WAIT).unwrap();
    assert!(closed.load(Ordering::SeqCst));
    let report = bridge.shutdown(Duration::from_secs(30));
    assert!(report.is_clean(), "{report}");
}

#[test]
fn close_with_other_handles_alive_is_refused_and_the_last_drop_closes() {
    let bridge = Bridge::new().unwrap();
    let (bound, go, closed) = client(&bridge.handle());
    let other = bound.clone();
    let (error, close_line) = (bound.close(common::WAIT).unwrap_err(), line!());
    assert!(error.is_still_shared(), "{error}");
    assert!(!error.is_unavailable(), "{error}");
    assert!(
        matches!(error, loopbridge::Error::StillShared { others: 1, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("1 other handle"), "{error}");
    assert_eq!(error.site().location().line(), close_line);
    go.send(()).unwrap();
    drop(other);
    common::eventually("the last drop closes the value", || {
        closed.load(Ordering::SeqCst)
    });
}

#[test]
fn close_that_times_out_names_its_call_and_the_close_goes_on() {
    let bridge = Bridge::new().unwrap();
    let (bound, go, closed) = client(&bridge.handle());
    let error = bound.close(Duration::from_millis(5)).unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(error.site().location().line(), line!() - 2);
    go.send(()).unwrap();
    let report = bridge.shutdown(Duration::from_secs(30));
    assert!(closed.load(Ordering::SeqCst), "{report}");
    assert!(report.is_clean(), "{report}");
}

#[test]
fn close_of_a_value_without_a_close_drops_it_on_the_loop() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let loop_id = loop_thread(&handle);
    let (bound, dropped) = bind_observed(&handle, Kind::Receiver);
    wait(bound).unwrap().close(common::WAIT).unwrap();
    let seen = dropped
        .try_recv()
        .expect("dropped by the time close returned");
    assert_eq!(seen.thread, loop_id);
}

#[test]
fn close_after_shutdown_is_refused() {
    let bridge = Bridge::new().unwrap();
    let (bound, go, closed) = client(&bridge.handle());
    go.send(()).unwrap();
    drop(bridge);
    assert!(closed.load(Ordering::SeqCst));
    assert!(bound.close(common::WAIT).unwrap_err().is_closed());
}

#[test]
fn closes_run_exactly_once_however_the_handles_go() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let closes = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl AsyncClose for Counted {
        async fn close(self) {
            tokio::task::yield_now().await;
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let bound: Vec<_> = (0..16)
        .map(|_| {
            let closes = closes.clone();
            wait(handle.bind_closing(move || Counted(closes))).unwrap()
        })
        .collect();
    // Half dropped before the shutdown, half dropped by threads racing it.
    let (early, late): (Vec<_>, Vec<_>) =
        bound.into_iter().enumerate().partition(|(n, _)| n % 2 == 0);
    drop(early);
    let start = Arc::new(Barrier::new(late.len() + 1));
    let droppers: Vec<_> = late
        .into_iter()
        .map(|(_, bound)| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                drop(bound);
            })
        })
        .collect();
    start.wait();
    let report = bridge.shutdown(Duration::from_secs(30));
    for dropper in droppers {
        dropper.join().unwrap();
    }
    assert!(report.is_clean(), "{report}");
    assert_eq!(closes.load(Ordering::SeqCst), 16);
}

/// A value whose close reports on a channel.
struct Reports(mpsc::Sender<&'static str>);

impl AsyncClose for Reports {
    async fn close(self) {
        let _ = self.0.send("closed");
    }
}

#[test]
fn a_close_that_finds_the_loop_full_runs_once_a_place_frees_up() {
    let bridge = Bridge::builder().max_pending(2).build().unwrap();
    let handle = bridge.handle();
    let (closes_tx, closes) = mpsc::channel();
    let bound = wait(handle.bind_closing(move || Reports(closes_tx))).unwrap();
    // Both places held by jobs that wait to be released.
    let (release_first, first_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_second, second_rx) = tokio::sync::oneshot::channel::<()>();
    // The bind's own place comes back just after its result: take both as they free.
    let mut places = Vec::new();
    common::eventually("both places are free", || {
        places.extend(handle.try_reserve().ok());
        places.len() == 2
    });
    let first = places
        .pop()
        .unwrap()
        .submit(async move { first_rx.await.is_ok() });
    let second = places
        .pop()
        .unwrap()
        .submit(async move { second_rx.await.is_ok() });
    assert!(handle.try_reserve().unwrap_err().is_queue_full());
    // The last handle goes while the loop is full: the close cannot be submitted now.
    drop(bound);
    // One place frees up: the close takes it, long before any shutdown.
    release_first.send(()).unwrap();
    assert!(wait(first).unwrap());
    assert_eq!(recv(&closes, "the deferred close"), "closed");
    release_second.send(()).unwrap();
    assert!(wait(second).unwrap());
    let report = bridge.shutdown(Duration::from_secs(30));
    assert!(report.is_clean(), "{report}");
    assert!(report.unclosed.is_empty(), "{report}");
    // Closed exactly once.
    assert!(closes.try_recv().is_err());
}
