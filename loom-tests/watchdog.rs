//! loom model of the stall watchdog's doze: the watchdog sleeps while no loop is
//! dispatching, and a loop that starts dispatching must wake it, or a stall on that loop
//! would go unreported; so must a push that wakes its sleeping dispatcher, whatever the
//! dispatcher is doing. A lost wake-up shows as a deadlock.

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::{Doze, Turn};

/// A loop marks itself busy and nudges while the watchdog is deciding to sleep: the
/// watchdog either sees the mark or is woken, in every interleaving.
#[test]
fn a_loop_getting_busy_always_wakes_a_dozing_watchdog() {
    loom::model(|| {
        let doze = Arc::new(Doze::default());
        let dispatching = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let doze = doze.clone();
            let dispatching = dispatching.clone();
            thread::spawn(move || {
                // The watchdog's loop: sleep while no loop is busy.
                while !dispatching.load(SeqCst) {
                    doze.sleep_unless(|| dispatching.load(SeqCst));
                }
            })
        };
        // A loop's dispatcher takes in its first jobs.
        dispatching.swap(true, SeqCst);
        doze.nudge();
        watchdog.join().unwrap();
    });
}

/// A push wakes the sleeping dispatcher while the dispatcher is still going to sleep
/// (marking its loop idle) and the watchdog is deciding to doze: the pending wake-up
/// counts as busy, so the watchdog sees the loop busy or is woken, in every interleaving,
/// and the loop is still marked busy at the end (its dispatcher has not run yet).
#[test]
fn a_pending_wake_up_always_wakes_a_dozing_watchdog() {
    loom::model(|| {
        let doze = Arc::new(Doze::default());
        let turn = Arc::new(Turn::watched_by(&doze));
        // The dispatcher was taking in jobs and has registered its waker.
        turn.dispatching();
        let waker = turn.waker(std::task::Waker::noop().clone());
        let watchdog = {
            let doze = doze.clone();
            let turn = turn.clone();
            thread::spawn(move || {
                while !turn.is_busy() {
                    doze.sleep_unless(|| turn.is_busy());
                }
            })
        };
        // A submitter's push takes the sleeping dispatcher's waker and wakes it.
        let push = thread::spawn(move || waker.wake());
        // Meanwhile the dispatcher, having found the queue empty, goes to sleep.
        turn.idle();
        push.join().unwrap();
        watchdog.join().unwrap();
        assert!(
            turn.is_busy(),
            "a pending wake-up left the loop marked idle"
        );
    });
}
