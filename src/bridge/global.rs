//! [`global()`]: the lazily started, process-wide bridge.

use std::sync::{Mutex, OnceLock};

use crate::bridge::Bridge;
use crate::handle::Handle;
use crate::process;

/// The process-wide bridge's handle, starting its loop thread (named
/// `loopbridge-global`) on first use. The bridge lives until the process exits; it is
/// never shut down.
///
/// Use it where one loop for the whole program is what you want (a CLI, a script-like
/// tool, a library with a blocking API); create your own [`Bridge`] where you need to
/// configure it or shut it down.
///
/// In a process forked after the global bridge started (a pre-forking server's worker),
/// the first call starts a global bridge of the child's own: the parent's loop thread
/// does not exist there.
///
/// # Panics
///
/// If the global loop thread cannot be started the first time (the operating system
/// refused a thread or the runtime's I/O driver).
///
/// # Examples
///
/// ```
/// let handle = loopbridge::global();
/// assert_eq!(handle.block_on(async { 1 + 2 })?, 3);
/// assert!(std::ptr::eq(handle, loopbridge::global()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn global() -> &'static Handle {
    /// One global bridge per fork generation. A process only ever starts the one of its
    /// own generation, so a child never inherits its slot half-initialized (as it would
    /// a single slot that another thread of the parent was filling at the fork).
    static BY_GENERATION: [OnceLock<&'static Handle>; GENERATIONS] =
        [const { OnceLock::new() }; GENERATIONS];
    /// Beyond the last slot (a chain of more forks than anyone makes): one slot, locked.
    static DEEPER: Mutex<Option<(u64, &'static Handle)>> = Mutex::new(None);

    let generation = process::generation();
    if let Some(slot) = usize::try_from(generation)
        .ok()
        .and_then(|at| BY_GENERATION.get(at))
    {
        return slot.get_or_init(start);
    }
    let mut deeper = DEEPER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match *deeper {
        Some((started_in, handle)) if started_in == generation => handle,
        _ => {
            let handle = start();
            *deeper = Some((generation, handle));
            handle
        }
    }
}

/// How many fork generations have a global slot of their own.
const GENERATIONS: usize = 64;

/// Starts a global bridge; it and its handle live as long as the process.
fn start() -> &'static Handle {
    let bridge = Bridge::builder()
        .thread_name("loopbridge-global")
        .build()
        .unwrap_or_else(|error| panic!("loopbridge: cannot start the global bridge: {error}"));
    let bridge: &'static Bridge = Box::leak(Box::new(bridge));
    Box::leak(Box::new(bridge.handle()))
}
