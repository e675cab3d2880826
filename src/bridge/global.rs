//! [`global()`]: the lazily started, process-wide bridge, a [`LazyBridge`] of the crate's
//! own.

use crate::handle::Handle;

use super::{Bridge, LazyBridge};

/// The one bridge behind [`global()`]; nothing can shut it down.
static GLOBAL: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("loopbridge-global"));

/// The process-wide bridge's handle, starting its loop thread (named
/// `loopbridge-global`) on first use. The bridge lives until the process exits; it is
/// never shut down.
///
/// Use it where one loop for the whole program is what you want (a CLI, a script-like
/// tool); create your own [`Bridge`] where you need to configure it or shut it down, and
/// a [`LazyBridge`] of your own for a library (so that it neither shares the program's
/// loop nor can be starved by it).
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
    GLOBAL.handle()
}
