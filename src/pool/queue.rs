//! The handoff at the heart of [`ThreadPool`](crate::ThreadPool): submitters count jobs
//! in and send them through a channel, workers take them out, retire when idle, and
//! `close` ends it all without stranding a job. Written against [`crate::sync`], so the
//! loom models in `loom-tests/pool.rs` explore it.
//!
//! One atomic word holds the whole scheduling state, so every decision is one
//! compare-and-swap against a consistent view of it:
//!
//! | field     | bits    | meaning                                                       |
//! |-----------|---------|---------------------------------------------------------------|
//! | `CLOSED`  | 0       | set once by `close`, never cleared; no job is counted in after it |
//! | `idle`    | 1..=16  | workers waiting for a job, or started for one and about to wait |
//! | `workers` | 17..=32 | live workers, idle or busy                                    |
//! | `queued`  | 33..=63 | jobs counted in by `push` and not yet taken out of the channel |
//!
//! | step                      | change                          | when                          |
//! |---------------------------|---------------------------------|-------------------------------|
//! | `push`                    | `queued + 1`, and `workers + 1, idle + 1` if it starts a worker | not `CLOSED`; room below `MAX_QUEUED` |
//! | a worker takes a job      | `queued - 1, idle - 1`          | the job then runs, or is failed with `Closed` if `CLOSED` was set |
//! | a worker is done with it  | `idle + 1`, or `workers - 1` (exit) if `CLOSED` | always, once the closure returned and before the result is delivered |
//! | a worker retires          | `idle - 1, workers - 1`         | its keep-alive ran out and `idle > queued` |
//! | a worker is told to stop  | `idle - 1, workers - 1`         | it received one of `close`'s stop messages |
//!
//! Invariants:
//!
//! - A job counted in `queued` is in the channel or about to be (its submitter sends it
//!   right after counting it, without blocking), and leaves the count only after a
//!   worker or `close` took it out. So once `close` has set `CLOSED` and then seen
//!   `queued == 0`, every job is in someone's hands, and none is left in the channel.
//! - After every step but a failed thread start, `queued > idle` implies
//!   `workers == max_workers`: a push that leaves more queued jobs than idle workers
//!   starts a worker if it may, taking a job out changes both sides alike, and a worker
//!   retires only while `idle > queued`. A job never waits for a busy worker while
//!   another could be started for it, and never waits on a worker that is leaving.
//!   (A worker counts itself idle before it delivers its last result, so a job may wait
//!   for that delivery: waking the result's reader, or running its `then` callback.
//!   That is what keeps a submit-then-wait loop on one worker: the reader the result
//!   wakes always finds the worker idle.)
//! - `idle <= workers <= max_workers`.

use std::time::Duration;

use crate::sync::{spin_wait, AtomicU64, Channel};
use std::sync::atomic::Ordering;

const CLOSED: u64 = 1;
const IDLE_SHIFT: u32 = 1;
const WORKERS_SHIFT: u32 = 17;
const QUEUED_SHIFT: u32 = 33;
const FIELD: u64 = 0xFFFF;
const IDLE_ONE: u64 = 1 << IDLE_SHIFT;
const WORKER_ONE: u64 = 1 << WORKERS_SHIFT;
const QUEUED_ONE: u64 = 1 << QUEUED_SHIFT;

/// The most workers one pool may have (the width of the `workers` field).
pub(crate) const MAX_WORKERS: usize = FIELD as usize;

/// The most jobs one pool may hold queued (the width of the `queued` field); a push
/// beyond it is refused as if the queue were bounded there.
const MAX_QUEUED: u64 = u64::MAX >> QUEUED_SHIFT;

/// A read of the scheduling word.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot(u64);

impl Snapshot {
    pub(crate) fn closed(self) -> bool {
        self.0 & CLOSED != 0
    }

    pub(crate) fn idle(self) -> usize {
        ((self.0 >> IDLE_SHIFT) & FIELD) as usize
    }

    pub(crate) fn workers(self) -> usize {
        ((self.0 >> WORKERS_SHIFT) & FIELD) as usize
    }

    pub(crate) fn queued(self) -> usize {
        usize::try_from(self.0 >> QUEUED_SHIFT).unwrap_or(usize::MAX)
    }

    /// Workers holding a job (running it, or about to).
    pub(crate) fn busy(self) -> usize {
        self.workers() - self.idle()
    }
}

enum Msg<J> {
    Job(J),
    /// Sent by `close`, one per idle worker: exit now rather than at the keep-alive.
    Stop,
}

/// What a successful [`Queue::push`] asks of its caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push {
    /// An idle worker (or one already starting) will take the job.
    Queued,
    /// No worker is free and the pool may grow: start one with [`Queue::seat`]; a seat is
    /// reserved for it. If the thread cannot be started, call
    /// [`Queue::worker_not_started`].
    StartWorker,
}

/// Why [`Queue::push`] refused a job (handed back with it).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Closed,
    Full,
}

/// What a worker does next, from [`Seat::next`].
pub(crate) enum Next<J> {
    /// Run this job.
    Run(J),
    /// The pool closed after this job was queued: fail it with `Closed`, unrun.
    Close(J),
    /// Exit the thread: retired, stopped, or the pool closed.
    Exit,
}

/// The scheduling word and the job channel.
pub(crate) struct Queue<J> {
    state: AtomicU64,
    channel: Channel<Msg<J>>,
    max_workers: u64,
}

// Why AcqRel/Acquire everywhere on `state` (each access below points here): the word
// carries counts and the closed flag only; the jobs themselves travel through the
// channel, which synchronizes them. The protocol's decisions are read-modify-writes of
// this one word, which are totally ordered whatever their ordering: a push either sees
// `CLOSED` or is counted before `close` sets it, and `close` then waits for that count to
// drain. AcqRel/Acquire additionally keeps each step after the channel operation before
// it (a worker counts a job out only after it took it; `close` drains only after its
// flag), at no cost on the platforms that matter. No other memory is published through
// the word, so SeqCst would buy nothing.
impl<J> Queue<J> {
    pub(crate) fn new(max_workers: usize) -> Queue<J> {
        assert!(max_workers <= MAX_WORKERS, "at most {MAX_WORKERS} workers");
        Queue {
            state: AtomicU64::new(0),
            channel: Channel::new(),
            max_workers: max_workers as u64,
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        // ORDERING: a report or a re-check; see `impl Queue`.
        Snapshot(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.snapshot().closed()
    }

    /// Counts `job` in and sends it to the workers, or hands it back refused.
    pub(crate) fn push(&self, job: J) -> Result<Push, (J, Refused)> {
        // ORDERING: the decision is a compare-and-swap of the word; see `impl Queue`.
        let mut current = self.state.load(Ordering::Acquire);
        let start = loop {
            let seen = Snapshot(current);
            if seen.closed() {
                return Err((job, Refused::Closed));
            }
            if seen.0 >> QUEUED_SHIFT == MAX_QUEUED {
                return Err((job, Refused::Full));
            }
            let start = seen.queued() >= seen.idle() && (seen.workers() as u64) < self.max_workers;
            let next = current + QUEUED_ONE + if start { WORKER_ONE + IDLE_ONE } else { 0 };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break start,
                Err(actual) => current = actual,
            }
        };
        self.channel.send(Msg::Job(job));
        Ok(if start {
            Push::StartWorker
        } else {
            Push::Queued
        })
    }

    /// The seat a [`Push::StartWorker`] reserved, for the worker started for it.
    pub(crate) fn seat(&self) -> Seat<'_, J> {
        Seat {
            queue: self,
            busy: false,
            gone: false,
        }
    }

    /// The worker a push asked for could not be started: gives its seat back. While no
    /// worker is left to take the queued jobs, takes them back out and hands them to
    /// `unserved` to fail, so none waits forever (other pushes that queued jobs while
    /// the seat was reserved did not start a worker of their own).
    pub(crate) fn worker_not_started(&self, mut unserved: impl FnMut(J)) {
        let seat = IDLE_ONE + WORKER_ONE;
        // ORDERING: one step of the word; see `impl Queue`.
        self.state.fetch_sub(seat, Ordering::AcqRel);
        loop {
            let now = self.snapshot();
            if now.workers() > 0 || now.queued() == 0 {
                return;
            }
            match self.channel.try_recv() {
                Some(Msg::Job(job)) => {
                    // ORDERING: counted out only after it was taken; see `impl Queue`.
                    self.state.fetch_sub(QUEUED_ONE, Ordering::AcqRel);
                    unserved(job);
                }
                // Closed meanwhile: a stop for nobody, and `close` drains the jobs.
                Some(Msg::Stop) => return,
                // A submitter counted its job in and is about to send it (it does not
                // block): wait for it, as `close` does.
                None => spin_wait(),
            }
        }
    }

    /// Closes the queue: later pushes are refused, every job still queued is handed to
    /// `unrun` (on this thread), and idle workers are told to exit. Returns `false` if it
    /// was closed already (a second close still waits for the queue to drain).
    pub(crate) fn close(&self, mut unrun: impl FnMut(J)) -> bool {
        // ORDERING: the flag is set before the drain below looks; see `impl Queue`.
        let before = Snapshot(self.state.fetch_or(CLOSED, Ordering::AcqRel));
        let mut stops = 0;
        loop {
            match self.channel.try_recv() {
                Some(Msg::Job(job)) => {
                    // ORDERING: counted out only after it was taken; see `impl Queue`.
                    self.state.fetch_sub(QUEUED_ONE, Ordering::AcqRel);
                    unrun(job);
                }
                // Another close's stop message: passed on below, for the worker it is for.
                Some(Msg::Stop) => stops += 1,
                None if self.snapshot().queued() == 0 => break,
                // A submitter counted its job in before the flag and is about to send it,
                // or a worker took one and is about to count it out: neither blocks.
                None => spin_wait(),
            }
        }
        let first = !before.closed();
        if first {
            // Workers idle at the flag each get one; any other worker sees the flag when
            // it comes back from its job, and exits then.
            stops += before.idle();
        }
        for _ in 0..stops {
            self.channel.send(Msg::Stop);
        }
        first
    }
}

/// A worker's place in the pool: what it asks for its next step, and gives back when it
/// exits (also by unwinding).
pub(crate) struct Seat<'a, J> {
    queue: &'a Queue<J>,
    busy: bool,
    gone: bool,
}

impl<J> Seat<'_, J> {
    /// The worker is done with the job it took: counted idle again, or out of the pool
    /// if it closed meanwhile (the worker then exits at its next step). Called once the
    /// job's closure has returned and before its result is delivered, so that whoever
    /// the result wakes, submitting again, finds this worker idle rather than starting
    /// another; [`next`](Seat::next) takes the step itself if it was not taken.
    pub(crate) fn done(&mut self) {
        if !self.busy {
            return;
        }
        self.busy = false;
        // ORDERING: one step of the word; see `impl Queue`.
        let before = self
            .queue
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                Some(if current & CLOSED != 0 {
                    current - WORKER_ONE
                } else {
                    current + IDLE_ONE
                })
            })
            .unwrap_or_else(|current| current);
        if Snapshot(before).closed() {
            self.gone = true;
        }
    }

    /// Waits (at most `keep_alive` at a time) for the worker's next step.
    pub(crate) fn next(&mut self, keep_alive: Duration) -> Next<J> {
        let state = &self.queue.state;
        self.done();
        if self.gone {
            return Next::Exit;
        }
        loop {
            match self.queue.channel.recv_timeout(keep_alive) {
                Some(Msg::Job(job)) => {
                    // ORDERING: counted out only after it was taken; see `impl Queue`.
                    let before = Snapshot(state.fetch_sub(QUEUED_ONE + IDLE_ONE, Ordering::AcqRel));
                    self.busy = true;
                    return if before.closed() {
                        Next::Close(job)
                    } else {
                        Next::Run(job)
                    };
                }
                Some(Msg::Stop) => {
                    // ORDERING: one step of the word; see `impl Queue`.
                    state.fetch_sub(IDLE_ONE + WORKER_ONE, Ordering::AcqRel);
                    self.gone = true;
                    return Next::Exit;
                }
                None => {
                    if self.try_retire() {
                        return Next::Exit;
                    }
                }
            }
        }
    }

    /// Leaves the pool if every queued job has another idle worker to take it.
    fn try_retire(&mut self) -> bool {
        let state = &self.queue.state;
        // ORDERING: the decision is a compare-and-swap of the word; see `impl Queue`.
        let mut current = state.load(Ordering::Acquire);
        loop {
            let seen = Snapshot(current);
            if seen.idle() <= seen.queued() {
                // A job counted in for an idle worker is on its way: stay for it.
                return false;
            }
            match state.compare_exchange_weak(
                current,
                current - IDLE_ONE - WORKER_ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.gone = true;
                    return true;
                }
                Err(actual) => current = actual,
            }
        }
    }
}

impl<J> Drop for Seat<'_, J> {
    fn drop(&mut self) {
        if !self.gone {
            let seat = if self.busy {
                WORKER_ONE
            } else {
                WORKER_ONE + IDLE_ONE
            };
            // ORDERING: one step of the word; see `impl Queue`.
            self.queue.state.fetch_sub(seat, Ordering::AcqRel);
        }
    }
}
