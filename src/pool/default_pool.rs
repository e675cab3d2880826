//! The bridge's default thread pool, behind
//! [`Handle::run_in_executor`](crate::Handle::run_in_executor): started on first use,
//! shut down with the bridge.

use std::sync::OnceLock;
use std::time::Instant;

use crate::report::ShutdownReport;
use crate::util::Dispatcher;

use super::stats::PoolStats;
use super::thread_pool::ThreadPool;

/// `None` inside once the bridge has shut it down (or began to) before it ever started:
/// the bridge's shutdown takes the slot, so a pool can never start after it looked.
#[derive(Default)]
pub(crate) struct DefaultPool {
    pool: OnceLock<Option<ThreadPool>>,
}

impl DefaultPool {
    /// The pool, started on first use with workers named `{thread_name}-executor-{n}`;
    /// `None` once the bridge has shut down.
    pub(crate) fn get(&self, thread_name: &str, dispatch: &Dispatcher) -> Option<&ThreadPool> {
        self.pool
            .get_or_init(|| Some(ThreadPool::for_bridge(thread_name, dispatch)))
            .as_ref()
    }

    /// The pool's stats; all zero if it never started.
    pub(crate) fn stats(&self) -> PoolStats {
        match self.pool.get() {
            Some(Some(pool)) => pool.stats(),
            _ => PoolStats::default(),
        }
    }

    /// Shuts the pool down by `deadline`, if it ever started; waits for running jobs
    /// only if `wait` (not on a loop thread or inside an async context).
    pub(crate) fn shutdown(&self, deadline: Instant, wait: bool) -> Option<ShutdownReport> {
        let pool = self.pool.get_or_init(|| None).as_ref()?;
        let timeout = deadline.saturating_duration_since(Instant::now());
        Some(pool.shutdown_waiting(timeout, wait))
    }
}
