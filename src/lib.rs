//! Call async code from synchronous code and blocking code from async code, through one
//! background event loop that never deadlocks, never loses an error and always shuts down.
//!
//! A [`Bridge`] runs a tokio event loop on a dedicated thread. Any thread submits work
//! to it through a [`Handle`] and gets a [`Completion`] back: wait for it from
//! synchronous code, `.await` it from async code, cancel it, or give it a callback.
//!
//! # Start a bridge, call async code from sync code
//!
//! ```
//! use std::time::Duration;
//!
//! let bridge = loopbridge::Bridge::new()?;
//! let handle = bridge.handle();
//!
//! let greeting = handle.block_on(async {
//!     tokio::time::sleep(Duration::from_millis(1)).await;
//!     "hello from the loop"
//! })?;
//! assert_eq!(greeting, "hello from the loop");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The global bridge
//!
//! [`global()`] starts a process-wide bridge on first use; it lives until the process
//! exits.
//!
//! ```
//! let answer = loopbridge::global().submit(async { 42 }).wait()?;
//! assert_eq!(answer, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Nothing hangs, nothing is lost
//!
//! Every [`Completion`] resolves exactly once, with the value or an [`Error`] that names
//! the line that submitted the job. Waits can time out without cancelling; cancels are
//! honest; a panic becomes [`Error::Panicked`] and the loop keeps serving.
//!
//! ```
//! use std::time::Duration;
//!
//! let bridge = loopbridge::Bridge::new()?;
//! let handle = bridge.handle();
//!
//! let mut slow = handle.submit(std::future::pending::<()>());
//! assert!(slow.wait_timeout(Duration::from_millis(5)).unwrap_err().is_timeout());
//! assert!(slow.cancel());
//! assert!(slow.wait().unwrap_err().is_cancelled());
//!
//! let error = handle.submit(async { panic!("bad input") }).wait().unwrap_err();
//! assert_eq!(error.panic_message(), Some("bad input"));
//! assert_eq!(handle.submit(async { "still serving" }).wait()?, "still serving");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Offload blocking and CPU-bound work from async code
//!
//! Async code on the loop must not block, so blocking calls go to a [`ThreadPool`] and
//! computation to a [`RayonPool`]; both hand back a [`Completion`] to `.await`.
//! [`Handle::run_in_executor`] uses the bridge's own pool, started on first use and shut
//! down with the bridge. See `docs/which-pool.md` for which pool suits which work.
//!
//! ```
//! let bridge = loopbridge::Bridge::new()?;
//! let handle = bridge.handle();
//! let inner = handle.clone();
//! let (listing, checksum) = handle.block_on(async move {
//!     let listing = inner.run_in_executor(|| std::fs::read_dir(".").map(Iterator::count));
//!     let checksum = loopbridge::RayonPool::global()
//!         .submit(|| (0..1_000_000u64).fold(0, |acc, n| acc ^ n.wrapping_mul(31)));
//!     (listing.await, checksum.await)
//! })?;
//! assert!(listing?? > 0);
//! assert_eq!(checksum?, (0..1_000_000u64).fold(0, |acc, n| acc ^ n.wrapping_mul(31)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The loop-thread rules
//!
//! Code on the loop thread must not block: one blocking call stalls every job. A
//! blocking wait there returns [`Error::BlockingOnLoop`] at once instead of deadlocking;
//! [`Handle::verify_loop_thread`] asserts that code runs on the loop (Home Assistant's
//! `@callback`); [`check_blocking`] lets legacy blocking functions announce themselves;
//! polls that hold the loop longer than the slow-poll threshold are logged and counted.
//!
//! ```
//! let bridge = loopbridge::Bridge::new()?;
//! let handle = bridge.handle();
//! let inner = handle.clone();
//! let refused = handle
//!     .run_callback(move || inner.submit(async { 1 }).wait())
//!     .wait()?;
//! assert!(refused.unwrap_err().is_blocking_on_loop());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Shutdown
//!
//! [`Bridge::shutdown`] is bounded by its timeout and reports what it finished, what it
//! cut off and which jobs held a thread it had to leave behind. Dropping a bridge shuts
//! it down the same way.
//!
//! ```
//! use std::time::Duration;
//!
//! let bridge = loopbridge::Bridge::new()?;
//! let waiting = bridge.handle().submit(std::future::pending::<()>());
//! let report = bridge.shutdown(Duration::from_millis(20));
//! assert_eq!(report.cancelled, 1);
//! assert!(waiting.wait().unwrap_err().is_closed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bridge;
mod completion;
mod error;
mod executor;
mod global;
mod handle;
mod loop_thread;
mod registry;
mod report;
mod run;
mod slot;
mod spin;
mod stats;
mod sync;
mod watchdog;

pub use bridge::{Bridge, Builder};
pub use completion::Completion;
pub use error::{Error, Site};
pub use executor::{Permit, PoolStats, RayonPool, Reserve, ThreadPool, ThreadPoolBuilder};
pub use global::global;
pub use handle::{Handle, Job};
pub use loop_thread::{check_blocking, on_loop_thread, AssertMode};
pub use registry::JobInfo;
pub use report::{ShutdownReport, StuckJob};
pub use stats::Stats;

/// Internals exposed to the loom models only: the slot under [`Completion`], re-wrapped
/// with public methods so the models in `loom-tests/` can drive it directly.
#[cfg(loopbridge_loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::executor::loom_model as pool;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use crate::error::{Error, Site};
    use crate::slot;

    /// A `then` callback, as [`Slot::then`] takes it.
    pub type Callback<T> = Box<dyn FnOnce(Result<T, Error>) + Send>;

    /// What a read found (mirrors the crate's own `Outcome`).
    #[derive(Debug)]
    pub enum Outcome<T> {
        /// No result yet.
        Pending,
        /// The result; an error is returned again to later reads.
        Ready(Result<T, Error>),
        /// The value was already taken by an earlier read.
        AlreadyTaken,
    }

    impl<T> From<slot::Outcome<T>> for Outcome<T> {
        fn from(outcome: slot::Outcome<T>) -> Outcome<T> {
            match outcome {
                slot::Outcome::Pending => Outcome::Pending,
                slot::Outcome::Ready(result) => Outcome::Ready(result),
                slot::Outcome::AlreadyTaken => Outcome::AlreadyTaken,
            }
        }
    }

    /// What `resolve` did with the offered result (mirrors the crate's own `Resolved`).
    #[derive(Debug)]
    pub enum Resolved {
        /// The slot was resolved before; the offered result was dropped.
        AlreadyResolved,
        /// Stored for the reader, or handed to its `then` callback.
        Delivered,
        /// The reader is gone; an offered error is handed back.
        Unread(Option<Error>),
    }

    impl From<slot::Resolved> for Resolved {
        fn from(resolved: slot::Resolved) -> Resolved {
            match resolved {
                slot::Resolved::AlreadyResolved => Resolved::AlreadyResolved,
                slot::Resolved::Delivered => Resolved::Delivered,
                slot::Resolved::Unread(error) => Resolved::Unread(error),
            }
        }
    }

    /// The crate's slot, with each operation forwarded as is.
    pub struct Slot<T>(slot::Slot<T>);

    impl<T> Default for Slot<T> {
        fn default() -> Slot<T> {
            Slot::new()
        }
    }

    impl<T> Slot<T> {
        /// A pending slot.
        pub fn new() -> Slot<T> {
            Slot(slot::Slot::new())
        }

        /// A slot that already holds `result`.
        pub fn resolved(result: Result<T, Error>) -> Slot<T> {
            Slot(slot::Slot::resolved(result))
        }

        /// Offers the result; the first offer wins.
        pub fn resolve(&self, result: Result<T, Error>) -> Resolved {
            self.0.resolve(result).into()
        }

        /// `true` once a result is in.
        pub fn is_resolved(&self) -> bool {
            self.0.is_resolved()
        }

        /// Reads without blocking.
        pub fn try_take(&self) -> Outcome<T> {
            self.0.try_take().into()
        }

        /// Blocks until the result is in.
        pub fn wait(&self) -> Outcome<T> {
            self.0.wait().into()
        }

        /// Blocks until the result is in or `deadline` passes (under loom: one yield).
        pub fn wait_until(&self, deadline: Instant) -> Outcome<T> {
            self.0.wait_until(deadline).into()
        }

        /// Reads, or registers `cx`'s waker.
        pub fn poll(&self, cx: &mut Context<'_>) -> Poll<Outcome<T>> {
            self.0.poll(cx).map(Outcome::from)
        }

        /// Has `callback` receive the result; gives it back if the value was taken.
        pub fn then(&self, callback: Callback<T>) -> Result<(), Callback<T>> {
            self.0.then(callback)
        }

        /// The reader is gone; returns an unread error.
        pub fn detach(&self) -> Option<Error> {
            self.0.detach()
        }
    }

    /// An [`Error::Cancelled`] naming the caller.
    #[track_caller]
    pub fn cancelled() -> Error {
        Error::Cancelled {
            site: Site::caller(),
        }
    }

    /// An [`Error::Closed`] naming the caller.
    #[track_caller]
    pub fn closed() -> Error {
        Error::Closed {
            site: Site::caller(),
        }
    }
}
