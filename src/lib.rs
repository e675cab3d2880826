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
//! A library keeps a bridge of its own in a `static` [`LazyBridge`], started on first
//! use, apart from the program's and from other libraries' (and fork-aware, as
//! `global()`, which is one):
//!
//! ```
//! use loopbridge::{Bridge, LazyBridge};
//!
//! static RUNTIME: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("mylib"));
//!
//! pub fn lookup(key: u32) -> Result<u32, loopbridge::Error> {
//!     RUNTIME.handle().block_on(async move { key * 2 })
//! }
//! assert_eq!(lookup(21)?, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Nothing hangs, nothing is lost
//!
//! Every [`Completion`] resolves exactly once, with the value or an [`Error`] that names
//! the line that submitted the job (or, for a wait that gave up, the line that waited).
//! Waits can time out without cancelling, or cancel the job when they give up; cancels
//! are honest; a panic becomes [`Error::Panicked`] and the loop keeps serving.
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
//! let stuck = handle.submit(std::future::pending::<()>());
//! let error = stuck.wait_timeout_or_cancel(Duration::from_millis(5)).unwrap_err();
//! assert!(error.is_timeout() && error.to_string().ends_with("it was cancelled"));
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
//! down with the bridge. The README's "Which pool?" section says which pool suits which
//! work.
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
//! # Many jobs, and streams
//!
//! [`wait_any`], [`wait_all`] and [`as_completed`] wait on many jobs at once, loop and
//! pool jobs mixed; [`Handle::iter`] reads an async stream from a plain thread, and
//! [`ThreadPool::unblock_iter`] and [`ThreadPool::unblock`] turn blocking iterators and
//! readers into streams and tokio I/O for async code. Every one is bounded and stops its
//! producer when the consumer goes.
//!
//! ```
//! let bridge = loopbridge::Bridge::new()?;
//! let handle = bridge.handle();
//! let jobs: Vec<_> = (1..=3).map(|n| handle.submit(async move { n * 10 })).collect();
//! let total: u32 = loopbridge::as_completed(jobs).map(|(_, result)| result.unwrap()).sum();
//! assert_eq!(total, 60);
//!
//! let squares = handle.iter(futures_util::stream::iter((1..=3_u32).map(|n| n * n)), 2);
//! assert_eq!(squares.collect::<Result<Vec<_>, _>>()?, [1, 4, 9]);
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
//! # Values that stay on the loop
//!
//! [`Handle::bind`] builds a value on the loop thread (it may be `!Send`, or need its
//! runtime to drop, as a tokio `TcpStream` does) and returns a [`LoopBound`] handle that
//! any thread can hold: [`LoopBound::with`] and [`LoopBound::with_async`] run code on it,
//! and dropping the last handle drops the value on the loop, inside the runtime.
//! [`LoopContext`] is Home Assistant's `@callback` as a type: a `!Send` proof that code
//! runs on the loop, with which bound values are reached synchronously
//! ([`LoopBound::with_cx`]). [`AsyncClose`] values get an async close that shutdown waits for.
//!
//! ```
//! use std::rc::Rc;
//!
//! let bridge = loopbridge::Bridge::new()?;
//! let handle = bridge.handle();
//! let seen = handle.bind(|| Rc::new(std::cell::RefCell::new(Vec::new()))).wait()?;
//! let from_thread = seen.clone();
//! std::thread::spawn(move || from_thread.with(|v| v.borrow_mut().push("thread")).wait())
//!     .join()
//!     .unwrap()?;
//! let on_loop = seen.clone();
//! handle.run_callback_cx(move |cx| on_loop.with_cx(cx, |v| v.borrow_mut().push("loop"))).wait()?;
//! assert_eq!(seen.with(|v| v.borrow().clone()).wait()?, ["thread", "loop"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Values that stay on a thread of their own
//!
//! A blocking resource that must be used from one thread only (a SQLite connection, a C
//! library handle that is not thread-safe) gets a thread of its own: [`ThreadBound::spawn`]
//! builds it there (it may be `!Send`) and every [`ThreadBound::call`] runs on it there,
//! one at a time, in order, from any thread or `.await`ed on the loop. A call from inside
//! a call on the same value is refused with [`Error::Reentrant`] instead of deadlocking.
//!
//! ```
//! use std::rc::Rc;
//!
//! let counter = loopbridge::ThreadBound::spawn("counter", || Ok::<_, std::io::Error>(Rc::new(std::cell::Cell::new(0))))?;
//! counter.call(|n| n.set(n.get() + 1)).wait()?;
//! let bridge = loopbridge::Bridge::new()?;
//! let on_loop = counter.clone();
//! let seen = bridge.handle().block_on(async move { on_loop.call(|n| n.get()).await })??;
//! assert_eq!(seen, 1);
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
//!
//! # How jobs run
//!
//! Jobs are not tokio tasks of their own. A submission goes onto the loop's run queue,
//! which wakes the loop once per burst, and one dispatcher task on the loop thread polls
//! every job, timing each poll for the stall watchdog. Inside a job everything tokio
//! offers on a current-thread runtime works (timers, I/O, `tokio::spawn`,
//! `tokio::task::spawn_local`), with two differences: `tokio::task::id()` is the
//! dispatcher's, and the jobs the dispatcher polls in one turn share tokio's coop budget
//! (a turn ends once it is used up). Tasks spawned with tokio directly are not jobs:
//! they are neither timed nor listed by [`Handle::jobs`].
//!
//! ```
//! let bridge = loopbridge::Bridge::new()?;
//! let handle = bridge.handle();
//! let spawned = handle.block_on(async {
//!     let local = tokio::task::spawn_local(async { 20 });
//!     let task = tokio::spawn(async { 22 });
//!     local.await.unwrap() + task.await.unwrap()
//! })?;
//! assert_eq!(spawned, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
// `unsafe` in the crate: registering the fork handler (src/process.rs), reading a
// thread's CPU-time clock (src/thread_clock.rs), asking which CPU a thread runs on
// (src/spin/cpu.rs), and pinning a job's future where it
// lies in its cell (src/event_loop/task.rs).
#![deny(unsafe_code)]
#![warn(missing_docs)]
// docs.rs builds with `--cfg docsrs` on nightly: items behind a feature say so there.
#![cfg_attr(docsrs, feature(doc_cfg))]

// Leaves: what every layer may use.
mod error;
mod host_runtime;
mod loop_thread;
mod notify;
mod process;
mod report;
mod room;
mod spin;
mod sync;
mod thread_clock;
mod util;

// The core: a job's result, what every job is, the loop, the pools, the watchdog.
mod completion;
mod event_loop;
mod job;
mod many;
mod pool;
mod slot;
mod stream;
mod watchdog;

// The API on top.
mod bound;
mod bridge;
mod handle;
mod scope;
mod thread_bound;

pub use bound::{AsyncClose, LoopBound, LoopContext, LoopRef};
pub use bridge::{global, Bridge, BridgeBuilder, LazyBridge, MAX_SPIN_BEFORE_PARK};
pub use completion::Completion;
pub use error::{Error, Site};
pub use event_loop::LoopStats;
pub use handle::{
    CallMode, Handle, HandleJob, LoopPermit, LoopReserve, ShutdownHook, ThreadsafeFn,
};
pub use job::JobInfo;
pub use loop_thread::{check_blocking, is_any_loop_thread, AssertMode};
pub use many::{
    as_completed, wait_all, wait_all_deadline, wait_any, wait_any_deadline, AsCompleted, Waitable,
};
pub use pool::{PoolPermit, PoolReserve, PoolStats, ThreadPool, ThreadPoolBuilder, ThreadPoolJob};
#[cfg(feature = "rayon")]
pub use pool::{RayonPool, RayonPoolJob};
pub use report::{ShutdownReport, StageReport, StuckJob};
pub use scope::{cancellation_token, outside_scopes, Scope};
pub use spin::SpinPolicy;
pub use stream::{StreamIter, Unblock, UnblockIter};
pub use thread_bound::{
    SpawnError, ThreadBound, ThreadBoundBuilder, ThreadBoundJob, ThreadBoundStats,
};
/// tokio-util's cancellation token, as scopes hand it out.
pub use tokio_util::sync::CancellationToken;

/// README.md's examples, compiled and run as doc tests (its snippets use `RayonPool`).
#[cfg(all(doctest, feature = "rayon"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Internals exposed to the loom models only: the slot under [`Completion`], re-wrapped
/// with public methods, the pool's and the loop's cores, so the models in `loom-tests/`
/// can drive them directly.
#[cfg(loopbridge_loom)]
#[doc(hidden)]
pub mod __loom;
