//! The live jobs of a bridge: what each is, how long it has lived, whether it is being
//! polled right now. Shutdown uses it to find and resolve what it must abandon.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::task::AbortHandle;

use crate::error::{Error, Site};

/// What the bridge knows about one job, kept beside its result in one allocation.
pub(crate) struct JobRecord {
    pub(crate) site: Site,
    pub(crate) submitted: Instant,
    polls: AtomicU64,
    /// When the running poll started, as nanoseconds after `submitted` plus one; zero
    /// while no poll runs.
    poll_started: AtomicU64,
    /// The tokio task running the job, so `cancel()` can drop its future.
    pub(crate) task: OnceLock<AbortHandle>,
    /// The `tracing` span current where the job was submitted; the job runs inside it,
    /// so its logs keep the submitter's context (as `asyncio.to_thread` copies
    /// contextvars).
    pub(crate) span: tracing::Span,
}

impl JobRecord {
    pub(crate) fn new(site: Site) -> JobRecord {
        JobRecord {
            site,
            submitted: Instant::now(),
            polls: AtomicU64::new(0),
            poll_started: AtomicU64::new(0),
            task: OnceLock::new(),
            span: tracing::Span::current(),
        }
    }

    // ORDERING: `polls` and `poll_started` are written only by the loop thread and read
    // by others as a report; no other memory is published through them, so relaxed
    // suffices.
    pub(crate) fn poll_began(&self, now: Instant) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        let since = now.saturating_duration_since(self.submitted).as_nanos();
        let since = u64::try_from(since).unwrap_or(u64::MAX - 1);
        self.poll_started.store(since + 1, Ordering::Relaxed);
    }

    pub(crate) fn poll_ended(&self) {
        self.poll_started.store(0, Ordering::Relaxed);
    }

    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// How long the poll running now has run, if one is running.
    pub(crate) fn running_poll(&self, now: Instant) -> Option<Duration> {
        match self.poll_started.load(Ordering::Relaxed) {
            0 => None,
            since => {
                let began = self.submitted + Duration::from_nanos(since - 1);
                Some(now.saturating_duration_since(began))
            }
        }
    }
}

/// A live job, whatever its output type.
pub(crate) trait LiveJob: Send + Sync {
    fn record(&self) -> &JobRecord;
    /// Resolves the job with `error` if it is still pending; `true` if it was.
    fn abandon(&self, error: Error) -> bool;
}

/// The live jobs, in a slab: a job's key is stable while it lives.
#[derive(Default)]
pub(crate) struct Registry {
    slab: Mutex<Slab>,
}

#[derive(Default)]
struct Slab {
    entries: Vec<Option<Arc<dyn LiveJob>>>,
    vacant: Vec<usize>,
    len: usize,
}

impl Registry {
    pub(crate) fn insert(&self, job: Arc<dyn LiveJob>) -> usize {
        let mut slab = self.slab.lock();
        slab.len += 1;
        match slab.vacant.pop() {
            Some(key) => {
                slab.entries[key] = Some(job);
                key
            }
            None => {
                slab.entries.push(Some(job));
                slab.entries.len() - 1
            }
        }
    }

    /// Removes the job at `key`; returns how many jobs remain.
    pub(crate) fn remove(&self, key: usize) -> usize {
        let mut slab = self.slab.lock();
        let removed = slab.entries.get_mut(key).and_then(Option::take);
        if removed.is_some() {
            slab.vacant.push(key);
            slab.len -= 1;
        }
        let remaining = slab.len;
        drop(slab);
        // The job itself is dropped outside the lock: dropping it may drop a result.
        drop(removed);
        remaining
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.lock().len
    }

    /// The live jobs, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<Arc<dyn LiveJob>> {
        let mut jobs: Vec<_> = self.slab.lock().entries.iter().flatten().cloned().collect();
        jobs.sort_by_key(|job| job.record().submitted);
        jobs
    }
}

/// One live job, from [`Handle::jobs`](crate::Handle::jobs).
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::new()?;
/// let handle = bridge.handle();
/// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
/// let job = handle.submit(async move { rx.await.ok() });
/// # while handle.jobs().first().map_or(true, |job| job.polls == 0) { std::thread::yield_now(); }
/// let info = &handle.jobs()[0];
/// assert_eq!(info.site.location().line(), line!() - 3);
/// assert!(info.polls >= 1);
/// drop(tx);
/// job.wait()?;
/// assert!(handle.jobs().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JobInfo {
    /// Where the job was submitted, and its name if it has one.
    pub site: Site,
    /// How long ago it was submitted.
    pub age: Duration,
    /// How many times it has been polled (a callback is polled once).
    pub polls: u64,
}

impl JobInfo {
    pub(crate) fn of(record: &JobRecord, now: Instant) -> JobInfo {
        JobInfo {
            site: record.site.clone(),
            age: now.saturating_duration_since(record.submitted),
            polls: record.polls(),
        }
    }
}
