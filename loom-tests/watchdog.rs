//! loom model of the stall watchdog's doze: the watchdog sleeps while no loop is
//! dispatching, and a loop that starts dispatching must wake it, or a stall on that loop
//! would go unreported. A lost wake-up shows as a deadlock.

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::Doze;

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
