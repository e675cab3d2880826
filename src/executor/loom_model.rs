//! A thread pool's core for the loom models in `loom-tests/pool.rs`: the real queue,
//! worker loop, claim and close, with loom threads standing in for the worker threads
//! (which a real pool starts with `std::thread`).

use std::time::Duration;

use crate::completion::Completion;
use crate::error::Site;

use super::queue::Push;
use super::stats::PoolStats;
use super::worker::Core;

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
            core: Core::new(max_workers, None),
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
}
