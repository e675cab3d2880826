//! The loop's dispatcher for the loom models in `loom-tests/dispatch.rs`: the real run
//! queue, schedule, job table and registry, with the model's own thread standing in for
//! the loop thread (which a real bridge drives with tokio).

use std::future::poll_fn;
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Poll, Waker};
use std::time::Instant;

use crate::bridge::BridgeBuilder;
use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::event_loop::{InCell, Jobs, LoopState};
use crate::job::JobCell;

/// A loop without a runtime: jobs are submitted to its run queue through a
/// [`Submitter`] from any thread, and [`run_until`](DispatchModel::run_until) is the
/// dispatcher.
pub struct DispatchModel {
    state: Arc<LoopState>,
    jobs: Jobs,
}

/// Submits jobs to a [`DispatchModel`]'s run queue, as a `Handle` does.
#[derive(Clone)]
pub struct Submitter {
    state: Arc<LoopState>,
}

/// What a model job's future sees of its own job when it is polled.
pub struct JobView<'a> {
    cell: &'a JobCell<()>,
    waker: &'a Waker,
}

impl JobView<'_> {
    /// `true` once the job was resolved (as a cancel resolves it).
    pub fn is_resolved(&self) -> bool {
        self.cell.slot.is_resolved()
    }

    /// The waker of the poll running now.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }
}

impl DispatchModel {
    /// A loop with nothing queued, polled on this thread.
    pub fn new() -> DispatchModel {
        let state = Arc::new(LoopState::new(BridgeBuilder::default().settings()));
        DispatchModel {
            jobs: Jobs::new(state.clone()),
            state,
        }
    }

    /// A loop that holds at most `max_pending` pending jobs (`BridgeBuilder::max_pending`).
    pub fn with_max_pending(max_pending: usize) -> DispatchModel {
        let state = Arc::new(LoopState::new(
            BridgeBuilder::default().max_pending(max_pending).settings(),
        ));
        DispatchModel {
            jobs: Jobs::new(state.clone()),
            state,
        }
    }

    /// A scope on the model's loop.
    pub fn scope(&self) -> ModelScope {
        ModelScope(self.state.new_scope("model"))
    }

    /// A way to submit jobs from any thread.
    pub fn submitter(&self) -> Submitter {
        Submitter {
            state: self.state.clone(),
        }
    }

    /// Runs the dispatcher until `done()` holds, checked whenever the run queue is empty;
    /// sleeps (in loom's `block_on`) until a push wakes it.
    pub fn run_until(&mut self, mut done: impl FnMut() -> bool) {
        while !done() {
            loom::future::block_on(poll_fn(|cx| self.jobs.poll_arrivals(cx)));
            while let Some(arrival) = self.jobs.next_arrival() {
                self.jobs.take_in(arrival, Instant::now());
            }
        }
    }

    /// [`run_until`](DispatchModel::run_until) as a dispatcher that spins for work does:
    /// after each batch it looks at the run queue's hint `looks` times (a yield to the
    /// model between looks) before it sleeps.
    pub fn run_spinning_until(&mut self, looks: usize, mut done: impl FnMut() -> bool) {
        while !done() {
            let mut found = false;
            for _ in 0..looks {
                if self.jobs.look_for_arrivals() {
                    found = true;
                    break;
                }
                loom::thread::yield_now();
            }
            if !found {
                loom::future::block_on(poll_fn(|cx| self.jobs.poll_arrivals(cx)));
            }
            while let Some(arrival) = self.jobs.next_arrival() {
                self.jobs.take_in(arrival, Instant::now());
            }
        }
    }

    /// How many jobs are registered as live.
    pub fn live_jobs(&self) -> usize {
        self.state.registry.live()
    }

    /// The first steps of a bridge's shutdown: refuse new submissions, then look at the
    /// registry, as the stopping loop does before it decides whether to wait. Returns how
    /// many jobs that look found live.
    pub fn begin_stop(&self) -> usize {
        self.state.refuse_new();
        self.state.registry.live()
    }

    /// The loop's teardown: what is still queued is cut off, then the job table (and with
    /// it every job left) is dropped. Returns how many jobs the queue's closing resolved.
    pub fn finish_stop(self) -> usize {
        let DispatchModel { state, jobs } = self;
        let resolved = state.close_run_queue();
        drop(jobs);
        resolved
    }
}

impl Default for DispatchModel {
    fn default() -> DispatchModel {
        DispatchModel::new()
    }
}

impl Submitter {
    /// How many jobs are registered as live.
    pub fn live_jobs(&self) -> usize {
        self.state.registry.live()
    }

    /// Submits a job as `Handle::submit` does: `poll` is its future's poll function
    /// (`Ready` ends the job); `future_dropped` runs when the dispatcher drops the future.
    /// The job's value is `()`.
    #[track_caller]
    pub fn submit<P, D>(&self, poll: P, future_dropped: D) -> Completion<()>
    where
        P: FnMut(JobView<'_>) -> Poll<()> + Send + 'static,
        D: FnOnce() + Send + 'static,
    {
        match self.try_submit(None, poll, future_dropped) {
            Ok(completion) => completion,
            Err(error) => panic!("the model's loop was closed: {error}"),
        }
    }

    /// [`submit`](Submitter::submit), into `scope` if given; refused with `Closed` once
    /// the model's loop (or the scope) began to stop.
    #[track_caller]
    pub fn try_submit<P, D>(
        &self,
        scope: Option<&ModelScope>,
        mut poll: P,
        future_dropped: D,
    ) -> Result<Completion<()>, Error>
    where
        P: FnMut(JobView<'_>) -> Poll<()> + Send + 'static,
        D: FnOnce() + Send + 'static,
    {
        // Made first: a refused job's future is dropped, as `Handle::submit` drops it.
        let guard = OnDrop(Some(future_dropped));
        // The future sees its own cell, which holds it, through a weak reference set once
        // the cell exists (a strong one would keep the cell alive through its future).
        let own: Arc<OnceLock<Weak<JobCell<()>>>> = Arc::default();
        let view = own.clone();
        let future = async move {
            let _guard = guard;
            poll_fn(|cx| {
                let cell = view
                    .get()
                    .and_then(Weak::upgrade)
                    .expect("polled in its cell");
                poll(JobView {
                    cell: &cell,
                    waker: cx.waker(),
                })
            })
            .await;
        };
        // In its cell, as every `Send` future is: the cell's poll delivers the value, or
        // ends a cancelled job at its next poll without polling the model's future again.
        let cell = self.state.register(
            Site::caller(),
            scope.map(|scope| scope.0.clone()),
            false,
            InCell::new(future),
        )?;
        let erased: Arc<JobCell<()>> = cell.clone();
        let _ = own.set(Arc::downgrade(&erased));
        self.state.enqueue(cell, None);
        Ok(Completion::new(erased))
    }
}

struct OnDrop<D: FnOnce()>(Option<D>);

impl<D: FnOnce()> Drop for OnDrop<D> {
    fn drop(&mut self) {
        if let Some(on_drop) = self.0.take() {
            on_drop();
        }
    }
}

/// A scope of a [`DispatchModel`]'s loop.
#[derive(Clone)]
pub struct ModelScope(Arc<crate::job::ScopeState>);

impl ModelScope {
    /// Closes the scope without waiting, as a close on a loop thread does; returns how
    /// many jobs it cut off.
    pub fn close_now(&self) -> usize {
        self.0.close(None, &|_| false).cut_off
    }

    /// How many jobs are members (not yet stopped).
    pub fn members(&self) -> usize {
        self.0.jobs().len()
    }
}
