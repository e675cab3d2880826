//! loom models of spinning before a park (`src/spin/`): a waiter that spins on its
//! result and then parks on the slot, and a dispatcher that spins on the run queue's
//! hint and then sleeps on the queue. Each spin only reads; the park after it must still
//! see every result and every push. A lost wake-up shows as a deadlock.

use std::task::Poll;

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::dispatch::DispatchModel;

/// A waiter spins on its job's result (two looks under loom), finds nothing, and parks;
/// the loop resolves the job before, during or after the spin: the waiter always gets
/// the value.
#[test]
fn a_waiter_that_spins_then_parks_never_misses_its_result() {
    loom::model(|| {
        let mut dispatcher = DispatchModel::new();
        let submitter = dispatcher.submitter();
        let ended = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let ended = ended.clone();
            thread::spawn(move || {
                let job = submitter.submit(
                    |_| Poll::Ready(()),
                    move || {
                        ended.fetch_add(1, SeqCst);
                    },
                );
                job.wait()
            })
        };
        dispatcher.run_until(|| ended.load(SeqCst) == 1);
        assert!(waiter.join().unwrap().is_ok(), "the waiter got its result");
    });
}

/// Two submitters push while the dispatcher spins on the run queue's hint and then
/// sleeps: every job is polled, whether its push lands during the spin, between the
/// spin and the sleep, or after.
#[test]
fn pushes_racing_a_spinning_dispatcher_are_never_lost() {
    loom::model(|| {
        let mut dispatcher = DispatchModel::new();
        let polls = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let submitter = dispatcher.submitter();
                let polls = polls.clone();
                thread::spawn(move || {
                    submitter.submit(
                        move |_| {
                            polls.fetch_add(1, SeqCst);
                            Poll::Ready(())
                        },
                        || {},
                    )
                })
            })
            .collect();
        dispatcher.run_spinning_until(1, || polls.load(SeqCst) == 2);
        for submitter in submitters {
            assert!(submitter.join().unwrap().wait().is_ok());
        }
        assert_eq!(polls.load(SeqCst), 2, "each job polled once");
    });
}
