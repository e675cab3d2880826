//! Streams across the bridge, both ways: an async stream read by a plain thread
//! ([`StreamIter`], made by `Handle::iter`), and blocking producers run on a pool for
//! async consumers (`ThreadPool::unblock_iter`, `ThreadPool::unblock`). Each side is
//! bounded: a slow consumer stops its producer, and dropping the consumer stops the
//! producer at its next item.
//!
//! May import: `pool`, `completion`, `job`, `notify`, `sync`, `error`, `loop_thread`,
//! `host_runtime`, `process`, `util`. Not `event_loop` or `handle`: `Handle::iter`
//! submits the pump.

mod iter;
mod pipe;
mod unblock;
mod unblock_iter;

pub use iter::StreamIter;
pub(crate) use iter::{Buffer, Pump};
#[cfg(loopbridge_loom)]
pub(crate) use pipe::Pipe;
pub use unblock::Unblock;
#[cfg(loopbridge_loom)]
pub(crate) use unblock_iter::Queue;
pub use unblock_iter::UnblockIter;
