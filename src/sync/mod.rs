//! The synchronization primitives the crate's own state machines use: std's atomics and
//! parking_lot's lock normally, loom's under `cfg(loopbridge_loom)`, so the models in
//! `loom-tests/` explore every interleaving of the code that uses them. API differences
//! are absorbed here, once. Nothing else in the crate reaches past this shim for state a
//! model's argument rests on.

mod atomic;
mod channel;
mod lock;
mod thread;

pub(crate) use atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
pub(crate) use channel::Channel;
pub(crate) use lock::{Condvar, Mutex, MutexGuard};
pub(crate) use thread::spin_wait;
