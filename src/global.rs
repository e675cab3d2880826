//! [`global()`]: the lazily started, process-wide bridge.

use std::sync::OnceLock;

use crate::bridge::Bridge;
use crate::handle::Handle;

/// The process-wide bridge's handle, starting its loop thread (named
/// `loopbridge-global`) on first use. The bridge lives until the process exits; it is
/// never shut down.
///
/// Use it where one loop for the whole program is what you want (a CLI, a script-like
/// tool, a library with a blocking API); create your own [`Bridge`] where you need to
/// configure it or shut it down.
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
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn global() -> &'static Handle {
    static GLOBAL: OnceLock<(Bridge, Handle)> = OnceLock::new();
    let (_bridge, handle) = GLOBAL.get_or_init(|| {
        let bridge = Bridge::builder()
            .thread_name("loopbridge-global")
            .build()
            .unwrap_or_else(|error| panic!("loopbridge: cannot start the global bridge: {error}"));
        let handle = bridge.handle();
        (bridge, handle)
    });
    handle
}
