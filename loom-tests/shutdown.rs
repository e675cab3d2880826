//! loom model of a submission racing the bridge's close: the real registry, closed flag
//! and run queue (through `__loom::dispatch::DispatchModel`), with a loom thread as the
//! submitter and the model's thread as the stopping loop.

use std::task::Poll;

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::dispatch::DispatchModel;

/// A submission racing shutdown is either refused with `Closed`, or admitted and then seen
/// by the stopping loop's look at the registry (so the loop waits for it, and runs or cuts
/// it off): never admitted behind the loop's back, never left pending, its future dropped
/// exactly once. This is the "register before checking closed" argument of
/// `LoopState::register`; checking `closed` first fails this model.
#[test]
fn a_submission_racing_close_is_refused_or_seen_and_never_left_pending() {
    loom::model(|| {
        let dispatcher = DispatchModel::new();
        let submitter = dispatcher.submitter();
        let drops = Arc::new(AtomicUsize::new(0));
        let dropped = drops.clone();
        let submitting = thread::spawn(move || {
            submitter.try_submit(
                None,
                |_| Poll::Pending,
                move || {
                    dropped.fetch_add(1, SeqCst);
                },
            )
        });
        let seen = dispatcher.begin_stop();
        let submitted = submitting.join().unwrap();
        dispatcher.finish_stop();
        match submitted {
            Err(refused) => {
                assert!(refused.is_closed(), "refused with Closed, not {refused}");
                assert_eq!(drops.load(SeqCst), 1, "its future is dropped once");
            }
            Ok(completion) => {
                assert_eq!(seen, 1, "an admitted job is seen by the stopping loop");
                let error = completion.wait().unwrap_err();
                assert!(error.is_closed(), "cut off with Closed, not {error}");
                assert_eq!(drops.load(SeqCst), 1, "its future is dropped exactly once");
            }
        }
    });
}

/// A submission into a scope racing the scope's close is either refused with `Closed`, or
/// admitted and cut off by that close: never left running in a closed scope. Once the
/// dispatcher has run, its future is dropped exactly once and it has left the scope.
/// This is the Dekker pair of `ScopeState::admit` against its close; reading the scope's
/// closed flag before joining the members fails this model.
#[test]
fn a_submission_racing_a_scope_close_is_refused_or_cut_off() {
    loom::model(|| {
        let mut dispatcher = DispatchModel::new();
        let scope = dispatcher.scope();
        let submitter = dispatcher.submitter();
        let drops = Arc::new(AtomicUsize::new(0));
        let dropped = drops.clone();
        let into = scope.clone();
        let submitting = thread::spawn(move || {
            submitter.try_submit(
                Some(&into),
                |_| Poll::Pending,
                move || {
                    dropped.fetch_add(1, SeqCst);
                },
            )
        });
        let cut_off = scope.close_now();
        match submitting.join().unwrap() {
            Err(refused) => {
                // (The close may have seen, and resolved, the job in the moment before its
                // admission was refused; it never ran.)
                assert!(refused.is_closed(), "refused with Closed, not {refused}");
                assert_eq!(drops.load(SeqCst), 1, "its future is dropped once");
            }
            Ok(completion) => {
                assert_eq!(cut_off, 1, "an admitted job is cut off by the close");
                let error = completion.wait().unwrap_err();
                assert!(error.is_closed(), "cut off with Closed, not {error}");
                dispatcher.run_until(|| drops.load(SeqCst) == 1);
                assert_eq!(scope.members(), 0, "it left the scope once it stopped");
            }
        }
    });
}

/// Two closes of one scope racing a submission into it (a close that cuts off at once on
/// a loop thread or in an async context, and its background waiter closing again; or two
/// closers): each job is counted as cut off by exactly one of them, so the counts a
/// background close adds up never count a job twice, and an admitted job is counted.
/// Counting every member a close sees, not only those its interrupt resolved, fails this
/// model.
#[test]
fn two_closes_of_a_scope_count_each_job_they_cut_off_once() {
    loom::model(|| {
        let dispatcher = DispatchModel::new();
        let scope = dispatcher.scope();
        let submitter = dispatcher.submitter();
        let into = scope.clone();
        let submitting =
            thread::spawn(move || submitter.try_submit(Some(&into), |_| Poll::Pending, || {}));
        let other = scope.clone();
        let closing = thread::spawn(move || other.close_now());
        let here = scope.close_now();
        let there = closing.join().unwrap();
        match submitting.join().unwrap() {
            // (A close may have resolved the job in the moment before its admission was
            // refused.)
            Err(refused) => {
                assert!(refused.is_closed(), "refused with Closed, not {refused}");
                assert!(here + there <= 1, "counted twice: {here} + {there}");
            }
            Ok(completion) => {
                assert_eq!(
                    here + there,
                    1,
                    "cut off and counted once: {here} + {there}"
                );
                assert!(completion.wait().unwrap_err().is_closed());
            }
        }
    });
}
