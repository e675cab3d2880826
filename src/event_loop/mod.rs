//! One bridge's event loop, below its public API: the state its handles and its loop
//! thread share ([`LoopState`], with the steps every job takes through it), the
//! dispatcher that polls every job, the wrapper that turns a future into a job, the
//! counters behind [`Stats`], and the clock the stall watchdog reads. It knows nothing of
//! `Handle`, `Bridge` or the pools.
//!
//! May import: `job`, `completion`, `slot`, `sync`, `util`, `error`, `loop_thread`,
//! `process`, `thread_clock`.

mod counters;
mod dispatcher;
mod doze;
mod poll_clock;
mod state;
mod task;

pub use counters::Stats;
pub(crate) use dispatcher::dispatch;
#[cfg(loopbridge_loom)]
pub(crate) use dispatcher::Jobs;
pub(crate) use doze::Doze;
#[cfg(loopbridge_loom)]
pub(crate) use poll_clock::TurnWaker;
pub(crate) use poll_clock::{Sighting, Stall, Turn};
pub(crate) use state::{LoopSettings, LoopState};
pub(crate) use task::{admit, run, Admitted};
