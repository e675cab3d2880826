//! The atomics of the crate's own state machines.

#[cfg(not(loopbridge_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};

#[cfg(loopbridge_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
