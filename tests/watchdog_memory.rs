//! Memory: a bridge that is dropped gives its memory back, even when it never ran a job
//! (the stall watchdog keeps no trace of it). A binary of its own, because it counts
//! every allocation of the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use loopbridge::Bridge;

/// The system allocator, counting the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is
// updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts and drops `n` bridges, one after the other, none of which runs a job.
fn churn(n: usize) {
    for _ in 0..n {
        drop(Bridge::new().expect("start a bridge"));
    }
}

#[test]
fn idle_bridges_dropped_leave_no_memory_behind() {
    // Warm-up: the watchdog thread, tokio's and the test harness's one-time allocations.
    churn(300);
    let before = live_bytes();
    const BRIDGES: usize = 3_000;
    churn(BRIDGES);
    let after = live_bytes();
    let per_bridge = after.saturating_sub(before) / BRIDGES;
    eprintln!("live bytes {before} -> {after}: {per_bridge} per dropped bridge");
    // A bound far above noise (a loop thread still exiting as we measure) and far below
    // what one bridge's state takes.
    assert!(
        per_bridge < 256,
        "{per_bridge} bytes per dropped bridge stay allocated ({before} -> {after})"
    );
}
