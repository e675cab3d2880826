//! A blocking wait called inside *another* tokio runtime's async context: the classic
//! embedding failure, told apart from a plain thread, and handled so that it never
//! silently freezes the host.
//!
//! | where the wait is called | what happens |
//! |--------------------------|--------------|
//! | a plain thread, a `spawn_blocking` thread, a multi-thread runtime's `block_on` caller | it waits |
//! | a task on a multi-thread runtime's worker | it waits inside `tokio::task::block_in_place` (the worker's other tasks move to another thread) and is reported once per call site |
//! | a current-thread runtime (its `block_on` or one of its tasks) | the bridge's [`AssertMode`]: `Panic` refuses with `BlockingInRuntime`; `Log` logs once per site and waits; `Ignore` waits |
//!
//! How the thread is told: `tokio::runtime::Handle::try_current()` also succeeds on a
//! `spawn_blocking` thread (which may block freely), and `tokio::task::try_id()` is set
//! there too (a blocking closure is a task) while it is not in a `block_on`. What differs
//! is whether the thread runs a scheduler: tokio defers the wake-up of a
//! `tokio::task::yield_now()` to the scheduler running on the thread, and wakes at once
//! where none runs (its documented behaviour when "polled from outside a Tokio
//! runtime"). So one poll of a `yield_now` with a waker of our own tells; it costs an
//! allocation, and only on threads that are inside a runtime.

use std::collections::HashSet;
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Wake, Waker};

use tokio::runtime::RuntimeFlavor;

use crate::error::Error;
use crate::error::Site;
use crate::loop_thread::{self, AssertMode};
use crate::room::{NoRoom, Room};
use crate::util::deadline_after;

/// How a blocking wait that is allowed goes ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// On this thread, as it is.
    Here,
    /// Inside `block_in_place`: the worker's other tasks go on on another thread.
    InPlace,
}

impl Waiting {
    /// Runs the wait `f` the way `self` says.
    pub(crate) fn run<R>(self, f: impl FnOnce() -> R) -> R {
        match self {
            Waiting::Here => f(),
            Waiting::InPlace => tokio::task::block_in_place(f),
        }
    }
}

/// Decides how the blocking wait called at `at` (about `site`, whose name the error
/// keeps) may go ahead on this thread, given the bridge's `mode`; `Err` is the
/// refusal. Not for a loop thread of a bridge (checked before).
pub(crate) fn admit_wait(
    mode: AssertMode,
    site: &Site,
    at: &'static Location<'static>,
) -> Result<Waiting, Error> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Ok(Waiting::Here);
    };
    if !runs_scheduler() {
        return Ok(Waiting::Here);
    }
    match runtime.runtime_flavor() {
        RuntimeFlavor::MultiThread => {
            if first_report(at) {
                tracing::warn!(
                    target: "loopbridge::block_in_place",
                    site = %at,
                    name = site.name(),
                    "blocking wait at {at} inside a task of a multi-thread tokio runtime: it \
                     waits in `block_in_place`, so the worker's other tasks move to another \
                     thread; `.await` the completion instead, or call from `spawn_blocking`"
                );
            }
            Ok(Waiting::InPlace)
        }
        _ => {
            let refused = Error::BlockingInRuntime {
                site: site.at(at),
                flavor: "current_thread",
            };
            match mode {
                AssertMode::Panic => Err(refused),
                AssertMode::Log | AssertMode::Ignore => {
                    loop_thread::report(
                        mode,
                        at,
                        "blocking_in_runtime",
                        format_args!("{refused}; waiting anyway"),
                    );
                    Ok(Waiting::Here)
                }
            }
        }
    }
}

/// The mode a wait on several jobs at once follows: the strictest of theirs (`Panic`
/// over `Log` over `Ignore`), so that no job's bridge is waited on in a way it refuses.
pub(crate) fn strictest(modes: impl IntoIterator<Item = AssertMode>) -> AssertMode {
    modes
        .into_iter()
        .min_by_key(|mode| match mode {
            AssertMode::Panic => 0,
            AssertMode::Log => 1,
            AssertMode::Ignore => 2,
        })
        .unwrap_or(AssertMode::Panic)
}

/// Takes a place in `room` for the blocking submission at `site`: at once if there is
/// one, otherwise waiting up to `timeout` as [`admit_wait`] allows (`Err` is its
/// refusal); `Ok(Err(_))` says why no place was had.
pub(crate) fn take_room(
    room: &Room,
    mode: AssertMode,
    site: &Site,
    timeout: std::time::Duration,
) -> Result<Result<(), NoRoom>, Error> {
    match room.try_acquire() {
        Err(NoRoom::Full) => {
            let waiting = admit_wait(mode, site, site.location())?;
            let deadline = deadline_after(timeout);
            Ok(waiting.run(|| room.acquire_until(deadline)))
        }
        other => Ok(other),
    }
}

/// `true` inside an async context: a tokio scheduler runs on this thread (a worker, or a
/// current-thread runtime's `block_on`), so a wait of a shutdown's length would stall the
/// host's other tasks (and cut off jobs that wait for them). A `spawn_blocking` thread is
/// not one: it may wait.
pub(crate) fn in_async_context() -> bool {
    tokio::runtime::Handle::try_current().is_ok() && runs_scheduler()
}

/// `true` when a tokio scheduler runs on this thread (a worker, or a current-thread
/// runtime's `block_on`): it defers a yield's wake-up instead of waking at once.
fn runs_scheduler() -> bool {
    struct Woken(AtomicBool);
    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            // ORDERING: read back on this thread only (a deferred wake-up that comes
            // later, from the scheduler, is not looked at).
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let woken = Arc::new(Woken(AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut yielding = pin!(tokio::task::yield_now());
    // Pending either way; what tells is whether the waker was woken during the poll.
    let _ = yielding.as_mut().poll(&mut Context::from_waker(&waker));
    !woken.0.load(Ordering::Relaxed)
}

/// `true` the first time a wait at `at` inside a multi-thread runtime is reported.
fn first_report(at: &'static Location<'static>) -> bool {
    static REPORTED: LazyLock<Mutex<HashSet<&'static Location<'static>>>> =
        LazyLock::new(Default::default);
    REPORTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(at)
}
