//! Regression tests for counts and limits that broke under a soak run: a shutdown that
//! cuts jobs off counts each of them exactly once, idle bridges give their memory back,
//! and the low-latency spin is bounded. Each test is named after the failure it pins.
//!
//! Nothing here waits on the clock: channels say when something happened, and a
//! condition that must come true is polled until a generous deadline, so a loaded
//! machine only makes the tests slower.
//!
//! The tests share one process-wide allocation counter (see `idle_bridges_...`), so they
//! run one at a time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::pending;
use std::io;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use loopbridge::{Bridge, Handle, ShutdownReport, ThreadPool};

/// How long a test waits for something that must happen: never reached when the crate
/// works, however loaded the machine.
const WAIT: Duration = Duration::from_secs(30);

// ---- helpers ------------------------------------------------------------------------------

/// One test at a time: the allocation counter is process-wide.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls `cond` until it holds (`true`) or [`WAIT`] passes (`false`).
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    let mut spins = 0u32;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // The condition is what synchronizes; the back-off only spares the CPU.
        spins += 1;
        if spins < 100 {
            std::thread::yield_now();
        } else {
            std::thread::park_timeout(Duration::from_millis(1));
        }
    }
}

/// Counts its drops: shows that a job's future was torn down.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Every deliberate panic's message starts with this; the hook keeps them quiet.
const DELIBERATE: &str = "hardening: deliberate";

fn quiet_deliberate_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !text.is_some_and(|text| text.starts_with(DELIBERATE)) {
                default(info);
            }
        }));
    });
}

/// A value whose destructor panics (a user type with a buggy `Drop`).
#[derive(Debug)]
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{DELIBERATE} panic in a destructor");
        }
    }
}

/// Waits (up to [`WAIT`]) until nothing is in flight and `cancelled` jobs are counted
/// cancelled, then lists every way the counters (and the report, if given) differ.
fn count_problems(handle: &Handle, cancelled: u64, report: Option<&ShutdownReport>) -> Vec<String> {
    // Polled for the whole expected state: a count may pass through another on its way.
    eventually(|| {
        let stats = handle.stats();
        stats.in_flight == 0 && stats.cancelled == cancelled
    });
    let stats = handle.stats();
    let mut problems = Vec::new();
    if stats.in_flight != 0 {
        problems.push(format!(
            "stats().in_flight = {} {WAIT:?} after every job was torn down, expected 0 \
             (submitted {}, finished {}, cancelled {}, panicked {})",
            stats.in_flight, stats.submitted, stats.finished, stats.cancelled, stats.panicked
        ));
    }
    if stats.cancelled != cancelled {
        problems.push(format!(
            "stats().cancelled = {}, expected {cancelled}",
            stats.cancelled
        ));
    }
    if let Some(report) = report {
        if report.cancelled as u64 != cancelled {
            problems.push(format!(
                "ShutdownReport::cancelled = {}, expected {cancelled} ({report})",
                report.cancelled
            ));
        }
    }
    problems
}

// ---- shutdown counts ----------------------------------------------------------------------

#[test]
fn cut_off_shutdown_of_many_pending_jobs_miscounts_and_claims_the_loop_left_behind() {
    // Broke: tearing 400 000 jobs down outlasted the shutdown's grace, so it gave up on a
    // loop thread that nothing held: `loop_left_behind` was set with no job stuck, the
    // jobs it resolved itself were missing from `stats().cancelled` (so `in_flight` never
    // returned to 0), and the report missed the ones the loop ended meanwhile.
    let _serial = serial();
    // Enough that their teardown takes longer than the grace on a fast machine.
    const JOBS: usize = 400_000;
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let dropped = Arc::new(AtomicUsize::new(0));
    let completions: Vec<_> = (0..JOBS)
        .map(|_| {
            let guard = DropCount(dropped.clone());
            handle.submit(async move {
                let _guard = guard;
                pending::<()>().await;
            })
        })
        .collect();

    let report = bridge.shutdown(Duration::ZERO);

    for mut completion in completions {
        let error = completion.wait_timeout(WAIT).unwrap_err();
        assert!(error.is_closed(), "a cut-off job resolves Closed: {error}");
    }
    assert!(
        eventually(|| dropped.load(Ordering::SeqCst) == JOBS),
        "every cut-off job's future is dropped: {} of {JOBS}",
        dropped.load(Ordering::SeqCst)
    );
    let mut problems = count_problems(&handle, JOBS as u64, Some(&report));
    if report.loop_left_behind && report.stuck.is_empty() {
        problems.push(format!(
            "ShutdownReport::loop_left_behind = true, but no job was stuck in a poll and no \
             destructor was slow ({report})"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A destructor that blocks its thread until the test lets it go.
struct SlowDrop {
    entered: Sender<()>,
    release: Receiver<()>,
}

impl Drop for SlowDrop {
    fn drop(&mut self) {
        let _ = self.entered.send(());
        // Bounded, so that a shutdown waiting for this destructor fails the test instead
        // of hanging it.
        let _ = self.release.recv_timeout(WAIT);
    }
}

#[test]
fn cut_off_shutdown_with_a_slow_destructor_leaves_in_flight_jobs_forever() {
    // Broke: when a slow destructor held the loop's teardown past the grace, the shutdown
    // resolved the remaining jobs itself without counting them; the loop, finding them
    // resolved, did not count them either: `stats().in_flight` stayed above 0 for good.
    // (A destructor does hold the loop thread here, so `loop_left_behind` is not checked.)
    let _serial = serial();
    const JOBS: usize = 1_000;
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let slow = SlowDrop {
        entered: entered_tx,
        release: release_rx,
    };
    // First, so that the teardown meets it before the other jobs.
    let slow_job = handle.submit(async move {
        let _slow = slow;
        pending::<()>().await;
    });
    let dropped = Arc::new(AtomicUsize::new(0));
    let completions: Vec<_> = (0..JOBS)
        .map(|_| {
            let guard = DropCount(dropped.clone());
            handle.submit(async move {
                let _guard = guard;
                pending::<()>().await;
            })
        })
        .collect();
    assert!(
        eventually(|| {
            let jobs = handle.jobs();
            jobs.len() == JOBS + 1 && jobs.iter().all(|job| job.polls > 0)
        }),
        "every job reached the loop"
    );

    let report = bridge.shutdown(Duration::ZERO);
    entered
        .recv_timeout(WAIT)
        .expect("the shutdown dropped the slow job");
    release.send(()).unwrap();

    assert!(slow_job.wait().unwrap_err().is_closed());
    for mut completion in completions {
        let error = completion.wait_timeout(WAIT).unwrap_err();
        assert!(error.is_closed(), "a cut-off job resolves Closed: {error}");
    }
    assert!(
        eventually(|| dropped.load(Ordering::SeqCst) == JOBS),
        "every cut-off job's future is dropped: {} of {JOBS}",
        dropped.load(Ordering::SeqCst)
    );
    let problems = count_problems(&handle, JOBS as u64 + 1, Some(&report));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn job_cancelled_just_before_shutdown_is_never_counted() {
    // Broke: a job whose `cancel()` had won but whose future the loop had not dropped yet
    // when the loop stopped was torn down by the shutdown, which counts only the jobs it
    // resolves itself: the cancelled job was counted nowhere and `in_flight` stayed 1.
    let _serial = serial();
    // Queued ahead of the cancel, so that the loop is told to stop before it gets to it.
    const AHEAD: usize = 20_000;
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let cancelled = handle.submit(pending::<()>());
    assert!(
        eventually(|| handle.jobs().first().is_some_and(|job| job.polls > 0)),
        "the job reached the loop"
    );
    // Hold the loop thread in a tokio task (not a job: it is not counted), so that what
    // follows is queued for the loop as one batch.
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    handle
        .submit(async move {
            tokio::spawn(async move {
                entered_tx.send(()).unwrap();
                let _ = release_rx.recv_timeout(WAIT);
            });
        })
        .wait_timeout(WAIT)
        .unwrap();
    entered.recv_timeout(WAIT).expect("the loop is held");
    let ahead: Vec<_> = (0..AHEAD).map(|_| handle.submit(pending::<()>())).collect();
    assert!(cancelled.cancel());

    let shutdown = std::thread::spawn(move || bridge.shutdown(Duration::ZERO));
    // Once the bridge refuses work, the loop has been told to stop: let it go.
    assert!(
        eventually(|| handle
            .run_in_executor(|| ())
            .wait_timeout(WAIT)
            .is_err_and(|error| error.is_closed())),
        "the shutdown began"
    );
    drop(release);
    let report = shutdown.join().unwrap();

    assert!(cancelled.wait().unwrap_err().is_cancelled());
    for mut completion in ahead {
        let error = completion.wait_timeout(WAIT).unwrap_err();
        assert!(error.is_closed(), "a cut-off job resolves Closed: {error}");
    }
    // The cut-off jobs and the cancelled one. (The report counts only the cut-off ones.)
    let problems = count_problems(&handle, AHEAD as u64 + 1, None);
    assert!(
        problems.is_empty(),
        "{} (report: {report})",
        problems.join("\n")
    );
}

// ---- memory -------------------------------------------------------------------------------

/// Counts the bytes the test binary has allocated and not freed.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// side effect that never touches the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn start_and_drop_idle_bridges(count: usize) {
    for _ in 0..count {
        drop(Bridge::new().unwrap());
    }
}

#[test]
fn idle_bridges_keep_their_state_allocated_after_drop() {
    // Broke: a bridge that never ran a job never woke the stall watchdog, whose list of
    // bridges is pruned only when it wakes, so every idle bridge dropped left its whole
    // state allocated (several kilobytes) for the life of the process.
    let _serial = serial();
    // Lazily started process-wide parts (the watchdog thread, thread-locals) first.
    start_and_drop_idle_bridges(50);
    start_and_drop_idle_bridges(200);
    let after_200 = LIVE_BYTES.load(Ordering::SeqCst);
    start_and_drop_idle_bridges(1_800);
    let after_2_000 = LIVE_BYTES.load(Ordering::SeqCst);
    // A memory bound, not a timing: a bridge keeps nothing once dropped, and the
    // allowance covers the few loop threads still exiting when the count is read.
    let per_bridge = (after_2_000 - after_200) / 1_800;
    assert!(
        per_bridge < 512,
        "each idle bridge dropped kept {per_bridge} bytes allocated ({} bytes more after \
         2 000 bridges than after 200)",
        after_2_000 - after_200
    );
}

// ---- limits -------------------------------------------------------------------------------

#[test]
fn spin_before_park_of_duration_max_is_accepted() {
    // Broke: `spin_before_park(Duration::MAX)` built a bridge whose loop thread spins for
    // ever after its last job and whose waiters never park. Spinning pays off only for a
    // round trip's worth of time (tens of microseconds); the maximum is 10 ms, and
    // anything longer is refused by `build()` with `InvalidInput`.
    let _serial = serial();
    let max = Duration::from_millis(10);
    for spin in [
        Duration::MAX,
        Duration::from_secs(1),
        max + Duration::from_nanos(1),
    ] {
        match Bridge::builder().spin_before_park(spin).build() {
            Err(error) => assert_eq!(
                error.kind(),
                io::ErrorKind::InvalidInput,
                "spin_before_park({spin:?}) refused with {error}"
            ),
            Ok(bridge) => {
                let _ = bridge.shutdown(WAIT);
                panic!("spin_before_park({spin:?}) was accepted; at most {max:?} is");
            }
        }
    }
    let bridge = Bridge::builder().spin_before_park(max).build().unwrap();
    assert_eq!(bridge.handle().submit(async { 1 }).wait().unwrap(), 1);
    assert!(bridge.shutdown(WAIT).is_clean());
}

// ---- counts when a value's destructor panics ------------------------------------------------

#[test]
fn pool_job_cancelled_while_running_counts_finished_when_its_value_panics_on_drop() {
    // Broke: a pool job cancelled while it ran is counted finished until its value has
    // been dropped, then moved to cancelled; when that drop panicked, the move never
    // happened: `PoolStats` said finished although the caller saw `Cancelled`.
    let _serial = serial();
    quiet_deliberate_panics();
    let pool = ThreadPool::new(1).unwrap();
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let job = pool.submit(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(WAIT);
        PanicsOnDrop
    });
    started.recv_timeout(WAIT).expect("the job started");
    assert!(job.cancel());
    release.send(()).unwrap();
    assert!(job.wait().unwrap_err().is_cancelled());
    // Polled for the expected state: the job may pass through `finished` on its way.
    eventually(|| {
        let stats = pool.stats();
        (stats.finished, stats.cancelled) == (0, 1)
    });
    let stats = pool.stats();
    assert_eq!(
        (stats.finished, stats.cancelled),
        (0, 1),
        "the cancelled job is counted cancelled, {WAIT:?} after it ended: {stats:?}"
    );
}

#[test]
fn loop_job_cancelled_during_its_last_poll_counts_finished_when_its_value_panics_on_drop() {
    // Broke: the loop counts a job finished before it offers the value, and moves it to
    // cancelled when a cancel won meanwhile, after the rejected value is dropped; when
    // that drop panicked, the move never happened.
    let _serial = serial();
    quiet_deliberate_panics();
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    // Blocks the loop thread inside its only poll until the test has cancelled it.
    let job = handle.submit(async move {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(WAIT);
        PanicsOnDrop
    });
    started.recv_timeout(WAIT).expect("the job started");
    assert!(job.cancel());
    release.send(()).unwrap();
    assert!(job.wait().unwrap_err().is_cancelled());
    // Polled for the expected state: the job may pass through `finished` on its way.
    eventually(|| {
        let stats = handle.stats();
        (stats.finished, stats.cancelled, stats.in_flight) == (0, 1, 0)
    });
    let stats = handle.stats();
    assert_eq!(
        (stats.finished, stats.cancelled, stats.in_flight),
        (0, 1, 0),
        "the cancelled job is counted cancelled, {WAIT:?} after it ended: {stats:?}"
    );
    assert!(bridge.shutdown(WAIT).is_clean());
}
