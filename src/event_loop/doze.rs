//! How the stall watchdog sleeps while no loop is dispatching jobs (nothing can stall
//! then), and how a loop that starts dispatching wakes it: once per burst of work, not
//! once per job.
//!
//! A loop marks itself busy, then [`Doze::nudge`]s; the watchdog announces that it
//! sleeps, then looks at the loops' marks, then sleeps. Each side puts a SeqCst fence
//! between its store and its load, so at least one side sees the other's store: either
//! the watchdog sees the mark and stays awake, or the loop sees the announcement and
//! wakes it, under the lock the watchdog holds until it is waiting. No wake-up is lost.
//!
//! Written against [`crate::sync`], so the loom models explore it.

use std::sync::atomic::Ordering;

use crate::sync::{fence, AtomicBool, Condvar, Mutex};

pub(crate) struct Doze {
    sleeping: AtomicBool,
    gate: Mutex<()>,
    wake: Condvar,
}

impl Default for Doze {
    fn default() -> Doze {
        Doze {
            sleeping: AtomicBool::new(false),
            gate: Mutex::new(()),
            wake: Condvar::new(),
        }
    }
}

impl Doze {
    /// A loop has just marked itself busy: wakes the watchdog if it sleeps.
    pub(crate) fn nudge(&self) {
        // ORDERING: the fence orders the loop's mark before this load; see the module
        // comment.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            let _gate = self.gate.lock();
            self.wake.notify_all();
        }
    }

    /// Sleeps until a loop nudges, unless `busy()` (which reads the loops' marks) holds
    /// once the sleep is announced. May return early; the caller checks again.
    pub(crate) fn sleep_unless(&self, busy: impl FnOnce() -> bool) {
        let gate = self.gate.lock();
        // ORDERING: the fence orders this announcement before `busy`'s loads; see the
        // module comment.
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let gate = if busy() { gate } else { self.wake.wait(gate) };
        self.sleeping.store(false, Ordering::SeqCst);
        drop(gate);
    }
}
