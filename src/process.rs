//! Fork awareness. A forked child inherits a bridge's or a pool's memory but none of its
//! threads: a job handed to them there never runs. Each job records the *fork
//! generation* of the executor that will run it; a blocking wait compares it with the
//! calling process's, so a child gets `Error::Forked` at once instead of waiting forever.
//!
//! The generation is counted by a `pthread_atfork` child handler, so the check on every
//! wait is one relaxed atomic load, not a system call.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Site};

/// How many forks separate this process from the one that first asked: zero there, one
/// more in each forked child.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The calling process's fork generation. The first call registers the handler that
/// counts forks; executors call it when they start, so every fork that could orphan one
/// is counted.
pub(crate) fn generation() -> u64 {
    #[cfg(unix)]
    {
        static REGISTER: std::sync::Once = std::sync::Once::new();
        REGISTER.call_once(register_fork_handler);
    }
    // ORDERING: in a child the handler ran before any of the child's code; in any one
    // process the value only changes at a fork. Relaxed is enough.
    GENERATION.load(Ordering::Relaxed)
}

#[cfg(unix)]
extern "C" fn count_fork_in_child() {
    // Async-signal-safe, as a fork handler must be: one atomic increment.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn register_fork_handler() {
    // SAFETY: `pthread_atfork` only stores the given function pointers; the child handler
    // is an `extern "C" fn` with no arguments that touches nothing but a static atomic,
    // which is safe to run in a freshly forked child. A failure (ENOMEM) leaves fork
    // detection off, as on platforms without fork.
    let registered = unsafe { libc::pthread_atfork(None, None, Some(count_fork_in_child)) };
    if registered != 0 {
        tracing::warn!(
            target: "loopbridge::fork_handler",
            "cannot register a fork handler: waits in a forked child are not detected"
        );
    }
}

/// `true` when the executor that runs a job (of fork generation `owner`) does not exist
/// in this process: its threads were left behind in a fork.
/// `Err(Forked)` when an executor of fork generation `owner` was left behind in a fork:
/// its threads do not exist in this process. Logged once per process.
pub(crate) fn check_not_forked(owner: u64, site: &Site) -> Result<(), Error> {
    let here = GENERATION.load(Ordering::Relaxed);
    if owner == here {
        return Ok(());
    }
    static REPORTED: std::sync::Once = std::sync::Once::new();
    REPORTED.call_once(|| {
        tracing::error!(
            target: "loopbridge::forked",
            site = %site.location(),
            name = site.name(),
            scope = site.scope(),
            "{site}: using a bridge or pool started before this process was forked (submitting to it, \
             or waiting on its jobs): its threads do not exist here; start a new bridge or \
             pool in the child"
        );
    });
    Err(Error::Forked { site: site.clone() })
}
