//! Small pieces every layer uses: a cache-line pad, a saturating deadline, the one guard
//! that catches and logs a panic in user code the crate runs on its own threads, the
//! one timer of a running poll, and the `tracing` dispatcher an executor carries to its
//! threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{panic_message, Site};

/// The `tracing` dispatcher that was current where a bridge or pool was built, carried
/// to the threads the crate starts for it (the loop thread, pool workers, background
/// shutdowns) and to the reports the watchdog makes about it, so that its events reach
/// a subscriber installed with `tracing::subscriber::with_default` as well as a global
/// one. `None` when no subscriber was current there: those threads then use whatever
/// global default is set, even one set later.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dispatcher(Option<tracing::Dispatch>);

impl Dispatcher {
    /// The dispatcher current on this thread.
    pub(crate) fn current() -> Dispatcher {
        tracing::dispatcher::get_default(|dispatch| {
            if dispatch.is::<tracing::subscriber::NoSubscriber>() {
                Dispatcher(None)
            } else {
                Dispatcher(Some(dispatch.clone()))
            }
        })
    }

    /// Runs `f` with this dispatcher as the thread's default (as it is, with `None`).
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, f),
            None => f(),
        }
    }
}

/// `share` (0 to 1) of `timeout`, saturating instead of panicking when the product
/// does not fit a `Duration` (a `Duration::MAX` timeout).
pub(crate) fn share_of(timeout: Duration, share: f64) -> Duration {
    Duration::try_from_secs_f64(timeout.as_secs_f64() * share).unwrap_or(timeout)
}

/// A deadline `timeout` from now, saturating instead of overflowing.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(60 * 60 * 24 * 365 * 30))
}

/// A value alone on its own cache lines (two 64-byte lines, as adjacent-line prefetching
/// pairs them), so that a counter one thread writes does not slow down another thread
/// writing its neighbour.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Runs `f`, which runs user code (a destructor, a callback, the application's tracing
/// subscriber) on one of the crate's own threads, and logs a panic in it instead of
/// letting it unwind into the loop, a worker or the watchdog. `what` says what was being
/// done, `site` which job it was for.
pub(crate) fn log_panic(what: &str, site: Option<&Site>, f: impl FnOnce()) {
    let Err(payload) = catch_unwind(AssertUnwindSafe(f)) else {
        return;
    };
    let message = panic_message(&*payload);
    // Best effort: the subscriber that panicked may panic again, and so may dropping the
    // payload.
    let _ = catch_unwind(AssertUnwindSafe(move || {
        match site {
            Some(site) => tracing::error!(
                target: "loopbridge::callback_panic",
                site = %site.location(),
                name = site.name(),
                scope = site.scope(),
                what,
                panic = %message,
                "{what} panicked (job {site}): {message}"
            ),
            None => tracing::error!(
                target: "loopbridge::callback_panic",
                what,
                panic = %message,
                "{what} panicked: {message}"
            ),
        }
        drop(payload);
    }))
    .map_err(forget_payload);
}

/// Drops a panic's payload: a payload whose own destructor panics must not unwind into
/// the crate's threads. That second panic's payload is leaked, not dropped (it could
/// panic again).
pub(crate) fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload))).map_err(forget_payload);
}

fn forget_payload(payload: Box<dyn std::any::Any + Send>) {
    std::mem::forget(payload);
}

/// An instant as nanoseconds after the process's first stamp: half an `Instant`'s size,
/// for what every job records. Saturates about 584 years in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

impl Stamp {
    fn epoch() -> Instant {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    pub(crate) fn now() -> Stamp {
        let epoch = Stamp::epoch();
        Stamp::since(epoch, Instant::now())
    }

    fn since(epoch: Instant, instant: Instant) -> Stamp {
        let nanos = instant.saturating_duration_since(epoch).as_nanos();
        Stamp(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    pub(crate) fn instant(self) -> Instant {
        Stamp::epoch() + Duration::from_nanos(self.0)
    }
}

/// When a running poll (or a pool job's run) began, as nanoseconds after an epoch the
/// owner keeps, plus one; zero while none runs. One writer (the thread that polls), any
/// number of readers (reports, the watchdog).
#[derive(Default)]
pub(crate) struct PollTimer(AtomicU64);

impl PollTimer {
    // ORDERING: the timer publishes only its own value, read as a report; relaxed is
    // enough, and keeps the per-poll cost to two plain stores.
    pub(crate) fn began(&self, epoch: Instant, now: Instant) {
        let since = now.saturating_duration_since(epoch).as_nanos();
        let since = u64::try_from(since).unwrap_or(u64::MAX - 1);
        self.0.store(since + 1, Ordering::Relaxed);
    }

    pub(crate) fn ended(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// The running poll's mark (unique per poll start) and how long it has run.
    pub(crate) fn running(&self, epoch: Instant, now: Instant) -> Option<(u64, Duration)> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            mark => {
                let began = epoch + Duration::from_nanos(mark - 1);
                Some((mark, now.saturating_duration_since(began)))
            }
        }
    }
}
