//! Which thread is a loop thread, and what happens when code breaks the loop-thread rules.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::panic::Location;
use std::sync::{LazyLock, Mutex};

/// What a bridge does when a loop-thread rule is broken: [`Handle::verify_loop_thread`]
/// called off the loop, or [`check_blocking`] called on it.
///
/// [`Handle::verify_loop_thread`]: crate::Handle::verify_loop_thread
///
/// # Examples
///
/// ```
/// use loopbridge::{AssertMode, Bridge};
///
/// let bridge = Bridge::builder().assert_mode(AssertMode::Log).build()?;
/// // Off the loop thread: logged (once for this call site), not a panic.
/// bridge.handle().verify_loop_thread("update the cache");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AssertMode {
    /// Panic, naming the rule, the call site and the thread (the default: bugs surface in
    /// tests, not in production).
    #[default]
    Panic,
    /// Log an error through `tracing` (target `loopbridge`), once per call site.
    Log,
    /// Do nothing.
    Ignore,
}

/// The mark a loop thread carries: which bridge it runs and that bridge's mode.
#[derive(Clone, Copy)]
pub(crate) struct LoopMark {
    pub(crate) bridge: u64,
    pub(crate) mode: AssertMode,
}

thread_local! {
    static CURRENT: Cell<Option<LoopMark>> = const { Cell::new(None) };
}

/// Marks the calling thread as the loop thread of a bridge, for the thread's lifetime.
pub(crate) fn mark_current(mark: LoopMark) {
    CURRENT.with(|current| current.set(Some(mark)));
}

/// The mark of the calling thread, if it is a loop thread.
pub(crate) fn current() -> Option<LoopMark> {
    CURRENT.with(Cell::get)
}

/// `true` when the calling thread is the loop thread of any bridge: the question
/// [`Handle::is_loop_thread`] asks about one bridge, asked about all of them (what a
/// library that must not block anyone's loop checks).
///
/// [`Handle::is_loop_thread`]: crate::Handle::is_loop_thread
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::new()?;
/// assert!(!loopbridge::is_any_loop_thread());
/// let inside = bridge.handle().run_callback(loopbridge::is_any_loop_thread).wait()?;
/// assert!(inside);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn is_any_loop_thread() -> bool {
    current().is_some()
}

/// A legacy blocking call announces itself: on a loop thread this is a bug, reported
/// according to that bridge's [`AssertMode`]; on any other thread it costs one
/// thread-local read and does nothing.
///
/// Call it at the top of functions that block (file reads, sleeps, synchronous database
/// calls), as Home Assistant's blocking-call detection does, so that code which reaches
/// them from the loop is found the first time it runs.
///
/// # Panics
///
/// On a loop thread whose bridge uses [`AssertMode::Panic`] (the default), naming `what`,
/// the caller and the thread.
///
/// # Examples
///
/// ```
/// fn read_config() -> String {
///     loopbridge::check_blocking("read_config");
///     String::from("answer = 42")
/// }
///
/// // Off the loop: fine.
/// assert_eq!(read_config(), "answer = 42");
///
/// // On the loop: the mistake is caught (here as the job's panic).
/// let bridge = loopbridge::Bridge::new()?;
/// let error = bridge.handle().run_callback(read_config).wait().unwrap_err();
/// assert!(error.panic_message().unwrap().contains("read_config"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn check_blocking(what: &str) {
    if let Some(mark) = current() {
        let caller = Location::caller();
        report(
            mark.mode,
            caller,
            "check_blocking",
            format_args!(
                "blocking call `{what}` at {caller} on loop thread '{}': \
                 it stalls every job on the loop; offload it to a pool",
                thread_name()
            ),
        );
    }
}

/// Reports a broken loop-thread rule according to `mode`; `Log` reports once per site.
#[track_caller]
pub(crate) fn report(
    mode: AssertMode,
    site: &'static Location<'static>,
    rule: &'static str,
    message: fmt::Arguments,
) {
    static LOGGED: LazyLock<Mutex<HashSet<&'static Location<'static>>>> =
        LazyLock::new(Default::default);
    match mode {
        AssertMode::Panic => panic!("{message}"),
        AssertMode::Log => {
            let first = LOGGED
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(site);
            if first {
                tracing::error!(
                    target: "loopbridge::loop_thread_rule",
                    site = %site,
                    rule,
                    thread = %thread_name(),
                    "{message}"
                );
            }
        }
        AssertMode::Ignore => {}
    }
}

/// Refuses a thread name the operating system cannot take (std would panic on it later,
/// in the thread that spawns).
pub(crate) fn check_thread_name(name: &str) -> std::io::Result<()> {
    if name.contains('\0') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("loopbridge: a thread name cannot contain a NUL byte: {name:?}"),
        ));
    }
    Ok(())
}

/// The calling thread's name, or its id when it has none.
pub(crate) fn thread_name() -> String {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) => name.to_owned(),
        None => format!("{:?}", thread.id()),
    }
}
