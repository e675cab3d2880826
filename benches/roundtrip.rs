//! Sync → loop round trip and throughput: loopbridge next to the raw tokio pattern it
//! replaces (a current-thread runtime parked on its own thread, `Handle::spawn`, and a
//! blocking wait on the `JoinHandle`), in the same run. Before the timings it prints the
//! heap allocations each pattern makes per submit + wait, counted by a global allocator.
//!
//! Run with `cargo bench --bench roundtrip`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};
use tokio::sync::oneshot;

/// Counts every allocation in the process, to report allocations per operation.
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; the only addition is a
// relaxed counter increment, which cannot allocate or unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `layout` is passed through unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// The pattern loopbridge replaces: a current-thread runtime parked on its own thread.
struct RawLoop {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RawLoop {
    fn start() -> RawLoop {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let _ = runtime.block_on(stopped);
        });
        RawLoop {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn round_trip(&self) -> u64 {
        let join = self.handle.spawn(async { black_box(1u64) });
        self.handle.block_on(join).expect("raw task")
    }
}

impl Drop for RawLoop {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|stop| stop.send(()));
        let _ = self.thread.take().map(thread::JoinHandle::join);
    }
}

fn allocations_per_op(iterations: u64, mut op: impl FnMut()) -> f64 {
    for _ in 0..1_000 {
        op();
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..iterations {
        op();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / iterations as f64
}

fn report_allocations() {
    let bridge = loopbridge::Bridge::new().expect("bridge");
    let handle = bridge.handle();
    let raw = RawLoop::start();
    let ours = allocations_per_op(10_000, || {
        black_box(
            handle
                .submit(async { black_box(1u64) })
                .wait()
                .expect("job"),
        );
    });
    let theirs = allocations_per_op(10_000, || {
        black_box(raw.round_trip());
    });
    eprintln!("allocations per submit + wait: loopbridge {ours:.2}, raw tokio {theirs:.2}");
}

fn round_trip(c: &mut Criterion) {
    let bridge = loopbridge::Bridge::new().expect("bridge");
    let handle = bridge.handle();
    let raw = RawLoop::start();
    let mut group = c.benchmark_group("round_trip");
    group.bench_function("loopbridge", |b| {
        b.iter(|| {
            handle
                .submit(async { black_box(1u64) })
                .wait()
                .expect("job")
        })
    });
    group.bench_function("tokio_raw", |b| b.iter(|| raw.round_trip()));
    group.finish();
}

/// Per thread, per iteration: submit this many trivial futures, then wait for all.
const THROUGHPUT_JOBS: u64 = 100_000;
const THROUGHPUT_THREADS: usize = 2;

fn throughput_run(submit_and_wait_all: impl Fn() + Sync) -> Duration {
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..THROUGHPUT_THREADS {
            scope.spawn(&submit_and_wait_all);
        }
    });
    started.elapsed()
}

fn throughput(c: &mut Criterion) {
    let bridge = loopbridge::Bridge::new().expect("bridge");
    let handle = bridge.handle();
    let raw = RawLoop::start();
    let mut group = c.benchmark_group("throughput");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(
        THROUGHPUT_JOBS * THROUGHPUT_THREADS as u64,
    ));
    let id = format!("{THROUGHPUT_THREADS}x{THROUGHPUT_JOBS}");
    group.bench_function(BenchmarkId::new("loopbridge", &id), |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| {
                    throughput_run(|| {
                        let pending: Vec<_> = (0..THROUGHPUT_JOBS)
                            .map(|n| handle.submit(async move { black_box(n) }))
                            .collect();
                        for completion in pending {
                            black_box(completion.wait().expect("job"));
                        }
                    })
                })
                .sum()
        })
    });
    group.bench_function(BenchmarkId::new("tokio_raw", &id), |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| {
                    throughput_run(|| {
                        let pending: Vec<_> = (0..THROUGHPUT_JOBS)
                            .map(|n| raw.handle.spawn(async move { black_box(n) }))
                            .collect();
                        for join in pending {
                            black_box(raw.handle.block_on(join).expect("raw task"));
                        }
                    })
                })
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, round_trip, throughput);

fn main() {
    report_allocations();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
