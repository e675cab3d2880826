//! `Handle::threadsafe_fn`: bounded, FIFO callbacks into the loop from any thread.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use loopbridge::{Bridge, CallMode};

#[test]
fn events_run_on_the_loop_in_order() {
    let bridge = Bridge::builder().thread_name("tsfn-loop").build().unwrap();
    let (tx, rx) = mpsc::channel();
    let f = bridge.handle().threadsafe_fn(4, move |n: u32| {
        let thread = std::thread::current().name().map(str::to_owned);
        tx.send((n, thread)).unwrap();
    });
    for n in 0..100 {
        f.call(n, CallMode::Blocking).unwrap();
    }
    let got: Vec<(u32, Option<String>)> = rx.iter().take(100).collect();
    assert!(got.iter().map(|(n, _)| *n).eq(0..100));
    assert!(got.iter().all(|(_, t)| t.as_deref() == Some("tsfn-loop")));
}

#[test]
fn a_full_queue_refuses_non_blocking_calls_and_bounds_what_is_queued() {
    let bridge = Bridge::new().unwrap();
    let (release, released) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let live = Arc::new(AtomicUsize::new(0));
    let counted = live.clone();
    let f = bridge.handle().threadsafe_fn(3, move |()| {
        started_tx.send(()).unwrap();
        released.recv().unwrap();
        counted.fetch_sub(1, Ordering::SeqCst);
    });
    let mut accepted = 0;
    let mut refused = 0;
    for _ in 0..10 {
        live.fetch_add(1, Ordering::SeqCst);
        match f.call((), CallMode::NonBlocking) {
            Ok(()) => accepted += 1,
            Err(error) => {
                assert!(error.is_queue_full(), "{error}");
                live.fetch_sub(1, Ordering::SeqCst);
                refused += 1;
            }
        }
    }
    assert_eq!(
        (accepted, refused),
        (3, 7),
        "the capacity bounds events queued or running"
    );
    for _ in 0..accepted {
        started.recv().unwrap();
        release.send(()).unwrap();
    }
    // Room comes back once they ran.
    f.call((), CallMode::Blocking).unwrap();
    started.recv().unwrap();
    release.send(()).unwrap();
}

#[test]
fn a_blocking_call_on_the_loop_thread_is_refused_and_a_timed_one_gives_up() {
    let bridge = Bridge::new().unwrap();
    let (release, released) = mpsc::channel::<()>();
    let f = bridge
        .handle()
        .threadsafe_fn(1, move |()| released.recv().unwrap());
    let on_loop = f.clone();
    let refused = bridge
        .handle()
        .run_callback(move || on_loop.call((), CallMode::Blocking))
        .wait()
        .unwrap();
    assert!(refused.unwrap_err().is_blocking_on_loop());
    f.call((), CallMode::NonBlocking).unwrap();
    let error = f.call_timeout((), Duration::from_millis(5)).unwrap_err();
    assert!(error.is_queue_full());
    release.send(()).unwrap();
}

#[test]
fn a_panicking_event_is_logged_and_the_next_one_runs() {
    let bridge = Bridge::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let f = bridge.handle().threadsafe_fn(8, move |n: u32| {
        assert!(n != 1, "event one is bad");
        tx.send(n).unwrap();
    });
    for n in 0..3 {
        f.call(n, CallMode::Blocking).unwrap();
    }
    assert_eq!(rx.iter().take(2).collect::<Vec<_>>(), [0, 2]);
}

#[test]
fn shutdown_runs_queued_events_by_default_and_refuses_later_calls() {
    let bridge = Bridge::new().unwrap();
    let (release, released) = mpsc::channel::<()>();
    let (ran_tx, ran) = mpsc::channel::<u32>();
    let f = bridge.handle().threadsafe_fn(8, move |n: u32| {
        if n == 0 {
            released.recv().unwrap();
        }
        ran_tx.send(n).unwrap();
    });
    for n in 0..5 {
        f.call(n, CallMode::NonBlocking).unwrap();
    }
    let handle = bridge.handle();
    let stopper = std::thread::spawn(move || bridge.shutdown(Duration::from_secs(30)));
    common::eventually("the shutdown started", || handle.call_soon(|| {}).is_err());
    assert!(f.call(99, CallMode::NonBlocking).unwrap_err().is_closed());
    assert!(f.call(99, CallMode::Blocking).unwrap_err().is_closed());
    release.send(()).unwrap();
    let report = stopper.join().unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(ran.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
}

#[test]
fn an_unrefd_function_drops_its_queued_events_at_shutdown() {
    let bridge = Bridge::new().unwrap();
    let (release, released) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Event(u32, Arc<AtomicUsize>);
    impl Drop for Event {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (ran_tx, ran) = mpsc::channel::<u32>();
    let f = bridge.handle().threadsafe_fn(8, move |event: Event| {
        if event.0 == 0 {
            started_tx.send(()).unwrap();
            released.recv().unwrap();
        }
        ran_tx.send(event.0).unwrap();
    });
    f.drain_on_shutdown(false);
    for n in 0..5 {
        f.call(Event(n, dropped.clone()), CallMode::NonBlocking)
            .unwrap();
    }
    started.recv().unwrap();
    let handle = bridge.handle();
    let stopper = std::thread::spawn(move || bridge.shutdown(Duration::from_secs(30)));
    common::eventually("the shutdown started", || handle.call_soon(|| {}).is_err());
    release.send(()).unwrap();
    let report = stopper.join().unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        ran.iter().collect::<Vec<_>>(),
        [0],
        "the queued ones were dropped unrun"
    );
    // The four queued ones were dropped, and the one that ran with it.
    drop(f);
    common::eventually("events dropped", || dropped.load(Ordering::SeqCst) == 5);
}

#[test]
fn dropping_every_caller_runs_what_is_queued_and_ends_the_job() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (tx, rx) = mpsc::channel();
    let f = handle.threadsafe_fn(16, move |n: u32| tx.send(n).unwrap());
    let other = f.clone();
    for n in 0..10 {
        f.call(n, CallMode::NonBlocking).unwrap();
    }
    drop(f);
    other.call(10, CallMode::NonBlocking).unwrap();
    drop(other);
    // The sender went with the closure: the channel ends once the job ended.
    assert_eq!(rx.iter().collect::<Vec<_>>(), (0..=10).collect::<Vec<_>>());
    common::eventually("the job ended", || handle.jobs().is_empty());
}

#[test]
fn calls_on_a_closed_bridge_answer_closed() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    drop(bridge);
    let f = handle.threadsafe_fn(1, |()| {});
    assert!(f.call((), CallMode::NonBlocking).unwrap_err().is_closed());
    assert!(f.call((), CallMode::Blocking).unwrap_err().is_closed());
}

/// Spins for about `units` of work (a black box the optimizer keeps).
fn work(units: u64) {
    std::hint::black_box((0..units).map(std::hint::black_box).sum::<u64>());
}

#[test]
fn a_producer_ten_times_faster_than_the_loop_keeps_the_queue_at_its_capacity() {
    const CAPACITY: usize = 16;
    const EVENTS: usize = 3_000;
    let bridge = Bridge::new().unwrap();
    let in_queue = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (inside, peak_seen) = (in_queue.clone(), peak.clone());
    let (done_tx, done) = mpsc::channel::<()>();
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = ran.clone();
    let f = bridge.handle().threadsafe_fn(CAPACITY, move |()| {
        peak_seen.fetch_max(inside.load(Ordering::SeqCst), Ordering::SeqCst);
        work(2_000);
        inside.fetch_sub(1, Ordering::SeqCst);
        if counted.fetch_add(1, Ordering::SeqCst) + 1 == EVENTS {
            let _ = done_tx.send(());
        }
    });
    for _ in 0..EVENTS {
        work(200);
        in_queue.fetch_add(1, Ordering::SeqCst);
        f.call((), CallMode::Blocking).unwrap();
    }
    common::recv(&done, "every event ran");
    let peak = peak.load(Ordering::SeqCst);
    println!("peak queue length: {peak} events (capacity {CAPACITY}, {EVENTS} events)");
    // Counted before the call: the producer's next event may be waiting for room.
    assert!(
        peak <= CAPACITY + 1,
        "peak {peak} over a capacity of {CAPACITY}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), EVENTS, "none lost");
}

#[test]
fn producers_much_faster_than_the_loop_stay_within_the_capacity() {
    let bridge = Bridge::new().unwrap();
    let in_queue = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (inside, peak_seen) = (in_queue.clone(), peak.clone());
    let f = bridge.handle().threadsafe_fn(32, move |()| {
        peak_seen.fetch_max(inside.load(Ordering::SeqCst), Ordering::SeqCst);
        // A slow consumer.
        std::hint::black_box((0..2_000).sum::<u64>());
        inside.fetch_sub(1, Ordering::SeqCst);
    });
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let (f, in_queue) = (f.clone(), in_queue.clone());
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    in_queue.fetch_add(1, Ordering::SeqCst);
                    f.call((), CallMode::Blocking).unwrap();
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    // Counted before the call: one per producer may be waiting for room.
    assert!(
        peak.load(Ordering::SeqCst) <= 32 + 2,
        "{}",
        peak.load(Ordering::SeqCst)
    );
}
