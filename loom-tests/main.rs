//! loom models of the crate's own state machines. Run with:
//! `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loopbridge_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --features loom --test loom`
//!
//! One file per state machine: `slot.rs` (the result slot under `Completion`),
//! `dispatch.rs` (the loop's run queue and dispatcher), `shutdown.rs` (a submission racing
//! the bridge's close, or a scope's closes), `pool.rs` and `room.rs` (the thread pool's handoff and bounded
//! queue), `events.rs` (a threadsafe function's queue), `max_pending.rs` (the loop's own
//! bound), `watchdog.rs` (the watchdog's doze), `watch.rs` (a multi-wait's watchers racing
//! the jobs they watch), `stream.rs` (the stream buffers of `Handle::iter`,
//! `ThreadPool::unblock_iter` and `ThreadPool::unblock`), `bound.rs` (a bound value's close
//! claimed by its last handle racing the shutdown's sweep, and a release racing the
//! teardown), `spin.rs` (a waiter's and the dispatcher's spin before they park),
//! `thread_bound.rs` (a `ThreadBound`'s mailbox: a call racing the close). Each model
//! targets one race: spawned loom threads stand in for the loop thread, submitters or
//! shutdown, and the assertions after the joins state the property that must hold in every
//! interleaving.
#![cfg(loopbridge_loom)]

mod bound;
mod dispatch;
mod events;
mod max_pending;
mod pool;
mod room;
mod shutdown;
mod slot;
mod spin;
mod stream;
mod thread_bound;
mod watch;
mod watchdog;
