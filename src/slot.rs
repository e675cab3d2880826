//! The state machine under [`Completion`](crate::Completion): one result, handed over
//! exactly once from the thread that produces it to whoever reads it.
//!
//! It knows nothing of tokio; it is written against [`crate::sync`] so the loom models
//! explore it.
//!
//! | state      | meaning                                   | leaves by                          |
//! |------------|-------------------------------------------|------------------------------------|
//! | `Pending`  | no result yet; may hold a waker, a `then` callback, watchers, or the mark that the reader is gone | `resolve` → `Ready` (or `Taken` when a callback or nobody receives it) |
//! | `Ready`    | the result is in and unread               | a read → `Taken` (value) or `Failed` (error) |
//! | `Failed`   | an error was read; later reads see it again (errors are sticky) | never |
//! | `Taken`    | the value left the slot                   | never; a further read is misuse    |
//!
//! Invariants: the state leaves `Pending` exactly once, so exactly one `resolve` (value,
//! cancel or shutdown) wins and every other offered result is dropped by the caller that
//! offered it; wakers, watchers and callbacks are taken out of the lock before they run.
//!
//! Watchers (see [`crate::notify`]) are the non-consuming notification the multi-waits
//! use: `watch` registers one under the lock only while the state is `Pending`, and
//! `resolve` takes them all with the state, so a watcher is either told exactly once or
//! told at registration that the slot has resolved already (no lost wake-up; loom:
//! `loom-tests/watch.rs`). Watching takes nothing: the result stays for a read.

use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::error::Error;
use crate::notify::Watcher;
use crate::sync::{AtomicBool, Condvar, Mutex, MutexGuard};

/// A `then` callback: receives the result on the resolving thread.
pub(crate) type Callback<T> = Box<dyn FnOnce(Result<T, Error>) + Send>;

enum State<T> {
    Pending {
        waker: Option<Waker>,
        /// A `then` callback and the multi-waits to tell: rare, so kept out of line, and
        /// a pending slot stays small (it is part of every pending job).
        listeners: Option<Box<Listeners<T>>>,
        /// The reader dropped its handle: nobody will read the result.
        detached: bool,
    },
    /// An error is kept boxed: errors are rare, and a result slot the size of the
    /// largest error would make every job larger.
    Ready(Result<T, Box<Error>>),
    Failed(Box<Error>),
    Taken,
}

/// Who else hears of a pending slot's result besides its waker.
struct Listeners<T> {
    callback: Option<Callback<T>>,
    /// Multi-waits and stream readers to tell when the result comes in.
    watchers: Watchers,
}

impl<T> State<T> {
    /// The listeners of a pending state, made on first use.
    fn listeners(listeners: &mut Option<Box<Listeners<T>>>) -> &mut Listeners<T> {
        listeners.get_or_insert_with(|| {
            Box::new(Listeners {
                callback: None,
                watchers: Watchers::None,
            })
        })
    }
}

/// The watchers of a pending slot: almost always none or one (one multi-wait at a
/// time), so one needs no allocation.
#[derive(Default)]
enum Watchers {
    #[default]
    None,
    One(Watcher),
    Many(Vec<Watcher>),
}

impl Watchers {
    fn add(&mut self, watcher: Watcher) {
        *self = match std::mem::take(self) {
            Watchers::None => Watchers::One(watcher),
            Watchers::One(first) => Watchers::Many(vec![first, watcher]),
            Watchers::Many(mut all) => {
                all.push(watcher);
                Watchers::Many(all)
            }
        };
    }

    fn remove(&mut self, watcher: &Watcher) {
        match self {
            Watchers::One(one) if one.same(watcher) => *self = Watchers::None,
            Watchers::Many(all) => all.retain(|one| !one.same(watcher)),
            _ => {}
        }
    }

    fn tell(self) {
        match self {
            Watchers::None => {}
            Watchers::One(one) => one.notify.ready(one.index),
            Watchers::Many(all) => {
                for one in all {
                    one.notify.ready(one.index);
                }
            }
        }
    }
}

/// What a read found.
pub(crate) enum Outcome<T> {
    /// No result yet (only from non-blocking or timed reads).
    Pending,
    /// The result; an error is returned again to later reads.
    Ready(Result<T, Error>),
    /// The value was already taken by an earlier read.
    AlreadyTaken,
}

/// What `resolve` did with the offered result.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)] // `Resolved::AlreadyResolved` reads as intended.
pub(crate) enum Resolved {
    /// The slot was resolved before; the offered result was dropped.
    AlreadyResolved,
    /// Stored for the reader, or handed to its `then` callback.
    Delivered,
    /// The reader is gone, so the result was dropped; an error is returned so the caller
    /// can report it instead of losing it.
    Unread(Option<Error>),
}

pub(crate) struct Slot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    /// Set, under the lock, when `state` leaves `Pending`; never cleared. Lets
    /// `is_resolved` (polled before every poll of a job, and spun on by waiters) answer
    /// without the lock.
    done: AtomicBool,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Slot<T> {
        Slot {
            state: Mutex::new(State::Pending {
                waker: None,
                listeners: None,
                detached: false,
            }),
            ready: Condvar::new(),
            done: AtomicBool::new(false),
        }
    }

    /// A slot that already holds `result`.
    pub(crate) fn resolved(result: Result<T, Error>) -> Slot<T> {
        Slot {
            state: Mutex::new(State::Ready(result.map_err(Box::new))),
            ready: Condvar::new(),
            done: AtomicBool::new(true),
        }
    }

    /// Offers the result; the first offer wins.
    pub(crate) fn resolve(&self, result: Result<T, Error>) -> Resolved {
        match self.offer(result) {
            Ok(resolved) => resolved,
            Err(refused) => {
                drop(refused);
                Resolved::AlreadyResolved
            }
        }
    }

    /// Offers the result, handing it back (`Err`) when the slot was resolved already, so
    /// that the caller drops it where a panicking destructor cannot skip its bookkeeping.
    pub(crate) fn offer(&self, result: Result<T, Error>) -> Result<Resolved, Result<T, Error>> {
        let mut state = self.state.lock();
        if !matches!(*state, State::Pending { .. }) {
            drop(state);
            return Err(result);
        }
        let State::Pending {
            waker,
            listeners,
            detached,
        } = std::mem::replace(&mut *state, State::Taken)
        else {
            unreachable!("checked above")
        };
        let (callback, watchers) = match listeners {
            Some(listeners) => (listeners.callback, listeners.watchers),
            None => (None, Watchers::None),
        };
        // ORDERING: Release, under the lock, pairs with the Acquire in `is_resolved`: a
        // thread that sees `done` also sees the state leave `Pending` (and any read of
        // the result takes the lock anyway).
        self.done.store(true, Ordering::Release);
        if let Some(callback) = callback {
            drop(state);
            callback(result);
            watchers.tell();
            return Ok(Resolved::Delivered);
        }
        if detached {
            drop(state);
            watchers.tell();
            return Ok(Resolved::Unread(result.err()));
        }
        *state = State::Ready(result.map_err(Box::new));
        drop(state);
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
        // Told after the result is stored: a watcher that wakes finds it there.
        watchers.tell();
        Ok(Resolved::Delivered)
    }

    pub(crate) fn is_resolved(&self) -> bool {
        // ORDERING: see `resolve`.
        self.done.load(Ordering::Acquire)
    }

    /// Reads without blocking.
    pub(crate) fn try_take(&self) -> Outcome<T> {
        take(&mut self.state.lock())
    }

    /// Blocks until the result is in.
    pub(crate) fn wait(&self) -> Outcome<T> {
        let mut state = self.state.lock();
        loop {
            match take(&mut state) {
                Outcome::Pending => state = self.ready.wait(state),
                outcome => return outcome,
            }
        }
    }

    /// Blocks until the result is in or `deadline` passes (then `Outcome::Pending`).
    pub(crate) fn wait_until(&self, deadline: Instant) -> Outcome<T> {
        let mut state = self.state.lock();
        let mut timed_out = false;
        loop {
            match take(&mut state) {
                Outcome::Pending if timed_out => return Outcome::Pending,
                Outcome::Pending => {
                    (state, timed_out) = self.ready.wait_until(&self.state, state, deadline);
                }
                outcome => return outcome,
            }
        }
    }

    /// Reads, or registers `cx`'s waker to be woken when the result comes in.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Outcome<T>> {
        let mut state = self.state.lock();
        match take(&mut state) {
            Outcome::Pending => {
                if let State::Pending { waker, .. } = &mut *state {
                    match waker {
                        Some(old) if old.will_wake(cx.waker()) => {}
                        _ => *waker = Some(cx.waker().clone()),
                    }
                }
                Poll::Pending
            }
            outcome => Poll::Ready(outcome),
        }
    }

    /// Registers `watcher` to be told when the result comes in, without taking it.
    /// `false` if it is in already (or was taken): then nobody will tell the watcher, and
    /// the caller counts the slot as resolved itself.
    pub(crate) fn watch(&self, watcher: &Watcher) -> bool {
        let mut state = self.state.lock();
        match &mut *state {
            State::Pending { listeners, .. } => {
                State::listeners(listeners).watchers.add(watcher.clone());
                true
            }
            _ => false,
        }
    }

    /// Takes `watcher` off again (a multi-wait that returned); nothing if it was told.
    pub(crate) fn unwatch(&self, watcher: &Watcher) {
        let mut state = self.state.lock();
        if let State::Pending {
            listeners: Some(listeners),
            ..
        } = &mut *state
        {
            listeners.watchers.remove(watcher);
        }
    }

    /// Has `callback` receive the result: later on the resolving thread, or now on this
    /// one if it is already in. Gives the callback back if the value was already taken.
    pub(crate) fn then(&self, callback: Callback<T>) -> Result<(), Callback<T>> {
        let mut state = self.state.lock();
        if let State::Pending { listeners, .. } = &mut *state {
            State::listeners(listeners).callback = Some(callback);
            return Ok(());
        }
        match take(&mut state) {
            Outcome::Ready(result) => {
                drop(state);
                callback(result);
                Ok(())
            }
            Outcome::AlreadyTaken | Outcome::Pending => Err(callback),
        }
    }

    /// The reader is gone. A value that was in the slot and never read is dropped here,
    /// on the reader's thread, as if it had been read (not later, by whoever holds the
    /// slot last: a waker, the loop). Returns an error that was never read, so the caller
    /// can report it.
    pub(crate) fn detach(&self) -> Option<Error> {
        let mut state = self.state.lock();
        match &mut *state {
            State::Pending {
                detached,
                waker,
                listeners,
            } => {
                *detached = true;
                let waker = waker.take();
                // Nobody can be waiting through a handle that is gone.
                let watchers = listeners
                    .as_mut()
                    .map(|listeners| std::mem::take(&mut listeners.watchers));
                drop(state);
                drop(waker);
                drop(watchers);
                None
            }
            State::Ready(_) => match std::mem::replace(&mut *state, State::Taken) {
                State::Ready(Err(error)) => Some(*error),
                unread => {
                    drop(state);
                    drop(unread);
                    None
                }
            },
            _ => None,
        }
    }
}

fn take<T>(state: &mut MutexGuard<'_, State<T>>) -> Outcome<T> {
    match &**state {
        State::Pending { .. } => Outcome::Pending,
        State::Failed(error) => Outcome::Ready(Err((**error).clone())),
        State::Taken => Outcome::AlreadyTaken,
        State::Ready(_) => match std::mem::replace(&mut **state, State::Taken) {
            State::Ready(Ok(value)) => Outcome::Ready(Ok(value)),
            State::Ready(Err(error)) => {
                let read = (*error).clone();
                **state = State::Failed(error);
                Outcome::Ready(Err(read))
            }
            _ => unreachable!("checked above"),
        },
    }
}
