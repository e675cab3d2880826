//! One bridge's event loop, below its public API: the state its handles and its loop
//! thread share ([`LoopState`], with the steps every job takes through it), the
//! dispatcher that polls every job, the wrapper that turns a future into a job, the
//! counters behind [`LoopStats`], the clock the stall watchdog reads, and the bounded queue
//! of a threadsafe function ([`Events`]). It knows nothing of
//! `Handle`, `Bridge` or the pools.
//!
//! May import: `job`, `completion`, `slot`, `sync`, `util`, `error`, `loop_thread`,
//! `process`, `thread_clock`.

mod counters;
mod dispatcher;
mod doze;
mod events;
mod poll_clock;
mod state;
mod task;

pub use counters::LoopStats;
pub(crate) use dispatcher::dispatch;
#[cfg(loopbridge_loom)]
pub(crate) use dispatcher::Jobs;
pub(crate) use doze::Doze;
pub(crate) use events::Events;
#[cfg(loopbridge_loom)]
pub(crate) use poll_clock::TurnWaker;
pub(crate) use poll_clock::{Sighting, Stall, Turn};
pub(crate) use state::{LoopSettings, LoopState};
pub(crate) use task::{run, InCell, Resolver};
