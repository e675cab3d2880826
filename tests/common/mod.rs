//! Helpers shared by the integration tests: bounded waiting without sleeps, drop
//! observers, a way to hold the loop thread, and a `tracing` capture.
#![allow(dead_code)] // each test file uses its own subset

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use loopbridge::{Completion, Handle};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// How long a test waits for something that must happen before calling it a failure:
/// generous, because a loaded CI machine is slow, and never reached when the crate works.
pub const WAIT: Duration = Duration::from_secs(10);

/// Waits until `cond` holds, panicking with `what` if it never does within [`WAIT`].
#[track_caller]
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    let mut spins = 0u32;
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        // The condition is what synchronizes; the back-off only spares the CPU for the
        // threads the test is waiting on.
        spins += 1;
        if spins < 100 {
            std::thread::yield_now();
        } else {
            std::thread::park_timeout(Duration::from_millis(1));
        }
    }
}

/// Receives from `rx`, failing the test if nothing comes within [`WAIT`].
#[track_caller]
pub fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|error| panic!("never happened: {what} ({error})"))
}

/// Waits for `completion` with [`WAIT`] as the bound, so a bug fails the test instead of
/// hanging it.
#[track_caller]
pub fn wait<T>(mut completion: Completion<T>) -> Result<T, loopbridge::Error> {
    let result = completion.wait_timeout(WAIT);
    if let Err(error) = &result {
        assert!(!error.is_timeout(), "job never resolved: {error}");
    }
    result
}

/// Runs an empty job to the end: everything queued on the loop before it has been
/// taken up by then (the loop is FIFO for one submitting thread).
#[track_caller]
pub fn round_trip(handle: &Handle) {
    wait(handle.run_callback(|| ())).expect("round trip through the loop");
}

/// `"file:line:"`, the prefix of a [`loopbridge::Site`]'s location as it is displayed.
pub fn at(file: &str, line: u32) -> String {
    format!("{file}:{line}:")
}

/// The message of a caught panic.
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Sends on a channel when dropped: shows when, and on which thread, a future was dropped.
pub struct DropSignal(pub Sender<String>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let thread = std::thread::current();
        let _ = self.0.send(thread.name().unwrap_or("<unnamed>").to_owned());
    }
}

/// Counts its drops into a shared counter.
pub struct DropCount(pub Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The loop thread, held inside a callback until released (or until the `Hold` is
/// dropped, so a failing test never leaves the loop blocked).
pub struct Hold {
    release: Sender<()>,
    pub completion: Completion<()>,
}

impl Hold {
    /// Blocks `handle`'s loop thread in a callback and returns once the callback runs.
    pub fn loop_of(handle: &Handle) -> Hold {
        Hold::with(|gate| handle.run_callback(gate))
    }

    /// Like [`Hold::loop_of`], with the submitting call chosen by the caller (to give the
    /// holding job a name or a site).
    pub fn with(submit: impl FnOnce(Box<dyn FnOnce() + Send>) -> Completion<()>) -> Hold {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let completion = submit(Box::new(move || {
            entered_tx.send(()).unwrap();
            // Ends on release, or when the sender is dropped with the `Hold`.
            let _ = release_rx.recv();
        }));
        recv(&entered_rx, "the holding callback started");
        Hold {
            release,
            completion,
        }
    }

    /// Lets the loop thread go.
    pub fn release(self) -> Completion<()> {
        let Hold {
            release,
            completion,
        } = self;
        drop(release);
        completion
    }
}

/// Blocks `handle`'s loop thread in a tokio task (not a job: neither timed nor listed)
/// until the returned sender sends or is dropped, so that what is submitted meanwhile
/// reaches the loop as one batch. Returns once the loop is held.
pub fn hold_outside_jobs(handle: &Handle) -> Sender<()> {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    wait(handle.submit(async move {
        tokio::spawn(async move {
            entered_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
    }))
    .unwrap();
    recv(&entered_rx, "the loop is held");
    release
}

// ---- tracing capture ---------------------------------------------------------------------

/// One event the crate logged.
#[derive(Clone, Debug)]
pub struct Logged {
    pub level: tracing::Level,
    pub target: String,
    pub message: String,
    pub fields: HashMap<String, String>,
}

impl Logged {
    /// The `site` field, as displayed.
    pub fn site(&self) -> &str {
        self.field("site")
    }

    /// The field `name` as recorded (`""` if the event has no such field).
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

static LOGGED: Mutex<Vec<Logged>> = Mutex::new(Vec::new());

fn logged() -> MutexGuard<'static, Vec<Logged>> {
    LOGGED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Capture;

#[derive(Default)]
struct Fields {
    message: String,
    fields: HashMap<String, String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .insert(field.name().to_owned(), format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields
                .insert(field.name().to_owned(), value.to_owned());
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        logged().push(Logged {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message: fields.message,
            fields: fields.fields,
        });
    }
}

/// Installs the process-wide capture (the crate logs from its loop threads, so a
/// thread-local subscriber would miss most events). Call at the start of every test that
/// looks at logs; tests running in parallel tell their events apart by site.
pub fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture))
            .expect("no other global subscriber in the test binary");
    });
}

/// `true` for the crate's own targets: `loopbridge::<event>`.
pub fn is_crate_target(target: &str) -> bool {
    target == "loopbridge" || target.starts_with("loopbridge::")
}

/// The captured `loopbridge` events whose site is at `file:line`.
pub fn logs_at(file: &str, line: u32) -> Vec<Logged> {
    let tag = at(file, line);
    logged()
        .iter()
        .filter(|event| is_crate_target(&event.target) && event.site().contains(&tag))
        .cloned()
        .collect()
}

/// The captured `loopbridge` events whose message or fields mention `needle`.
pub fn logs_mentioning(needle: &str) -> Vec<Logged> {
    logged()
        .iter()
        .filter(|event| {
            is_crate_target(&event.target)
                && (event.message.contains(needle)
                    || event.fields.values().any(|value| value.contains(needle)))
        })
        .cloned()
        .collect()
}

// ---- concurrency probe -------------------------------------------------------------------

/// Jobs that count how many of them run at once, each holding its worker until released.
pub struct ConcurrencyProbe {
    live: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    started_tx: Sender<()>,
    started: Receiver<()>,
    release_tx: Sender<()>,
    release_rx: Arc<Mutex<Receiver<()>>>,
}

impl ConcurrencyProbe {
    pub fn new() -> ConcurrencyProbe {
        let (started_tx, started) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        ConcurrencyProbe {
            live: Arc::default(),
            peak: Arc::default(),
            started_tx,
            started,
            release_tx,
            release_rx: Arc::new(Mutex::new(release_rx)),
        }
    }

    /// A job for a pool: counts itself in, says it started, waits for a release.
    pub fn job(&self) -> impl FnOnce() + Send + 'static {
        let (live, peak, started, release) = (
            self.live.clone(),
            self.peak.clone(),
            self.started_tx.clone(),
            self.release_rx.clone(),
        );
        move || {
            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            started.send(()).unwrap();
            release.lock().unwrap().recv().unwrap();
            live.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits until `n` jobs have started.
    #[track_caller]
    pub fn wait_started(&self, n: usize) {
        for _ in 0..n {
            recv(&self.started, "a job started");
        }
    }

    /// Jobs running right now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Lets `n` jobs finish.
    pub fn release(&self, n: usize) {
        for _ in 0..n {
            self.release_tx.send(()).unwrap();
        }
    }

    /// The most jobs that ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}
