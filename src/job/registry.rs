//! The live jobs of a bridge or a pool: what each is, how long it has lived, whether it
//! is being polled right now. Shutdown uses it to find and cut off what it must leave.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Site};
use crate::report::StuckJob;
use crate::sync::Mutex;

use super::record::{JobRecord, LiveJob};

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
struct Shard(Mutex<Slab>);

impl Default for Shard {
    fn default() -> Shard {
        Shard(Mutex::new(Slab::default()))
    }
}

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

    /// Cuts off every live job but those `spare` names (a pool job shutting down its own
    /// pool): each is resolved with `Closed` if still pending. Those `stuck` says are
    /// holding a thread are listed, with how long. Returns the list and how many jobs
    /// this resolved.
    pub(crate) fn cut_off_all(
        &self,
        spare: impl Fn(&JobRecord) -> bool,
        stuck: impl Fn(&JobRecord, Instant) -> Option<Duration>,
    ) -> (Vec<StuckJob>, usize) {
        let now = Instant::now();
        let mut listed = Vec::new();
        let mut resolved = 0;
        for job in self.snapshot() {
            let record = job.record();
            if spare(record) {
                continue;
            }
            if let Some(running_for) = stuck(record, now) {
                listed.push(StuckJob {
                    site: record.site.clone(),
                    running_for,
                });
            }
            let closed = Error::Closed {
                site: record.site.clone(),
            };
            if job.cut_off(closed) {
                resolved += 1;
            }
        }
        (listed, resolved)
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
