//! A thread pool's core: how a job goes in, what a worker does all its life, how the
//! pool closes, and how a shutdown waits for busy workers. [`ThreadPool`] adds threads,
//! names and timeouts around it; the loom models drive it directly, with loom threads
//! as workers.
//!
//! [`ThreadPool`]: crate::ThreadPool

use std::time::{Duration, Instant};

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::job::{Ended, JobHome, Tally};
use crate::sync::{AtomicUsize, Condvar, Mutex};
use crate::util::{log_panic, Dispatcher};
use std::sync::atomic::Ordering;

use super::pool_job::{pool_job, JobContext, Queued};
use super::queue::{Next, Push, Queue, Refused};
use super::stats::PoolStats;
use crate::room::Room;

/// What a worker was doing when user code outside a job's closure panicked (a
/// destructor, a `then` callback run as the result is delivered).
const OUTSIDE_CLOSURE: &str = "a pool job's teardown or delivery (a destructor or a callback)";
const CUT_OFF: &str = "cutting off a pool job (a destructor or a callback)";

pub(crate) struct Core {
    pub(crate) queue: Queue<Box<dyn Queued>>,
    pub(crate) jobs: JobContext,
    /// Places in a bounded queue; `None` when unbounded.
    pub(crate) room: Option<Room>,
    /// Workers that counted themselves idle (or out) after a job's closure returned and
    /// are still delivering its result: a shutdown waits for them as for busy ones.
    delivering: AtomicUsize,
    /// Wakes a shutdown waiting for busy workers when one exits.
    exits: Mutex<()>,
    exited: Condvar,
    /// The fork generation the workers run in (a forked child has none of them).
    pub(crate) fork_generation: u64,
    /// The `tracing` dispatcher current where the pool was built: its workers run with
    /// it.
    pub(crate) dispatch: Dispatcher,
}

impl Core {
    pub(crate) fn new(max_workers: usize, capacity: Option<usize>, dispatch: Dispatcher) -> Core {
        Core {
            queue: Queue::new(max_workers),
            jobs: JobContext::new(JobHome::off_loop(dispatch.clone())),
            room: capacity.map(Room::new),
            delivering: AtomicUsize::new(0),
            exits: Mutex::new(()),
            exited: Condvar::new(),
            fork_generation: crate::process::generation(),
            dispatch,
        }
    }

    /// Queues `f`. With a bounded queue the caller already holds a unit of room for it,
    /// which the job keeps until a worker takes it out. Returns the completion (resolved
    /// with the error if the job was refused) and whether a worker must be started.
    pub(crate) fn submit<F, T>(&self, site: Site, f: F) -> (Completion<T>, Push)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // In a forked child the pool's workers do not exist; a worker started here would
        // run the job and then be told its result belongs to the parent: refuse it unrun.
        if let Err(forked) = crate::process::check_not_forked(self.fork_generation, &site) {
            self.release_room();
            return (Completion::failed(forked), Push::Queued);
        }
        let (completion, job) = match pool_job(site, &self.jobs.home, f) {
            Ok((completion, job)) => (completion, Box::new(job) as Box<dyn Queued>),
            Err(refused) => {
                self.release_room();
                return (refused, Push::Queued);
            }
        };
        let counters = &self.jobs.counters;
        // Counted before it is queued, so a reader woken by its result sees it counted.
        Tally::bump(&counters.jobs.submitted);
        match self.queue.push(job) {
            Ok(push) => (completion, push),
            Err((job, refused)) => {
                Tally::unbump(&counters.jobs.submitted);
                // Refused, so never submitted: out of its scope's count too.
                Tally::withdraw(job.record());
                self.release_room();
                let site = job.site().clone();
                let error = match refused {
                    Refused::Closed => Error::Closed { site },
                    Refused::Full => {
                        counters.refused();
                        Error::QueueFull { site }
                    }
                };
                let site = job.site().clone();
                log_panic(CUT_OFF, Some(&site), || {
                    job.cut_off(error);
                });
                (completion, Push::Queued)
            }
        }
    }

    /// A worker's whole life, in a thread started for a [`Push::StartWorker`]: runs jobs
    /// until it retires, is stopped, or finds the pool closed.
    pub(crate) fn serve(&self, keep_alive: Duration) {
        let mut seat = self.queue.seat();
        loop {
            match seat.next(keep_alive) {
                Next::Run(job) => {
                    self.release_room();
                    let mut delivering = false;
                    // The job's site for a panic outside its closure (its value's
                    // destructor, a `then` callback).
                    let site = job.site().clone();
                    log_panic(OUTSIDE_CLOSURE, Some(&site), || {
                        job.run(&self.jobs, &mut || {
                            // Counted as delivering before it counts itself idle, so a
                            // shutdown never sees it as neither (see `wait_for_busy`).
                            // ORDERING: see `wait_for_busy`.
                            self.delivering.fetch_add(1, Ordering::AcqRel);
                            delivering = true;
                            seat.done();
                        });
                    });
                    if delivering {
                        // A shutdown waiting meanwhile is woken by this worker's exit,
                        // which follows: the pool closed, so this worker is out of it
                        // already, or was idle at the close and is sent a stop.
                        // ORDERING: see `wait_for_busy`.
                        self.delivering.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                Next::Close(job) => {
                    self.release_room();
                    let site = job.site().clone();
                    log_panic(CUT_OFF, Some(&site), || {
                        self.cut_off_closed(job);
                    });
                }
                Next::Exit => break,
            }
        }
        drop(seat);
        // A shutdown may be waiting for this worker. Taking the lock orders the exit
        // (already in the scheduling word) before the waiter's next check, or the
        // notification after its wait began: no lost wake-up.
        drop(self.exits.lock());
        self.exited.notify_all();
    }

    /// The worker a push asked for could not be started.
    pub(crate) fn worker_not_started(&self, error: &std::io::Error) {
        tracing::error!(
            target: "loopbridge::thread_start",
            what = "a pool worker",
            error = %error,
            "cannot start a pool worker thread: {error}"
        );
        self.queue.worker_not_started(|job| {
            self.release_room();
            // Ended without running, like a job cut off by shutdown.
            self.jobs.counters.jobs.end(job.record(), Ended::Cancelled);
            let site = job.site().clone();
            let error = Error::Unavailable {
                message: format!("no pool worker thread could be started: {error}"),
                site: site.clone(),
            };
            log_panic(CUT_OFF, Some(&site), || {
                job.cut_off(error);
            });
        });
    }

    /// Closes the pool: later submissions are refused, queued jobs resolve with
    /// [`Error::Closed`] (on this thread), idle workers exit, waiters for room are
    /// refused. Returns how many queued jobs it resolved.
    pub(crate) fn close(&self) -> usize {
        // Room first: a worker taking a job out while the queue closes gives its place
        // back, and that place must not go to a waiter as a permit for a closed pool.
        if let Some(room) = &self.room {
            room.close();
        }
        let mut cut_off = 0;
        self.queue.close(|job| {
            let site = job.site().clone();
            log_panic(CUT_OFF, Some(&site), || {
                if self.cut_off_closed(job) {
                    cut_off += 1;
                }
            });
        });
        cut_off
    }

    /// Waits until at most `own` workers are busy (the caller's own, when a job shuts its
    /// pool down), or `deadline` passes; `true` if they got there. A worker delivering
    /// its last result is busy here, though the scheduling word counts it idle already.
    pub(crate) fn wait_for_busy(&self, own: usize, deadline: Instant) -> bool {
        let mut exits = self.exits.lock();
        loop {
            if self.busy() <= own {
                return true;
            }
            let timed_out;
            (exits, timed_out) = self.exited.wait_until(&self.exits, exits, deadline);
            if timed_out {
                return self.busy() <= own;
            }
        }
    }

    /// Workers holding a job: busy in the scheduling word, or delivering a result.
    fn busy(&self) -> usize {
        // ORDERING: a worker counts itself delivering, then idle (both read-modify-writes
        // with Release); reading the word first (Acquire) and the count second, a worker
        // the word shows idle after a job is seen delivering until it is done. A worker
        // between the two steps is counted twice, which only makes a shutdown wait a
        // moment longer (it runs no user code there, so it is never the caller's own).
        let word = self.queue.snapshot().busy();
        word + self.delivering.load(Ordering::Acquire)
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let scheduling = self.queue.snapshot();
        PoolStats {
            queued: scheduling.queued(),
            workers: scheduling.workers(),
            idle_workers: scheduling.idle(),
            ..self.jobs.counters.snapshot()
        }
    }

    fn cut_off_closed(&self, job: Box<dyn Queued>) -> bool {
        self.jobs.counters.jobs.end(job.record(), Ended::Cancelled);
        let site = job.site().clone();
        job.cut_off(Error::Closed { site })
    }

    fn release_room(&self) {
        if let Some(room) = &self.room {
            room.release();
        }
    }
}
