//! The live jobs of a bridge or a pool: what each is, how long it has lived, whether it
//! is being polled right now. Shutdown uses it to find and cut off what it must leave.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Site};
use crate::report::StuckJob;
use crate::sync::{AtomicUsize, Mutex};

use super::record::{JobRecord, LiveJob};
use super::tally::{Ended, Tally};

/// How many independently locked parts the registry has. Each thread registers its jobs
/// in one part (chosen once per thread), so submitting threads do not contend with each
/// other, and the loop thread ending a job contends only with that job's submitter.
const SHARDS: usize = 16;

/// How many entries an empty part of the registry keeps room for.
const RETAINED_ENTRIES: usize = 1024;

/// The live jobs, in sharded slabs: a job's key is stable while it lives.
pub(crate) struct Registry {
    shards: [Shard; SHARDS],
    /// How many jobs are live, across the shards: read without locking them (a stopping
    /// loop waits for it to reach zero; every job ending during a shutdown looks at it).
    live: AtomicUsize,
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
            live: AtomicUsize::new(0),
        }
    }
}

/// The shard the calling thread registers its jobs in.
fn home_shard() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
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
        drop(slab);
        // ORDERING: SeqCst, and a SeqCst fence follows in `LoopState::register` before its
        // look at `closed`: with the fence after shutdown's store of `closed`, either the
        // stopping loop sees this job counted or the job sees the bridge closed.
        self.live.fetch_add(1, Ordering::SeqCst);
        index * SHARDS + shard
    }

    /// Removes the job under `key`; `true` if it was there (a key is removed once).
    pub(crate) fn remove(&self, key: usize) -> bool {
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
        if removed.is_some() {
            // ORDERING: see `insert`; `LoopState::deregister` fences before its look at
            // `closed`.
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
        // The job itself is dropped outside the lock: dropping it may drop a result.
        let was_there = removed.is_some();
        drop(removed);
        was_there
    }

    /// How many jobs are live.
    pub(crate) fn live(&self) -> usize {
        // ORDERING: see `insert`.
        self.live.load(Ordering::SeqCst)
    }

    /// The live jobs, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<Arc<dyn LiveJob>> {
        let mut jobs = self.unordered();
        jobs.sort_by_key(|job| job.record().submitted());
        jobs
    }

    /// The live jobs, in no order (cheaper than a snapshot for a million of them).
    pub(crate) fn unordered(&self) -> Vec<Arc<dyn LiveJob>> {
        self.shards
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
            .collect()
    }

    /// Cuts off every live job but those `spare` names (a pool job shutting down its own
    /// pool): each is resolved with `Closed` if still pending, and counted as cancelled in
    /// `tally` unless counted already (a stuck job that ends later is not counted again).
    /// Those `stuck` says are holding a thread are listed, with how long.
    pub(crate) fn cut_off_all(
        &self,
        tally: &Tally,
        spare: impl Fn(&JobRecord) -> bool,
        stuck: impl Fn(&JobRecord, Instant) -> Option<Duration>,
    ) -> Vec<StuckJob> {
        let now = Instant::now();
        let mut listed = Vec::new();
        for job in self.unordered() {
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
            job.cut_off(closed);
            tally.end(record, Ended::Cancelled);
        }
        listed
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
            age: now.saturating_duration_since(record.submitted()),
            polls: record.polls(),
        }
    }
}
