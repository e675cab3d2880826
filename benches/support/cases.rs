//! The benchmark cases: each is one operation done several ways, loopbridge's and its
//! peers', measured side by side. `timings.rs` runs them under criterion; `compare.rs`
//! runs them in interleaved batches and prints the comparison table.

use std::future::Future;
use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use loopbridge::{
    Bridge, CallMode, Handle, LazyBridge, RayonPool, Scope, SpinPolicy, ThreadBound, ThreadPool,
    ThreadsafeFn,
};
use tokio::sync::oneshot;

use super::peers::{self, Actor, PingPong, RawLoop, ReqwestLoop};
use super::placement::{self, current_thread_id, Pinned, Placement};

/// Per submitting thread, per throughput run: submit this many trivial futures, then wait
/// for all of them.
pub const THROUGHPUT_JOBS: u64 = 10_000;

/// The spin of the low-latency bridge.
pub const SPIN: Duration = Duration::from_micros(50);

/// Everything the cases run on, started once.
pub struct Peers {
    pub bridge: Bridge,
    /// A bridge built with `spin_before_park(SPIN)`.
    pub spinning: Bridge,
    /// A bridge that never spins (`SpinPolicy::Off`).
    pub off: Bridge,
    pub raw: RawLoop,
    pub reqwest: ReqwestLoop,
    pub pool: ThreadPool,
    pub rayon: RayonPool,
    /// A scope of `bridge`, for the cost of a scoped submission.
    pub scope: Scope,
    /// A value on a thread of its own, and the hand-written actor it replaces.
    pub bound: ThreadBound<std::rc::Rc<std::cell::Cell<u64>>>,
    pub actor: Actor,
    /// The floor of a round trip across CPUs: two threads that busy-spin on cache lines.
    pub floor: std::cell::RefCell<PingPong>,
    /// The kernel thread ids of the loop threads (the three bridges', the raw loop's,
    /// the reqwest pattern's and `LAZY`'s) and of the threads pinned like them (the
    /// thread-bound value's and the actor's owning threads, the ping-pong server), if
    /// they could be read.
    loop_threads: Option<Vec<u32>>,
}

impl Peers {
    pub fn start() -> Peers {
        let bridge = Bridge::new().expect("bridge");
        let scope = bridge.handle().scope("bench");
        let mut peers = Peers {
            bridge,
            scope,
            spinning: Bridge::builder()
                .thread_name("loopbridge-spin")
                .spin_before_park(SPIN)
                .build()
                .expect("spinning bridge"),
            off: Bridge::builder()
                .thread_name("loopbridge-off")
                .spin(SpinPolicy::Off)
                .build()
                .expect("bridge without spinning"),
            raw: RawLoop::start(),
            reqwest: ReqwestLoop::start(),
            pool: ThreadPool::builder()
                .name("bench-pool")
                .build()
                .expect("pool"),
            rayon: RayonPool::global(),
            bound: ThreadBound::builder()
                .name("bench-bound")
                .spawn(|| Ok::<_, ()>(std::rc::Rc::new(std::cell::Cell::new(1u64))))
                .map_err(|_| "spawn")
                .expect("thread-bound value"),
            actor: Actor::start(),
            floor: std::cell::RefCell::new(PingPong::start()),
            loop_threads: None,
        };
        peers.loop_threads = peers.read_loop_threads();
        peers
    }

    fn read_loop_threads(&self) -> Option<Vec<u32>> {
        let on_loop = |handle: &Handle| {
            handle
                .run_callback(current_thread_id)
                .wait()
                .expect("callback")
        };
        let reqwest = self
            .reqwest
            .round_trip(async { current_thread_id().map_or(0, u64::from) });
        [
            on_loop(&self.bridge.handle()),
            on_loop(&self.spinning.handle()),
            on_loop(&self.off.handle()),
            self.raw.round_trip(async { current_thread_id() }),
            u32::try_from(reqwest).ok().filter(|&id| id != 0),
            // Started here, so `lazy_round_trip` pins its loop thread like the others.
            on_loop(LAZY.handle()),
            // The owning threads of `thread_bound_call`, pinned like loop threads.
            self.bound
                .call(|_| current_thread_id())
                .wait()
                .expect("call"),
            self.actor.call(|_| current_thread_id()),
            // Pinned like a loop thread, so the floor crosses the same two CPUs.
            self.floor.borrow().thread_id,
        ]
        .into_iter()
        .collect()
    }

    /// Pins the calling thread and the loop threads per `placement` until the guard is
    /// dropped; `Err` says why they stay unpinned.
    pub fn place(&self, placement: Placement) -> Result<Option<Pinned>, String> {
        if placement == Placement::Free {
            return Ok(None);
        }
        let caller = current_thread_id().ok_or("no /proc/thread-self: threads not pinned")?;
        let loops = self
            .loop_threads
            .as_deref()
            .ok_or("loop thread ids unknown: threads not pinned")?;
        if placement.pins_workers() {
            self.start_workers();
        }
        placement::pin(placement, caller, loops)
    }

    /// Has every pool the offload cases use start its threads, so that pinning finds
    /// them all (a thread started later would inherit its starter's CPU).
    fn start_workers(&self) {
        let pool = self.pool.clone();
        let rayon = self.rayon.clone();
        self.bridge
            .handle()
            .block_on(async move {
                for _ in 0..2_000 {
                    pool.submit(|| ()).await.expect("pool job");
                    rayon.submit(|| ()).await.expect("rayon job");
                    tokio::task::spawn_blocking(|| ())
                        .await
                        .expect("blocking task");
                }
            })
            .expect("warm-up job");
    }
}

/// Whose pattern it is: ratios are taken against the case's `Raw` pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Loopbridge,
    Raw,
    Other,
}

/// Runs `units` units of work and returns how long they took.
type Run<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// One way to do a case's operation.
pub struct Pattern<'a> {
    /// Short name for criterion.
    pub id: &'static str,
    /// What the table shows.
    pub label: &'static str,
    pub role: Role,
    /// Operations per unit of work (a throughput unit is many jobs).
    pub ops_per_unit: u64,
    run: Run<'a>,
}

impl Pattern<'_> {
    /// Runs `units` units of work and returns how long they took.
    pub fn run(&mut self, units: u64) -> Duration {
        (self.run)(units)
    }
}

/// One operation and the patterns that do it.
pub struct Case<'a> {
    /// The criterion group, and the case name of the asyncio peer's output.
    pub id: &'static str,
    pub title: &'static str,
    /// Where the caller and the loop threads run while the case is measured.
    pub placement: Placement,
    pub patterns: Vec<Pattern<'a>>,
}

pub fn cases(peers: &Peers) -> Vec<Case<'_>> {
    vec![
        round_trip(peers, Placement::Split),
        run_callback(peers),
        call_soon(peers),
        round_trip(peers, Placement::Shared),
        slow_job(peers, Placement::Split),
        slow_job(peers, Placement::Shared),
        throughput(peers, 1),
        throughput(peers, 2),
        throughput(peers, 4),
        offload_thread_pool(peers, Placement::SplitWorkers),
        offload_thread_pool(peers, Placement::SharedWorkers),
        offload_rayon(peers, Placement::SplitWorkers),
        offload_rayon(peers, Placement::SharedWorkers),
        scope_close(peers),
        as_completed(peers),
        stream_iter(peers),
        lazy_round_trip(peers),
        threadsafe_fn_throughput(peers, 1),
        threadsafe_fn_throughput(peers, 2),
        loop_bound_with(peers),
        loop_bound_read(peers),
        thread_bound_call(peers),
    ]
}

/// `bound.call(f).wait()` against a hand-written actor (a thread, a crossbeam channel of
/// boxed closures, a tokio oneshot reply waited for with `blocking_recv`), the "raw"
/// pattern here: target ≤ 1.10×. Both owning threads are pinned like loop threads.
fn thread_bound_call(peers: &Peers) -> Case<'_> {
    let bound = peers.bound.clone();
    let actor = &peers.actor;
    Case {
        id: "thread_bound_call",
        title: "a call on a value owned by a thread (ratio: to a hand-written actor)",
        placement: Placement::Split,
        patterns: vec![
            pattern(
                "loopbridge_thread_bound",
                "`bound.call(f).wait()`",
                Role::Loopbridge,
                each(move || {
                    black_box(bound.call(|v| black_box(v.get())).wait().expect("call"));
                }),
            ),
            pattern(
                "actor_crossbeam_oneshot",
                "actor: crossbeam channel of boxed closures + oneshot reply",
                Role::Raw,
                each(move || {
                    black_box(actor.call(|v| black_box(*v)));
                }),
            ),
        ],
    }
}

/// `bound.with(f).wait()` against `handle.run_callback(f).wait()` on the same bridge
/// (the "raw" pattern here, so the ratio is with / run_callback; target ≤ 1.10×).
fn loop_bound_with(peers: &Peers) -> Case<'_> {
    let direct = peers.bridge.handle();
    let bound = peers
        .bridge
        .handle()
        .bind(|| std::rc::Rc::new(std::cell::Cell::new(1u64)))
        .wait()
        .expect("bind");
    Case {
        id: "loop_bound_with",
        title: "a closure on a LoopBound value (ratio: to run_callback of the same closure)",
        placement: Placement::Split,
        patterns: vec![
            pattern(
                "loopbridge_with",
                "`bound.with(f).wait()`",
                Role::Loopbridge,
                each(move || {
                    black_box(bound.with(|v| black_box(v.get())).wait().expect("with"));
                }),
            ),
            pattern(
                "loopbridge_run_callback",
                "`handle.run_callback(f).wait()`",
                Role::Raw,
                each(move || {
                    black_box(
                        direct
                            .run_callback(|| black_box(1u64))
                            .wait()
                            .expect("callback"),
                    );
                }),
            ),
        ],
    }
}

/// Reads per callback in `loop_bound_read`.
const LOOP_READS: u64 = 10_000;

/// On the loop thread, inside one callback: `LOOP_READS` reads of a `LoopBound` with a
/// `LoopContext` (each through `with_cx`, or through one `LoopRef` looked up first)
/// against the same reads of a plain `RefCell` (the "raw" pattern; target: no slower).
fn loop_bound_read(peers: &Peers) -> Case<'_> {
    let handle = peers.bridge.handle();
    let plain = peers.bridge.handle();
    let bound = handle.bind(|| 1u64).wait().expect("bind");
    let looked_up = bound.clone();
    let looking = handle.clone();
    let mut patterns = vec![
        pattern(
            "loopbridge_with_cx",
            "`bound.with_cx(&cx, |v| *v)` on the loop",
            Role::Loopbridge,
            Box::new(move |units| {
                let bound = bound.clone();
                handle
                    .run_callback_cx(move |cx| {
                        let started = Instant::now();
                        for _ in 0..units * LOOP_READS {
                            black_box(bound.with_cx(cx, |v| black_box(*v)));
                        }
                        started.elapsed()
                    })
                    .wait()
                    .expect("reads")
            }),
        ),
        pattern(
            "loopbridge_loop_ref",
            "`bound.get(&cx)` once, then `*r.borrow()`",
            Role::Loopbridge,
            Box::new(move |units| {
                let bound = looked_up.clone();
                looking
                    .run_callback_cx(move |cx| {
                        let started = Instant::now();
                        let value = bound.get(cx);
                        for _ in 0..units * LOOP_READS {
                            black_box(*black_box(&value).borrow());
                        }
                        started.elapsed()
                    })
                    .wait()
                    .expect("reads")
            }),
        ),
        pattern(
            "refcell_borrow",
            "`cell.borrow()` of a `RefCell` on the loop",
            Role::Raw,
            Box::new(move |units| {
                plain
                    .run_callback(move || {
                        let cell = black_box(std::cell::RefCell::new(1u64));
                        let started = Instant::now();
                        for _ in 0..units * LOOP_READS {
                            black_box(*black_box(&cell).borrow());
                        }
                        started.elapsed()
                    })
                    .wait()
                    .expect("reads")
            }),
        ),
    ];
    for pattern in &mut patterns {
        pattern.ops_per_unit = LOOP_READS;
    }
    Case {
        id: "loop_bound_read",
        title:
            "reads on the loop thread: a LoopBound with a LoopContext (ratio: to a RefCell borrow)",
        placement: Placement::Split,
        patterns,
    }
}

/// A library's lazily started bridge, for `lazy_round_trip`.
static LAZY: LazyBridge = LazyBridge::new(|| Bridge::builder().thread_name("loopbridge-lazy"));

/// A blocking call through a `LazyBridge` against the same call through a `Bridge` held
/// directly (the "raw" pattern here, so the ratio is lazy / direct; target ≤ 1.05×).
fn lazy_round_trip(peers: &Peers) -> Case<'_> {
    let direct = peers.bridge.handle();
    Case {
        id: "lazy_round_trip",
        title: "a blocking call through a LazyBridge (ratio: to the same call on a Bridge held directly)",
        placement: Placement::Split,
        patterns: vec![
            pattern(
                "loopbridge_lazy",
                "`LAZY.handle().block_on(fut)`",
                Role::Loopbridge,
                each(move || {
                    black_box(LAZY.handle().block_on(async { black_box(1u64) }).expect("job"));
                }),
            ),
            pattern(
                "loopbridge_direct",
                "`bridge.handle()` held, `.block_on(fut)`",
                Role::Raw,
                each(move || {
                    black_box(direct.block_on(async { black_box(1u64) }).expect("job"));
                }),
            ),
        ],
    }
}

/// What the threadsafe function of `threadsafe_fn_throughput` is fed.
enum Event {
    Tick,
    /// The last of a thread's events: reply when it runs (FIFO: after all the others).
    Done(mpsc::SyncSender<()>),
}

/// `threads` threads each queue `THROUGHPUT_JOBS` trivial events for a closure on the
/// loop, then wait for their last; the "raw" pattern is the same through `call_soon`, so
/// the ratio is threadsafe function / call_soon in time (target ≤ 1.11×, that is at least
/// 0.9× the throughput).
fn threadsafe_fn_throughput(peers: &Peers, threads: usize) -> Case<'_> {
    let handle = peers.bridge.handle();
    let events: ThreadsafeFn<Event> = handle.threadsafe_fn(1024, |event| match event {
        Event::Tick => {
            black_box(1u64);
        }
        Event::Done(reply) => {
            let _ = reply.send(());
        }
    });
    let (id, title) = match threads {
        1 => (
            "threadsafe_fn_1_thread",
            "1 thread queues 10 000 events (ratio: to `call_soon`, in time)",
        ),
        _ => (
            "threadsafe_fn_2_threads",
            "2 threads queue 10 000 events each (ratio: to `call_soon`, in time)",
        ),
    };
    let tsfn_per_thread = move || {
        for _ in 0..THROUGHPUT_JOBS {
            events.call(Event::Tick, CallMode::Blocking).expect("call");
        }
        let (reply, replied) = mpsc::sync_channel(1);
        events
            .call(Event::Done(reply), CallMode::Blocking)
            .expect("call");
        replied.recv().expect("done");
    };
    let soon_per_thread = move || {
        for _ in 0..THROUGHPUT_JOBS {
            handle
                .call_soon(|| {
                    black_box(1u64);
                })
                .expect("call_soon");
        }
        let (reply, replied) = mpsc::sync_channel(1);
        handle
            .call_soon(move || {
                let _ = reply.send(());
            })
            .expect("call_soon");
        replied.recv().expect("done");
    };
    Case {
        id,
        title,
        placement: Placement::Split,
        patterns: vec![
            Pattern {
                ops_per_unit: THROUGHPUT_JOBS * threads as u64,
                ..pattern(
                    "loopbridge_threadsafe_fn",
                    "`threadsafe_fn(1024, f).call(e, Blocking)`",
                    Role::Loopbridge,
                    throughput_unit(threads, tsfn_per_thread),
                )
            },
            Pattern {
                ops_per_unit: THROUGHPUT_JOBS * threads as u64,
                ..pattern(
                    "loopbridge_call_soon",
                    "`call_soon(f)`",
                    Role::Raw,
                    throughput_unit(threads, soon_per_thread),
                )
            },
        ],
    }
}

fn pattern<'a>(id: &'static str, label: &'static str, role: Role, run: Run<'a>) -> Pattern<'a> {
    Pattern {
        id,
        label,
        role,
        ops_per_unit: 1,
        run,
    }
}

/// A unit is one call of `op`, on the calling thread.
fn each<'a>(mut op: impl FnMut() + 'a) -> Run<'a> {
    Box::new(move |units| {
        let started = Instant::now();
        for _ in 0..units {
            op();
        }
        started.elapsed()
    })
}

fn round_trip(peers: &Peers, placement: Placement) -> Case<'_> {
    let handle = peers.bridge.handle();
    let scoped = peers.scope.handle();
    let spinning = peers.spinning.handle();
    let off = peers.off.handle();
    let raw = &peers.raw;
    let reqwest = &peers.reqwest;
    let floor = &peers.floor;
    let (id, title) = match placement {
        Placement::Shared => (
            "round_trip_one_cpu",
            "round_trip with the caller and the loop threads on one CPU",
        ),
        _ => (
            "round_trip",
            "sync thread → loop → sync thread: submit a trivial future, block until done",
        ),
    };
    Case {
        id,
        title,
        placement,
        patterns: vec![
            pattern(
                "loopbridge",
                "loopbridge `submit(fut).wait()`",
                Role::Loopbridge,
                each(move || {
                    black_box(
                        handle
                            .submit(async { black_box(1u64) })
                            .wait()
                            .expect("job"),
                    );
                }),
            ),
            pattern(
                "loopbridge_scoped",
                "loopbridge, through a scope's handle",
                Role::Loopbridge,
                each(move || {
                    black_box(
                        scoped
                            .submit(async { black_box(1u64) })
                            .wait()
                            .expect("job"),
                    );
                }),
            ),
            pattern(
                "loopbridge_spin_50us",
                "loopbridge (spin 50 µs)",
                Role::Loopbridge,
                each(move || {
                    black_box(
                        spinning
                            .submit(async { black_box(1u64) })
                            .wait()
                            .expect("job"),
                    );
                }),
            ),
            pattern(
                "loopbridge_spin_off",
                "loopbridge (`SpinPolicy::Off`)",
                Role::Loopbridge,
                each(move || {
                    black_box(off.submit(async { black_box(1u64) }).wait().expect("job"));
                }),
            ),
            pattern(
                "tokio_raw",
                "raw tokio `spawn` + blocking wait",
                Role::Raw,
                each(move || {
                    black_box(raw.round_trip(async { black_box(1u64) }));
                }),
            ),
            pattern(
                "reqwest_pattern",
                "`reqwest::blocking` pattern (mpsc + oneshot)",
                Role::Other,
                each(move || {
                    black_box(reqwest.round_trip(async { black_box(1u64) }));
                }),
            ),
        ]
        .into_iter()
        // Two threads busy-spinning on one CPU only take turns by the scheduler's slice.
        .chain((placement == Placement::Split).then(|| {
            pattern(
                "cache_line_floor",
                "busy-spin cache-line ping-pong (the floor)",
                Role::Other,
                Box::new(move |units| {
                    let started = Instant::now();
                    floor.borrow_mut().rally(units);
                    started.elapsed()
                }),
            )
        }))
        .collect(),
    }
}

/// How long the job of the slow-job case sleeps.
pub const SLOW_JOB: Duration = Duration::from_millis(1);

/// A round trip whose job sleeps 1 ms on a tokio timer: spinning cannot pay, so the
/// adaptive wait must cost neither time nor CPU here.
fn slow_job(peers: &Peers, placement: Placement) -> Case<'_> {
    let handle = peers.bridge.handle();
    let off = peers.off.handle();
    let raw = &peers.raw;
    let (id, title) = match placement {
        Placement::Shared => (
            "slow_job_one_cpu",
            "slow_job with the caller and the loop threads on one CPU",
        ),
        _ => (
            "slow_job",
            "a round trip whose job sleeps 1 ms on a tokio timer (spinning cannot pay)",
        ),
    };
    // The timer is made on the loop, inside the job.
    let sleep = || async { tokio::time::sleep(SLOW_JOB).await };
    Case {
        id,
        title,
        placement,
        patterns: vec![
            pattern(
                "loopbridge",
                "loopbridge `submit(fut).wait()`",
                Role::Loopbridge,
                each(move || handle.submit(sleep()).wait().expect("job")),
            ),
            pattern(
                "loopbridge_spin_off",
                "loopbridge (`SpinPolicy::Off`)",
                Role::Loopbridge,
                each(move || off.submit(sleep()).wait().expect("job")),
            ),
            pattern(
                "tokio_raw",
                "raw tokio `spawn` + blocking wait",
                Role::Raw,
                each(move || raw.round_trip(sleep())),
            ),
        ],
    }
}

fn run_callback(peers: &Peers) -> Case<'_> {
    let handle = peers.bridge.handle();
    let spinning = peers.spinning.handle();
    let raw = &peers.raw;
    let callback = || black_box(1u64);
    Case {
        id: "run_callback",
        title: "a closure run on the loop, its result waited for",
        placement: Placement::Split,
        patterns: vec![
            pattern(
                "loopbridge",
                "loopbridge `run_callback(f).wait()`",
                Role::Loopbridge,
                each(move || {
                    black_box(handle.run_callback(callback).wait().expect("callback"));
                }),
            ),
            pattern(
                "loopbridge_spin_50us",
                "loopbridge (spin 50 µs)",
                Role::Loopbridge,
                each(move || {
                    black_box(spinning.run_callback(callback).wait().expect("callback"));
                }),
            ),
            pattern(
                "tokio_raw",
                "raw tokio `spawn(async { f() })` + blocking wait",
                Role::Raw,
                each(move || {
                    black_box(raw.round_trip(async move { callback() }));
                }),
            ),
        ],
    }
}

fn call_soon(peers: &Peers) -> Case<'_> {
    let handle = peers.bridge.handle();
    let raw = &peers.raw;
    // Each pattern's callback replies on a channel of its own, which the caller waits on.
    let (ours_tx, ours_rx) = mpsc::sync_channel::<u64>(1);
    let (raw_tx, raw_rx) = mpsc::sync_channel::<u64>(1);
    Case {
        id: "call_soon",
        title: "a closure fired at the loop, replying on a channel the caller waits on",
        placement: Placement::Split,
        patterns: vec![
            pattern(
                "loopbridge",
                "loopbridge `call_soon(f)`",
                Role::Loopbridge,
                each(move || {
                    let reply = ours_tx.clone();
                    handle
                        .call_soon(move || {
                            let _ = reply.send(black_box(1));
                        })
                        .expect("call_soon");
                    black_box(ours_rx.recv().expect("reply"));
                }),
            ),
            pattern(
                "tokio_raw",
                "raw tokio `spawn(async { f() })`, detached",
                Role::Raw,
                each(move || {
                    let reply = raw_tx.clone();
                    drop(raw.spawn(async move {
                        let _ = reply.send(black_box(1));
                    }));
                    black_box(raw_rx.recv().expect("reply"));
                }),
            ),
        ],
    }
}

/// A unit is one run: `threads` threads each submit `THROUGHPUT_JOBS` trivial futures,
/// then wait for all of theirs.
fn throughput_unit<'a>(threads: usize, per_thread: impl Fn() + Sync + 'a) -> Run<'a> {
    Box::new(move |units| {
        let started = Instant::now();
        for _ in 0..units {
            thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(&per_thread);
                }
            });
        }
        started.elapsed()
    })
}

fn throughput<'a>(peers: &'a Peers, threads: usize) -> Case<'a> {
    let handle = peers.bridge.handle();
    let scoped = peers.scope.handle();
    let raw = &peers.raw;
    let reqwest = &peers.reqwest;
    let (id, title) = match threads {
        1 => (
            "throughput_1",
            "1 thread submits 10 000 trivial futures, then waits for all; ns per job",
        ),
        2 => (
            "throughput_2",
            "2 threads each submit 10 000 trivial futures, then wait for all; ns per job",
        ),
        4 => (
            "throughput_4",
            "4 threads each submit 10 000 trivial futures, then wait for all; ns per job",
        ),
        _ => unreachable!("one of the measured thread counts"),
    };
    let jobs_per_unit = threads as u64 * THROUGHPUT_JOBS;
    let per_unit = |mut pattern: Pattern<'a>| {
        pattern.ops_per_unit = jobs_per_unit;
        pattern
    };
    // One submitting thread is placed like the round trips; several run where they may.
    let placement = if threads == 1 {
        Placement::Split
    } else {
        Placement::Free
    };
    Case {
        id,
        title,
        placement,
        patterns: vec![
            per_unit(pattern(
                "loopbridge",
                "loopbridge `submit(fut)`, then `wait()` each",
                Role::Loopbridge,
                throughput_unit(threads, move || {
                    let pending: Vec<_> = (0..THROUGHPUT_JOBS)
                        .map(|n| handle.submit(async move { black_box(n) }))
                        .collect();
                    for completion in pending {
                        black_box(completion.wait().expect("job"));
                    }
                }),
            )),
            per_unit(pattern(
                "loopbridge_scoped",
                "loopbridge, through a scope's handle",
                Role::Loopbridge,
                throughput_unit(threads, move || {
                    let pending: Vec<_> = (0..THROUGHPUT_JOBS)
                        .map(|n| scoped.submit(async move { black_box(n) }))
                        .collect();
                    for completion in pending {
                        black_box(completion.wait().expect("job"));
                    }
                }),
            )),
            per_unit(pattern(
                "tokio_raw",
                "raw tokio `spawn(fut)`, then blocking wait each",
                Role::Raw,
                throughput_unit(threads, move || {
                    let pending: Vec<_> = (0..THROUGHPUT_JOBS)
                        .map(|n| raw.spawn(async move { black_box(n) }))
                        .collect();
                    for join in pending {
                        black_box(raw.wait(join));
                    }
                }),
            )),
            per_unit(pattern(
                "reqwest_pattern",
                "`reqwest::blocking` pattern",
                Role::Other,
                throughput_unit(threads, move || {
                    let pending: Vec<_> = (0..THROUGHPUT_JOBS)
                        .map(|n| reqwest.submit(async move { black_box(n) }))
                        .collect();
                    for reply in pending {
                        black_box(peers::wait(reply));
                    }
                }),
            )),
        ],
    }
}

/// A unit is one offload awaited on the loop: `offload()` back to back inside one job on
/// `handle`'s loop, timed there (the job around the batch is not part of the time).
fn on_loop<F, Fut>(handle: Handle, offload: F) -> Run<'static>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = u64> + Send,
{
    Box::new(move |units| {
        let offload = offload.clone();
        handle
            .block_on(async move {
                let started = Instant::now();
                for _ in 0..units {
                    black_box(offload().await);
                }
                started.elapsed()
            })
            .expect("bench job")
    })
}

fn offload_thread_pool(peers: &Peers, placement: Placement) -> Case<'_> {
    let handle = peers.bridge.handle();
    let pool = peers.pool.clone();
    let executor = handle.clone();
    let (id, title) = match placement {
        Placement::SharedWorkers => (
            "offload_thread_pool_one_cpu",
            "offload_thread_pool with the loop and the workers on one CPU",
        ),
        _ => (
            "offload_thread_pool",
            "from a job on the loop: a closure run on a thread pool, awaited",
        ),
    };
    Case {
        id,
        title,
        placement,
        patterns: vec![
            pattern(
                "loopbridge_thread_pool",
                "loopbridge `ThreadPool::submit(f).await`",
                Role::Loopbridge,
                on_loop(handle.clone(), move || {
                    let job = pool.submit(|| black_box(1u64));
                    async { job.await.expect("pool job") }
                }),
            ),
            pattern(
                "loopbridge_run_in_executor",
                "loopbridge `run_in_executor(f).await`",
                Role::Loopbridge,
                on_loop(handle.clone(), move || {
                    let job = executor.run_in_executor(|| black_box(1u64));
                    async { job.await.expect("executor job") }
                }),
            ),
            pattern(
                "spawn_blocking",
                "tokio `spawn_blocking(f).await`",
                Role::Raw,
                on_loop(handle, || async {
                    tokio::task::spawn_blocking(|| black_box(1u64))
                        .await
                        .expect("blocking task")
                }),
            ),
        ],
    }
}

fn offload_rayon(peers: &Peers, placement: Placement) -> Case<'_> {
    let handle = peers.bridge.handle();
    let rayon = peers.rayon.clone();
    let (id, title) = match placement {
        Placement::SharedWorkers => (
            "offload_rayon_one_cpu",
            "offload_rayon with the loop and rayon's threads on one CPU",
        ),
        _ => (
            "offload_rayon",
            "from a job on the loop: a closure run on rayon, awaited",
        ),
    };
    Case {
        id,
        title,
        placement,
        patterns: vec![
            pattern(
                "loopbridge_rayon_pool",
                "loopbridge `RayonPool::submit(f).await`",
                Role::Loopbridge,
                on_loop(handle.clone(), move || {
                    let job = rayon.submit(|| black_box(1u64));
                    async { job.await.expect("rayon job") }
                }),
            ),
            pattern(
                "rayon_spawn_oneshot",
                "`rayon::spawn` + tokio oneshot",
                Role::Raw,
                on_loop(handle, || {
                    let (reply, result) = oneshot::channel();
                    rayon::spawn(move || {
                        let _ = reply.send(black_box(1u64));
                    });
                    async { result.await.expect("rayon job") }
                }),
            ),
        ],
    }
}

/// Pending jobs per scope-close unit.
pub const SCOPE_JOBS: u64 = 10_000;

/// A unit: `SCOPE_JOBS` pending jobs are ended, and the time until every one has stopped
/// is measured (their submission is not): by closing the scope they belong to, or by
/// cancelling them one by one.
fn scope_close(peers: &Peers) -> Case<'_> {
    let handle = peers.bridge.handle();
    let cancelling = peers.bridge.handle();
    let timed = |mut end: Box<dyn FnMut() -> Duration>| -> Run<'static> {
        Box::new(move |units| (0..units).map(|_| end()).sum())
    };
    Case {
        id: "scope_close",
        title:
            "10 000 pending jobs ended: closing their scope vs cancelling each; until all stopped",
        placement: Placement::Split,
        patterns: vec![
            Pattern {
                ops_per_unit: SCOPE_JOBS,
                ..pattern(
                    "loopbridge",
                    "loopbridge `scope.close(timeout)`",
                    Role::Loopbridge,
                    timed(Box::new(move || {
                        let scope = handle.scope("closing");
                        let scoped = scope.handle();
                        let jobs: Vec<_> = (0..SCOPE_JOBS)
                            .map(|_| scoped.submit(std::future::pending::<()>()))
                            .collect();
                        let started = Instant::now();
                        let report = scope.close(Duration::from_secs(60));
                        let elapsed = started.elapsed();
                        assert_eq!(report.cancelled as u64, SCOPE_JOBS, "{report}");
                        drop(jobs);
                        elapsed
                    })),
                )
            },
            Pattern {
                ops_per_unit: SCOPE_JOBS,
                ..pattern(
                    "tokio_raw",
                    "`cancel()` each, then wait until all stopped",
                    Role::Raw,
                    timed(Box::new(move || {
                        // Jobs of other cases that live on (a threadsafe function's) stay.
                        let baseline = cancelling.stats().in_flight;
                        let jobs: Vec<_> = (0..SCOPE_JOBS)
                            .map(|_| cancelling.submit(std::future::pending::<()>()))
                            .collect();
                        let started = Instant::now();
                        for job in &jobs {
                            job.cancel();
                        }
                        let give_up = Instant::now() + Duration::from_secs(30);
                        while cancelling.stats().in_flight > baseline {
                            assert!(
                                Instant::now() < give_up,
                                "cancelled jobs never all ended: {:?}",
                                cancelling.stats()
                            );
                            std::hint::spin_loop();
                        }
                        let elapsed = started.elapsed();
                        drop(jobs);
                        elapsed
                    })),
                )
            },
        ],
    }
}

/// Jobs per `as_completed` unit.
pub const AS_COMPLETED_JOBS: usize = 10_000;

/// Items per `stream_iter` unit, and the capacity both patterns use.
pub const STREAM_ITEMS: u64 = 100_000;
pub const STREAM_CAPACITY: usize = 64;

/// A fixed shuffle of `0..n` (a multiplicative step, coprime with `n`).
fn shuffled(n: usize) -> Vec<usize> {
    (0..n).map(|step| (step * 7919) % n).collect()
}

/// One unit: `AS_COMPLETED_JOBS` loop jobs, each waiting on its gate, released by another
/// thread in a shuffled order; `collect` reads all their results, given that order. Only
/// the release and the collection are timed.
fn released_in_random_order<'a>(
    handle: Handle,
    collect: impl Fn(Vec<loopbridge::Completion<usize>>, &[usize]) + 'a,
) -> Run<'a> {
    let order = shuffled(AS_COMPLETED_JOBS);
    Box::new(move |units| {
        let mut total = Duration::ZERO;
        for _ in 0..units {
            let mut gates = Vec::with_capacity(AS_COMPLETED_JOBS);
            let jobs: Vec<_> = (0..AS_COMPLETED_JOBS)
                .map(|n| {
                    let (open, gate) = oneshot::channel::<()>();
                    gates.push(Some(open));
                    handle.submit(async move {
                        let _ = gate.await;
                        n
                    })
                })
                .collect();
            let (go, start) = mpsc::channel::<()>();
            let releaser = {
                let order = order.clone();
                thread::spawn(move || {
                    start.recv().expect("start");
                    for &n in &order {
                        let _ = gates[n].take().expect("gate").send(());
                    }
                })
            };
            let started = Instant::now();
            go.send(()).expect("go");
            collect(jobs, &order);
            total += started.elapsed();
            releaser.join().expect("releaser");
        }
        total
    })
}

fn as_completed(peers: &Peers) -> Case<'_> {
    let handle = peers.bridge.handle();
    let mut patterns = vec![
        pattern(
            "as_completed",
            "loopbridge `as_completed(jobs)`",
            Role::Loopbridge,
            released_in_random_order(handle.clone(), |jobs, _| {
                for (_, result) in loopbridge::as_completed(jobs) {
                    black_box(result.expect("job"));
                }
            }),
        ),
        pattern(
            "wait_in_finish_order",
            "`wait()` one by one, in the order they finish",
            Role::Raw,
            released_in_random_order(handle, |jobs, order| {
                let mut jobs: Vec<Option<_>> = jobs.into_iter().map(Some).collect();
                for &n in order {
                    black_box(jobs[n].take().expect("job").wait().expect("job"));
                }
            }),
        ),
    ];
    for pattern in &mut patterns {
        pattern.ops_per_unit = AS_COMPLETED_JOBS as u64;
    }
    Case {
        id: "as_completed",
        title: "10 000 loop jobs finishing in a shuffled order, collected; ns per job",
        placement: Placement::Free,
        patterns,
    }
}

fn stream_iter(peers: &Peers) -> Case<'_> {
    let handle = peers.bridge.handle();
    let raw = handle.clone();
    let mut patterns = vec![
        pattern(
            "handle_iter",
            "loopbridge `handle.iter(stream, 64)`",
            Role::Loopbridge,
            Box::new(move |units| {
                let started = Instant::now();
                for _ in 0..units {
                    let items =
                        handle.iter(futures_util::stream::iter(0..STREAM_ITEMS), STREAM_CAPACITY);
                    for item in items {
                        black_box(item.expect("item"));
                    }
                }
                started.elapsed()
            }),
        ),
        pattern(
            "mpsc_blocking_recv",
            "tokio `mpsc::channel(64)` sent on the loop, `blocking_recv`",
            Role::Raw,
            Box::new(move |units| {
                let started = Instant::now();
                for _ in 0..units {
                    let (tx, mut rx) = tokio::sync::mpsc::channel(STREAM_CAPACITY);
                    raw.add_job(async move {
                        for n in 0..STREAM_ITEMS {
                            if tx.send(n).await.is_err() {
                                break;
                            }
                        }
                    });
                    while let Some(item) = rx.blocking_recv() {
                        black_box(item);
                    }
                }
                started.elapsed()
            }),
        ),
    ];
    for pattern in &mut patterns {
        pattern.ops_per_unit = STREAM_ITEMS;
    }
    Case {
        id: "stream_iter",
        title: "a stream of 100 000 small items on the loop, read by a plain thread; ns per item",
        placement: Placement::Free,
        patterns,
    }
}
