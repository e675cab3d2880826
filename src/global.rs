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
    /// The global bridge of the process that first asked, with its fork generation.
    static FIRST: OnceLock<(u64, &'static Handle)> = OnceLock::new();
    /// The global bridge of a forked child, started when the child first asks.
    static FORKED: Mutex<Option<(u64, &'static Handle)>> = Mutex::new(None);

    let generation = process::generation();
    let (started_in, handle) = *FIRST.get_or_init(|| (generation, start()));
    if started_in == generation {
        return handle;
    }
    let mut forked = FORKED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match *forked {
        Some((started_in, handle)) if started_in == generation => handle,
        _ => {
            let handle = start();
            *forked = Some((generation, handle));
            handle
        }
    }
}

/// Starts a global bridge; it and its handle live as long as the process.
fn start() -> &'static Handle {
    let bridge = Bridge::builder()
        .thread_name("loopbridge-global")
        .build()
        .unwrap_or_else(|error| panic!("loopbridge: cannot start the global bridge: {error}"));
    let bridge: &'static Bridge = Box::leak(Box::new(bridge));
    Box::leak(Box::new(bridge.handle()))
}
