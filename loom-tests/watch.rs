//! loom models of the multi-wait's watchers (`notify.rs` over `slot.rs`): a spawned loom
//! thread resolves a slot (the loop thread or a pool worker) while the model's own thread
//! registers a watcher and then waits on its notifier, as `wait_any`, `wait_all` and
//! `as_completed` do, and the lock-free ready list itself.

use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::{cancelled, Notifier, Outcome, Slot};

#[test]
fn a_job_resolving_while_the_multi_wait_registers_is_never_lost() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());
        let notifier = Notifier::default();

        let producer = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Ok(7))
        });
        // Registered: the resolve must tell. Not registered: it had resolved already.
        // Either way the wait below ends (a lost wake-up blocks it forever, which loom
        // reports as a deadlock).
        let told = if slot.watch(&notifier, 3) {
            notifier.wait()
        } else {
            vec![3]
        };
        producer.join().unwrap();
        assert_eq!(told, [3], "told once, under its index");
        // Watching took nothing: the value is there for the read that follows.
        assert!(matches!(slot.try_take(), Outcome::Ready(Ok(7))));
    });
}

#[test]
fn two_jobs_racing_each_other_and_the_registration_are_both_counted() {
    loom::model(|| {
        let first = Arc::new(Slot::<u32>::new());
        let second = Arc::new(Slot::<u32>::new());
        let notifier = Notifier::default();

        let resolvers: Vec<_> = [first.clone(), second.clone()]
            .into_iter()
            .map(|slot| thread::spawn(move || slot.resolve(Err(cancelled()))))
            .collect();
        // `wait_all`'s count: how many will tell, then drain until all have.
        let watching: Vec<usize> = [(0, &first), (1, &second)]
            .into_iter()
            .filter(|(index, slot)| slot.watch(&notifier, *index))
            .map(|(index, _)| index)
            .collect();
        let mut told = Vec::new();
        while told.len() < watching.len() {
            told.extend(notifier.wait());
        }
        for resolver in resolvers {
            resolver.join().unwrap();
        }
        told.sort_unstable();
        assert_eq!(told, watching, "each watching slot told exactly once");
        assert!(first.is_resolved() && second.is_resolved());
    });
}

#[test]
fn an_unwatched_slot_no_longer_tells_the_notifier() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());
        let notifier = Notifier::default();
        let registered = slot.watch(&notifier, 0);
        let producer = thread::spawn({
            let slot = slot.clone();
            move || slot.resolve(Ok(1))
        });
        // A wait that gave up: it takes its watcher off while the job resolves.
        let early = notifier.wait_briefly();
        slot.unwatch(&notifier, 0);
        producer.join().unwrap();
        let late = notifier.wait_briefly();
        // Told at most once in all, and only while it was watching.
        assert!(registered);
        assert!(early.len() + late.len() <= 1);
        assert!(matches!(slot.try_take(), Outcome::Ready(Ok(1))));
    });
}

/// The lock-free ready list: two jobs push (one atomic add and a store each) while the
/// reader drains and goes to sleep between them. Every push is read exactly once and the
/// reader is always woken: a push that misses the sleeping reader blocks `wait` forever,
/// which loom reports. Mutations caught: a push that does not look for a sleeping reader,
/// and a reader without the fence between saying it sleeps and its last look (both
/// deadlock here).
#[test]
fn pushes_racing_the_reader_going_to_sleep_are_each_read_once() {
    loom::model(|| {
        let first = Arc::new(Slot::<u32>::new());
        let second = Arc::new(Slot::<u32>::new());
        let notifier = Notifier::with_capacity(2);
        assert!(first.watch(&notifier, 0) && second.watch(&notifier, 1));
        let resolvers: Vec<_> = [first.clone(), second.clone()]
            .into_iter()
            .map(|slot| thread::spawn(move || slot.resolve(Ok(1))))
            .collect();
        let mut told = Vec::new();
        while told.len() < 2 {
            told.extend(notifier.wait());
        }
        for resolver in resolvers {
            resolver.join().unwrap();
        }
        told.sort_unstable();
        assert_eq!(told, [0, 1], "each push read exactly once");
    });
}
