//! loom models of the slot under `Completion`: a spawned loom thread stands in for the
//! loop thread (or for shutdown), the model's own thread is the reader.

use std::future::poll_fn;
use std::time::{Duration, Instant};

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::{cancelled, closed, Outcome, Resolved, Slot};
use loopbridge::Error;

/// A value that counts its drops, to check it is dropped exactly once whoever ends up
/// owning it.
struct Counted {
    value: u32,
    drops: Arc<AtomicUsize>,
}

impl Counted {
    fn new(value: u32, drops: &Arc<AtomicUsize>) -> Counted {
        Counted {
            value,
            drops: drops.clone(),
        }
    }
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counted({})", self.value)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

fn won(resolved: &Resolved) -> bool {
    !matches!(resolved, Resolved::AlreadyResolved)
}

/// A deadline the shim never actually waits for under loom (a timed wait is one yield).
fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

#[test]
fn value_racing_cancel_resolves_exactly_once_and_the_reader_sees_the_winner() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());

        let producer = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Ok(7))
        });
        let canceller = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Err(cancelled()))
        });
        let read = slot.wait();
        let value_won = won(&producer.join().unwrap());
        let cancel_won = won(&canceller.join().unwrap());

        assert!(value_won ^ cancel_won, "exactly one resolve must win");
        match read {
            Outcome::Ready(Ok(7)) => assert!(value_won),
            Outcome::Ready(Err(error)) => {
                assert!(cancel_won && error.is_cancelled());
                // Errors are sticky: a later read sees the same one.
                assert!(matches!(slot.try_take(), Outcome::Ready(Err(e)) if e.is_cancelled()));
            }
            other => panic!("the reader saw {other:?}"),
        }
    });
}

#[test]
fn value_racing_a_timed_wait_is_never_lost() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());

        let producer = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Ok(7))
        });
        let read = slot.wait_until(far_deadline());
        assert!(matches!(producer.join().unwrap(), Resolved::Delivered));

        match read {
            Outcome::Ready(Ok(7)) => {
                assert!(matches!(slot.try_take(), Outcome::AlreadyTaken));
            }
            // Timed out before the value came in: it must still be there to read.
            Outcome::Pending => assert!(matches!(slot.try_take(), Outcome::Ready(Ok(7)))),
            other => panic!("the timed wait saw {other:?}"),
        }
    });
}

#[test]
fn value_racing_an_untimed_wait_always_wakes_the_waiter() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());

        let producer = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Ok(7))
        });
        // A lost wake-up leaves this thread blocked forever, which loom reports.
        let read = slot.wait();
        assert!(matches!(producer.join().unwrap(), Resolved::Delivered));

        assert!(
            matches!(read, Outcome::Ready(Ok(7))),
            "the waiter saw {read:?}"
        );
    });
}

#[test]
fn then_racing_completion_runs_the_callback_exactly_once_with_the_value() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(AtomicUsize::new(0));

        let producer = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Ok(7))
        });
        let registered = slot.then(Box::new({
            let runs = runs.clone();
            let received = received.clone();
            move |result: Result<u32, Error>| {
                runs.fetch_add(1, SeqCst);
                received.store(result.map_or(0, |value| value as usize), SeqCst);
            }
        }));
        assert!(registered.is_ok(), "the value was taken before `then`");
        assert!(matches!(producer.join().unwrap(), Resolved::Delivered));

        assert_eq!(runs.load(SeqCst), 1, "the callback must run exactly once");
        assert_eq!(received.load(SeqCst), 7);
        assert!(matches!(slot.try_take(), Outcome::AlreadyTaken));
    });
}

#[test]
fn waker_registration_racing_completion_is_never_lost() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());

        let producer = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Ok(7))
        });
        // A lost wake-up leaves `block_on` parked forever, which loom reports.
        let read = loom::future::block_on(poll_fn(|cx| slot.poll(cx)));
        assert!(matches!(producer.join().unwrap(), Resolved::Delivered));

        assert!(
            matches!(read, Outcome::Ready(Ok(7))),
            "the poller saw {read:?}"
        );
    });
}

#[test]
fn detach_racing_a_value_drops_it_exactly_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Slot::<Counted>::new());

        let producer = thread::spawn({
            let slot = slot.clone();
            let value = Counted::new(7, &drops);
            move || slot.resolve(Ok(value))
        });
        let unread = slot.detach();
        let resolved = producer.join().unwrap();

        assert!(unread.is_none(), "a value is not an unread error");
        assert!(
            matches!(resolved, Resolved::Delivered | Resolved::Unread(None)),
            "the only offer must win: {resolved:?}"
        );
        // The value is dropped by `resolve` (reader gone) or with the slot (stored unread).
        drop(slot);
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the value must be dropped exactly once"
        );
    });
}

#[test]
fn detach_racing_an_error_reports_it_exactly_once() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());

        let producer = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Err(closed()))
        });
        let from_detach = slot.detach();
        let from_resolve = match producer.join().unwrap() {
            Resolved::Delivered => None,
            Resolved::Unread(error) => error,
            Resolved::AlreadyResolved => panic!("the only offer must win"),
        };

        let reported: Vec<Error> = from_detach.into_iter().chain(from_resolve).collect();
        assert_eq!(
            reported.len(),
            1,
            "the unread error must surface exactly once"
        );
        assert!(reported[0].is_closed());
        assert!(slot.detach().is_none(), "a second detach reports nothing");
    });
}

#[test]
fn shutdown_racing_completion_resolves_once_drops_the_value_once_and_readers_agree() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Slot::<Counted>::new());

        let finisher = thread::spawn({
            let slot = slot.clone();
            let value = Counted::new(7, &drops);
            move || slot.resolve(Ok(value))
        });
        let shutdown = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Err(closed()))
        });
        let first_read = slot.wait();
        let value_won = won(&finisher.join().unwrap());
        let closed_won = won(&shutdown.join().unwrap());
        let second_read = slot.try_take();

        assert!(value_won ^ closed_won, "exactly one resolve must win");
        match (first_read, second_read) {
            (Outcome::Ready(Ok(value)), Outcome::AlreadyTaken) => {
                assert!(value_won && value.value == 7);
                assert_eq!(drops.load(SeqCst), 0, "the winning value is the reader's");
            }
            (Outcome::Ready(Err(first)), Outcome::Ready(Err(second))) => {
                assert!(closed_won && first.is_closed() && second.is_closed());
                assert_eq!(
                    drops.load(SeqCst),
                    1,
                    "the losing value is dropped by its offerer"
                );
            }
            (first, second) => panic!("readers disagree: {first:?}, then {second:?}"),
        }
        drop(slot);
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the value must be dropped exactly once"
        );
    });
}

#[test]
fn the_resolved_flag_is_never_seen_before_the_result_is_readable() {
    // `is_resolved` reads an atomic flag without the lock (the spin-before-park wait and
    // each poll's cancel check rely on it): once it says true, the result must be there.
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());

        let producer = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Ok(7))
        });
        let seen_done = slot.is_resolved();
        let read = slot.try_take();
        producer.join().unwrap();

        match read {
            Outcome::Ready(Ok(7)) => {}
            Outcome::Pending => assert!(!seen_done, "resolved flag set before the result"),
            other => panic!("unexpected read: {other:?}"),
        }
        assert!(slot.is_resolved());
    });
}
