//! [`ThreadsafeFn`]: a bounded queue of events for one closure on the loop (Node's
//! `ThreadsafeFunction`), for callback-driven and C hosts.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::Location;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Site};
use crate::event_loop::{Events, LoopState};
use crate::host_runtime;
use crate::loop_thread;
use crate::room::NoRoom;
use crate::util::{deadline_after, log_panic};

use super::Handle;

/// How many events the drain job runs in one poll before it lets the loop's other jobs
/// run (about the dispatcher's own turn of jobs, a few times over: events are small).
const EVENTS_PER_POLL: usize = 256;

/// What [`ThreadsafeFn::call`] does when the queue is full.
///
/// # Examples
///
/// ```
/// use loopbridge::CallMode;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let (tx, rx) = std::sync::mpsc::channel();
/// let log = bridge.handle().threadsafe_fn(8, move |line: &'static str| tx.send(line).unwrap());
/// log.call("at once or QueueFull", CallMode::NonBlocking)?;
/// log.call("waits for room", CallMode::Blocking)?;
/// assert_eq!(rx.recv()?, "at once or QueueFull");
/// assert_eq!(rx.recv()?, "waits for room");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallMode {
    /// Refuse at once with [`Error::QueueFull`] (the event is dropped).
    NonBlocking,
    /// Block the calling thread until there is room (refused on a loop thread).
    Blocking,
}

/// A `Clone + Send + Sync` caller of one closure that runs on the loop: each
/// [`call`](ThreadsafeFn::call) queues an event, and the closure runs with the events one
/// at a time, in the order they were queued (Node's `ThreadsafeFunction`). Made by
/// [`Handle::threadsafe_fn`].
///
/// The queue holds at most its capacity of events queued or running, so a producer
/// faster than the loop is held back (or refused) instead of growing memory without
/// bound. The closure's events are run by one job on the loop (it counts as one pending
/// job, timed like any other); a panic in the closure is logged with the site of
/// `threadsafe_fn`, and the next event runs.
///
/// # When it ends
///
/// - **Every clone dropped** (Node's *release*): the events already queued run, then
///   the job ends.
/// - **The bridge shuts down**: calls are refused with [`Error::Closed`] from then on.
///   The events still queued *run* by default (within the shutdown's timeout, like any
///   job): the function holds the shutdown until they have, as a *ref'd* Node function
///   holds its loop. [`drain_on_shutdown(false)`](ThreadsafeFn::drain_on_shutdown) (an
///   *unref'd* function) drops them unrun instead, so that the bridge stops at once.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use loopbridge::CallMode;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let (tx, rx) = mpsc::channel();
/// let on_event = bridge.handle().threadsafe_fn(16, move |n: u32| tx.send(n * 10).unwrap());
///
/// let producers: Vec<_> = (0..2)
///     .map(|t| {
///         let on_event = on_event.clone();
///         std::thread::spawn(move || {
///             for n in 0..50 {
///                 on_event.call(t * 100 + n, CallMode::Blocking).unwrap();
///             }
///         })
///     })
///     .collect();
/// for producer in producers {
///     producer.join().unwrap();
/// }
/// let mut got: Vec<u32> = rx.iter().take(100).collect();
/// // Each producer's events arrive in its order.
/// let first: Vec<u32> = got.iter().copied().filter(|n| *n < 1000).collect();
/// assert!(first.windows(2).all(|w| w[0] < w[1]));
/// got.sort();
/// assert_eq!(got.len(), 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ThreadsafeFn<E> {
    callers: Arc<Callers<E>>,
}

/// What every clone shares; dropped with the last one.
struct Callers<E> {
    shared: Arc<Shared<E>>,
}

/// What the callers and the drain job share.
struct Shared<E> {
    events: Events<E>,
    state: Arc<LoopState>,
    site: Site,
    /// Run the queued events when the bridge shuts down (else drop them).
    drain_on_shutdown: AtomicBool,
    /// Cancelled when the bridge starts to shut down (a child of its token), or when
    /// the last caller is dropped.
    ended: CancellationToken,
    /// Why the drain job never started, if it did not: every call answers it.
    refused: OnceLock<Error>,
    capacity: usize,
}

impl<E> Drop for Callers<E> {
    fn drop(&mut self) {
        // The drain job runs what is queued and ends.
        self.shared.ended.cancel();
    }
}

impl<E> Clone for ThreadsafeFn<E> {
    fn clone(&self) -> ThreadsafeFn<E> {
        ThreadsafeFn {
            callers: self.callers.clone(),
        }
    }
}

impl<E: Send + 'static> ThreadsafeFn<E> {
    /// Queues `event` for the closure. In [`CallMode::NonBlocking`] a full queue refuses
    /// it at once; in [`CallMode::Blocking`] the calling thread waits for room as long as
    /// it takes (see [`call_timeout`](ThreadsafeFn::call_timeout) for a bound).
    ///
    /// # Errors
    ///
    /// [`Error::QueueFull`] (non-blocking, full queue); [`Error::Closed`] once the bridge
    /// is shut down or shutting down; blocking only: [`Error::BlockingOnLoop`] on a loop
    /// thread (whether or not there is room), [`Error::BlockingInRuntime`] when it must
    /// wait inside a current-thread tokio runtime in `AssertMode::Panic`. A refused event
    /// is dropped. Each error names this call.
    ///
    /// # Blocking
    ///
    /// Non-blocking: never (fine on a loop thread). Blocking: while the queue is full;
    /// inside another tokio runtime as [`Completion::wait`](crate::Completion::wait) says.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopbridge::CallMode;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (release, released) = std::sync::mpsc::channel::<()>();
    /// let slow = bridge.handle().threadsafe_fn(1, move |()| released.recv().unwrap());
    /// slow.call((), CallMode::NonBlocking)?; // running (it holds the only place)
    /// let full = slow.call((), CallMode::NonBlocking).unwrap_err();
    /// assert!(full.is_queue_full());
    /// release.send(())?;
    /// slow.call((), CallMode::Blocking)?; // waits until the first event has run
    /// release.send(())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn call(&self, event: E, mode: CallMode) -> Result<(), Error> {
        let at = Location::caller();
        match mode {
            CallMode::NonBlocking => self.queue(event, at, None),
            CallMode::Blocking => self.queue(event, at, Some(Duration::MAX)),
        }
    }

    /// Queues `event`, blocking the calling thread for at most `timeout` while the queue
    /// is full.
    ///
    /// # Errors
    ///
    /// [`Error::QueueFull`] if no room came within `timeout`; otherwise as
    /// [`call`](ThreadsafeFn::call) in [`CallMode::Blocking`].
    ///
    /// # Blocking
    ///
    /// For at most `timeout`, only while the queue is full; refused on a loop thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use loopbridge::CallMode;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (release, released) = std::sync::mpsc::channel::<()>();
    /// let slow = bridge.handle().threadsafe_fn(1, move |()| released.recv().unwrap());
    /// slow.call((), CallMode::NonBlocking)?;
    /// let error = slow.call_timeout((), Duration::from_millis(5)).unwrap_err();
    /// assert!(error.is_queue_full());
    /// assert_eq!(error.site().location().line(), line!() - 2);
    /// release.send(())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn call_timeout(&self, event: E, timeout: Duration) -> Result<(), Error> {
        self.queue(event, Location::caller(), Some(timeout))
    }

    /// Whether the events still queued when the bridge shuts down run (`true`, the
    /// default: Node's *ref*) or are dropped unrun (`false`: *unref*), for every clone.
    /// Either way calls are refused from the shutdown on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use loopbridge::CallMode;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (started, has_started) = std::sync::mpsc::channel::<()>();
    /// let (release, released) = std::sync::mpsc::channel::<()>();
    /// let (ran, runs) = std::sync::mpsc::channel::<u32>();
    /// let log = bridge.handle().threadsafe_fn(8, move |n: u32| {
    ///     if n == 0 {
    ///         started.send(()).unwrap();
    ///         released.recv().unwrap();
    ///     }
    ///     ran.send(n).unwrap();
    /// });
    /// log.drain_on_shutdown(false);
    /// for n in 0..3 {
    ///     log.call(n, CallMode::NonBlocking)?;
    /// }
    /// has_started.recv()?; // event 0 is running: the shutdown lets it finish
    /// release.send(())?;
    /// let report = bridge.shutdown(Duration::from_secs(5));
    /// assert!(log.call(9, CallMode::NonBlocking).unwrap_err().is_closed());
    /// // Event 0 was running; 1 and 2 may have been dropped unrun.
    /// assert_eq!(runs.recv()?, 0);
    /// assert!(report.is_clean());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drain_on_shutdown(&self, drain: bool) {
        // ORDERING: read by the drain job once the shutdown woke it; a setting changed
        // while the shutdown is under way may or may not be seen, as any race with it.
        self.callers
            .shared
            .drain_on_shutdown
            .store(drain, Ordering::Relaxed);
    }

    /// The most events queued or running at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let f = bridge.handle().threadsafe_fn(64, |_: u8| {});
    /// assert_eq!(f.capacity(), 64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.callers.shared.capacity
    }

    /// Queues `event`: without waiting (`wait: None`), or waiting for room up to `wait`.
    fn queue(
        &self,
        event: E,
        at: &'static Location<'static>,
        wait: Option<Duration>,
    ) -> Result<(), Error> {
        let shared = &self.callers.shared;
        let site = shared.site.at(at);
        if let Some(refused) = shared.refused.get() {
            return Err(refused.clone());
        }
        crate::process::check_not_forked(shared.state.fork_generation, &site)?;
        if shared.state.is_closed() {
            return Err(Error::Closed { site });
        }
        let Some(wait) = wait else {
            return shared
                .events
                .try_call(event)
                .map_err(|(no_room, _dropped)| refusal(no_room, site));
        };
        if loop_thread::is_any_loop_thread() {
            return Err(Error::BlockingOnLoop { site });
        }
        // Only a wait for room is a blocking wait: the first try takes room if there is.
        let event = match shared.events.try_call(event) {
            Ok(()) => return Ok(()),
            Err((NoRoom::Closed, _)) => return Err(Error::Closed { site }),
            Err((NoRoom::Full, event)) => event,
        };
        let waiting = host_runtime::admit_wait(shared.state.assert_mode, &site, at)?;
        let deadline = deadline_after(wait);
        waiting
            .run(|| shared.events.call_until(event, deadline))
            .map_err(|no| refusal(no, site))
    }
}

fn refusal(no_room: NoRoom, site: Site) -> Error {
    match no_room {
        NoRoom::Full => Error::QueueFull { site },
        NoRoom::Closed => Error::Closed { site },
    }
}

impl<E> fmt::Debug for ThreadsafeFn<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.callers.shared;
        f.debug_struct("ThreadsafeFn")
            .field("site", &shared.site)
            .field("capacity", &shared.capacity)
            .finish()
    }
}

impl Handle {
    /// A [`ThreadsafeFn`]: a caller, for any thread, of `f` on the loop, through a queue
    /// of at most `capacity` events (Node's `napi_create_threadsafe_function`). Each
    /// [`call`](ThreadsafeFn::call) queues an event, and `f` runs with each on the loop
    /// thread in the order they were queued; a full queue refuses or blocks the caller,
    /// as its [`CallMode`] says.
    ///
    /// On a closed bridge every call answers [`Error::Closed`]; if the bridge's
    /// [`max_pending`](crate::BridgeBuilder::max_pending) refused its job, every call answers
    /// that [`Error::QueueFull`] (naming this line).
    ///
    /// `f` runs on the loop thread, so it must not block.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopbridge::CallMode;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let on_line = bridge.handle().threadsafe_fn(128, move |line: String| {
    ///     tx.send(line.len()).unwrap();
    /// });
    /// on_line.call("hello".to_owned(), CallMode::NonBlocking)?;
    /// assert_eq!(rx.recv()?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn threadsafe_fn<E, F>(&self, capacity: usize, f: F) -> ThreadsafeFn<E>
    where
        E: Send + 'static,
        F: FnMut(E) + Send + 'static,
    {
        assert!(
            capacity > 0,
            "a threadsafe function needs a capacity of at least 1"
        );
        let site = Site::caller();
        let ended = self.state.closing.child_token();
        let shared = Arc::new(Shared {
            events: Events::new(capacity),
            state: self.state.clone(),
            site: site.clone(),
            drain_on_shutdown: AtomicBool::new(true),
            ended,
            refused: OnceLock::new(),
            capacity,
        });
        let job_shared = shared.clone();
        let drain_job = async move { drain(&job_shared, f).await };
        match self.try_submit_at(site, drain_job) {
            // Detached: it ends when the callers are gone or the bridge stops.
            Ok(job) => drop(job),
            Err(refused) => {
                drop(shared.events.close());
                let _ = shared.refused.set(refused);
            }
        }
        ThreadsafeFn {
            callers: Arc::new(Callers { shared }),
        }
    }
}

/// The drain job: runs the events in order, a batch at a time, until the callers are
/// gone (then what is queued runs) or the bridge shuts down (then it runs or is
/// dropped, as `drain_on_shutdown` says).
async fn drain<E, F: FnMut(E)>(shared: &Shared<E>, mut f: F) {
    let mut batch = VecDeque::new();
    let mut ended = pin!(shared.ended.cancelled());
    let mut run = |event: E| log_panic("a threadsafe function", Some(&shared.site), || f(event));
    poll_fn(|cx| loop {
        let mut ran = 0;
        // An end that comes while a batch runs is seen at the next event (the rest of
        // the batch may have to be dropped).
        while ran < EVENTS_PER_POLL && !shared.ended.is_cancelled() {
            let Some(event) = batch.pop_front() else {
                break;
            };
            run(event);
            ran += 1;
        }
        shared.events.ran(ran);
        if shared.ended.is_cancelled() {
            // The callers are gone, or the bridge shuts down: nothing new comes in.
            let left = shared.events.close();
            let shutting_down = shared.state.closing.is_cancelled();
            // ORDERING: see `drain_on_shutdown`.
            if !shutting_down || shared.drain_on_shutdown.load(Ordering::Relaxed) {
                batch.drain(..).chain(left).for_each(&mut run);
            } else {
                drop((std::mem::take(&mut batch), left));
            }
            return Poll::Ready(());
        }
        if !batch.is_empty() {
            // Lets the loop's other jobs run; the dispatcher polls this again soon.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if shared.events.poll_take(&mut batch, cx).is_ready() || ended.as_mut().poll(cx).is_ready()
        {
            continue;
        }
        return Poll::Pending;
    })
    .await;
}
