//! The loop's dispatcher: one task on the loop thread that polls every job.
//!
//! A tokio task spawned from outside its runtime costs the submitter a wake-up of the
//! runtime's driver (a system call) and a pass through the runtime's shared queue and
//! task list, both behind locks the loop thread takes too. Jobs instead reach the loop
//! through the [`RunQueue`], which wakes the loop once per burst, and the dispatcher
//! keeps them in a table of its own that only the loop thread touches.
//!
//! Fairness: after [`JOBS_PER_TURN`] polls the dispatcher yields, so the runtime polls
//! its I/O driver and timers and runs other tasks (those users spawn with tokio directly)
//! as often as it would if every job were a task of its own. The jobs one turn polls
//! share the coop budget tokio gives one task poll; a job that uses it up finds tokio's
//! resources not ready, is woken again at once, and continues in a later turn.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Waker};

use crate::registry::LiveJob;
use crate::run_queue::RunQueue;
use crate::schedule::{Arrival, LocalFuture, NewJob};

/// How many polls the dispatcher makes before it yields to the runtime: tokio's own
/// `event_interval`, the number of tasks it runs between two looks at the driver.
const JOBS_PER_TURN: usize = 61;

/// Polls the loop's jobs until the loop stops and drops this future (and with it every
/// job it holds; each job's drop resolves its completion).
pub(crate) async fn dispatch(queue: Arc<RunQueue<Arrival>>) {
    let mut jobs = Jobs::default();
    let mut batch = VecDeque::new();
    // Counted across batches: jobs that wake each other keep the queue from ever being
    // empty, and must not keep the runtime from its driver either.
    let mut polled = 0;
    loop {
        poll_fn(|cx| queue.poll_take(&mut batch, cx)).await;
        while let Some(arrival) = batch.pop_front() {
            jobs.admit(arrival);
            polled += 1;
            if polled == JOBS_PER_TURN {
                polled = 0;
                // Runs after the runtime has polled its driver and its other tasks.
                tokio::task::yield_now().await;
            }
        }
    }
}

/// The jobs on the loop, by key. Only the loop thread touches it.
#[derive(Default)]
pub(crate) struct Jobs {
    entries: Vec<Option<Entry>>,
    vacant: Vec<usize>,
}

struct Entry {
    future: LocalFuture,
    waker: Waker,
    job: Arc<dyn LiveJob>,
}

impl Jobs {
    /// Takes in what the run queue delivered and polls the job it names.
    pub(crate) fn admit(&mut self, arrival: Arrival) {
        let key = match arrival {
            Arrival::New(new) => self.insert(new),
            Arrival::Woken(key) => key,
        };
        self.poll(key);
    }

    fn insert(&mut self, new: NewJob) -> usize {
        let NewJob { start, waker, job } = new;
        let entry = Entry {
            future: start.into_future(),
            waker,
            job,
        };
        let key = match self.vacant.pop() {
            Some(key) => key,
            None => {
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        entry.job.record().schedule.placed(key);
        self.entries[key] = Some(entry);
        key
    }

    fn poll(&mut self, key: usize) {
        // A key from a waker that outlived its job: that job is gone.
        let Some(Some(Entry { future, waker, job })) = self.entries.get_mut(key) else {
            return;
        };
        let schedule = &job.record().schedule;
        schedule.polling();
        let mut cx = Context::from_waker(waker);
        // Every job's future catches its own panics (see `run`); this guard only keeps
        // the dispatcher, which every job depends on, alive should that ever fail.
        let ended = match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
            Ok(poll) => poll.is_ready(),
            Err(_) => {
                tracing::error!(
                    target: "loopbridge",
                    site = %job.record().site,
                    "a job's wrapper panicked; the job is dropped"
                );
                true
            }
        };
        if ended {
            schedule.ended();
            let ended = self.entries[key].take();
            self.vacant.push(key);
            // Dropped last: its destructors may submit jobs or wake others.
            drop(ended);
        }
    }
}
