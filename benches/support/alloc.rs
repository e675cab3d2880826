//! The global allocator of every bench: the system allocator, plus (while counting is on)
//! a count of allocations and of the bytes allocated minus the bytes freed.
//!
//! Counting is off during timed runs, so the shared counters add no contention to the
//! timings; [`count`] turns it on around one measured piece of work.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

struct CountingAllocator;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Calls to `alloc`, `alloc_zeroed` and `realloc` while counting.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated minus bytes freed while counting (wrapping: only differences matter).
static NET_BYTES: AtomicUsize = AtomicUsize::new(0);

// ORDERING (all the counters): they are statistics, read by `count` after the measured
// work has been waited for (a join or a completion, which synchronizes with the threads
// that did it); no other memory is published through them, so relaxed suffices.

fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

fn allocated(size: usize) {
    if counting() {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        NET_BYTES.fetch_add(size, Ordering::Relaxed);
    }
}

fn freed(size: usize) {
    if counting() {
        NET_BYTES.fetch_sub(size, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds the
// `GlobalAlloc` contract; the only additions are relaxed atomic operations on statics,
// which neither allocate nor unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `layout` is passed through unchanged.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            allocated(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `layout` is passed through unchanged.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            allocated(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        freed(layout.size());
        // SAFETY: `ptr` was allocated by `System` with this `layout` (every allocation
        // of the process goes through this allocator, which takes it from `System`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` and `layout` come from `System` as in `dealloc`; the caller's
        // contract for `new_size` is passed through unchanged.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            allocated(new_size);
            freed(layout.size());
        }
        new
    }
}

/// What the allocator counted over one piece of work, in every thread of the process.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    pub allocations: u64,
    /// Bytes allocated minus bytes freed: the growth of the live heap.
    pub net_bytes: i64,
}

impl Counts {
    /// Allocations per operation, over `ops` operations.
    pub fn allocations_per(&self, ops: u64) -> f64 {
        self.allocations as f64 / ops as f64
    }

    /// Live-heap growth per operation, over `ops` operations.
    pub fn bytes_per(&self, ops: u64) -> f64 {
        self.net_bytes as f64 / ops as f64
    }
}

/// Runs `work` with counting on and returns its result and what was allocated meanwhile
/// by every thread (including the loop and pool threads `work` sets to work). Work
/// started before and still running meanwhile counts too, so warm up before measuring.
pub fn count<R>(work: impl FnOnce() -> R) -> (R, Counts) {
    COUNTING.store(true, Ordering::Relaxed);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let bytes = NET_BYTES.load(Ordering::Relaxed);
    let result = work();
    let counts = Counts {
        allocations: ALLOCATIONS.load(Ordering::Relaxed) - allocations,
        // Two's complement: the wrapping difference read as signed is the signed growth.
        net_bytes: NET_BYTES.load(Ordering::Relaxed).wrapping_sub(bytes) as isize as i64,
    };
    COUNTING.store(false, Ordering::Relaxed);
    (result, counts)
}
