//! [`JobHome`]: what every job of one executor (a bridge's loop, a pool, a thread-bound
//! value's thread) has in common, kept once per executor rather than copied into each
//! job's record.

use std::sync::{Arc, LazyLock};

use crate::loop_thread::AssertMode;
use crate::spin::Spinner;
use crate::util::Dispatcher;

use super::run_queue::RunQueue;
use super::schedule::Arrival;

/// The facts a job's record reaches through one shared pointer.
pub(crate) struct JobHome {
    /// The fork generation of the executor, so a forked child waiting on one of its jobs
    /// can be told at once that it never will run there.
    pub(crate) fork_generation: u64,
    /// How a waiter spins on a result before it parks, and where its parks are counted
    /// (`None`: the waiter parks at once; pool jobs).
    pub(crate) spinner: Option<Arc<Spinner>>,
    /// What a blocking wait on a job inside another tokio runtime's current-thread
    /// context does (the bridge's `AssertMode`; `Panic`, a refusal, for pool jobs).
    pub(crate) assert_mode: AssertMode,
    /// The `tracing` dispatcher of the executor: a report about a job (an error nobody
    /// read) goes there whichever thread makes it.
    pub(crate) dispatch: Dispatcher,
    /// The run queue of the loop that polls the jobs (`None` for pool jobs: waking them
    /// does nothing).
    pub(crate) queue: Option<Arc<RunQueue<Arrival>>>,
}

impl JobHome {
    /// The home of an executor that is not a loop, made in this fork generation, whose
    /// waiters park at once and whose reports go to `dispatch`.
    pub(crate) fn off_loop(dispatch: Dispatcher) -> JobHome {
        JobHome {
            fork_generation: crate::process::generation(),
            spinner: None,
            assert_mode: AssertMode::Panic,
            dispatch,
            queue: None,
        }
    }

    /// The home of jobs that never ran (refused before they were submitted): shared by
    /// all of them, and read only for its defaults.
    pub(crate) fn refused() -> Arc<JobHome> {
        static REFUSED: LazyLock<Arc<JobHome>> =
            LazyLock::new(|| Arc::new(JobHome::off_loop(Dispatcher::default())));
        REFUSED.clone()
    }
}
