//! A soak run: several threads submit random mixed work to a bridge, to the bridge's
//! default pool (`run_in_executor`), to a `ThreadPool` and to rayon, while the bridge and
//! the pool are shut down with short timeouts and re-created every few seconds, cutting
//! jobs off mid-run.
//!
//! The run keeps its own tally of every job it submits and of what became of it, and at
//! the end checks that every completion resolved exactly once, that every counted value
//! was dropped exactly once, and that the counters users read (`Handle::stats`,
//! `PoolStats`, each `ShutdownReport`) agree with its tally. Each check is labelled; a
//! failed one prints the numbers that disagree, and the run then panics, naming them.
//!
//! ```sh
//! cargo run --release --example soak -- --seconds 20 --threads 4
//! ```
//!
//! Options: `--seconds N` (default 20), `--threads T` submitting threads (default 4),
//! `--seed S` (default: from the clock; printed so a run can be repeated, as far as
//! thread timing allows).

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use loopbridge::{
    Bridge, Completion, Error, Handle, LoopStats, PoolStats, RayonPool, ShutdownReport, ThreadPool,
};

// ---- options ------------------------------------------------------------------------------

struct Options {
    seconds: u64,
    threads: usize,
    seed: u64,
}

const USAGE: &str = "usage: soak [--seconds N] [--threads T] [--seed S]";

fn usage_error(message: &str) -> ! {
    eprintln!("soak: {message}\n{USAGE}");
    std::process::exit(2);
}

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse_options() -> Options {
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos() as u64);
    let mut options = Options {
        seconds: 20,
        threads: 4,
        seed: clock,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        if !matches!(name.as_str(), "--seconds" | "--threads" | "--seed") {
            usage_error(&format!("unknown argument `{arg}`"));
        }
        let Some(text) = inline.or_else(|| args.next()) else {
            usage_error(&format!("`{name}` needs a value"));
        };
        let Some(value) = parse_number(&text) else {
            usage_error(&format!("`{name}`: `{text}` is not a number"));
        };
        match name.as_str() {
            "--seconds" => options.seconds = value,
            "--threads" => options.threads = usize::try_from(value).unwrap_or(usize::MAX),
            _ => options.seed = value,
        }
    }
    if options.seconds == 0 || options.threads == 0 || options.threads > 256 {
        usage_error("`--seconds` must be at least 1 and `--threads` between 1 and 256");
    }
    options
}

// ---- a small PRNG -------------------------------------------------------------------------

/// xorshift64, seeded through splitmix64 so that nearby seeds give unrelated streams.
struct Rng(u64);

impl Rng {
    fn seeded(seed: u64, stream: u64) -> Rng {
        let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn weighted<T: Copy>(&mut self, table: &[(u64, T)]) -> T {
        let total: u64 = table.iter().map(|(weight, _)| weight).sum();
        let mut at = self.below(total);
        for &(weight, item) in table {
            if at < weight {
                return item;
            }
            at -= weight;
        }
        table[table.len() - 1].1
    }
}

// ---- deliberate panics --------------------------------------------------------------------

/// Every deliberate panic's message starts with this; the panic hook keeps them quiet.
const MARK: &str = "soak: deliberate";
const JOB_PANIC: &str = "soak: deliberate panic in a job";
const THEN_PANIC: &str = "soak: deliberate panic in a then callback";
const DROP_PANIC: &str = "soak: deliberate panic in a destructor";

static DELIBERATE_PANICS: AtomicU64 = AtomicU64::new(0);

fn payload_text(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

fn is_deliberate(payload: &(dyn Any + Send)) -> bool {
    payload_text(payload).is_some_and(|text| text.starts_with(MARK))
}

/// Drops the messages of the soak's own panics; every other panic reaches the default
/// hook.
fn install_panic_hook() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if is_deliberate(info.payload()) {
            DELIBERATE_PANICS.fetch_add(1, Relaxed);
        } else {
            default(info);
        }
    }));
}

// ---- values that count their drops --------------------------------------------------------

static CONSTRUCTED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// A value that counts itself in and out. A `bomb` panics in its destructor (after
/// counting itself out), unless the thread is already unwinding.
struct Tracked {
    tag: u64,
    bomb: bool,
}

impl Tracked {
    fn new(tag: u64, bomb: bool) -> Tracked {
        CONSTRUCTED.fetch_add(1, Relaxed);
        Tracked { tag, bomb }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Release);
        if self.bomb && !thread::panicking() {
            panic!("{DROP_PANIC}");
        }
    }
}

/// Holds its thread when dropped: a slow destructor in a job cut off by shutdown.
struct SlowDrop(Duration);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        thread::sleep(self.0);
    }
}

/// Drops `value` here, catching a deliberate destructor panic (any other is a failure).
fn consume<T>(value: T) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        check(
            Check::OnlyDeliberatePanics,
            is_deliberate(&*payload),
            || {
                format!(
                    "a destructor panicked with {:?}",
                    payload_text(&*payload).unwrap_or("<non-string payload>")
                )
            },
        );
    }
}

// ---- checks -------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    ValueTag,
    ValueOnlyFromEndingJob,
    CancelTrueGivesCancelled,
    CancelFalseKeepsResult,
    CancelledOnlyAfterCancel,
    SecondCancelFalse,
    ClosedOnlyAfterShutdown,
    PanickedOnlyFromPanickingJob,
    QueueFullOnlyAtSubmit,
    NoUnexpectedError,
    CallSoonAccepted,
    OnlyDeliberatePanics,
    SubmittersEnd,
    ValuesDropped,
    ThenRanOnce,
    WaitsReturned,
    JobsSettled,
    BridgeInFlight,
    BridgeSum,
    BridgeSubmitted,
    BridgePanicked,
    BridgeFinished,
    BridgeCancelled,
    ReportCancelledAtLeast,
    ReportCancelledAtMost,
    ReportEndedAtMost,
    ReportNotLeftBehind,
    ReportNoStuckLoopJob,
    PoolSubmitted,
    PoolRefused,
    PoolPanicked,
    PoolFinished,
    PoolCancelled,
    PoolSum,
    PoolIdle,
    PoolReportCancelledAtLeast,
    PoolReportCancelledAtMost,
    PoolReportEndedAtMost,
}

impl Check {
    const ALL: [Check; 38] = [
        Check::ValueTag,
        Check::ValueOnlyFromEndingJob,
        Check::CancelTrueGivesCancelled,
        Check::CancelFalseKeepsResult,
        Check::CancelledOnlyAfterCancel,
        Check::SecondCancelFalse,
        Check::ClosedOnlyAfterShutdown,
        Check::PanickedOnlyFromPanickingJob,
        Check::QueueFullOnlyAtSubmit,
        Check::NoUnexpectedError,
        Check::CallSoonAccepted,
        Check::OnlyDeliberatePanics,
        Check::SubmittersEnd,
        Check::ValuesDropped,
        Check::ThenRanOnce,
        Check::WaitsReturned,
        Check::JobsSettled,
        Check::BridgeInFlight,
        Check::BridgeSum,
        Check::BridgeSubmitted,
        Check::BridgePanicked,
        Check::BridgeFinished,
        Check::BridgeCancelled,
        Check::ReportCancelledAtLeast,
        Check::ReportCancelledAtMost,
        Check::ReportEndedAtMost,
        Check::ReportNotLeftBehind,
        Check::ReportNoStuckLoopJob,
        Check::PoolSubmitted,
        Check::PoolRefused,
        Check::PoolPanicked,
        Check::PoolFinished,
        Check::PoolCancelled,
        Check::PoolSum,
        Check::PoolIdle,
        Check::PoolReportCancelledAtLeast,
        Check::PoolReportCancelledAtMost,
        Check::PoolReportEndedAtMost,
    ];

    fn label(self) -> &'static str {
        match self {
            Check::ValueTag => "result: a value is the one its own job made",
            Check::ValueOnlyFromEndingJob => "result: a value only from a job that returns one",
            Check::CancelTrueGivesCancelled => "result: cancel() == true, then Err(Cancelled)",
            Check::CancelFalseKeepsResult => "result: cancel() == false keeps the job's result",
            Check::CancelledOnlyAfterCancel => "result: Cancelled only after cancel() == true",
            Check::SecondCancelFalse => "result: a cancel() after a winning one is false",
            Check::ClosedOnlyAfterShutdown => "result: Closed only once its shutdown began",
            Check::PanickedOnlyFromPanickingJob => {
                "result: Panicked only from a panicking job, with its message"
            }
            Check::QueueFullOnlyAtSubmit => "result: QueueFull only at once, on a bounded pool",
            Check::NoUnexpectedError => "result: no other error (BlockingOnLoop, Unavailable)",
            Check::CallSoonAccepted => "call_soon: accepted by an open bridge",
            Check::OnlyDeliberatePanics => "panics: every panic caught is a deliberate one",
            Check::SubmittersEnd => "threads: every submitting thread ends normally",
            Check::ValuesDropped => "values: every counted value dropped exactly once",
            Check::ThenRanOnce => "then: every callback ran exactly once",
            Check::WaitsReturned => "waits: every wait returned",
            Check::JobsSettled => "jobs: every job's work and completion were released",
            Check::BridgeInFlight => "bridge stats: in_flight == 0 after shutdown",
            Check::BridgeSum => "bridge stats: submitted == finished + cancelled + panicked",
            Check::BridgeSubmitted => "bridge stats: submitted == jobs the soak submitted",
            Check::BridgePanicked => "bridge stats: panicked == job panics the soak caused",
            Check::BridgeFinished => "bridge stats: finished == values the soak's jobs delivered",
            Check::BridgeCancelled => {
                "bridge stats: cancelled == the soak's jobs ended without a value"
            }
            Check::ReportCancelledAtLeast => {
                "bridge report: cancelled >= jobs the soak saw cut off"
            }
            Check::ReportCancelledAtMost => {
                "bridge report: cancelled <= cut off + cancelled by the soak + stuck"
            }
            Check::ReportEndedAtMost => {
                "bridge report: finished + cancelled <= jobs in flight at shutdown"
            }
            Check::ReportNotLeftBehind => {
                "bridge report: loop not left behind (no slow destructor, nothing blocks)"
            }
            Check::ReportNoStuckLoopJob => "bridge report: no loop job stuck (none ever blocks)",
            Check::PoolSubmitted => "pool stats: submitted == jobs the soak got accepted",
            Check::PoolRefused => "pool stats: refused == QueueFull refusals the soak saw",
            Check::PoolPanicked => "pool stats: panicked == job panics the soak caused",
            Check::PoolFinished => "pool stats: finished == values the soak's jobs delivered",
            Check::PoolCancelled => {
                "pool stats: cancelled == the soak's jobs ended without a value"
            }
            Check::PoolSum => "pool stats: submitted == finished + cancelled + panicked",
            Check::PoolIdle => "pool stats: queued == 0 and running == 0 after shutdown",
            Check::PoolReportCancelledAtLeast => {
                "pool report: cancelled >= jobs the soak saw cut off"
            }
            Check::PoolReportCancelledAtMost => {
                "pool report: cancelled <= cut off + cancelled by the soak + stuck"
            }
            Check::PoolReportEndedAtMost => {
                "pool report: finished + cancelled <= jobs in flight at shutdown"
            }
        }
    }
}

const CHECKS: usize = Check::ALL.len();
static MADE: [AtomicU64; CHECKS] = [const { AtomicU64::new(0) }; CHECKS];
static FAILED: [AtomicU64; CHECKS] = [const { AtomicU64::new(0) }; CHECKS];
/// The first few failures of each check, with their numbers.
static FAILURES: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
const FAILURES_KEPT: u64 = 4;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts one check of `which`; on a failure keeps `detail` (for the first few).
fn check(which: Check, ok: bool, detail: impl FnOnce() -> String) -> bool {
    let at = which as usize;
    MADE[at].fetch_add(1, Relaxed);
    if !ok && FAILED[at].fetch_add(1, Relaxed) < FAILURES_KEPT {
        let detail = detail();
        lock(&FAILURES).push((at, detail));
    }
    ok
}

// ---- the soak's tally ---------------------------------------------------------------------

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Acquire)
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// What the soak counted for one executor: a bridge's loop, a bridge's default pool, a
/// `ThreadPool`, or rayon. Filled in as each job's [`Fate`] is released.
#[derive(Default)]
struct Tally {
    /// Jobs handed to the crate, refused ones included.
    submitted: AtomicU64,
    /// Jobs refused at once (`QueueFull`).
    refused: AtomicU64,
    /// Jobs whose work (closure or future) and completion are both gone.
    settled: AtomicU64,
    /// Jobs whose value reached its completion: the crate's `finished`.
    finished: AtomicU64,
    /// Jobs that panicked: the crate's `panicked`.
    panicked: AtomicU64,
    /// Jobs a shutdown ended without a value.
    cut_off: AtomicU64,
    /// Jobs whose `cancel()` returned true.
    user_cancelled: AtomicU64,
    /// Jobs counted in `finished` whose result nobody read: one a shutdown that gave up
    /// may have ended first (then the crate counts it cancelled).
    returned_unseen: AtomicU64,
}

/// A consistent read of a [`Tally`], once every job has settled.
#[derive(Clone, Copy, Debug)]
struct Counted {
    accepted: u64,
    refused: u64,
    finished: u64,
    panicked: u64,
    cut_off: u64,
    user_cancelled: u64,
    returned_unseen: u64,
}

impl Tally {
    fn counted(&self) -> Counted {
        let refused = get(&self.refused);
        Counted {
            accepted: get(&self.submitted) - refused,
            refused,
            finished: get(&self.finished),
            panicked: get(&self.panicked),
            cut_off: get(&self.cut_off),
            user_cancelled: get(&self.user_cancelled),
            returned_unseen: get(&self.returned_unseen),
        }
    }

    fn unsettled(&self) -> u64 {
        get(&self.submitted).saturating_sub(get(&self.settled))
    }
}

impl Counted {
    /// Jobs ended without a value, as the crate should count them.
    fn cancelled(&self) -> u64 {
        self.accepted
            .saturating_sub(self.finished)
            .saturating_sub(self.panicked)
    }
}

const RAN_NOT: u8 = 0;
const RAN_RETURNED: u8 = 1;
const RAN_PANICKED: u8 = 2;

const SEEN_NONE: u8 = 0;
const SEEN_OK: u8 = 1;
const SEEN_CANCELLED: u8 = 2;
const SEEN_CLOSED: u8 = 3;
const SEEN_PANICKED: u8 = 4;
const SEEN_REFUSED: u8 = 5;

/// One job's fate, shared by the job's work and the soak's side of its completion. The
/// job records how it ended; the soak records what it saw and whether its cancel won.
/// Once both sides are gone the job is counted into its tally.
struct Fate {
    tally: Arc<Tally>,
    ran: AtomicU8,
    seen: AtomicU8,
    cancelled: AtomicBool,
}

impl Fate {
    fn new(tally: &Arc<Tally>) -> Arc<Fate> {
        bump(&tally.submitted);
        Arc::new(Fate {
            tally: tally.clone(),
            ran: AtomicU8::new(RAN_NOT),
            seen: AtomicU8::new(SEEN_NONE),
            cancelled: AtomicBool::new(false),
        })
    }

    fn returned(&self) {
        self.ran.store(RAN_RETURNED, Relaxed);
    }

    fn panic(&self) -> ! {
        self.ran.store(RAN_PANICKED, Relaxed);
        panic!("{JOB_PANIC}");
    }
}

impl Drop for Fate {
    fn drop(&mut self) {
        let tally = &*self.tally;
        let ran = *self.ran.get_mut();
        let seen = *self.seen.get_mut();
        let cancelled = *self.cancelled.get_mut();
        if cancelled {
            bump(&tally.user_cancelled);
        }
        if seen == SEEN_REFUSED {
            bump(&tally.refused);
        } else {
            // A value reaches the completion unless a cancel or a shutdown resolved it
            // first; a panic is counted whatever resolved the completion.
            match ran {
                RAN_RETURNED if !cancelled && seen != SEEN_CLOSED => {
                    bump(&tally.finished);
                    if seen == SEEN_NONE {
                        bump(&tally.returned_unseen);
                    }
                }
                RAN_PANICKED => bump(&tally.panicked),
                _ => {}
            }
            if seen == SEEN_CLOSED || (seen == SEEN_NONE && !cancelled && ran == RAN_NOT) {
                bump(&tally.cut_off);
            }
        }
        // Last, released: whoever sees every job settled sees all of the above.
        tally.settled.fetch_add(1, Release);
    }
}

// ---- epochs: one bridge and one pool, from start to shutdown ------------------------------

struct EpochFlags {
    n: u64,
    shutdown_started: AtomicBool,
    bounded: bool,
}

struct ShutdownInfo {
    bridge_timeout: Duration,
    pool_timeout: Duration,
    before_loop: LoopStats,
    before_executor: PoolStats,
    before_pool: PoolStats,
    bridge_report: ShutdownReport,
    pool_report: ShutdownReport,
}

struct Epoch {
    n: u64,
    handle: Handle,
    bridge: Mutex<Option<Bridge>>,
    pool: ThreadPool,
    capacity: Option<usize>,
    max_workers: usize,
    slow_drops: u64,
    flags: Arc<EpochFlags>,
    loop_tally: Arc<Tally>,
    executor_tally: Arc<Tally>,
    pool_tally: Arc<Tally>,
    shutdown: Mutex<Option<ShutdownInfo>>,
}

/// The name every `run_in_executor` job carries, so a report's stuck list tells them
/// from loop jobs.
const EXECUTOR_JOB: &str = "soak executor job";
const LOOP_JOB: &str = "soak loop job";

impl Epoch {
    fn start(n: u64, rng: &mut Rng) -> Arc<Epoch> {
        let bridge = Bridge::builder()
            .thread_name(format!("soak-loop-{n}"))
            .build()
            .unwrap_or_else(|error| panic!("soak: cannot start bridge #{n}: {error}"));
        let capacity = rng.one_in(2).then(|| rng.pick(&[1, 4, 16, 64]));
        let max_workers = rng.pick(&[1, 2, 4, 8]);
        let mut builder = ThreadPool::builder()
            .name(format!("soak-pool-{n}"))
            .max_workers(max_workers);
        if let Some(capacity) = capacity {
            builder = builder.queue_capacity(capacity);
        }
        let pool = builder
            .build()
            .unwrap_or_else(|error| panic!("soak: cannot build pool #{n}: {error}"));
        let loop_tally = Arc::new(Tally::default());
        // About every other bridge gets a few jobs that never end and whose destructors
        // are slow, so that its shutdown must give up on the loop thread while it tears
        // them down.
        let slow_drops = if rng.one_in(2) { 1 + rng.below(3) } else { 0 };
        for _ in 0..slow_drops {
            let slow = SlowDrop(Duration::from_millis(60 + rng.below(240)));
            let fate = Fate::new(&loop_tally);
            let value = Tracked::new(u64::MAX, false);
            consume(bridge.handle().submit(async move {
                let _held = (slow, value, fate);
                std::future::pending::<()>().await;
            }));
        }
        Arc::new(Epoch {
            n,
            handle: bridge.handle(),
            bridge: Mutex::new(Some(bridge)),
            pool,
            capacity,
            max_workers,
            slow_drops,
            flags: Arc::new(EpochFlags {
                n,
                shutdown_started: AtomicBool::new(false),
                bounded: capacity.is_some(),
            }),
            loop_tally,
            executor_tally: Arc::default(),
            pool_tally: Arc::default(),
            shutdown: Mutex::new(None),
        })
    }
}

fn pool_in_flight(stats: &PoolStats) -> u64 {
    stats
        .submitted
        .saturating_sub(stats.finished + stats.cancelled + stats.panicked)
}

// ---- what the submitting threads share ----------------------------------------------------

struct Shared {
    /// The bridge and pool jobs go to now; `None` once the run is over. Submissions hold
    /// the read lock, so none reaches an epoch after its shutdown began.
    current: RwLock<Option<Arc<Epoch>>>,
    stop: AtomicBool,
    done: AtomicBool,
    rayon_tally: Arc<Tally>,
    loop_name: Arc<str>,
    executor_name: Arc<str>,
    progress: AtomicU64,
}

static THEN_REGISTERED: AtomicU64 = AtomicU64::new(0);
static THEN_RAN: AtomicU64 = AtomicU64::new(0);
static THEN_LOST: AtomicU64 = AtomicU64::new(0);
static WAITS_STARTED: AtomicU64 = AtomicU64::new(0);
static WAITS_RETURNED: AtomicU64 = AtomicU64::new(0);

// ---- one job, as the soak follows it ------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ends {
    Value,
    Panic,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Loop,
    Executor,
    Pool,
    Rayon,
}

/// The soak's side of one job.
struct Meta {
    tag: u64,
    ends: Ends,
    target: Target,
    fate: Arc<Fate>,
    epoch: Option<Arc<EpochFlags>>,
    cancel_called: bool,
    cancelled: bool,
    done_at_submit: bool,
}

impl Meta {
    fn new(
        tag: u64,
        ends: Ends,
        target: Target,
        fate: Arc<Fate>,
        epoch: Option<Arc<EpochFlags>>,
        done_at_submit: bool,
    ) -> Meta {
        Meta {
            tag,
            ends,
            target,
            fate,
            epoch,
            cancel_called: false,
            cancelled: false,
            done_at_submit,
        }
    }

    fn describe(&self) -> String {
        let epoch = self
            .epoch
            .as_ref()
            .map_or(String::new(), |epoch| format!(" of epoch #{}", epoch.n));
        format!(
            "{:?} job {:#x}{epoch} (ends: {:?})",
            self.target, self.tag, self.ends
        )
    }

    fn shutdown_started(&self) -> bool {
        self.epoch
            .as_ref()
            .is_some_and(|epoch| epoch.shutdown_started.load(SeqCst))
    }

    fn cancel<T>(&mut self, completion: &Completion<T>) {
        let won = completion.cancel();
        if self.cancelled {
            check(Check::SecondCancelFalse, !won, || {
                format!("{}: a second cancel() returned true", self.describe())
            });
            return;
        }
        self.cancel_called = true;
        if won {
            self.cancelled = true;
            self.fate.cancelled.store(true, Relaxed);
        }
    }
}

/// Checks a result against what the soak knows of its job, records what was seen, and
/// drops the value.
fn observe(meta: &Meta, result: Result<Tracked, Error>) {
    let seen = match &result {
        Ok(_) => SEEN_OK,
        Err(error) if error.is_cancelled() => SEEN_CANCELLED,
        Err(error) if error.is_closed() => SEEN_CLOSED,
        Err(error) if error.is_panic() => SEEN_PANICKED,
        Err(error) if error.is_queue_full() => SEEN_REFUSED,
        Err(_) => SEEN_NONE,
    };
    let shown = || match &result {
        Ok(value) => format!("Ok(value {:#x})", value.tag),
        Err(error) => format!("Err({error})"),
    };
    if meta.cancelled {
        check(
            Check::CancelTrueGivesCancelled,
            seen == SEEN_CANCELLED,
            || {
                format!(
                    "{}: cancel() returned true, then the result was {}",
                    meta.describe(),
                    shown()
                )
            },
        );
    } else if meta.cancel_called {
        check(
            Check::CancelFalseKeepsResult,
            seen != SEEN_CANCELLED,
            || {
                format!(
                    "{}: cancel() returned false, then the result was {}",
                    meta.describe(),
                    shown()
                )
            },
        );
    }
    match seen {
        SEEN_OK => {
            let tag = result.as_ref().map_or(0, |value| value.tag);
            check(Check::ValueTag, tag == meta.tag, || {
                format!("{}: got the value of job {tag:#x}", meta.describe())
            });
            check(
                Check::ValueOnlyFromEndingJob,
                meta.ends == Ends::Value,
                || format!("{}: gave a value", meta.describe()),
            );
        }
        SEEN_CANCELLED => {
            check(Check::CancelledOnlyAfterCancel, meta.cancelled, || {
                format!("{}: Cancelled although no cancel() won", meta.describe())
            });
        }
        SEEN_CLOSED => {
            check(
                Check::ClosedOnlyAfterShutdown,
                meta.shutdown_started(),
                || {
                    format!(
                        "{}: {} before its bridge or pool was shut down",
                        meta.describe(),
                        shown()
                    )
                },
            );
        }
        SEEN_PANICKED => {
            let message = result.as_ref().err().and_then(Error::panic_message);
            check(
                Check::PanickedOnlyFromPanickingJob,
                meta.ends == Ends::Panic && message == Some(JOB_PANIC),
                || format!("{}: {}", meta.describe(), shown()),
            );
        }
        SEEN_REFUSED => {
            let bounded = meta.epoch.as_ref().is_some_and(|epoch| epoch.bounded);
            check(
                Check::QueueFullOnlyAtSubmit,
                meta.target == Target::Pool && bounded && meta.done_at_submit,
                || format!("{}: {}", meta.describe(), shown()),
            );
        }
        _ => {}
    }
    if result.is_err() {
        check(Check::NoUnexpectedError, seen != SEEN_NONE, || {
            format!("{}: {}", meta.describe(), shown())
        });
    }
    meta.fate.seen.store(seen, Relaxed);
    if let Ok(value) = result {
        consume(value);
    }
}

/// A completion the soak holds, with what it knows of its job.
struct Pending {
    completion: Completion<Tracked>,
    meta: Meta,
}

fn counted_wait<T>(completion: Completion<T>, shared: &Shared) -> Result<T, Error> {
    WAITS_STARTED.fetch_add(1, Relaxed);
    let result = completion.wait();
    WAITS_RETURNED.fetch_add(1, Relaxed);
    shared.progress.fetch_add(1, Relaxed);
    result
}

/// Marks a `then` callback that is dropped without having run.
struct ThenGuard {
    ran: bool,
}

impl Drop for ThenGuard {
    fn drop(&mut self) {
        if !self.ran {
            THEN_LOST.fetch_add(1, Relaxed);
        }
    }
}

// ---- job shapes ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum LoopShape {
    Ready,
    Yield,
    Timer,
    Forever,
    Panic,
    PanicAfterYield,
    AwaitRayon,
}

impl LoopShape {
    fn ends(self) -> Ends {
        match self {
            LoopShape::Forever => Ends::Never,
            LoopShape::Panic | LoopShape::PanicAfterYield => Ends::Panic,
            _ => Ends::Value,
        }
    }
}

const LOOP_SHAPES: [(u64, LoopShape); 7] = [
    (35, LoopShape::Ready),
    (20, LoopShape::Yield),
    (10, LoopShape::Timer),
    (8, LoopShape::Forever),
    (3, LoopShape::Panic),
    (2, LoopShape::PanicAfterYield),
    (5, LoopShape::AwaitRayon),
];

#[derive(Clone, Copy, Debug)]
enum PoolShape {
    Instant,
    Yield,
    Sleep,
    Panic,
}

impl PoolShape {
    fn ends(self) -> Ends {
        match self {
            PoolShape::Panic => Ends::Panic,
            _ => Ends::Value,
        }
    }
}

const POOL_SHAPES: [(u64, PoolShape); 4] = [
    (60, PoolShape::Instant),
    (20, PoolShape::Yield),
    (6, PoolShape::Sleep),
    (5, PoolShape::Panic),
];

#[derive(Clone, Copy, Debug)]
enum Handling {
    Wait,
    TinyThenWait,
    CancelAtOnce,
    Hold,
    Then,
    ThenPanicking,
    DropUnread,
}

const HANDLINGS: [(u64, Handling); 7] = [
    (30, Handling::Wait),
    (10, Handling::TinyThenWait),
    (10, Handling::CancelAtOnce),
    (20, Handling::Hold),
    (12, Handling::Then),
    (3, Handling::ThenPanicking),
    (15, Handling::DropUnread),
];

#[derive(Clone, Copy, Debug)]
enum Op {
    LoopSubmit,
    RunCallback,
    CallSoon,
    AddJob,
    RunInExecutor,
    PoolSubmit,
    Rayon,
    Burst,
    PoolBurst,
}

const OPS: [(u64, Op); 9] = [
    (3000, Op::LoopSubmit),
    (1000, Op::RunCallback),
    (600, Op::CallSoon),
    (600, Op::AddJob),
    (800, Op::RunInExecutor),
    (2000, Op::PoolSubmit),
    (1000, Op::Rayon),
    (1, Op::Burst),
    (1, Op::PoolBurst),
];

const OP_NAMES: [&str; 9] = [
    "submit",
    "run_callback",
    "call_soon",
    "add_job",
    "run_in_executor",
    "ThreadPool::submit",
    "RayonPool::submit",
    "never-ending bursts",
    "pool bursts",
];

/// How many completions one thread holds at most.
const HOLD_CAP: usize = 256;

/// A blocking closure for a pool: its value, a panic, or a short wait first.
fn pool_work(
    shape: PoolShape,
    tag: u64,
    bomb: bool,
    sleep: Duration,
    fate: Arc<Fate>,
) -> impl FnOnce() -> Tracked + Send + 'static {
    let input = Tracked::new(tag, false);
    move || {
        let _input = input;
        match shape {
            PoolShape::Instant => {}
            PoolShape::Yield => thread::yield_now(),
            PoolShape::Sleep => thread::sleep(sleep),
            PoolShape::Panic => fate.panic(),
        }
        fate.returned();
        Tracked::new(tag, bomb)
    }
}

/// A loop job awaiting a rayon job.
async fn await_rayon(tag: u64, tally: Arc<Tally>) {
    let fate = Fate::new(&tally);
    let work = pool_work(
        PoolShape::Instant,
        tag,
        tag % 29 == 0,
        Duration::ZERO,
        fate.clone(),
    );
    let inner = RayonPool::global().submit(work);
    let meta = Meta::new(tag, Ends::Value, Target::Rayon, fate, None, false);
    let result = inner.await;
    observe(&meta, result);
}

// ---- a submitting thread ------------------------------------------------------------------

struct Worker {
    rng: Rng,
    index: u64,
    seq: u64,
    held: Vec<Pending>,
    shared: Arc<Shared>,
    rayon: RayonPool,
    ops: [u64; 9],
}

impl Worker {
    fn tag(&mut self) -> u64 {
        self.seq += 1;
        (self.index << 44) | self.seq
    }

    fn run(mut self) -> [u64; 9] {
        while !self.shared.stop.load(Relaxed) {
            if !self.held.is_empty() && self.rng.one_in(3) {
                self.work_on_held();
            }
            let op = self.rng.weighted(&OPS);
            let submitted = match op {
                Op::LoopSubmit => self.loop_submit(),
                Op::RunCallback => self.run_callback(),
                Op::CallSoon => self.call_soon(),
                Op::AddJob => self.add_job(),
                Op::RunInExecutor => self.run_in_executor(),
                Op::PoolSubmit => self.pool_submit(),
                Op::Rayon => self.rayon_submit(),
                Op::Burst => self.burst(),
                Op::PoolBurst => self.pool_burst(),
            };
            let Some(count) = submitted else { break };
            self.ops[op as usize] += count;
            self.shared.progress.fetch_add(1, Relaxed);
        }
        self.drain();
        self.ops
    }

    /// Submits to the current epoch under the read lock, so that no submission reaches a
    /// bridge or pool after its shutdown began; `None` once the run is over.
    fn with_epoch<R>(&mut self, submit: impl FnOnce(&mut Worker, &Arc<Epoch>) -> R) -> Option<R> {
        let shared = self.shared.clone();
        let current = shared
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let epoch = current.as_ref()?.clone();
        let submitted = submit(self, &epoch);
        drop(current);
        Some(submitted)
    }

    fn loop_submit(&mut self) -> Option<u64> {
        let shape = self.rng.weighted(&LOOP_SHAPES);
        let tag = self.tag();
        let bomb = self.rng.one_in(33);
        let micros = self.rng.below(1000);
        let named = self.rng.one_in(2);
        let rayon_tally = self.shared.rayon_tally.clone();
        let loop_name = self.shared.loop_name.clone();
        let pending = self.with_epoch(|_, epoch| {
            let fate = Fate::new(&epoch.loop_tally);
            let job_fate = fate.clone();
            let input = Tracked::new(tag, false);
            let job = async move {
                let _input = input;
                match shape {
                    LoopShape::Ready => {}
                    LoopShape::Yield => tokio::task::yield_now().await,
                    LoopShape::Timer => {
                        tokio::time::sleep(Duration::from_micros(micros)).await;
                    }
                    LoopShape::Forever => std::future::pending::<()>().await,
                    LoopShape::Panic => job_fate.panic(),
                    LoopShape::PanicAfterYield => {
                        tokio::task::yield_now().await;
                        job_fate.panic();
                    }
                    LoopShape::AwaitRayon => await_rayon(tag, rayon_tally).await,
                }
                job_fate.returned();
                Tracked::new(tag, bomb)
            };
            let completion = if named {
                epoch.handle.job(loop_name).submit(job)
            } else {
                epoch.handle.submit(job)
            };
            let done = completion.is_done();
            let meta = Meta::new(
                tag,
                shape.ends(),
                Target::Loop,
                fate,
                Some(epoch.flags.clone()),
                done,
            );
            Pending { completion, meta }
        })?;
        self.handle(pending);
        Some(1)
    }

    fn run_callback(&mut self) -> Option<u64> {
        let tag = self.tag();
        let panics = self.rng.one_in(20);
        let bomb = self.rng.one_in(33);
        let pending = self.with_epoch(|_, epoch| {
            let fate = Fate::new(&epoch.loop_tally);
            let job_fate = fate.clone();
            let input = Tracked::new(tag, false);
            let completion = epoch.handle.run_callback(move || {
                let _input = input;
                if panics {
                    job_fate.panic();
                }
                job_fate.returned();
                Tracked::new(tag, bomb)
            });
            let done = completion.is_done();
            let ends = if panics { Ends::Panic } else { Ends::Value };
            let meta = Meta::new(
                tag,
                ends,
                Target::Loop,
                fate,
                Some(epoch.flags.clone()),
                done,
            );
            Pending { completion, meta }
        })?;
        self.handle(pending);
        Some(1)
    }

    fn call_soon(&mut self) -> Option<u64> {
        let tag = self.tag();
        let panics = self.rng.one_in(20);
        self.with_epoch(|_, epoch| {
            let fate = Fate::new(&epoch.loop_tally);
            let job_fate = fate.clone();
            let input = Tracked::new(tag, false);
            let accepted = epoch.handle.call_soon(move || {
                let _input = input;
                if panics {
                    job_fate.panic();
                }
                job_fate.returned();
            });
            if let Err(error) = &accepted {
                fate.seen.store(SEEN_REFUSED, Relaxed);
                check(Check::CallSoonAccepted, false, || {
                    format!("call_soon on open bridge #{} refused: {error}", epoch.n)
                });
            } else {
                check(Check::CallSoonAccepted, true, String::new);
            }
        })?;
        Some(1)
    }

    fn add_job(&mut self) -> Option<u64> {
        let tag = self.tag();
        let shape = self.rng.pick(&[
            LoopShape::Ready,
            LoopShape::Ready,
            LoopShape::Yield,
            LoopShape::Timer,
            LoopShape::Forever,
            LoopShape::Panic,
        ]);
        let micros = self.rng.below(1000);
        let loop_name = self.shared.loop_name.clone();
        let named = self.rng.one_in(2);
        self.with_epoch(|_, epoch| {
            let fate = Fate::new(&epoch.loop_tally);
            let input = Tracked::new(tag, false);
            let job = async move {
                let _input = input;
                match shape {
                    LoopShape::Yield => tokio::task::yield_now().await,
                    LoopShape::Timer => {
                        tokio::time::sleep(Duration::from_micros(micros)).await;
                    }
                    LoopShape::Forever => std::future::pending::<()>().await,
                    LoopShape::Panic => fate.panic(),
                    _ => {}
                }
                fate.returned();
            };
            if named {
                epoch.handle.job(loop_name).add_job(job);
            } else {
                epoch.handle.add_job(job);
            }
        })?;
        Some(1)
    }

    fn run_in_executor(&mut self) -> Option<u64> {
        let tag = self.tag();
        let shape = self.rng.weighted(&POOL_SHAPES);
        let bomb = self.rng.one_in(33);
        let sleep = Duration::from_micros(self.rng.below(300));
        let name = self.shared.executor_name.clone();
        let pending = self.with_epoch(|_, epoch| {
            let fate = Fate::new(&epoch.executor_tally);
            let work = pool_work(shape, tag, bomb, sleep, fate.clone());
            let completion = epoch.handle.job(name).run_in_executor(work);
            let done = completion.is_done();
            let meta = Meta::new(
                tag,
                shape.ends(),
                Target::Executor,
                fate,
                Some(epoch.flags.clone()),
                done,
            );
            Pending { completion, meta }
        })?;
        self.handle(pending);
        Some(1)
    }

    fn pool_submit(&mut self) -> Option<u64> {
        let tag = self.tag();
        let shape = self.rng.weighted(&POOL_SHAPES);
        let bomb = self.rng.one_in(33);
        let sleep = Duration::from_micros(self.rng.below(300));
        let pending = self.with_epoch(|_, epoch| {
            let fate = Fate::new(&epoch.pool_tally);
            let work = pool_work(shape, tag, bomb, sleep, fate.clone());
            let completion = epoch.pool.submit(work);
            let done = completion.is_done();
            let meta = Meta::new(
                tag,
                shape.ends(),
                Target::Pool,
                fate,
                Some(epoch.flags.clone()),
                done,
            );
            Pending { completion, meta }
        })?;
        self.handle(pending);
        Some(1)
    }

    fn rayon_submit(&mut self) -> Option<u64> {
        let tag = self.tag();
        let shape = self
            .rng
            .pick(&[PoolShape::Instant, PoolShape::Instant, PoolShape::Panic]);
        let bomb = self.rng.one_in(33);
        let fate = Fate::new(&self.shared.rayon_tally);
        let work = pool_work(shape, tag, bomb, Duration::ZERO, fate.clone());
        let completion = self.rayon.submit(work);
        let done = completion.is_done();
        let meta = Meta::new(tag, shape.ends(), Target::Rayon, fate, None, done);
        self.handle(Pending { completion, meta });
        Some(1)
    }

    /// Many jobs that never end, dropped unread: only a shutdown ends them.
    fn burst(&mut self) -> Option<u64> {
        let count = 500 + self.rng.below(2500);
        let tag = self.tag();
        self.with_epoch(|_, epoch| {
            for _ in 0..count {
                let fate = Fate::new(&epoch.loop_tally);
                let input = Tracked::new(tag, false);
                consume(epoch.handle.submit(async move {
                    let _held = (input, fate);
                    std::future::pending::<()>().await;
                }));
            }
            count
        })
    }

    /// Blocking jobs dropped unread, more than the pool's workers take at once: a
    /// backlog for the pool's shutdown to cut off, and jobs still running for it to
    /// leave behind.
    fn pool_burst(&mut self) -> Option<u64> {
        let count = 20 + self.rng.below(180);
        let jobs: Vec<(u64, Duration)> = (0..count)
            .map(|_| {
                (
                    self.tag(),
                    Duration::from_micros(200 + self.rng.below(1800)),
                )
            })
            .collect();
        self.with_epoch(|worker, epoch| {
            for (tag, sleep) in jobs {
                let fate = Fate::new(&epoch.pool_tally);
                let work = pool_work(PoolShape::Sleep, tag, false, sleep, fate.clone());
                let completion = epoch.pool.submit(work);
                let done = completion.is_done();
                let meta = Meta::new(
                    tag,
                    Ends::Value,
                    Target::Pool,
                    fate,
                    Some(epoch.flags.clone()),
                    done,
                );
                worker.drop_unread(Pending { completion, meta });
            }
            count
        })
    }

    fn handle(&mut self, mut pending: Pending) {
        match self.rng.weighted(&HANDLINGS) {
            Handling::Wait => {
                // Waiting on a job that never ends lasts until its bridge shuts down:
                // rarely, or the threads would mostly wait.
                if pending.meta.ends == Ends::Never && !self.rng.one_in(5000) {
                    pending.meta.cancel(&pending.completion);
                }
                self.wait_and_observe(pending);
            }
            Handling::TinyThenWait => self.tiny_then_wait(pending),
            Handling::CancelAtOnce => {
                pending.meta.cancel(&pending.completion);
                if self.rng.one_in(4) {
                    pending.meta.cancel(&pending.completion);
                }
                self.wait_and_observe(pending);
            }
            Handling::Hold => {
                if self.held.len() >= HOLD_CAP {
                    self.work_on_held();
                }
                self.held.push(pending);
            }
            Handling::Then => register_then(pending, false),
            Handling::ThenPanicking => register_then(pending, true),
            Handling::DropUnread => self.drop_unread(pending),
        }
    }

    fn drop_unread(&mut self, pending: Pending) {
        // A pool job that is already done may have been refused: read it, or the tally
        // cannot tell a refusal from a job cut off later.
        if pending.meta.target == Target::Pool && pending.meta.done_at_submit {
            let Pending {
                mut completion,
                meta,
            } = pending;
            if let Some(result) = completion.try_take() {
                observe(&meta, result);
            }
            consume(completion);
            return;
        }
        consume(pending);
    }

    fn wait_and_observe(&mut self, pending: Pending) {
        let Pending { completion, meta } = pending;
        let result = counted_wait(completion, &self.shared);
        observe(&meta, result);
    }

    fn tiny_then_wait(&mut self, mut pending: Pending) {
        let tiny = Duration::from_micros(self.rng.below(50));
        match pending.completion.wait_timeout(tiny) {
            Err(error) if error.is_timeout() => {
                let never = pending.meta.ends == Ends::Never && !pending.meta.shutdown_started();
                if never || self.rng.one_in(3) {
                    pending.meta.cancel(&pending.completion);
                }
                self.wait_and_observe(pending);
            }
            result => {
                let Pending { completion, meta } = pending;
                observe(&meta, result);
                consume(completion);
            }
        }
    }

    fn work_on_held(&mut self) {
        let at = self.rng.below(self.held.len() as u64) as usize;
        let mut pending = self.held.swap_remove(at);
        let endless = pending.meta.ends == Ends::Never
            && !pending.meta.shutdown_started()
            && !pending.completion.is_done();
        match self.rng.below(6) {
            0 => {
                pending.meta.cancel(&pending.completion);
                self.wait_and_observe(pending);
            }
            1 => {
                let tiny = Duration::from_micros(self.rng.below(20));
                match pending.completion.wait_timeout(tiny) {
                    Err(error) if error.is_timeout() => self.held.push(pending),
                    result => {
                        let Pending { completion, meta } = pending;
                        observe(&meta, result);
                        consume(completion);
                    }
                }
            }
            2 => register_then(pending, self.rng.one_in(5)),
            3 => self.drop_unread(pending),
            _ => {
                if endless {
                    pending.meta.cancel(&pending.completion);
                }
                self.wait_and_observe(pending);
            }
        }
    }

    /// The run is over: read everything still held. Every bridge is shut down by now or
    /// about to be, so jobs that never end resolve too.
    fn drain(&mut self) {
        while let Some(mut pending) = self.held.pop() {
            if self.rng.one_in(2) {
                pending.meta.cancel(&pending.completion);
            }
            self.wait_and_observe(pending);
        }
    }
}

fn register_then(pending: Pending, panicking: bool) {
    let Pending { completion, meta } = pending;
    THEN_REGISTERED.fetch_add(1, Relaxed);
    let guard = ThenGuard { ran: false };
    completion.then(move |result| {
        // The whole guard moves into the callback (not only its field).
        let mut guard = guard;
        guard.ran = true;
        THEN_RAN.fetch_add(1, Relaxed);
        observe(&meta, result);
        drop(meta);
        if panicking {
            panic!("{THEN_PANIC}");
        }
    });
}

// ---- shutting an epoch down ---------------------------------------------------------------

const BRIDGE_TIMEOUTS: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(5),
    Duration::from_millis(20),
    Duration::from_millis(100),
];

const POOL_TIMEOUTS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
];

/// Blocking jobs dropped unread on the pool and the bridge's default pool just before
/// their shutdown: a backlog for it to cut off, and jobs still running for it to leave
/// behind.
fn backlog(epoch: &Epoch, rng: &mut Rng) -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let count = 50 + rng.below(250);
    for n in 0..count {
        let tag = SEQ.fetch_add(1, Relaxed) + 1;
        let sleep = Duration::from_micros(200 + rng.below(1800));
        let (tally, target) = if n % 2 == 0 {
            (&epoch.pool_tally, Target::Pool)
        } else {
            (&epoch.executor_tally, Target::Executor)
        };
        let fate = Fate::new(tally);
        let work = pool_work(PoolShape::Sleep, tag, false, sleep, fate.clone());
        let mut completion = if target == Target::Pool {
            epoch.pool.submit(work)
        } else {
            epoch.handle.job(EXECUTOR_JOB).run_in_executor(work)
        };
        let done = completion.is_done();
        let meta = Meta::new(
            tag,
            Ends::Value,
            target,
            fate,
            Some(epoch.flags.clone()),
            done,
        );
        if done {
            if let Some(result) = completion.try_take() {
                observe(&meta, result);
            }
        }
        consume(completion);
    }
    count
}

/// Makes `next` current and shuts the epoch it replaces down.
fn rotate(shared: &Shared, next: Option<Arc<Epoch>>, rng: &mut Rng, started: Instant) {
    let current = shared
        .current
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .expect("an epoch is current");
    let backlog = if rng.below(3) < 2 {
        backlog(&current, rng)
    } else {
        0
    };
    drop(current);
    let old = {
        let mut current = shared
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, next).expect("an epoch is current")
    };
    old.flags.shutdown_started.store(true, SeqCst);
    let before_loop = old.handle.stats();
    let before_executor = old.handle.executor_stats();
    let before_pool = old.pool.stats();
    let bridge_timeout = rng.pick(&BRIDGE_TIMEOUTS);
    let pool_timeout = rng.pick(&POOL_TIMEOUTS);
    let bridge = lock(&old.bridge).take().expect("the bridge is still up");
    // Both at once, so that each cuts off what is still queued when it begins.
    let (bridge_report, pool_report) = thread::scope(|scope| {
        let pool = scope.spawn(|| old.pool.shutdown(pool_timeout));
        let bridge_report = bridge.shutdown(bridge_timeout);
        (
            bridge_report,
            pool.join().expect("the pool's shutdown does not panic"),
        )
    });
    let queue = old.capacity.map_or("unbounded".to_owned(), |capacity| {
        format!("queue {capacity}")
    });
    println!(
        "[{:6.1} s] bridge #{} ({} in flight, {} slow destructors) shutdown({:?}): {}",
        started.elapsed().as_secs_f64(),
        old.n,
        before_loop.in_flight + pool_in_flight(&before_executor),
        old.slow_drops,
        bridge_timeout,
        bridge_report,
    );
    println!(
        "           pool #{} ({} workers, {queue}, {} in flight, backlog of {backlog} \
         with the default pool) shutdown({:?}): {}",
        old.n,
        old.max_workers,
        pool_in_flight(&before_pool),
        pool_timeout,
        pool_report,
    );
    *lock(&old.shutdown) = Some(ShutdownInfo {
        bridge_timeout,
        pool_timeout,
        before_loop,
        before_executor,
        before_pool,
        bridge_report,
        pool_report,
    });
    shared.progress.fetch_add(1, Relaxed);
}

// ---- the final checks ---------------------------------------------------------------------

/// Waits until `done` holds or `limit` passes; `true` if it holds.
fn settle(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn verify_epoch(epoch: &Epoch) {
    let info = lock(&epoch.shutdown);
    let info = info.as_ref().expect("every epoch was shut down");
    let report = &info.bridge_report;
    let left = report.loop_left_behind;
    let stuck_executor = report
        .stuck
        .iter()
        .filter(|stuck| stuck.site.name() == Some(EXECUTOR_JOB))
        .count() as u64;
    let stuck_loop = report.stuck.len() as u64 - stuck_executor;
    let bridge = format!(
        "bridge #{} (shutdown({:?}) in {:?}{}, {} slow destructors)",
        epoch.n,
        info.bridge_timeout,
        report.elapsed,
        if left { ", loop left behind" } else { "" },
        epoch.slow_drops,
    );

    let stats = epoch.handle.stats();
    let counted = epoch.loop_tally.counted();
    let ended = stats.finished + stats.cancelled + stats.panicked;
    check(Check::BridgeInFlight, stats.in_flight == 0, || {
        format!(
            "{bridge}: stats().in_flight = {} once every job is torn down, expected 0 \
             (submitted {} but only {ended} counted as ended: finished {} + cancelled {} + panicked {})",
            stats.in_flight, stats.submitted, stats.finished, stats.cancelled, stats.panicked
        )
    });
    check(Check::BridgeSum, stats.submitted == ended, || {
        format!(
            "{bridge}: stats() submitted {} != finished {} + cancelled {} + panicked {} = {ended} \
             ({} jobs uncounted)",
            stats.submitted,
            stats.finished,
            stats.cancelled,
            stats.panicked,
            stats.submitted as i64 - ended as i64
        )
    });
    check(
        Check::BridgeSubmitted,
        stats.submitted == counted.accepted,
        || {
            format!(
                "{bridge}: stats().submitted = {}, the soak submitted {}",
                stats.submitted, counted.accepted
            )
        },
    );
    check(
        Check::BridgePanicked,
        stats.panicked == counted.panicked,
        || {
            format!(
                "{bridge}: stats().panicked = {}, the soak's jobs panicked {} times",
                stats.panicked, counted.panicked
            )
        },
    );
    // A shutdown that gave up may have ended a job whose value was on its way, unseen.
    let unseen = if left { counted.returned_unseen } else { 0 };
    let finished = counted.finished;
    check(
        Check::BridgeFinished,
        stats.finished <= finished && stats.finished + unseen >= finished,
        || {
            format!(
                "{bridge}: stats().finished = {}, the soak's jobs delivered {finished} values{} \
                 (difference {:+})",
                stats.finished,
                if left {
                    format!(" ({unseen} unread ones may have been cut off)")
                } else {
                    String::new()
                },
                stats.finished as i64 - finished as i64
            )
        },
    );
    let cancelled = counted.cancelled();
    check(
        Check::BridgeCancelled,
        stats.cancelled >= cancelled && stats.cancelled <= cancelled + unseen,
        || {
            format!(
                "{bridge}: stats().cancelled = {}, the soak counts {cancelled} jobs ended without \
                 a value ({} cut off by the shutdown, {} cancelled by the soak) (difference {:+})",
                stats.cancelled,
                counted.cut_off,
                counted.user_cancelled,
                stats.cancelled as i64 - cancelled as i64
            )
        },
    );

    let executor = epoch.executor_tally.counted();
    let cut_off = counted.cut_off + executor.cut_off;
    let reported = report.cancelled as u64;
    check(Check::ReportCancelledAtLeast, reported >= cut_off, || {
        format!(
            "{bridge}: ShutdownReport::cancelled = {reported}, but the soak saw {cut_off} jobs \
             ended by this shutdown ({} on the loop, {} on its default pool): {} missing",
            counted.cut_off,
            executor.cut_off,
            cut_off - reported
        )
    });
    let slack = counted.user_cancelled + executor.user_cancelled + stuck_executor + unseen;
    check(
        Check::ReportCancelledAtMost,
        reported <= cut_off + slack,
        || {
            format!(
            "{bridge}: ShutdownReport::cancelled = {reported}, more than the {cut_off} jobs cut \
             off plus {slack} the soak cancelled itself or saw stuck"
        )
        },
    );
    let in_flight = info.before_loop.in_flight + pool_in_flight(&info.before_executor);
    let ended_in_report = report.finished as u64 + reported;
    check(
        Check::ReportEndedAtMost,
        ended_in_report <= in_flight,
        || {
            format!(
            "{bridge}: ShutdownReport finished {} + cancelled {reported} = {ended_in_report}, but \
             only {in_flight} jobs were in flight when the shutdown began",
            report.finished
        )
        },
    );
    if epoch.slow_drops == 0 {
        check(Check::ReportNotLeftBehind, !left, || {
            format!(
                "{bridge}: loop_left_behind = true with {stuck_loop} loop jobs stuck, although no \
                 job of this bridge blocks its loop thread and none has a slow destructor"
            )
        });
    }
    check(Check::ReportNoStuckLoopJob, stuck_loop == 0, || {
        format!(
            "{bridge}: {stuck_loop} loop jobs reported stuck, although none ever blocks: {report}"
        )
    });
    verify_pool_stats(
        &format!("default pool of bridge #{}", epoch.n),
        &epoch.handle.executor_stats(),
        &executor,
        stuck_executor,
    );

    let pool_report = &info.pool_report;
    let pool = format!(
        "pool #{} ({} workers, queue {:?}, shutdown({:?}) in {:?}, {} stuck)",
        epoch.n,
        epoch.max_workers,
        epoch.capacity,
        info.pool_timeout,
        pool_report.elapsed,
        pool_report.stuck.len()
    );
    let counted = epoch.pool_tally.counted();
    let stuck = pool_report.stuck.len() as u64;
    verify_pool_stats(&pool, &epoch.pool.stats(), &counted, stuck);
    let reported = pool_report.cancelled as u64;
    check(
        Check::PoolReportCancelledAtLeast,
        reported >= counted.cut_off,
        || {
            format!(
            "{pool}: ShutdownReport::cancelled = {reported}, but the soak saw {} jobs ended by \
             this shutdown: {} missing",
            counted.cut_off,
            counted.cut_off - reported
        )
        },
    );
    let slack = counted.user_cancelled + stuck;
    check(
        Check::PoolReportCancelledAtMost,
        reported <= counted.cut_off + slack,
        || {
            format!(
                "{pool}: ShutdownReport::cancelled = {reported}, more than the {} jobs cut off \
                 plus {slack} the soak cancelled itself or saw stuck",
                counted.cut_off
            )
        },
    );
    let in_flight = pool_in_flight(&info.before_pool);
    let ended_in_report = pool_report.finished as u64 + reported;
    check(
        Check::PoolReportEndedAtMost,
        ended_in_report <= in_flight,
        || {
            format!(
            "{pool}: ShutdownReport finished {} + cancelled {reported} = {ended_in_report}, but \
             only {in_flight} jobs were in flight when the shutdown began",
            pool_report.finished
        )
        },
    );
}

fn verify_pool_stats(pool: &str, stats: &PoolStats, counted: &Counted, stuck: u64) {
    check(
        Check::PoolSubmitted,
        stats.submitted == counted.accepted,
        || {
            format!(
                "{pool}: PoolStats::submitted = {}, the soak got {} jobs accepted",
                stats.submitted, counted.accepted
            )
        },
    );
    check(Check::PoolRefused, stats.refused == counted.refused, || {
        format!(
            "{pool}: PoolStats::refused = {}, the soak saw {} QueueFull refusals",
            stats.refused, counted.refused
        )
    });
    check(
        Check::PoolPanicked,
        stats.panicked == counted.panicked,
        || {
            format!(
                "{pool}: PoolStats::panicked = {}, the soak's jobs panicked {} times",
                stats.panicked, counted.panicked
            )
        },
    );
    // A stuck job that was abandoned, then returned a value nobody read, counts cancelled.
    let unseen = if stuck > 0 {
        counted.returned_unseen
    } else {
        0
    };
    let finished = counted.finished;
    check(
        Check::PoolFinished,
        stats.finished <= finished && stats.finished + unseen >= finished,
        || {
            format!(
                "{pool}: PoolStats::finished = {}, the soak's jobs delivered {finished} values \
                 (difference {:+}; {} of the soak's cancels won)",
                stats.finished,
                stats.finished as i64 - finished as i64,
                counted.user_cancelled
            )
        },
    );
    let cancelled = counted.cancelled();
    check(
        Check::PoolCancelled,
        stats.cancelled >= cancelled && stats.cancelled <= cancelled + unseen,
        || {
            format!(
                "{pool}: PoolStats::cancelled = {}, the soak counts {cancelled} jobs ended without \
                 a value ({} cut off, {} cancelled by the soak) (difference {:+})",
                stats.cancelled,
                counted.cut_off,
                counted.user_cancelled,
                stats.cancelled as i64 - cancelled as i64
            )
        },
    );
    let ended = stats.finished + stats.cancelled + stats.panicked;
    check(Check::PoolSum, stats.submitted == ended, || {
        format!(
            "{pool}: PoolStats submitted {} != finished {} + cancelled {} + panicked {} = {ended}",
            stats.submitted, stats.finished, stats.cancelled, stats.panicked
        )
    });
    check(
        Check::PoolIdle,
        stats.queued == 0 && stats.running == 0,
        || {
            format!(
                "{pool}: PoolStats queued = {}, running = {} after shutdown",
                stats.queued, stats.running
            )
        },
    );
}

fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    Some(line["VmHWM:".len()..].trim().to_owned())
}

fn print_summary() -> (u64, u64, Vec<&'static str>) {
    let failures = lock(&FAILURES);
    let (mut made, mut failed, mut failed_labels) = (0, 0, Vec::new());
    println!("checks:");
    for (at, which) in Check::ALL.iter().enumerate() {
        let (n, bad) = (MADE[at].load(SeqCst), FAILED[at].load(SeqCst));
        made += n;
        failed += bad;
        let verdict = if bad > 0 {
            "FAIL"
        } else if n == 0 {
            "  - "
        } else {
            " ok "
        };
        let counts = if bad > 0 {
            format!("{n:>9} made, {bad} failed")
        } else {
            format!("{n:>9} made")
        };
        println!("  [{verdict}] {:<74} {counts}", which.label());
        if bad > 0 {
            failed_labels.push(which.label());
            for (_, detail) in failures.iter().filter(|(of, _)| *of == at) {
                println!("           - {detail}");
            }
            if bad > FAILURES_KEPT {
                println!("           - ... and {} more", bad - FAILURES_KEPT);
            }
        }
    }
    (made, failed, failed_labels)
}

// ---- the run ------------------------------------------------------------------------------

/// Ends the process if nothing moves for a minute: a wait that never returns is a
/// failure, not a run that never ends.
fn watch_for_hangs(shared: Arc<Shared>) {
    let mut last = shared.progress.load(Relaxed);
    let mut since = Instant::now();
    while !shared.done.load(Relaxed) {
        thread::sleep(Duration::from_millis(250));
        let now = shared.progress.load(Relaxed);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > Duration::from_secs(60) {
            eprintln!(
                "soak: FAIL: no progress for 60 s: {} waits started, {} returned; {} then \
                 callbacks registered, {} ran; a wait or a shutdown hangs",
                WAITS_STARTED.load(SeqCst),
                WAITS_RETURNED.load(SeqCst),
                THEN_REGISTERED.load(SeqCst),
                THEN_RAN.load(SeqCst),
            );
            std::process::exit(3);
        }
    }
}

fn main() {
    let options = parse_options();
    install_panic_hook();
    println!(
        "soak: {} s, {} submitting threads, seed {:#x}",
        options.seconds, options.threads, options.seed
    );
    let mut rng = Rng::seeded(options.seed, 0);
    let shared = Arc::new(Shared {
        current: RwLock::new(None),
        stop: AtomicBool::new(false),
        done: AtomicBool::new(false),
        rayon_tally: Arc::default(),
        loop_name: LOOP_JOB.into(),
        executor_name: EXECUTOR_JOB.into(),
        progress: AtomicU64::new(0),
    });
    let mut epochs = vec![Epoch::start(1, &mut rng)];
    *shared
        .current
        .write()
        .unwrap_or_else(PoisonError::into_inner) = Some(epochs[0].clone());

    let watchdog = {
        let shared = shared.clone();
        thread::spawn(move || watch_for_hangs(shared))
    };
    let started = Instant::now();
    let workers: Vec<_> = (0..options.threads)
        .map(|index| {
            let worker = Worker {
                rng: Rng::seeded(options.seed, index as u64 + 1),
                index: index as u64 + 1,
                seq: 0,
                held: Vec::new(),
                shared: shared.clone(),
                rayon: RayonPool::global(),
                ops: [0; 9],
            };
            thread::Builder::new()
                .name(format!("soak-{index}"))
                .spawn(move || worker.run())
                .expect("soak: cannot start a submitting thread")
        })
        .collect();

    let end = started + Duration::from_secs(options.seconds);
    let interval = |rng: &mut Rng| Duration::from_millis(2000 + rng.below(2000));
    let mut next_rotation = started + interval(&mut rng);
    while Instant::now() < end {
        thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if now >= next_rotation && now + Duration::from_millis(500) < end {
            let epoch = Epoch::start(epochs.len() as u64 + 1, &mut rng);
            epochs.push(epoch.clone());
            rotate(&shared, Some(epoch), &mut rng, started);
            next_rotation = Instant::now() + interval(&mut rng);
        }
    }
    shared.stop.store(true, SeqCst);
    rotate(&shared, None, &mut rng, started);
    let mut ops = [0u64; 9];
    for worker in workers {
        match worker.join() {
            Ok(counts) => {
                check(Check::SubmittersEnd, true, String::new);
                for (total, count) in ops.iter_mut().zip(counts) {
                    *total += count;
                }
            }
            Err(payload) => {
                check(Check::SubmittersEnd, false, || {
                    format!(
                        "a submitting thread panicked: {}",
                        payload_text(&*payload).unwrap_or("<non-string payload>")
                    )
                });
            }
        }
    }
    let elapsed = started.elapsed();

    // Everything is shut down; left-behind threads finish their last jobs on their own.
    let tallies: Vec<Arc<Tally>> = epochs
        .iter()
        .flat_map(|epoch| {
            [
                epoch.loop_tally.clone(),
                epoch.executor_tally.clone(),
                epoch.pool_tally.clone(),
            ]
        })
        .chain([shared.rayon_tally.clone()])
        .collect();
    let settled = settle(Duration::from_secs(30), || {
        shared.progress.fetch_add(1, Relaxed);
        DROPPED.load(Acquire) == CONSTRUCTED.load(Acquire)
            && THEN_RAN.load(Acquire) + THEN_LOST.load(Acquire) == THEN_REGISTERED.load(Acquire)
            && tallies.iter().all(|tally| tally.unsettled() == 0)
    });
    // The crate counts a job before it lets go of it, so its counters are final now;
    // give them a moment anyway before reading them.
    settle(Duration::from_secs(2), || {
        epochs.iter().all(|epoch| {
            let pool = epoch.pool.stats();
            epoch.handle.stats().in_flight == 0 && pool.queued == 0 && pool.running == 0
        })
    });
    shared.done.store(true, SeqCst);
    let _ = watchdog.join();

    let (constructed, dropped) = (CONSTRUCTED.load(SeqCst), DROPPED.load(SeqCst));
    check(Check::ValuesDropped, constructed == dropped, || {
        format!(
            "{constructed} values constructed, {dropped} dropped: {} {}",
            constructed.abs_diff(dropped),
            if dropped < constructed {
                "never dropped (leaked, or still held)"
            } else {
                "dropped twice"
            }
        )
    });
    let (registered, ran, lost) = (
        THEN_REGISTERED.load(SeqCst),
        THEN_RAN.load(SeqCst),
        THEN_LOST.load(SeqCst),
    );
    check(Check::ThenRanOnce, ran == registered && lost == 0, || {
        format!("{registered} then callbacks registered, {ran} ran, {lost} dropped without running")
    });
    let (started_waits, returned) = (WAITS_STARTED.load(SeqCst), WAITS_RETURNED.load(SeqCst));
    check(Check::WaitsReturned, started_waits == returned, || {
        format!("{started_waits} waits started, {returned} returned")
    });
    let unsettled: u64 = tallies.iter().map(|tally| tally.unsettled()).sum();
    let jobs: u64 = tallies.iter().map(|tally| get(&tally.submitted)).sum();
    check(Check::JobsSettled, unsettled == 0, || {
        format!(
            "{unsettled} of {jobs} jobs still hold their work or completion 30 s after the last \
             shutdown"
        )
    });
    if settled {
        for epoch in &epochs {
            verify_epoch(epoch);
        }
    } else {
        println!("soak: not every job settled within 30 s: counters not compared");
    }

    let total: u64 = ops.iter().sum();
    println!(
        "throughput: {total} operations in {:.1} s = {:.0} ops/s over {} bridges and pools",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        epochs.len()
    );
    let breakdown: Vec<String> = OP_NAMES
        .iter()
        .zip(ops)
        .map(|(name, count)| format!("{name} {count}"))
        .collect();
    println!("            {}", breakdown.join(", "));
    println!(
        "jobs: {jobs}; values: {constructed} counted; then callbacks: {registered}; waits: \
         {started_waits}; deliberate panics: {}; peak memory: {}",
        DELIBERATE_PANICS.load(SeqCst),
        peak_memory().unwrap_or_else(|| "unknown".to_owned())
    );
    let (made, failed, failed_labels) = print_summary();
    println!("checks made: {made}, failed: {failed}");
    if failed > 0 {
        panic!(
            "soak: {failed} of {made} checks failed: {}",
            failed_labels.join("; ")
        );
    }
}
