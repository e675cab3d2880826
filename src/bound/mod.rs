//! Values that live on the loop: [`LoopBound<T>`] (a `Send + Sync` handle to a value
//! built, used and dropped on a bridge's loop thread, with an optional async close
//! ([`AsyncClose`])), and [`LoopContext`] (the proof that code runs on the loop, with
//! which loop-bound values are reached synchronously).
//!
//! May import `handle`, `event_loop`, `job`, `completion`, and the leaves. `bridge`
//! uses it: the loop thread installs its store, runs the last closes and tears the store
//! down inside the runtime.

mod close;
mod context;
mod loop_bound;
mod store;

pub(crate) use close::close_remaining;
pub use close::AsyncClose;
pub use context::LoopContext;
pub use loop_bound::{LoopBound, LoopRef};
#[cfg(loopbridge_loom)]
pub(crate) use store::Releases;
pub(crate) use store::{drain_releases, teardown, Store};
