//! Waiting on many jobs at once, from synchronous code: [`wait_any`], [`wait_all`],
//! and [`as_completed`] (their results in the order they finish), over loop and pool
//! jobs alike.
//!
//! Each wait registers a watcher on every job's slot (`slot.rs`, `notify.rs`): a job that
//! resolves pushes its index onto the wait's ready list and wakes the one waiting thread.
//! A result costs O(1) whatever the number of jobs; no thread is started and nothing
//! polls.
//!
//! May import: `completion`, `job`, `notify`, `error`, `loop_thread`, `host_runtime`,
//! `process`, `util`.

mod as_completed;
mod wait;
mod waitable;

pub use as_completed::{as_completed, AsCompleted};
pub use wait::{wait_all, wait_all_deadline, wait_any, wait_any_deadline};
pub use waitable::Waitable;
