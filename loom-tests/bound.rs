//! loom models of the protocols behind `LoopBound`: a value's async close claimed by its
//! last handle racing the bridge's shutdown (refusing new work, then the loop's last
//! sweep), and a handle released off the loop racing the loop's teardown. The model's
//! own thread is the loop (and the stopper); spawned threads drop handles.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use loopbridge::__loom::bound::{ClosesModel, ReleasesModel};

/// The loop's run queue as the close protocol sees it: submissions get in until the
/// bridge refuses new work.
#[derive(Default)]
struct Queue {
    closed: bool,
    jobs: Vec<usize>,
}

fn submit(queue: &Mutex<Queue>, slot: usize) -> bool {
    let mut queue = queue.lock().unwrap();
    if queue.closed {
        return false;
    }
    queue.jobs.push(slot);
    true
}

/// The last handle's drop (a close claimed and submitted) racing the shutdown: the close
/// runs exactly once, as a job or by the loop's sweep, and none is left unfinished.
#[test]
fn a_last_drop_racing_shutdown_closes_the_value_exactly_once() {
    loom::model(|| {
        let closes = Arc::new(ClosesModel::default());
        let queue = Arc::new(Mutex::new(Queue::default()));
        let closed = Arc::new(AtomicUsize::new(0));
        let key = closes.add(7).expect("not swept yet");

        let dropper = {
            let (closes, queue) = (closes.clone(), queue.clone());
            thread::spawn(move || closes.claim(key, |slot| submit(&queue, slot)))
        };

        // The stopper refuses new work; the loop runs the jobs that got in, then sweeps.
        queue.lock().unwrap().closed = true;
        let jobs = std::mem::take(&mut queue.lock().unwrap().jobs);
        for slot in jobs {
            assert_eq!(slot, 7);
            closed.fetch_add(1, Ordering::SeqCst);
            closes.finished(key);
        }
        for (swept, slot) in closes.sweep() {
            assert_eq!((swept, slot), (key, 7));
            closed.fetch_add(1, Ordering::SeqCst);
            closes.finished(swept);
        }
        let claim = dropper.join().unwrap();

        assert_eq!(closed.load(Ordering::SeqCst), 1, "closed {claim:?}");
        assert_eq!(closes.unfinished(), 0);
    });
}

/// Two claims of one close (the last handle's drop and the loop's sweep at shutdown,
/// with the bridge still taking work): exactly one side wins.
#[test]
fn two_claims_of_one_close_have_one_winner() {
    loom::model(|| {
        let closes = Arc::new(ClosesModel::default());
        let submitted = Arc::new(AtomicUsize::new(0));
        let key = closes.add(3).expect("not swept yet");
        let claimer = {
            let (closes, submitted) = (closes.clone(), submitted.clone());
            thread::spawn(move || {
                closes.claim(key, |_| {
                    submitted.fetch_add(1, Ordering::SeqCst);
                    true
                })
            })
        };
        let swept = closes.sweep().len();
        claimer.join().unwrap();
        assert_eq!(submitted.load(Ordering::SeqCst) + swept, 1);
        // Nothing is bound once swept.
        assert!(closes.add(4).is_none());
    });
}

/// A handle dropped off the loop racing the loop's teardown: a release that reports it
/// was queued is taken by the loop exactly once (drained, or handed to the teardown),
/// and one the teardown refused is never seen (the teardown dropped the value).
#[test]
fn a_release_racing_the_teardown_is_taken_exactly_once() {
    loom::model(|| {
        let releases = Arc::new(ReleasesModel::default());
        let dropper = {
            let releases = releases.clone();
            thread::spawn(move || releases.release(5))
        };
        let mut seen = releases.take();
        seen.extend(releases.close());
        let queued = dropper.join().unwrap();
        // Whatever a later release does, the loop sees nothing more.
        assert!(!releases.release(6));
        seen.extend(releases.take());
        assert_eq!(
            seen.len(),
            usize::from(queued),
            "queued {queued}, seen {seen:?}"
        );
    });
}

/// The last handle's close refused for want of room (a full loop), deferred to the loop
/// thread to retry, racing the shutdown: the retry's claim and the loop's sweep close the
/// value exactly once between them, whichever order they run in, and after the
/// teardown nothing more can be deferred.
#[test]
fn a_close_deferred_for_room_racing_shutdown_closes_the_value_exactly_once() {
    loom::model(|| {
        let closes = Arc::new(ClosesModel::default());
        let releases = Arc::new(ReleasesModel::default());
        let queue = Arc::new(Mutex::new(Queue::default()));
        let closed = Arc::new(AtomicUsize::new(0));
        let key = closes.add(7).expect("not swept yet");

        let dropper = {
            let (closes, releases, queue) = (closes.clone(), releases.clone(), queue.clone());
            thread::spawn(move || {
                // No room: the submission is refused, the entry is bound again.
                if closes.claim(key, |_| false) != Some(false) {
                    return false; // the sweep had it first
                }
                let retry = {
                    let closes = closes.clone();
                    move || {
                        // The retry got a place: it claims as the last handle would.
                        closes.claim(key, |slot| submit(&queue, slot));
                    }
                };
                releases.defer(Box::new(retry))
            })
        };

        // The loop runs what was deferred so far; then the stopper refuses new work, the
        // loop runs the jobs that got in, sweeps, and tears down.
        for start in releases.take_deferred() {
            start();
        }
        queue.lock().unwrap().closed = true;
        let jobs = std::mem::take(&mut queue.lock().unwrap().jobs);
        for slot in jobs {
            assert_eq!(slot, 7);
            closed.fetch_add(1, Ordering::SeqCst);
            closes.finished(key);
        }
        for (swept, _) in closes.sweep() {
            closed.fetch_add(1, Ordering::SeqCst);
            closes.finished(swept);
        }
        releases.close();
        dropper.join().unwrap();

        assert_eq!(closed.load(Ordering::SeqCst), 1);
        assert_eq!(closes.unfinished(), 0);
        assert!(!releases.defer(Box::new(|| unreachable!("deferred after the teardown"))));
        assert!(releases.take_deferred().is_empty());
    });
}
