//! The live jobs of a bridge: what each is, how long it has lived, whether it is being
//! polled right now. Shutdown uses it to find and resolve what it must abandon.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Error, Site};
use crate::schedule::Schedule;

/// What the bridge knows about one job, kept beside its result in one allocation.
pub(crate) struct JobRecord {
    pub(crate) site: Site,
    pub(crate) submitted: Instant,
    polls: AtomicU64,
    /// When the running poll started, as nanoseconds after `submitted` plus one; zero
    /// while no poll runs.
    poll_started: AtomicU64,
    /// How the job is queued for a poll on its loop (no loop polls pool jobs).
    pub(crate) schedule: Schedule,
    /// The fork generation of the executor that runs the job, so a forked child waiting
    /// on it can be told at once that it never will run there.
    pub(crate) fork_generation: u64,
    /// How long a waiter spins on the result before it parks (the bridge's
    /// `spin_before_park`; zero for pool jobs).
    pub(crate) spin_before_park: Duration,
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
            schedule: Schedule::none(),
            fork_generation: crate::process::generation(),
            spin_before_park: Duration::ZERO,
            span: tracing::Span::current(),
        }
    }

    // ORDERING: `polls` and `poll_started` are written only by the loop thread and read
    // by others as a report; no other memory is published through them, so relaxed
    // suffices.
    pub(crate) fn poll_began(&self, now: Instant) {
        // One writer: a load and a store, not a read-modify-write.
        self.polls
            .store(self.polls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
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
    /// `true` once the job has a result (it may still be delivering it).
    fn is_resolved(&self) -> bool;
}

/// How many independently locked parts the registry has. Each thread registers its jobs
/// in one part (chosen once per thread), so submitting threads do not contend with each
/// other, and the loop thread ending a job contends only with that job's submitter.
const SHARDS: usize = 16;

/// How many entries an empty part of the registry keeps room for.
const RETAINED_ENTRIES: usize = 1024;

/// The live jobs, in sharded slabs: a job's key is stable while it lives.
pub(crate) struct Registry {
    shards: [Shard; SHARDS],
}

/// One part of the registry, alone on its cache lines so that parts used by different
/// threads do not bounce a shared line between cores.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Slab>);

#[derive(Default)]
struct Slab {
    entries: Vec<Option<Arc<dyn LiveJob>>>,
    vacant: Vec<usize>,
    len: usize,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            shards: std::array::from_fn(|_| Shard::default()),
        }
    }
}

/// The shard the calling thread registers its jobs in.
fn home_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        // ORDERING: only spreads threads over shards; any value is correct.
        static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    HOME.with(|home| *home)
}

impl Registry {
    pub(crate) fn insert(&self, job: Arc<dyn LiveJob>) -> usize {
        let shard = home_shard();
        let mut slab = self.shards[shard].0.lock();
        slab.len += 1;
        let index = match slab.vacant.pop() {
            Some(index) => {
                slab.entries[index] = Some(job);
                index
            }
            None => {
                slab.entries.push(Some(job));
                slab.entries.len() - 1
            }
        };
        index * SHARDS + shard
    }

    pub(crate) fn remove(&self, key: usize) {
        let (index, shard) = (key / SHARDS, key % SHARDS);
        let mut slab = self.shards[shard].0.lock();
        let removed = slab.entries.get_mut(index).and_then(Option::take);
        if removed.is_some() {
            slab.vacant.push(index);
            slab.len -= 1;
            if slab.len == 0 && slab.entries.capacity() > RETAINED_ENTRIES {
                // No key of this part is live: after a burst, give its memory back.
                *slab = Slab::default();
            }
        }
        drop(slab);
        // The job itself is dropped outside the lock: dropping it may drop a result.
        drop(removed);
    }

    /// How many jobs are live (locks every shard: not for hot paths).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.0.lock().len).sum()
    }

    /// The live jobs, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<Arc<dyn LiveJob>> {
        let mut jobs: Vec<_> = self
            .shards
            .iter()
            .flat_map(|shard| {
                shard
                    .0
                    .lock()
                    .entries
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
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
