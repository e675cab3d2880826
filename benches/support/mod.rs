//! What the benches share: a counting global allocator, the raw patterns loopbridge is
//! measured against, and the cases themselves, defined once for the criterion timings
//! (`benches/timings.rs`) and the comparison table (`benches/compare.rs`).

// Each bench uses only part of this module.
#![allow(dead_code)]

pub mod alloc;
pub mod cases;
pub mod cpu;
pub mod latency;
pub mod peers;
pub mod placement;
