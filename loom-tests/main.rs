//! loom models of the crate's own state machines. Run with:
//! `RUSTFLAGS="--cfg loopbridge_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --features loom --test loom`
#![cfg(loopbridge_loom)]
