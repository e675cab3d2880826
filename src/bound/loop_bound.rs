//! [`LoopBound<T>`]: a `Send + Sync` handle to a value that lives on a bridge's loop
//! thread, built there by [`Handle::bind`] and dropped there, inside the runtime,
//! whichever thread drops the last handle.

use std::any::Any;
use std::cell::{Ref, RefCell, RefMut};
use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::handle::Handle;
use crate::job::Claim;
use crate::loop_thread;

use super::close::{close_fn, close_when_room, submit_close, AsyncClose};
use super::context::LoopContext;
use super::store::{CloseFn, Releases, Store};

/// A value on the loop, with what serializes the jobs that reach it.
pub(super) struct LoopCell<T> {
    pub(super) value: RefCell<T>,
    /// One job at a time: `with` and `with_async` jobs (and a close) take their turn.
    pub(super) turn: tokio::sync::Semaphore,
    /// The `with_async` job holding the value across its awaits, for the message of a
    /// `with_cx` that finds it borrowed.
    holder: RefCell<Option<Site>>,
}

impl<T> LoopCell<T> {
    fn new(value: T) -> LoopCell<T> {
        LoopCell {
            value: RefCell::new(value),
            turn: tokio::sync::Semaphore::new(1),
            holder: RefCell::new(None),
        }
    }
}

/// Clears a `LoopCell`'s holder when its `with_async` job ends (or is dropped).
struct Holding<'a>(&'a RefCell<Option<Site>>);

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.0.borrow_mut().take();
    }
}

/// What every clone of one `LoopBound` shares; its drop releases the value.
struct Binding {
    handle: Handle,
    bridge: u64,
    slot: usize,
    releases: Arc<Releases>,
    /// The value's entry among the loop's closes, for a value bound with a close.
    close_key: Option<usize>,
    /// Where the value was bound.
    site: Site,
    /// Its close's site: the bind site, named after the value's type.
    close_site: Site,
    /// `false` once someone else frees the slot (an explicit close).
    owns_slot: bool,
}

/// A handle to a value that lives on a bridge's loop thread: built there by
/// [`Handle::bind`] (or [`Handle::bind_closing`]), reached from any thread through
/// [`with`](LoopBound::with) and [`with_async`](LoopBound::with_async), and synchronously
/// on the loop with a [`LoopContext`] ([`with_cx`](LoopBound::with_cx)).
///
/// The value itself never leaves the loop thread, so it may be `!Send` (an `Rc`, a
/// tokio `LocalSet` resource) or need its runtime to drop (a tokio `TcpStream`, an
/// `mpsc::Receiver`, an `Interval`). The handle is `Clone + Send + Sync`; dropping the
/// last one drops the value on the loop thread, inside its runtime, whichever thread
/// drops it (a plain thread, the loop, a task of another tokio runtime): a drop off the
/// loop never blocks, it sends the value's slot to the loop.
///
/// Jobs that reach the value take turns, first come first served: a
/// [`with_async`](LoopBound::with_async) job holds it across its awaits and the next job
/// waits; [`with_cx`](LoopBound::with_cx), synchronous, is a plain borrow that panics if
/// a `with_async` job holds the value across an await at that moment.
///
/// When the bridge shuts down, the values still bound are dropped on the loop thread
/// inside its runtime, after the last job (newest first), before the runtime goes away;
/// values bound with a close are closed first. Dropping a handle afterwards does
/// nothing more.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let bridge = loopbridge::Bridge::new()?;
/// // An `Rc` is not `Send`: it is built on the loop and stays there.
/// let counter = bridge.handle().bind(|| Rc::new(std::cell::Cell::new(0))).wait()?;
/// let worker = {
///     let counter = counter.clone();
///     std::thread::spawn(move || counter.with(|c| c.set(c.get() + 1)).wait())
/// };
/// worker.join().unwrap()?;
/// assert_eq!(counter.with(|c| c.get()).wait()?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LoopBound<T> {
    binding: Arc<Binding>,
    /// `fn() -> T`: the handle is `Send + Sync` whatever `T` is; it never holds a `T`.
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for LoopBound<T> {
    fn clone(&self) -> LoopBound<T> {
        LoopBound {
            binding: self.binding.clone(),
            _value: PhantomData,
        }
    }
}

impl Handle {
    /// Builds a value on the loop thread with `make` and returns a [`LoopBound`] handle
    /// to it. `T` may be `!Send`; `make` runs as a job on the loop (a panic in it
    /// resolves the completion with [`Error::Panicked`]).
    ///
    /// # Errors
    ///
    /// In the completion: [`Error::Closed`] if the bridge is shut down or shutting down
    /// (`make` never runs), [`Error::QueueFull`] under
    /// [`BridgeBuilder::max_pending`](crate::BridgeBuilder::max_pending).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// // A tokio timer needs the loop's runtime to be made and to be dropped.
    /// let ticks = handle
    ///     .bind(|| tokio::time::interval(std::time::Duration::from_millis(1)))
    ///     .wait()?;
    /// let first = ticks.with_async(async |interval: &mut tokio::time::Interval| {
    ///     interval.tick().await;
    ///     interval.tick().await;
    ///     "ticked twice"
    /// });
    /// assert_eq!(first.wait()?, "ticked twice");
    /// drop(ticks); // dropped on the loop, inside its runtime
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn bind<M, T>(&self, make: M) -> Completion<LoopBound<T>>
    where
        M: FnOnce() -> T + Send + 'static,
        T: 'static,
    {
        bind_at::<M, T>(self, Site::caller(), make, None)
    }

    /// [`bind`](Handle::bind) for a value with an async close ([`AsyncClose`]): when its
    /// last handle is dropped, its close runs on the loop as a job (named
    /// `close <type>` at this call's site) before the value is gone;
    /// [`LoopBound::close`] runs it and waits for it. A bridge's shutdown waits for
    /// closes like for every job, and closes the values still bound once the last job
    /// ended; a close still running at the shutdown's deadline is cut off and named in
    /// [`ShutdownReport::unclosed`](crate::ShutdownReport::unclosed).
    ///
    /// # Errors
    ///
    /// As [`bind`](Handle::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// struct Session(Arc<AtomicBool>);
    ///
    /// impl loopbridge::AsyncClose for Session {
    ///     async fn close(self) {
    ///         tokio::time::sleep(Duration::from_millis(1)).await; // say goodbye
    ///         self.0.store(true, Ordering::SeqCst);
    ///     }
    /// }
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let said_goodbye = Arc::new(AtomicBool::new(false));
    /// let flag = said_goodbye.clone();
    /// let session = bridge.handle().bind_closing(move || Session(flag)).wait()?;
    /// drop(session); // its close runs as a job; the shutdown waits for it
    /// let report = bridge.shutdown(Duration::from_secs(30));
    /// assert!(said_goodbye.load(Ordering::SeqCst));
    /// assert!(report.is_clean(), "{report}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn bind_closing<M, T>(&self, make: M) -> Completion<LoopBound<T>>
    where
        M: FnOnce() -> T + Send + 'static,
        T: AsyncClose,
    {
        bind_at::<M, T>(self, Site::caller(), make, Some(close_fn::<T>()))
    }
}

fn bind_at<M, T>(
    handle: &Handle,
    site: Site,
    make: M,
    close: Option<CloseFn>,
) -> Completion<LoopBound<T>>
where
    M: FnOnce() -> T + Send + 'static,
    T: 'static,
{
    // The value outlives the scope it was bound in: its handle is in none.
    let own = handle.unscoped();
    let bind_site = site.clone();
    handle.submit_local_at(site, move || {
        let store = Store::current().expect("a job runs on its loop thread");
        let cell: Rc<dyn Any> = Rc::new(LoopCell::new(make()));
        let slot = store.insert(cell, close);
        let close_site = Site::new(
            bind_site.location(),
            Some(format!("close {}", std::any::type_name::<T>()).into()),
        );
        let close_key = close.and_then(|_| {
            let key = own.state().closes.add(close_site.clone(), slot);
            if key.is_none() {
                tracing::warn!(
                    target: "loopbridge::bound_close",
                    site = %bind_site.location(),
                    name = close_site.name(),
                    scope = bind_site.scope(),
                    "value bound at {bind_site} after the shutdown closed the others: it is \
                     dropped without its close"
                );
            }
            key
        });
        let binding = Binding {
            bridge: store.bridge,
            releases: store.releases.clone(),
            handle: own,
            slot,
            close_key,
            site: bind_site,
            close_site,
            owns_slot: true,
        };
        std::future::ready(LoopBound {
            binding: Arc::new(binding),
            _value: PhantomData,
        })
    })
}

impl<T: 'static> LoopBound<T> {
    /// Runs `f` on the value, on the loop thread, from any thread; its result comes back
    /// as a [`Completion`]. Waits its turn behind a [`with_async`](LoopBound::with_async)
    /// job holding the value. A panic in `f` resolves the completion with
    /// [`Error::Panicked`]; the value stays bound.
    ///
    /// # Errors
    ///
    /// In the completion: [`Error::Closed`] once the bridge shuts down.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let names = bridge.handle().bind(Vec::<String>::new).wait()?;
    /// names.with(|names| names.push("ada".to_owned())).wait()?;
    /// assert_eq!(names.with(|names| names.len()).wait()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn with<F, R>(&self, f: F) -> Completion<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let binding = self.binding.clone();
        let site = Site::caller();
        self.binding.handle.submit_local_at(site, move || {
            let cell = cell_of::<T>(&binding);
            async move {
                let result = {
                    let _turn = match cell.turn.try_acquire() {
                        Ok(turn) => turn,
                        Err(_) => cell.turn.acquire().await.expect("the turn is never closed"),
                    };
                    let mut value = cell.value.borrow_mut();
                    f(&mut value)
                };
                // The value's own reference first: the handle's drop may release it.
                drop(cell);
                drop(binding);
                result
            }
        })
    }

    /// Runs the async closure `f` on the value, on the loop thread: the future it returns
    /// holds `&mut T` across its awaits (no `unsafe`, no `RefCell` of yours), and the
    /// result comes back as a [`Completion`].
    ///
    /// Serialized: while the future runs, other [`with`](LoopBound::with) and
    /// `with_async` jobs on this value wait their turn (first come, first served); a
    /// [`with_cx`](LoopBound::with_cx) meanwhile panics, naming this job. Cancelling the
    /// completion drops the future at its next await and frees the value.
    ///
    /// # Errors
    ///
    /// In the completion: [`Error::Closed`] once the bridge shuts down,
    /// [`Error::Panicked`] if the future panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let log = bridge.handle().bind(Vec::<u32>::new).wait()?;
    /// let first = log.with_async(async |log: &mut Vec<u32>| {
    ///     log.push(1);
    ///     tokio::task::yield_now().await; // the borrow lives on across the await
    ///     log.push(2);
    /// });
    /// let second = log.with(|log| log.push(3)); // waits for its turn
    /// first.wait()?;
    /// second.wait()?;
    /// assert_eq!(log.with(|log| log.clone()).wait()?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    // The value's borrow is held across the user's awaits on purpose: the turn keeps
    // other jobs out, and a `with_cx` meanwhile fails naming this job.
    #[allow(clippy::await_holding_refcell_ref)]
    pub fn with_async<F, R>(&self, f: F) -> Completion<R>
    where
        F: AsyncFnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let binding = self.binding.clone();
        let site = Site::caller();
        let holder = site.clone();
        self.binding.handle.submit_local_at(site, move || {
            let cell = cell_of::<T>(&binding);
            async move {
                let result = {
                    let _turn = cell.turn.acquire().await.expect("the turn is never closed");
                    *cell.holder.borrow_mut() = Some(holder);
                    let _holding = Holding(&cell.holder);
                    let mut value = cell.value.borrow_mut();
                    f(&mut value).await
                };
                drop(cell);
                drop(binding);
                result
            }
        })
    }

    /// Runs `f` on the value now, synchronously, on the loop thread: no job, no round
    /// trip, no runtime check beyond comparing bridges. The [`LoopContext`] proves the
    /// caller is on the loop thread; code that has none cannot call this.
    ///
    /// # Panics
    ///
    /// - if `cx` belongs to another bridge's loop than the value (a cross-bridge
    ///   mistake: the message names both loop threads and the call site);
    /// - if the value is borrowed already: `with_cx` called again from inside `f`, or a
    ///   [`with_async`](LoopBound::with_async) job holds it across an await (the message
    ///   names that job's site);
    /// - from a destructor run by the bridge's teardown, if the value was dropped already.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let hits = handle.bind(|| 0_u64).wait()?;
    /// let on_loop = hits.clone();
    /// let total = handle
    ///     .run_callback_cx(move |cx| {
    ///         for _ in 0..10 {
    ///             on_loop.with_cx(cx, |hits| *hits += 1);
    ///         }
    ///         on_loop.with_cx(cx, |hits| *hits)
    ///     })
    ///     .wait()?;
    /// assert_eq!(total, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn with_cx<R>(&self, cx: &LoopContext, f: impl FnOnce(&mut T) -> R) -> R {
        let binding = &*self.binding;
        if cx.bridge() != binding.bridge {
            cross_bridge(binding, cx);
        }
        let caller = Location::caller();
        cx.store().with_cell(binding.slot, |cell| {
            let Some(cell) = cell else {
                gone(binding, caller);
            };
            let Some(cell) = cell.downcast_ref::<LoopCell<T>>() else {
                unreachable!("a slot holds the type it was bound with");
            };
            let Ok(mut value) = cell.value.try_borrow_mut() else {
                borrowed(binding, &cell.holder, caller);
            };
            f(&mut value)
        })
    }

    /// A reference to the value for the rest of `cx`'s borrow, on the loop thread: look
    /// the value up once, then [`borrow`](LoopRef::borrow) it as often as needed at the
    /// cost of a `RefCell` borrow (a loop of reads inside one callback). It cannot
    /// outlive the borrow of `cx`, so it cannot be stashed in a task or sent away.
    ///
    /// # Panics
    ///
    /// As [`with_cx`](LoopBound::with_cx): `cx` of another bridge, or the value dropped
    /// by the teardown already.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let handle = bridge.handle();
    /// let totals = handle.bind(|| vec![1_u64, 2, 3]).wait()?;
    /// let sum = handle
    ///     .run_callback_cx(move |cx| {
    ///         let totals = totals.get(cx);
    ///         totals.borrow_mut().push(4);
    ///         let sum: u64 = totals.borrow().iter().sum();
    ///         sum
    ///     })
    ///     .wait()?;
    /// assert_eq!(sum, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn get<'cx>(&'cx self, cx: &'cx LoopContext) -> LoopRef<'cx, T> {
        let binding = &*self.binding;
        if cx.bridge() != binding.bridge {
            cross_bridge(binding, cx);
        }
        let Some(cell) = cx.store().get(binding.slot) else {
            gone(binding, Location::caller());
        };
        LoopRef {
            cell: downcast(cell),
            binding,
            _cx: PhantomData,
        }
    }

    /// Gives this handle up and runs the value's close now, waiting at most `timeout`
    /// for it to end: [`AsyncClose::close`] for a value bound with
    /// [`bind_closing`](Handle::bind_closing), a drop on the loop for one bound with
    /// [`bind`](Handle::bind). Past `timeout` the close keeps running as a job (a
    /// shutdown bounds it).
    ///
    /// # Errors
    ///
    /// - [`Error::StillShared`] if other handles to the value are alive: this one is
    ///   dropped, and the close runs when the last one is;
    /// - [`Error::Timeout`] if the close did not end within `timeout`;
    /// - [`Error::Closed`] if the bridge is shutting down (its shutdown closes the value);
    /// - [`Error::BlockingOnLoop`] on a loop thread, where waiting would stall the loop
    ///   (the close still runs, as when the handle is dropped);
    /// - [`Error::Panicked`] if the close panicked.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread for at most about `timeout`; on a loop thread it does not
    /// wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// struct Conn(std::sync::mpsc::Sender<&'static str>);
    /// impl loopbridge::AsyncClose for Conn {
    ///     async fn close(self) {
    ///         tokio::task::yield_now().await;
    ///         self.0.send("closed").unwrap();
    ///     }
    /// }
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let conn = bridge.handle().bind_closing(move || Conn(tx)).wait()?;
    /// conn.close(Duration::from_secs(30))?;
    /// assert_eq!(rx.try_recv()?, "closed"); // done by the time `close` returned
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn close(self, timeout: Duration) -> Result<(), Error> {
        let site = Site::caller();
        let mut binding = match Arc::try_unwrap(self.binding) {
            Ok(binding) => binding,
            Err(shared) => {
                let others = Arc::strong_count(&shared) - 1;
                drop(shared);
                return Err(Error::StillShared { others, site });
            }
        };
        let mut completion = match binding.close_key.take() {
            Some(key) => {
                let mut submitted = None;
                let claim = binding.handle.state().closes.claim(key, |slot| {
                    submitted = Some(submit_close(
                        &binding.handle,
                        key,
                        slot,
                        binding.close_site.clone(),
                        false,
                    ));
                    matches!(submitted, Some(Ok(_)))
                });
                match (claim, submitted) {
                    (Claim::Submitted, Some(Ok(completion))) => {
                        // The close job takes the value out of its slot.
                        forget_slot(binding);
                        completion
                    }
                    (Claim::Refused, Some(Err(refused))) => {
                        // Left bound for the shutdown's sweep; this handle goes quietly.
                        forget_slot(binding);
                        return Err(refused);
                    }
                    _ => {
                        forget_slot(binding);
                        return Err(Error::Closed { site });
                    }
                }
            }
            None => {
                let slot = binding.slot;
                // The binding's drop would release the slot too: this job does it and
                // says when it is done.
                let handle = binding.handle.clone();
                forget_slot(binding);
                handle.submit_local_at(site.clone(), move || {
                    let entry = Store::current().and_then(|store| store.remove(slot));
                    drop(entry);
                    std::future::ready(())
                })
            }
        };
        if loop_thread::is_any_loop_thread() {
            return Err(Error::BlockingOnLoop { site });
        }
        match completion.wait_timeout(timeout) {
            Err(Error::Timeout {
                submitted,
                cancelled,
                ..
            }) => Err(Error::Timeout {
                site,
                submitted,
                cancelled,
            }),
            other => other,
        }
    }

    /// Where the value was bound.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let bound = bridge.handle().bind(|| 1).wait()?;
    /// assert_eq!(bound.site().location().file(), file!());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn site(&self) -> &Site {
        &self.binding.site
    }
}

/// A binding whose slot someone else frees: dropping it releases nothing.
fn forget_slot(mut binding: Binding) {
    binding.owns_slot = false;
}

impl Drop for Binding {
    fn drop(&mut self) {
        if !self.owns_slot {
            return;
        }
        if let Some(key) = self.close_key {
            let mut no_room = false;
            let claim = self.handle.state().closes.claim(key, |slot| {
                match submit_close(&self.handle, key, slot, self.close_site.clone(), false) {
                    Ok(_) => true,
                    Err(refused) => {
                        no_room = refused.is_queue_full();
                        false
                    }
                }
            });
            if claim == Claim::Refused && no_room {
                // The loop is full: a task there waits for a place and closes the value
                // then; if none comes before a shutdown, its last sweep closes it.
                let (handle, site) = (self.handle.clone(), self.close_site.clone());
                let deferred = self.releases.defer(Box::new(move || {
                    tokio::task::spawn_local(close_when_room(handle, key, site));
                }));
                tracing::debug!(
                    target: "loopbridge::bound_close",
                    site = %self.close_site.location(),
                    name = self.close_site.name(),
                    scope = self.close_site.scope(),
                    deferred,
                    "no room on the loop for the close of the value bound at {}: it waits \
                     for a place",
                    self.close_site
                );
            }
            // Submitted, waiting for room, refused (the shutdown's sweep closes it) or
            // taken: not dropped here.
            return;
        }
        match Store::current().filter(|store| store.bridge == self.bridge) {
            // On its own loop: dropped now (outside the store's borrow).
            Some(store) => drop(store.remove(self.slot)),
            // Dropped by the loop's teardown already when the release is refused.
            None => {
                self.releases.release(self.slot);
            }
        }
    }
}

/// The value a live binding names, on its loop thread.
fn cell_of<T: 'static>(binding: &Binding) -> Rc<LoopCell<T>> {
    let store = Store::current().expect("a job runs on its loop thread");
    let cell = store
        .get(binding.slot)
        .expect("a value stays bound while a handle to it is alive");
    downcast(cell)
}

fn downcast<T: 'static>(cell: Rc<dyn Any>) -> Rc<LoopCell<T>> {
    match cell.downcast::<LoopCell<T>>() {
        Ok(cell) => cell,
        Err(_) => unreachable!("a slot holds the type it was bound with"),
    }
}

#[track_caller]
fn cross_bridge(binding: &Binding, _cx: &LoopContext) -> ! {
    panic!(
        "LoopBound bound at {} lives on the loop thread '{}', but with_cx at {} was given \
         the LoopContext of another bridge's loop (thread '{}')",
        binding.site,
        binding.handle.state().thread_name,
        Location::caller(),
        loop_thread::thread_name(),
    );
}

fn gone(binding: &Binding, caller: &Location<'_>) -> ! {
    panic!(
        "LoopBound bound at {} used at {caller} after the bridge's teardown dropped it",
        binding.site,
    );
}

fn borrowed(binding: &Binding, holder: &RefCell<Option<Site>>, caller: &Location<'_>) -> ! {
    match holder.borrow().as_ref() {
        Some(job) => panic!(
            "LoopBound bound at {}: access at {caller} found the value held across an await \
             by the with_async job submitted at {job}",
            binding.site,
        ),
        None => panic!(
            "LoopBound bound at {}: access at {caller} found the value borrowed already (a \
             borrow inside another on the same value)",
            binding.site,
        ),
    }
}

/// A reference to a loop-bound value, from [`LoopBound::get`]: valid while the
/// [`LoopContext`] it came from is borrowed (so on the loop thread only, and never in a
/// `'static` task).
///
/// ```compile_fail
/// let bridge = loopbridge::Bridge::new().unwrap();
/// let bound = bridge.handle().bind(|| 1_u32).wait().unwrap();
/// bridge.handle().submit_local_cx(move |cx| async move {
///     let value = bound.get(&cx);
///     // A spawned task may outlive the context: refused.
///     tokio::task::spawn_local(async move { *value.borrow() });
/// });
/// ```
pub struct LoopRef<'cx, T> {
    cell: Rc<LoopCell<T>>,
    binding: &'cx Binding,
    _cx: PhantomData<&'cx LoopContext>,
}

impl<T> LoopRef<'_, T> {
    /// Borrows the value to read it.
    ///
    /// # Panics
    ///
    /// If it is mutably borrowed: a [`borrow_mut`](LoopRef::borrow_mut) alive, or a
    /// [`with_async`](LoopBound::with_async) job holding it across an await (named).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let name = bridge.handle().bind(|| String::from("ada")).wait()?;
    /// let len = bridge
    ///     .handle()
    ///     .run_callback_cx(move |cx| name.get(cx).borrow().len())
    ///     .wait()?;
    /// assert_eq!(len, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    #[inline]
    pub fn borrow(&self) -> Ref<'_, T> {
        match self.cell.value.try_borrow() {
            Ok(value) => value,
            Err(_) => borrowed(self.binding, &self.cell.holder, Location::caller()),
        }
    }

    /// Borrows the value to change it.
    ///
    /// # Panics
    ///
    /// If it is borrowed already: another borrow alive, or a
    /// [`with_async`](LoopBound::with_async) job holding it across an await (named).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let count = bridge.handle().bind(|| 0_u32).wait()?;
    /// let probe = count.clone();
    /// bridge.handle().run_callback_cx(move |cx| *probe.get(cx).borrow_mut() += 1).wait()?;
    /// assert_eq!(count.with(|count| *count).wait()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    #[inline]
    pub fn borrow_mut(&self) -> RefMut<'_, T> {
        match self.cell.value.try_borrow_mut() {
            Ok(value) => value,
            Err(_) => borrowed(self.binding, &self.cell.holder, Location::caller()),
        }
    }
}

impl<T> fmt::Debug for LoopRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopRef")
            .field("type", &std::any::type_name::<T>())
            .field("site", &self.binding.site)
            .finish()
    }
}

impl<T> fmt::Debug for LoopBound<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopBound")
            .field("type", &std::any::type_name::<T>())
            .field("site", &self.binding.site)
            .field("thread", &self.binding.handle.state().thread_name)
            .finish()
    }
}
