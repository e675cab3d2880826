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
//! [`try_acquire`](Room::try_acquire) calls cannot starve them: while someone waits, a
//! unit is free only between a release's add and its hand-over, and `try_acquire`
//! leaves it alone.
//!
//! The free count is an atomic beside the lock, so taking and giving back a unit while
//! nobody waits (the common case: a queue with room) takes no lock. Waiters still queue
//! under the lock. The one race, a release that adds a unit while a waiter is queueing,
//! is closed Dekker-style (`SeqCst` on both sides): a release adds its unit and then
//! looks for waiters; a waiter counts itself in and then looks for a free unit, under
//! the lock. One of the two sees the other, so the unit reaches the oldest waiter
//! (through [`hand_over`](RoomState::hand_over) under the lock) or stays free for
//! someone else: never lost, and no waiter sleeps next to a free unit. loom:
//! `loom-tests/room.rs`.
//!
//! | waiter state | leaves by                                               |
//! |--------------|---------------------------------------------------------|
//! | waiting      | a release hands it a unit → granted; close → gone (it sees `Closed`); its owner gives up → gone |
//! | granted      | its owner takes the unit → gone; its owner gives up → the unit goes to the next waiter |

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::sync::{fence, AtomicUsize, Condvar, Mutex, MutexGuard};

// ORDERING: the release/waiter handshake (a release adds to `free`, then loads `queued`;
// a waiter stores `queued`, then loads `free`) is a store-load pattern that needs one
// total order: acquire/release would let both loads miss the other's store. A SeqCst
// fence sits between each side's store and load (the form loom checks), and the
// accesses themselves are SeqCst too.
const ORDER: std::sync::atomic::Ordering = std::sync::atomic::Ordering::SeqCst;

/// The bit of `Room::free` that says the room is closed; the rest counts free units.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// A queue whose room permits hold places in: a [`ThreadPool`](crate::ThreadPool)'s, a
/// [`ThreadBound`](crate::ThreadBound)'s mailbox. The bound of
/// [`PoolReserve`](crate::PoolReserve) and [`PoolPermit`](crate::PoolPermit); `pub` only
/// so that they can name it: it is not exported, so no type outside the crate implements it.
pub trait Bounded: Clone {
    /// The queue's room; `None` when it is unbounded.
    fn room(&self) -> Option<&Room>;
    /// `true` once the queue refuses new work.
    fn is_closed(&self) -> bool;
    /// The fork generation of the threads that serve the queue.
    fn fork_generation(&self) -> u64;
}

/// Why no unit was had.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// The queue is full (for a timed wait: it stayed full until the deadline).
    Full,
    /// The queue is closed.
    Closed,
}

// `pub` in a private module, so that the public bound [`Bounded`] can name it; nothing
// outside the crate can.
pub struct Room {
    /// Free units, with the `CLOSED` bit. Taken by a compare-and-swap, given back by an
    /// add; nonzero while someone waits only between a release's add and its hand-over.
    free: AtomicUsize,
    /// How many queued waiters wait for a unit (not yet granted): a release that sees
    /// none needs no lock. Written under the lock.
    queued: AtomicUsize,
    state: Mutex<RoomState>,
    /// Wakes blocking waiters; each checks its own entry.
    changed: Condvar,
}

struct RoomState {
    /// In line, oldest first; a granted waiter stays until its owner takes the unit.
    waiters: VecDeque<Waiter>,
    /// Waiters not yet granted, published in `Room::queued`.
    ungranted: usize,
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    granted: bool,
    /// `None` for a blocking waiter, which the condition variable wakes.
    waker: Option<Waker>,
}

/// Who to wake once the lock is released.
#[derive(Default)]
struct Wakes {
    tasks: Vec<Waker>,
    threads: bool,
}

impl Wakes {
    fn run(self, changed: &Condvar) {
        if self.threads {
            changed.notify_all();
        }
        for waker in self.tasks {
            waker.wake();
        }
    }
}

/// Takes one free unit if there is one and the room is open.
fn take_unit(free: &AtomicUsize) -> Result<(), NoRoom> {
    let mut now = free.load(ORDER);
    loop {
        if now & CLOSED != 0 {
            return Err(NoRoom::Closed);
        }
        if now == 0 {
            return Err(NoRoom::Full);
        }
        match free.compare_exchange_weak(now, now - 1, ORDER, ORDER) {
            Ok(_) => return Ok(()),
            Err(seen) => now = seen,
        }
    }
}

impl RoomState {
    fn position(&self, ticket: u64) -> Option<usize> {
        self.waiters
            .iter()
            .position(|waiter| waiter.ticket == ticket)
    }

    /// Queues a waiter (under the lock), counted in `queued` before the caller looks
    /// for a free unit again.
    fn enqueue(&mut self, queued: &AtomicUsize, waker: Option<Waker>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiters.push_back(Waiter {
            ticket,
            granted: false,
            waker,
        });
        self.ungranted += 1;
        queued.store(self.ungranted, ORDER);
        ticket
    }

    /// Takes the waiter at `at` out of the queue.
    fn remove(&mut self, queued: &AtomicUsize, at: usize) -> Waiter {
        let waiter = self.waiters.remove(at).expect("position is in range");
        if !waiter.granted {
            self.ungranted -= 1;
            queued.store(self.ungranted, ORDER);
        }
        waiter
    }

    /// Moves free units to the oldest waiters not yet granted, while there are both.
    /// Called under the lock by whoever may have left a unit free next to a waiter: a
    /// release that saw waiters, a waiter that just queued.
    fn hand_over(&mut self, queued: &AtomicUsize, free: &AtomicUsize, wakes: &mut Wakes) {
        let before = self.ungranted;
        for waiter in self.waiters.iter_mut().filter(|waiter| !waiter.granted) {
            if take_unit(free).is_err() {
                break;
            }
            waiter.granted = true;
            self.ungranted -= 1;
            match waiter.waker.take() {
                Some(waker) => wakes.tasks.push(waker),
                None => wakes.threads = true,
            }
        }
        if self.ungranted != before {
            queued.store(self.ungranted, ORDER);
        }
    }
}

impl Room {
    pub(crate) fn new(capacity: usize) -> Room {
        assert!(capacity < CLOSED, "a room of {capacity} units is too large");
        Room {
            free: AtomicUsize::new(capacity),
            queued: AtomicUsize::new(0),
            state: Mutex::new(RoomState {
                waiters: VecDeque::new(),
                ungranted: 0,
                next_ticket: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Takes a unit if one is free, without waiting. No lock while nobody waits; while
    /// someone does, the unit is theirs and this answers `Full`.
    pub(crate) fn try_acquire(&self) -> Result<(), NoRoom> {
        if self.queued.load(ORDER) != 0 {
            // First come, first served: a free unit is on its way to a waiter.
            return match self.free.load(ORDER) & CLOSED {
                0 => Err(NoRoom::Full),
                _ => Err(NoRoom::Closed),
            };
        }
        take_unit(&self.free)
    }

    /// Queues the caller (under the lock) unless a unit can be had at once; then hands
    /// over what a racing release left free, which may be to the caller itself.
    fn queue_up(
        &self,
        waker: Option<Waker>,
    ) -> (
        MutexGuard<'_, RoomState>,
        Result<Option<u64>, NoRoom>,
        Wakes,
    ) {
        let mut state = self.state.lock();
        let mut wakes = Wakes::default();
        if state.ungranted == 0 {
            match take_unit(&self.free) {
                Ok(()) => return (state, Ok(None), wakes),
                Err(NoRoom::Closed) => return (state, Err(NoRoom::Closed), wakes),
                Err(NoRoom::Full) => {}
            }
        } else if self.free.load(ORDER) & CLOSED != 0 {
            return (state, Err(NoRoom::Closed), wakes);
        }
        let ticket = state.enqueue(&self.queued, waker);
        // ORDERING: counted in, then look for a free unit (see `ORDER`).
        fence(ORDER);
        state.hand_over(&self.queued, &self.free, &mut wakes);
        (state, Ok(Some(ticket)), wakes)
    }

    /// Takes a unit, blocking the calling thread until one is handed over, the pool
    /// closes, or `deadline` passes.
    pub(crate) fn acquire_until(&self, deadline: Instant) -> Result<(), NoRoom> {
        if self.try_acquire().is_ok() {
            return Ok(());
        }
        let (mut state, queued, wakes) = self.queue_up(None);
        let ticket = match queued {
            Ok(Some(ticket)) => ticket,
            Ok(None) => return Ok(()),
            Err(no_room) => return Err(no_room),
        };
        if wakes.threads || !wakes.tasks.is_empty() {
            // The hand-over may have granted older waiters; wake them outside the lock.
            drop(state);
            wakes.run(&self.changed);
            state = self.state.lock();
        }
        let mut timed_out = false;
        loop {
            let Some(at) = state.position(ticket) else {
                // Only `close` removes another's entry.
                return Err(NoRoom::Closed);
            };
            if state.waiters[at].granted {
                state.remove(&self.queued, at);
                return Ok(());
            }
            if timed_out {
                state.remove(&self.queued, at);
                return Err(NoRoom::Full);
            }
            (state, timed_out) = self.changed.wait_until(&self.state, state, deadline);
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
        let Some(mine) = *ticket else {
            if self.try_acquire().is_ok() {
                return Poll::Ready(Ok(()));
            }
            let (mut state, queued, wakes) = self.queue_up(Some(cx.waker().clone()));
            let answer = match queued {
                Ok(Some(mine)) => {
                    let at = state.position(mine).expect("just queued");
                    if state.waiters[at].granted {
                        state.remove(&self.queued, at);
                        Poll::Ready(Ok(()))
                    } else {
                        *ticket = Some(mine);
                        Poll::Pending
                    }
                }
                Ok(None) => Poll::Ready(Ok(())),
                Err(no_room) => Poll::Ready(Err(no_room)),
            };
            drop(state);
            wakes.run(&self.changed);
            return answer;
        };
        let mut state = self.state.lock();
        let Some(at) = state.position(mine) else {
            *ticket = None;
            return Poll::Ready(Err(NoRoom::Closed));
        };
        if state.waiters[at].granted {
            state.remove(&self.queued, at);
            *ticket = None;
            return Poll::Ready(Ok(()));
        }
        let waker = &mut state.waiters[at].waker;
        match waker {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The holder of `ticket` stopped waiting; a unit already handed to it goes to the
    /// next waiter.
    pub(crate) fn forget(&self, ticket: u64) {
        let mut state = self.state.lock();
        let Some(at) = state.position(ticket) else {
            return;
        };
        let waiter = state.remove(&self.queued, at);
        let mut wakes = Wakes::default();
        if waiter.granted {
            self.free.fetch_add(1, ORDER);
            state.hand_over(&self.queued, &self.free, &mut wakes);
        }
        drop(state);
        drop(waiter);
        wakes.run(&self.changed);
    }

    /// Gives a unit back.
    pub(crate) fn release(&self) {
        self.release_many(1);
    }

    /// Gives `units` back at once: one add while nobody waits, one lock when someone does.
    pub(crate) fn release_many(&self, units: usize) {
        if units == 0 {
            return;
        }
        // Add first, look for waiters second: a waiter queueing meanwhile either is seen
        // here or finds the units itself (see the module docs).
        self.free.fetch_add(units, ORDER);
        // ORDERING: added, then look for waiters (see `ORDER`).
        fence(ORDER);
        if self.queued.load(ORDER) == 0 {
            return;
        }
        let mut wakes = Wakes::default();
        self.state
            .lock()
            .hand_over(&self.queued, &self.free, &mut wakes);
        wakes.run(&self.changed);
    }

    /// Refuses every waiter and later acquisition with [`NoRoom::Closed`].
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        self.free.fetch_or(CLOSED, ORDER);
        let waiters = std::mem::take(&mut state.waiters);
        state.ungranted = 0;
        self.queued.store(0, ORDER);
        drop(state);
        self.changed.notify_all();
        for waiter in waiters {
            if let Some(waker) = waiter.waker {
                waker.wake();
            }
        }
    }
}
