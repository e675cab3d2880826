//! The loop's dispatcher: one task on the loop thread that polls every job.
//!
//! A tokio task spawned from outside its runtime costs the submitter a wake-up of the
//! runtime's driver (a system call) and a pass through the runtime's shared queue and
//! task list, both behind locks the loop thread takes too. Jobs instead reach the loop
//! through the [`RunQueue`], which wakes the loop once per burst, and the dispatcher
//! keeps them in a table of its own that only the loop thread touches. Around each poll
//! it does what every job needs: the timing the stall watchdog and the slow-poll log
//! read (one clock read per poll: a poll's end is the next one's start), and, when a job
//! ends, its removal from the registry.
//!
//! Fairness: after [`JOBS_PER_TURN`] polls the dispatcher yields, so the runtime polls
//! its I/O driver and timers and runs other tasks (those users spawn with tokio directly)
//! as often as it would if every job were a task of its own. The jobs one turn polls
//! share the coop budget tokio gives one task poll, so a turn also ends once they have
//! used it up; a job that found tokio's resources refusing it for want of budget was
//! woken again at once and continues in the next turn.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::{panic_message, Error};
use crate::job::{Arrival, Ended, JobHold, JobRecord, LocalFuture, LoopJob, NewJob};
use crate::util::{drop_payload, log_panic};

use super::poll_clock::TurnWaker;
use super::state::{set_polling_loop, LoopState};

/// How many polls the dispatcher makes before it yields to the runtime: tokio's own
/// `event_interval`, the number of tasks it runs between two looks at the driver.
const JOBS_PER_TURN: usize = 61;

/// How many jobs an empty job table keeps room for.
const RETAINED_JOBS: usize = 1024;

/// How many arrivals the run queue's buffers keep room for at least.
const RETAINED_ARRIVALS: usize = 256;

/// How long the dispatcher spins for work before it lets the runtime poll its driver
/// and its other tasks (and the OS run another thread) once: a timer or a socket waits
/// at most this long for a spinning loop.
const SPIN_SLICE: Duration = Duration::from_micros(10);

/// Looks at the run queue's hint between two reads of the clock.
const LOOKS_PER_CLOCK_READ: u32 = 32;

/// Polls the loop's jobs until the loop stops and drops this future (and with it every
/// job it holds; see [`Jobs`]'s `Drop`).
pub(crate) async fn dispatch(state: Arc<LoopState>) {
    let spinner = state.spinner.clone();
    let mut jobs = Jobs::new(state);
    // Counted across batches: jobs that wake each other keep the queue from ever being
    // empty, and must not keep the runtime from its driver either.
    let mut polled = 0;
    let mut mark = spinner.batch_mark();
    loop {
        // Done with a batch: spin for the next (so a submission needs no wake-up) for as
        // long as the bridge's spinner says, then sleep until a push wakes the loop.
        let spin = spinner.loop_spin(mark);
        let met = if spin.budget.is_zero() {
            None
        } else {
            spin_for_arrivals(&mut jobs, spin.budget).await
        };
        spinner.loop_spun(spin, met.map(|(took, _)| took));
        if met.is_none() {
            spinner.loop_parking();
            let mut parked = false;
            poll_fn(|cx| {
                let arrived = jobs.poll_arrivals(cx);
                parked |= arrived.is_pending();
                arrived
            })
            .await;
            if parked {
                spinner.loop_parked();
            }
            spinner.loop_woke();
        }
        mark = spinner.batch_mark();
        // A spin that met read the clock as it took the batch: the batch starts there.
        let mut clock = met.map_or_else(Instant::now, |(_, at)| at);
        while let Some(arrival) = jobs.next_arrival() {
            clock = jobs.take_in(arrival, clock);
            polled += 1;
            // Also ends the turn once the jobs polled in it used up tokio's coop budget:
            // the jobs after them would only find tokio's resources refusing them.
            if polled == JOBS_PER_TURN || !tokio::task::coop::has_budget_remaining() {
                polled = 0;
                // Runs after the runtime has polled its driver and its other tasks; till
                // then the dispatcher waits for its turn.
                jobs.state.poll_clock.turn.yielding(clock);
                tokio::task::yield_now().await;
                jobs.state.poll_clock.turn.running();
                clock = Instant::now();
            }
        }
    }
}

/// Looks for arrivals without sleeping for up to `budget`: `Some((how long it took, when
/// it took them))` once they are taken (one clock read). Every [`SPIN_SLICE`] the runtime
/// polls its driver and other tasks (meanwhile the dispatcher waits for its turn).
async fn spin_for_arrivals(jobs: &mut Jobs, budget: Duration) -> Option<(Duration, Instant)> {
    let started = Instant::now();
    let mut slice = started;
    loop {
        for _ in 0..LOOKS_PER_CLOCK_READ {
            if jobs.look_for_arrivals() {
                let now = Instant::now();
                return Some((now.saturating_duration_since(started), now));
            }
            std::hint::spin_loop();
        }
        let now = Instant::now();
        let spun = now.saturating_duration_since(started);
        if spun >= budget {
            return jobs.take_arrivals_now().then_some((spun, now));
        }
        if now.saturating_duration_since(slice) >= SPIN_SLICE {
            jobs.state.poll_clock.turn.yielding(now);
            std::thread::yield_now();
            tokio::task::yield_now().await;
            jobs.state.poll_clock.turn.running();
            slice = Instant::now();
        }
    }
}

/// The jobs on one loop, by key. Only the loop thread touches it.
pub(crate) struct Jobs {
    state: Arc<LoopState>,
    entries: Vec<Option<JobHold>>,
    vacant: Vec<usize>,
    /// The futures of jobs built on the loop thread (not in their cells), by place:
    /// few jobs have one, so the table's entries do not keep room for it.
    locals: HashMap<usize, LocalFuture>,
    /// What the run queue delivered and the dispatcher has not taken in yet.
    arrivals: VecDeque<Arrival>,
    /// How many arrivals the last take brought.
    last_batch: usize,
    /// The dispatcher's task waker, and the [`TurnWaker`] around it that the run queue
    /// holds while the dispatcher sleeps.
    waker: Option<(Waker, Waker)>,
}

impl Jobs {
    /// The job table of the loop whose state is `state`, polled on this thread.
    pub(crate) fn new(state: Arc<LoopState>) -> Jobs {
        set_polling_loop(Some(state.clone()));
        Jobs {
            state,
            entries: Vec::new(),
            vacant: Vec::new(),
            locals: HashMap::new(),
            arrivals: VecDeque::new(),
            last_batch: 0,
            waker: None,
        }
    }

    /// Ready once the run queue has delivered arrivals; until then the dispatcher
    /// sleeps, and the next push wakes `cx`.
    pub(crate) fn poll_arrivals(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.state.poll_clock.turn.running();
        self.reuse_buffer();
        // The run queue holds a waker that stamps the loop's turn as it wakes the task.
        let wakers = match self.waker.take() {
            Some((task, waker)) if task.will_wake(cx.waker()) => (task, waker),
            _ => {
                let task = cx.waker().clone();
                let waker = TurnWaker::waker(self.state.poll_clock.turn.clone(), task.clone());
                (task, waker)
            }
        };
        let waker = &self.waker.insert(wakers).1;
        if self.arrivals.is_empty()
            && self
                .state
                .queue
                .poll_take(&mut self.arrivals, &mut Context::from_waker(waker))
                .is_pending()
        {
            // Nothing to poll until the next push: the stall watchdog may sleep.
            self.state.poll_clock.idle();
            return Poll::Pending;
        }
        self.last_batch = self.arrivals.len();
        self.state.poll_clock.dispatching();
        Poll::Ready(())
    }

    /// Takes what the run queue holds if its hint says it holds something (no lock
    /// otherwise): one look of a dispatcher that spins for work. `false` if nothing was
    /// taken.
    pub(crate) fn look_for_arrivals(&mut self) -> bool {
        (!self.arrivals.is_empty() || self.state.queue.looks_queued()) && self.take_arrivals_now()
    }

    /// Takes what the run queue holds without sleeping; `false` if it held nothing.
    pub(crate) fn take_arrivals_now(&mut self) -> bool {
        self.state.poll_clock.turn.running();
        self.reuse_buffer();
        if self.arrivals.is_empty() && !self.state.queue.try_take(&mut self.arrivals) {
            return false;
        }
        self.last_batch = self.arrivals.len();
        self.state.poll_clock.dispatching();
        true
    }

    /// The drained buffer goes back to the queue at the next take. It keeps room for
    /// twice the last batch (at least [`RETAINED_ARRIVALS`]): steady traffic never
    /// reallocates, and after a burst neither buffer keeps its peak size for good.
    fn reuse_buffer(&mut self) {
        let keep = (2 * self.last_batch).max(RETAINED_ARRIVALS);
        if self.arrivals.is_empty() && self.arrivals.capacity() > 2 * keep {
            self.arrivals.shrink_to(keep);
        }
    }

    pub(crate) fn next_arrival(&mut self) -> Option<Arrival> {
        self.arrivals.pop_front()
    }

    /// Takes in what the run queue delivered and polls the job it names, starting at
    /// `now`; returns when the poll (and, if the job ended, its teardown) finished.
    pub(crate) fn take_in(&mut self, arrival: Arrival, now: Instant) -> Instant {
        let place = match arrival {
            Arrival::New(new) => self.insert(new),
            Arrival::Woken(place) => place,
        };
        self.poll(place, now)
    }

    fn insert(&mut self, new: NewJob) -> usize {
        let (local, job) = new.start();
        let place = match self.vacant.pop() {
            Some(place) => place,
            None => {
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        job.schedule().placed(place);
        if let Some(local) = local {
            self.locals.insert(place, local);
        }
        self.entries[place] = Some(job);
        place
    }

    fn poll(&mut self, place: usize, began: Instant) -> Instant {
        let Jobs {
            state,
            entries,
            vacant,
            locals,
            ..
        } = self;
        // A place from a waker that outlived its job: that job is gone. The entry is out
        // of the table while it is polled (nothing else touches the table meanwhile).
        // One entry is one pointer's worth, since every pending job has one. The job's
        // waker is made for each poll (a job polled once, the common case, pays the same
        // reference count either way); its registry key is in its schedule.
        let Some(job) = entries.get_mut(place).and_then(Option::take) else {
            return began;
        };
        let mut local = if locals.is_empty() {
            None
        } else {
            locals.remove(&place)
        };
        let record = job.record();
        job.schedule().polling();
        record.poll_began(began);
        state.poll_clock.poll_began(began);
        let waker = job.job().clone().waker();
        let mut cx = Context::from_waker(&waker);
        // Every job's poll catches the panics of its future's own poll (see `task`);
        // what is left (the destructors of a future that just finished) is caught here,
        // so the dispatcher, which every job depends on, never unwinds.
        let polled = catch_unwind(AssertUnwindSafe(|| match &mut local {
            Some(future) => future.as_mut().poll(&mut cx),
            None => job.poll_future(&mut cx),
        }));
        let ended = match polled {
            Ok(poll) => poll.is_ready(),
            Err(payload) => {
                end_panicked(state, &*job, &*payload);
                drop_payload(payload);
                true
            }
        };
        drop(waker);
        if !ended {
            let next = close_poll(state, record, began);
            if let Some(local) = local {
                locals.insert(place, local);
            }
            entries[place] = Some(job);
            return next;
        }
        job.schedule().ended();
        vacant.push(place);
        // The job's teardown is part of its last poll: the watchdog sees it, and its
        // time is the job's.
        let record = job.record();
        let key = job.schedule().key();
        let site = Some(&record.site);
        // The cell's future too, if it is still there (an unwinding poll left it): its
        // destructor may panic, and nothing past this guard catches it.
        log_panic("dropping an ended job", site, || {
            drop(local);
            job.drop_future();
        });
        log_panic("removing an ended job", site, || state.deregister(key));
        if vacant.len() == entries.len() && entries.capacity() > RETAINED_JOBS {
            // The table is empty: after a burst, give its memory back. A waker that
            // outlived its job finds no entry under its key, as before.
            *entries = Vec::new();
            *vacant = Vec::new();
            *locals = HashMap::new();
        }
        let mut next = close_poll(state, record, began);
        if Arc::strong_count(job.job()) == 1 {
            // The job's last reference: dropping it closes the job's tracing span, which
            // runs the application's subscriber. Not part of any poll.
            let site = record.site.clone();
            log_panic("dropping an ended job's record", Some(&site), || drop(job));
            next = Instant::now();
        }
        next
    }
}

/// Ends a poll's timing: the watchdog's marks, the counters, and the slow-poll report.
/// Returns when the next poll may start.
fn close_poll(state: &LoopState, record: &JobRecord, began: Instant) -> Instant {
    let finished = Instant::now();
    let elapsed = finished - began;
    record.poll_ended();
    state.poll_clock.poll_ended();
    state.counters.record_poll(elapsed);
    if elapsed < state.slow_poll_threshold {
        return finished;
    }
    // Logging runs the application's subscriber, which may take long itself: that time
    // is nobody's poll, so the next poll starts after it.
    log_panic("reporting a slow poll", Some(&record.site), || {
        report_slow_poll(state, record, elapsed);
    });
    Instant::now()
}

/// A job panicked outside its future's own poll (a destructor that ran as the future
/// finished, or a tracing subscriber entering the job's span): the job ends with
/// `Panicked` unless it already had its result, and is counted once either way.
fn end_panicked(state: &LoopState, job: &dyn LoopJob, payload: &(dyn std::any::Any + Send)) {
    let message = panic_message(payload);
    let site = job.record().site.clone();
    tracing::error!(
        target: "loopbridge::teardown_panic",
        site = %site.location(),
        name = site.name(),
        scope = site.scope(),
        panic = %message,
        "job {site} panicked outside its own poll (a destructor?): {message}"
    );
    job.cut_off(Error::Panicked { message, site });
    state.counters.jobs.end(job.record(), Ended::Panicked);
}

fn report_slow_poll(state: &LoopState, record: &JobRecord, elapsed: Duration) {
    state
        .counters
        .slow_polls
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let site = &record.site;
    let threshold = state.slow_poll_threshold;
    tracing::warn!(
        target: "loopbridge::slow_poll",
        site = %site.location(),
        name = site.name(),
        scope = site.scope(),
        thread = %state.thread_name,
        elapsed_ms = elapsed.as_secs_f64() * 1e3,
        threshold_ms = threshold.as_secs_f64() * 1e3,
        "slow poll: job {site} held the loop thread '{}' for {elapsed:?} (threshold {threshold:?})",
        state.thread_name
    );
}

impl Drop for Jobs {
    /// The loop stopped: every job left, on the loop or on its way there, is cut off
    /// (resolved with `Closed`, counted as cancelled, removed from the registry).
    /// Normally the loop closed the bridge and its queue before; should the dispatcher
    /// itself ever fail, this closes them, so that no submission waits for a loop that
    /// no longer polls.
    fn drop(&mut self) {
        let state = &self.state;
        if state.refuse_new() {
            tracing::error!(
                target: "loopbridge::dispatcher_stopped",
                thread = %state.thread_name,
                "the dispatcher of loop thread '{}' stopped; the bridge is closed",
                state.thread_name
            );
        }
        state.poll_clock.turn.stopped();
        let entries = std::mem::take(&mut self.entries);
        for (place, job) in entries.into_iter().enumerate() {
            let Some(job) = job else { continue };
            let local = self.locals.remove(&place);
            let key = job.schedule().key();
            state.cut_off(key, job.job().clone(), (local, job));
        }
        for arrival in std::mem::take(&mut self.arrivals) {
            if let Arrival::New(new) = arrival {
                state.cut_off_arrival(new);
            }
        }
        state.close_run_queue();
        set_polling_loop(None);
    }
}
