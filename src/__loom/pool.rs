//! A thread pool's core for the loom models in `loom-tests/pool.rs`: the real queue,
//! worker loop, claim and close, with loom threads standing in for the worker threads
//! (which a real pool starts with `std::thread`).

use std::time::Duration;

use crate::completion::Completion;
use crate::error::Site;

use crate::pool::queue::Push;
use crate::pool::worker::Core;
use crate::pool::PoolStats;
use crate::room::{NoRoom, Room};

/// A pool without threads of its own: [`submit`](PoolModel::submit) says when a worker
/// must start, and the model starts one by calling [`serve`](PoolModel::serve) on a
/// loom thread.
pub struct PoolModel {
    core: Core,
}

impl PoolModel {
    /// A pool of at most `max_workers` workers with an unbounded queue.
    pub fn new(max_workers: usize) -> PoolModel {
        PoolModel {
            core: Core::new(max_workers, None, Default::default()),
        }
    }

    /// Submits `f` as `ThreadPool::submit` does. The flag is `true` when the pool asks
    /// for a worker to be started: the caller must then run [`serve`](PoolModel::serve)
    /// on a new thread.
    #[track_caller]
    pub fn submit<F, T>(&self, f: F) -> (Completion<T>, bool)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (completion, push) = self.core.submit(Site::caller(), f);
        (completion, push == Push::StartWorker)
    }

    /// A worker's whole life: runs jobs until it retires (under loom, a wait for a job
    /// that finds none is the keep-alive running out), is stopped, or finds the pool
    /// closed.
    pub fn serve(&self) {
        self.core.serve(Duration::ZERO);
    }

    /// What the pool does when the worker a `submit` asked for cannot be started (the
    /// operating system refused the thread).
    pub fn worker_not_started(&self) {
        let refused = std::io::Error::new(std::io::ErrorKind::WouldBlock, "no thread (model)");
        self.core.worker_not_started(&refused);
    }

    /// Closes the pool as `shutdown` and the last clone's drop do; returns how many
    /// queued jobs it resolved with `Closed`.
    pub fn close(&self) -> usize {
        self.core.close()
    }

    /// The pool's counters and scheduling state.
    pub fn stats(&self) -> PoolStats {
        self.core.stats()
    }

    /// One look of a shutdown's wait for busy workers (under loom its timed wait is a
    /// yield that reports the timeout): `true` once no worker holds a job, whether it
    /// runs it or still delivers its result.
    pub fn wait_for_busy(&self) -> bool {
        self.core.wait_for_busy(0, std::time::Instant::now())
    }
}

/// A bounded queue's room (the semaphore behind `queue_capacity`), with its operations
/// public; loom threads stand in for submitters, permits and the pool's workers.
pub struct RoomModel {
    room: Room,
}

/// What an acquisition found (mirrors the crate's own `NoRoom`).
#[derive(Debug, PartialEq, Eq)]
pub enum Acquired {
    /// A unit was had.
    Unit,
    /// The queue is full.
    Full,
    /// The pool is closed.
    Closed,
}

impl From<Result<(), NoRoom>> for Acquired {
    fn from(result: Result<(), NoRoom>) -> Acquired {
        match result {
            Ok(()) => Acquired::Unit,
            Err(NoRoom::Full) => Acquired::Full,
            Err(NoRoom::Closed) => Acquired::Closed,
        }
    }
}

impl RoomModel {
    /// Room for `capacity` queued jobs.
    pub fn new(capacity: usize) -> RoomModel {
        RoomModel {
            room: Room::new(capacity),
        }
    }

    /// Takes a unit if one is free.
    pub fn try_acquire(&self) -> Acquired {
        self.room.try_acquire().into()
    }

    /// Takes a unit, waiting for one (under loom: one yield, then the timeout).
    pub fn acquire_until(&self) -> Acquired {
        self.room.acquire_until(std::time::Instant::now()).into()
    }

    /// One poll of an async acquisition; `ticket` keeps the place in line.
    pub fn poll_acquire(&self, ticket: &mut Option<u64>) -> Option<Acquired> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match self.room.poll_acquire(ticket, &mut cx) {
            std::task::Poll::Ready(result) => Some(result.into()),
            std::task::Poll::Pending => None,
        }
    }

    /// An async acquisition polled to its end with `cx`'s waker: under `block_on`, a
    /// wake-up that never comes is a deadlock loom reports.
    pub fn poll_acquire_with(
        &self,
        ticket: &mut Option<u64>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Acquired> {
        self.room.poll_acquire(ticket, cx).map(Acquired::from)
    }

    /// Gives `units` back at once (a drain job's batch).
    pub fn release_many(&self, units: usize) {
        self.room.release_many(units);
    }

    /// An async waiter gives up its place (passing on a unit it was handed).
    pub fn forget(&self, ticket: u64) {
        self.room.forget(ticket);
    }

    /// Gives a unit back.
    pub fn release(&self) {
        self.room.release();
    }

    /// Refuses every waiter and later acquisition.
    pub fn close(&self) {
        self.room.close();
    }
}
