//! loom models of the loop's dispatcher: the real run queue, schedule and job table
//! (through `__loom::dispatch::DispatchModel`), with the model's thread as the loop
//! thread and loom threads as submitters, wakers and cancellers. A lost wake-up shows as
//! a deadlock: the dispatcher sleeps in `block_on` with a job that never ends.

use std::task::Poll;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;

use loopbridge::__loom::dispatch::{DispatchModel, Submitter};
use loopbridge::Completion;

/// Submits a job that ends at its first poll, counting its polls and its drops.
fn submit_counted(
    submitter: &Submitter,
    polls: &Arc<AtomicUsize>,
    drops: &Arc<AtomicUsize>,
) -> Completion<()> {
    let polls = polls.clone();
    let drops = drops.clone();
    submitter.submit(
        move |_| {
            polls.fetch_add(1, SeqCst);
            Poll::Ready(())
        },
        move || {
            drops.fetch_add(1, SeqCst);
        },
    )
}

/// Jobs submitted from two threads while the dispatcher runs and goes to sleep on an
/// empty queue are each polled once and dropped once: a push either lands before the
/// dispatcher looks at the queue, or wakes it.
#[test]
fn submissions_racing_the_dispatcher_to_sleep_are_never_lost() {
    loom::model(|| {
        let mut dispatcher = DispatchModel::new();
        let polls = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let submitter = dispatcher.submitter();
                let (polls, drops) = (polls.clone(), drops.clone());
                thread::spawn(move || submit_counted(&submitter, &polls, &drops))
            })
            .collect();
        dispatcher.run_until(|| drops.load(SeqCst) == 2);
        for submitter in submitters {
            assert!(submitter.join().unwrap().wait().is_ok());
        }
        assert_eq!(polls.load(SeqCst), 2, "each job is polled once");
        assert_eq!(dispatcher.live_jobs(), 0, "both jobs left the registry");
    });
}

/// A job's waker fired from another thread, before, during or after the dispatcher's
/// poll of the job, always leads to a poll that sees what the waker did: the job ends.
#[test]
fn a_wake_racing_the_poll_is_never_lost() {
    loom::model(|| {
        let mut dispatcher = DispatchModel::new();
        let signalled = Arc::new(AtomicBool::new(false));
        let parked_waker = Arc::new(Mutex::new(None));
        let ended = Arc::new(AtomicBool::new(false));
        let completion = {
            let signalled = signalled.clone();
            let parked_waker = parked_waker.clone();
            let ended = ended.clone();
            dispatcher.submitter().submit(
                move |job| {
                    // The waker is stored before the signal is checked, as a channel does.
                    *parked_waker.lock().unwrap() = Some(job.waker());
                    if signalled.load(SeqCst) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                },
                move || ended.store(true, SeqCst),
            )
        };
        let waker_thread = thread::spawn(move || {
            signalled.store(true, SeqCst);
            if let Some(waker) = parked_waker.lock().unwrap().take() {
                waker.wake();
            }
        });
        dispatcher.run_until(|| ended.load(SeqCst));
        waker_thread.join().unwrap();
        assert_eq!(dispatcher.live_jobs(), 0, "the job left the registry");
        assert!(completion.wait().is_ok());
    });
}

/// `cancel()` racing the dispatcher: whether it comes before the job's first poll, during
/// it or after it, the job's future (never ready, and never waking itself) is dropped
/// exactly once, the job leaves the registry, and the completion says `Cancelled`.
#[test]
fn a_cancel_racing_the_dispatcher_always_drops_the_future() {
    loom::model(|| {
        let mut dispatcher = DispatchModel::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let completion = {
            let drops = drops.clone();
            dispatcher.submitter().submit(
                // Never ready: only the job's wrapper, seeing the cancel, ends it.
                |_| Poll::Pending,
                move || {
                    drops.fetch_add(1, SeqCst);
                },
            )
        };
        let completion = Arc::new(completion);
        let canceller = {
            let completion = completion.clone();
            thread::spawn(move || assert!(completion.cancel(), "nothing else resolves it"))
        };
        dispatcher.run_until(|| drops.load(SeqCst) == 1);
        canceller.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "the future is dropped exactly once");
        assert_eq!(dispatcher.live_jobs(), 0, "the job left the registry");
        let completion =
            Arc::try_unwrap(completion).unwrap_or_else(|_| panic!("the canceller is done"));
        assert!(completion.wait().unwrap_err().is_cancelled());
    });
}

/// The three ways a job's future, in its cell, comes to an end racing each other: its own
/// end (another thread makes it ready and wakes it), a cancel, and the loop letting go of
/// the job at its teardown. Whichever wins, the future is dropped exactly once, the job
/// is resolved once (with the result of the side that won: its value, `Cancelled` if the
/// cancel says it won, else `Closed`), and it leaves the registry.
#[test]
fn a_cells_future_is_dropped_and_resolved_once_whoever_ends_it() {
    loom::model(|| {
        let mut dispatcher = DispatchModel::new();
        let ready = Arc::new(AtomicBool::new(false));
        let parked_waker = Arc::new(Mutex::new(None));
        let polls = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let completion = {
            let (ready, parked_waker) = (ready.clone(), parked_waker.clone());
            let (polls, drops) = (polls.clone(), drops.clone());
            dispatcher.submitter().submit(
                move |job| {
                    polls.fetch_add(1, SeqCst);
                    *parked_waker.lock().unwrap() = Some(job.waker());
                    if ready.load(SeqCst) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                },
                move || {
                    drops.fetch_add(1, SeqCst);
                },
            )
        };
        let completion = Arc::new(completion);
        let canceller = {
            let completion = completion.clone();
            thread::spawn(move || completion.cancel())
        };
        let finisher = thread::spawn(move || {
            ready.store(true, SeqCst);
            if let Some(waker) = parked_waker.lock().unwrap().take() {
                waker.wake();
            }
        });
        let registry = dispatcher.submitter();
        // The loop polls the job once (or drops it unpolled, cancelled first), then stops
        // with whatever has happened by then.
        dispatcher.run_until(|| polls.load(SeqCst) + drops.load(SeqCst) >= 1);
        dispatcher.finish_stop();
        assert_eq!(registry.live_jobs(), 0, "the job left the registry");
        let cancelled = canceller.join().unwrap();
        finisher.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "the future is dropped exactly once");
        let completion =
            Arc::try_unwrap(completion).unwrap_or_else(|_| panic!("the canceller is done"));
        match completion.wait() {
            Ok(()) => assert!(!cancelled, "a cancel that won leaves no value"),
            Err(error) if error.is_cancelled() => assert!(cancelled, "only a won cancel"),
            Err(error) => {
                assert!(error.is_closed(), "{error}");
                assert!(!cancelled, "a cancel that won is what the completion says");
            }
        }
    });
}
