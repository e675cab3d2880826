//! Room in a bounded queue: a counting semaphore whose units are places in the queue,
//! shared by every bounded queue of the crate: a `ThreadPool`'s (`queue_capacity`), a
//! loop's (`BridgeBuilder::max_pending`) and a threadsafe function's. A leaf: it imports only
//! `sync`.
//!
//! In a pool's queue a job holds one unit until a worker takes it out; a
//! [`PoolPermit`](crate::PoolPermit) holds one until it is used or dropped. Waiters, async
//! ([`poll_acquire`](Room::poll_acquire)) and blocking
//! ([`acquire_until`](Room::acquire_until)), queue up first come, first served: a
//! released unit is handed straight to the oldest waiter, so a stream of
//! [`try_acquire`](Room::try_acquire) calls cannot starve them, and `free > 0` only when
//! nobody waits.
//!
//! | waiter state | leaves by                                               |
//! |--------------|---------------------------------------------------------|
//! | waiting      | a release hands it a unit → granted; close → gone (it sees `Closed`); its owner gives up → gone |
//! | granted      | its owner takes the unit → gone; its owner gives up → the unit goes to the next waiter |

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::sync::{Condvar, Mutex};

/// Why no unit was had.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// The queue is full (for a timed wait: it stayed full until the deadline).
    Full,
    /// The queue is closed.
    Closed,
}

pub(crate) struct Room {
    state: Mutex<RoomState>,
    /// Wakes blocking waiters; each checks its own entry.
    changed: Condvar,
}

struct RoomState {
    free: usize,
    closed: bool,
    waiters: VecDeque<Waiter>,
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    granted: bool,
    /// `None` for a blocking waiter, which the condition variable wakes.
    waker: Option<Waker>,
}

impl RoomState {
    /// Takes a free unit without waiting: `None` when the caller must wait for one.
    fn take_free(&mut self) -> Option<Result<(), NoRoom>> {
        if self.closed {
            return Some(Err(NoRoom::Closed));
        }
        if self.free > 0 {
            self.free -= 1;
            return Some(Ok(()));
        }
        None
    }

    fn position(&self, ticket: u64) -> Option<usize> {
        self.waiters
            .iter()
            .position(|waiter| waiter.ticket == ticket)
    }

    fn enqueue(&mut self, waker: Option<Waker>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiters.push_back(Waiter {
            ticket,
            granted: false,
            waker,
        });
        ticket
    }

    /// Gives a unit back: to the oldest waiter still waiting, else to the free pool.
    /// Returns what must be woken once the lock is released.
    fn release(&mut self) -> Wake {
        match self.waiters.iter_mut().find(|waiter| !waiter.granted) {
            Some(waiter) => {
                waiter.granted = true;
                match waiter.waker.take() {
                    Some(waker) => Wake::Task(waker),
                    None => Wake::Threads,
                }
            }
            None => {
                self.free += 1;
                Wake::Nobody
            }
        }
    }
}

enum Wake {
    Nobody,
    Task(Waker),
    Threads,
}

impl Room {
    pub(crate) fn new(capacity: usize) -> Room {
        Room {
            state: Mutex::new(RoomState {
                free: capacity,
                closed: false,
                waiters: VecDeque::new(),
                next_ticket: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Takes a unit if one is free, without waiting.
    pub(crate) fn try_acquire(&self) -> Result<(), NoRoom> {
        let mut state = self.state.lock();
        state.take_free().unwrap_or(Err(NoRoom::Full))
    }

    /// Takes a unit, blocking the calling thread until one is handed over, the pool
    /// closes, or `deadline` passes.
    pub(crate) fn acquire_until(&self, deadline: Instant) -> Result<(), NoRoom> {
        let mut state = self.state.lock();
        if let Some(answer) = state.take_free() {
            return answer;
        }
        let ticket = state.enqueue(None);
        loop {
            let timed_out;
            (state, timed_out) = self.changed.wait_until(&self.state, state, deadline);
            let Some(at) = state.position(ticket) else {
                // Only `close` removes another's entry.
                return Err(NoRoom::Closed);
            };
            if state.waiters[at].granted {
                state.waiters.remove(at);
                return Ok(());
            }
            if timed_out {
                state.waiters.remove(at);
                return Err(NoRoom::Full);
            }
        }
    }

    /// Takes a unit, or registers `cx`'s waker to be woken when one is handed over.
    /// `ticket` is the caller's place in line, kept between polls; give it up with
    /// [`forget`](Room::forget) if the caller stops polling.
    pub(crate) fn poll_acquire(
        &self,
        ticket: &mut Option<u64>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), NoRoom>> {
        let mut state = self.state.lock();
        if let Some(mine) = *ticket {
            let Some(at) = state.position(mine) else {
                *ticket = None;
                return Poll::Ready(Err(NoRoom::Closed));
            };
            if state.waiters[at].granted {
                state.waiters.remove(at);
                *ticket = None;
                return Poll::Ready(Ok(()));
            }
            let waker = &mut state.waiters[at].waker;
            match waker {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        if let Some(answer) = state.take_free() {
            return Poll::Ready(answer);
        }
        *ticket = Some(state.enqueue(Some(cx.waker().clone())));
        Poll::Pending
    }

    /// The holder of `ticket` stopped waiting; a unit already handed to it goes to the
    /// next waiter.
    pub(crate) fn forget(&self, ticket: u64) {
        let mut state = self.state.lock();
        let Some(at) = state.position(ticket) else {
            return;
        };
        let waiter = state.waiters.remove(at).expect("position is in range");
        let wake = if waiter.granted {
            state.release()
        } else {
            Wake::Nobody
        };
        drop(state);
        drop(waiter);
        self.wake(wake);
    }

    /// Gives a unit back.
    pub(crate) fn release(&self) {
        let wake = self.state.lock().release();
        self.wake(wake);
    }

    /// Gives `units` back at once (one lock for a batch).
    pub(crate) fn release_many(&self, units: usize) {
        if units == 0 {
            return;
        }
        let mut state = self.state.lock();
        let mut tasks = Vec::new();
        let mut threads = false;
        for _ in 0..units {
            if state.waiters.is_empty() {
                state.free += 1;
                continue;
            }
            match state.release() {
                Wake::Nobody => {}
                Wake::Task(waker) => tasks.push(waker),
                Wake::Threads => threads = true,
            }
        }
        drop(state);
        if threads {
            self.changed.notify_all();
        }
        for waker in tasks {
            waker.wake();
        }
    }

    /// Refuses every waiter and later acquisition with [`NoRoom::Closed`].
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        self.changed.notify_all();
        for waiter in waiters {
            if let Some(waker) = waiter.waker {
                waker.wake();
            }
        }
    }

    fn wake(&self, wake: Wake) {
        match wake {
            Wake::Nobody => {}
            Wake::Task(waker) => waker.wake(),
            Wake::Threads => self.changed.notify_all(),
        }
    }
}
