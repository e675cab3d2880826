//! The loop thread's store of bound values: each `LoopBound` handle names a slot here,
//! and only the loop thread ever touches what a slot holds, so the values may be `!Send`.
//! Handles dropped on other threads send their slot back through [`Releases`], drained
//! by a task on the loop; the loop's teardown drops whatever is left, inside the runtime.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use crate::sync::Mutex;
use crate::util::log_panic;

/// A value's async close, as the store keeps it (the value is not `Send`).
pub(super) type CloseFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Starts the close of the value in a slot (monomorphised per value type at bind).
pub(super) type CloseFn = fn(Rc<dyn Any>) -> CloseFuture;

/// What one slot holds.
pub(super) struct Entry {
    /// The value's `LoopCell<T>`.
    pub(super) cell: Rc<dyn Any>,
    /// Its async close, for values bound with one.
    pub(super) close: Option<CloseFn>,
    /// Binding order: the teardown drops the newest first.
    seq: u64,
}

/// One loop thread's bound values.
pub(crate) struct Store {
    /// The bridge whose loop thread this is.
    pub(super) bridge: u64,
    entries: RefCell<Vec<Option<Entry>>>,
    free: RefCell<Vec<usize>>,
    next_seq: Cell<u64>,
    /// Slots whose last handle was dropped off the loop.
    pub(super) releases: Arc<Releases>,
}

thread_local! {
    static STORE: RefCell<Option<Rc<Store>>> = const { RefCell::new(None) };
}

impl Store {
    /// Gives the calling thread, the loop thread of `bridge`, its store.
    pub(crate) fn install(bridge: u64) -> Rc<Store> {
        let store = Rc::new(Store {
            bridge,
            entries: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            next_seq: Cell::new(0),
            releases: Arc::new(Releases::default()),
        });
        STORE.with(|current| *current.borrow_mut() = Some(store.clone()));
        store
    }

    /// The calling thread's store: `None` off a loop thread, and once its teardown ran.
    pub(super) fn current() -> Option<Rc<Store>> {
        STORE.with(|current| current.borrow().clone())
    }

    /// Puts a value in a free slot and returns the slot.
    pub(super) fn insert(&self, cell: Rc<dyn Any>, close: Option<CloseFn>) -> usize {
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        let entry = Some(Entry { cell, close, seq });
        let mut entries = self.entries.borrow_mut();
        match self.free.borrow_mut().pop() {
            Some(slot) => {
                entries[slot] = entry;
                slot
            }
            None => {
                entries.push(entry);
                entries.len() - 1
            }
        }
    }

    /// The value in `slot` (a new reference: no borrow of the store outlives the call).
    pub(super) fn get(&self, slot: usize) -> Option<Rc<dyn Any>> {
        let entries = self.entries.borrow();
        Some(entries.get(slot)?.as_ref()?.cell.clone())
    }

    /// Runs `f` on the value in `slot` while the store is borrowed (no reference counted,
    /// for `with_cx`'s speed). A handle dropped inside `f` finds the store borrowed and
    /// defers its release to the drain task.
    pub(super) fn with_cell<R>(&self, slot: usize, f: impl FnOnce(Option<&dyn Any>) -> R) -> R {
        let entries = self.entries.borrow();
        let cell = entries.get(slot).and_then(Option::as_ref);
        f(cell.map(|entry| &*entry.cell))
    }

    /// Takes what `slot` holds; the caller drops it, after the store's borrow ended (its
    /// destructor may bind or release other values). `None` also when the store is
    /// borrowed (a handle dropped inside `with_cx`): the slot is released through the
    /// drain task then.
    pub(super) fn remove(&self, slot: usize) -> Option<Entry> {
        let Ok(mut entries) = self.entries.try_borrow_mut() else {
            self.releases.release(slot);
            return None;
        };
        let entry = entries.get_mut(slot)?.take();
        drop(entries);
        if entry.is_some() {
            self.free.borrow_mut().push(slot);
        }
        entry
    }

    /// Drops the values whose slots were released off the loop, and starts the closes
    /// that waited for the loop.
    fn drain_releases(&self) {
        for slot in self.releases.take() {
            let entry = self.remove(slot);
            log_panic("dropping a value bound to the loop", None, || drop(entry));
        }
        for start in self.releases.take_deferred() {
            log_panic("starting a bound value's deferred close", None, start);
        }
    }
}

/// The task on the loop that drops what handles released on other threads. Not a job: it
/// serves until the loop stops, and a shutdown does not wait for it.
pub(crate) async fn drain_releases(store: Rc<Store>) {
    loop {
        store.releases.wake.notified().await;
        store.drain_releases();
    }
}

/// The loop's teardown, inside its runtime and after every job's future was dropped:
/// drops every value still bound, newest first, and refuses later releases.
pub(crate) fn teardown() {
    let Some(store) = STORE.with(|current| current.borrow_mut().take()) else {
        return;
    };
    store.releases.close();
    let mut left: Vec<Entry> = store.entries.borrow_mut().drain(..).flatten().collect();
    left.sort_by_key(|entry| std::cmp::Reverse(entry.seq));
    for entry in left {
        log_panic("dropping a value bound to the loop", None, || drop(entry));
    }
}

/// The slots released on other threads, on their way to the loop.
pub(crate) struct Releases {
    queue: Mutex<ReleaseQueue>,
    wake: tokio::sync::Notify,
}

/// Work a handle hands to the loop thread, run there by the drain task (it starts a
/// task on the loop).
pub(crate) type Deferred = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct ReleaseQueue {
    slots: Vec<usize>,
    deferred: Vec<Deferred>,
    /// The loop tore its store down: every value is dropped already.
    closed: bool,
}

impl Default for Releases {
    fn default() -> Releases {
        Releases {
            queue: Mutex::new(ReleaseQueue::default()),
            wake: tokio::sync::Notify::new(),
        }
    }
}

impl Releases {
    /// Sends `slot` to the loop to be dropped there; `false` if the loop's teardown
    /// already dropped it.
    pub(crate) fn release(&self, slot: usize) -> bool {
        let mut queue = self.queue.lock();
        if queue.closed {
            return false;
        }
        queue.slots.push(slot);
        drop(queue);
        // A permit is stored if the drain task is busy: no wake-up is lost.
        self.wake.notify_one();
        true
    }

    /// Sends `start` to the loop thread, to be run there; `false` (and `start` dropped
    /// unrun) once the loop's teardown ran.
    pub(crate) fn defer(&self, start: Deferred) -> bool {
        let mut queue = self.queue.lock();
        if queue.closed {
            return false;
        }
        queue.deferred.push(start);
        drop(queue);
        self.wake.notify_one();
        true
    }

    /// Takes the released slots (the loop thread's side).
    pub(crate) fn take(&self) -> Vec<usize> {
        std::mem::take(&mut self.queue.lock().slots)
    }

    /// Takes what was deferred to the loop thread (its side).
    pub(crate) fn take_deferred(&self) -> Vec<Deferred> {
        std::mem::take(&mut self.queue.lock().deferred)
    }

    /// Refuses later releases, and forgets those queued: the teardown drops every value
    /// (and what was deferred, unrun).
    pub(crate) fn close(&self) -> Vec<usize> {
        let mut queue = self.queue.lock();
        queue.closed = true;
        let deferred = std::mem::take(&mut queue.deferred);
        let slots = std::mem::take(&mut queue.slots);
        drop(queue);
        drop(deferred);
        slots
    }
}
