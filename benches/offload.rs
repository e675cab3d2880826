//! Async → blocking offload round trip, from a job on the loop: loopbridge's pools next
//! to the raw patterns they replace, in the same run.
//!
//! - `ThreadPool::submit(f).await` next to `tokio::task::spawn_blocking(f).await`;
//! - `RayonPool::submit(f).await` next to `rayon::spawn` + a `tokio::sync::oneshot`.
//!
//! Before the criterion timings it prints the heap allocations per offload (counted by a
//! global allocator) and the ratios loopbridge / raw, measured by alternating short
//! batches of each pattern so that machine noise hits both alike.
//!
//! Run with `cargo bench --bench offload`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use loopbridge::{Bridge, Handle, RayonPool, ThreadPool};
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

/// The pools under comparison.
struct Patterns {
    pool: ThreadPool,
    rayon: RayonPool,
}

/// One way to run `|| 1` off the loop and await it there.
#[derive(Clone, Copy)]
enum Offload {
    ThreadPool,
    SpawnBlocking,
    RayonPool,
    RayonSpawnOneshot,
}

impl Offload {
    /// One offload, awaited on the loop (inline in the caller's future: no allocation
    /// of the harness's own).
    async fn run(self, p: &Patterns) -> u64 {
        match self {
            Offload::ThreadPool => p.pool.submit(|| black_box(1u64)).await.expect("pool job"),
            Offload::SpawnBlocking => tokio::task::spawn_blocking(|| black_box(1u64))
                .await
                .expect("blocking task"),
            Offload::RayonPool => p.rayon.submit(|| black_box(1u64)).await.expect("rayon job"),
            Offload::RayonSpawnOneshot => {
                let (tx, rx) = oneshot::channel();
                rayon::spawn(move || {
                    let _ = tx.send(black_box(1u64));
                });
                rx.await.expect("rayon job")
            }
        }
    }
}

/// The four patterns, in pairs: (loopbridge, raw).
const PAIRS: [(&str, Offload, &str, Offload); 2] = [
    (
        "ThreadPool::submit().await",
        Offload::ThreadPool,
        "spawn_blocking().await",
        Offload::SpawnBlocking,
    ),
    (
        "RayonPool::submit().await",
        Offload::RayonPool,
        "rayon::spawn+oneshot",
        Offload::RayonSpawnOneshot,
    ),
];

/// Runs `iterations` offloads of one pattern back to back inside one job on the loop,
/// and returns the time they took there.
fn timed(
    handle: &Handle,
    patterns: &'static Patterns,
    offload: Offload,
    iterations: u64,
) -> Duration {
    handle
        .block_on(async move {
            let started = Instant::now();
            for _ in 0..iterations {
                black_box(offload.run(patterns).await);
            }
            started.elapsed()
        })
        .expect("bench job")
}

fn allocations_per_offload(handle: &Handle, patterns: &'static Patterns, offload: Offload) -> f64 {
    const N: u64 = 10_000;
    timed(handle, patterns, offload, 1_000);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    timed(handle, patterns, offload, N);
    // The job around the batch allocates a little too; spread over N it is noise.
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / N as f64
}

/// loopbridge / raw, from alternating batches: the median of the per-round ratios.
fn ratio(handle: &Handle, patterns: &'static Patterns, ours: Offload, theirs: Offload) -> f64 {
    const ROUNDS: usize = 21;
    const BATCH: u64 = 2_000;
    timed(handle, patterns, ours, BATCH);
    timed(handle, patterns, theirs, BATCH);
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            // Alternate which goes first, so neither always runs on a warmer machine.
            let (a, b) = if round % 2 == 0 {
                let a = timed(handle, patterns, ours, BATCH);
                (a, timed(handle, patterns, theirs, BATCH))
            } else {
                let b = timed(handle, patterns, theirs, BATCH);
                (timed(handle, patterns, ours, BATCH), b)
            };
            a.as_secs_f64() / b.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ROUNDS / 2]
}

fn setup() -> (Bridge, &'static Patterns) {
    let bridge = Bridge::new().expect("bridge");
    let patterns = Box::leak(Box::new(Patterns {
        pool: ThreadPool::builder()
            .name("bench-pool")
            .build()
            .expect("pool"),
        rayon: RayonPool::global(),
    }));
    (bridge, patterns)
}

fn report() {
    let (bridge, patterns) = setup();
    let handle = bridge.handle();
    for (ours_name, ours, theirs_name, theirs) in PAIRS {
        let ours_allocs = allocations_per_offload(&handle, patterns, ours);
        let theirs_allocs = allocations_per_offload(&handle, patterns, theirs);
        let ratio = ratio(&handle, patterns, ours, theirs);
        eprintln!(
            "{ours_name} / {theirs_name}: time ratio {ratio:.3} (median of 21 alternating \
             batches); allocations per offload {ours_allocs:.2} vs {theirs_allocs:.2}"
        );
    }
}

fn offload(c: &mut Criterion) {
    let (bridge, patterns) = setup();
    let handle = bridge.handle();
    for (group, pair) in ["thread_pool", "rayon"].into_iter().zip(PAIRS) {
        let (ours_name, ours, theirs_name, theirs) = pair;
        let mut group = c.benchmark_group(format!("offload_round_trip/{group}"));
        group.bench_function(ours_name, |b| {
            b.iter_custom(|iterations| timed(&handle, patterns, ours, iterations))
        });
        group.bench_function(theirs_name, |b| {
            b.iter_custom(|iterations| timed(&handle, patterns, theirs, iterations))
        });
        group.finish();
    }
}

criterion_group!(benches, offload);

fn main() {
    report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
