//! [`StreamIter`]: an async stream polled on a bridge's loop, read by a plain thread as
//! an `Iterator`, with at most `capacity` items fetched ahead.
//!
//! The loop side is [`Pump`], a job that polls the stream while the buffer has room and
//! parks (its waker kept under the buffer's lock) when it is full; the reader takes
//! items under the same lock and wakes the pump once the buffer has drained to half
//! (one loop wake-up per half buffer, not per item). The reader's end comes from the
//! stream's end, or from the job's slot, which tells the buffer when the job resolves
//! (a panic, a cancel, the bridge closing), so no end of the job leaves it waiting.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::iter::FusedIterator;
use std::panic::Location;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_core::Stream;

use crate::completion::Completion;
use crate::error::Error;
use crate::host_runtime::{self, Waiting};
use crate::loop_thread;
use crate::notify::{Notify, Watcher};
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::util::deadline_after;

/// How many items the pump takes from the stream in one poll before it lets the loop
/// serve other jobs (it stops earlier when the buffer is full or the stream pending).
const ITEMS_PER_POLL: usize = 64;

/// The bounded buffer between the pump and the reader.
pub(crate) struct Buffer<T> {
    state: Mutex<State<T>>,
    readable: Condvar,
    capacity: usize,
    /// Wake the parked pump once the buffer holds this many items or fewer.
    low_water: usize,
}

struct State<T> {
    items: VecDeque<T>,
    /// The stream returned `None`.
    ended: bool,
    /// The job resolved (told by its slot).
    job_done: bool,
    /// The reader is gone: the pump stops.
    reader_gone: bool,
    /// The pump, parked on a full buffer.
    pump: Option<Waker>,
}

impl<T> Buffer<T> {
    /// A buffer for `capacity` items ahead of the reader.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    #[track_caller]
    pub(crate) fn new(capacity: usize) -> Arc<Buffer<T>> {
        assert!(
            capacity > 0,
            "a stream iterator needs a capacity of at least 1"
        );
        Arc::new(Buffer {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity.min(1024)),
                ended: false,
                job_done: false,
                reader_gone: false,
                pump: None,
            }),
            readable: Condvar::new(),
            capacity,
            low_water: capacity - capacity.div_ceil(2),
        })
    }
}

impl<T> Buffer<T> {
    /// Takes the first item, if any, and wakes the parked pump once the buffer has
    /// drained to its low water; hands the lock back when there was none.
    fn pop<'a>(&self, mut state: MutexGuard<'a, State<T>>) -> Result<T, MutexGuard<'a, State<T>>> {
        let Some(item) = state.items.pop_front() else {
            return Err(state);
        };
        // Woken under no lock, but taken under it: a pump parks (stores its waker) under
        // the same lock it found the buffer full under, so this take either finds it
        // parked or comes before its look, which then sees the room.
        let pump = if state.items.len() <= self.low_water {
            state.pump.take()
        } else {
            None
        };
        drop(state);
        if let Some(pump) = pump {
            pump.wake();
        }
        Ok(item)
    }

    /// The reader is gone: the pump ends at its next poll, which this wakes (so it ends
    /// even before the job's cancel reaches it), dropping the stream.
    fn reader_gone(&self) {
        let pump = {
            let mut state = self.state.lock();
            state.reader_gone = true;
            state.pump.take()
        };
        if let Some(pump) = pump {
            pump.wake();
        }
    }

    /// Blocks until the next item or the stream's end (`None`): the reader's wait without
    /// a job around it, for the loom models.
    #[cfg(loopbridge_loom)]
    pub(crate) fn read(&self) -> Option<T> {
        let mut state = self.state.lock();
        loop {
            state = match self.pop(state) {
                Ok(item) => return Some(item),
                Err(state) if state.ended => return None,
                Err(state) => self.readable.wait(state),
            };
        }
    }

    /// The reader's drop, for the loom models.
    #[cfg(loopbridge_loom)]
    pub(crate) fn drop_reader(&self) {
        self.reader_gone();
    }
}

impl<T: Send> Notify for Buffer<T> {
    fn ready(&self, _index: usize) {
        self.state.lock().job_done = true;
        self.readable.notify_all();
    }
}

/// The loop job: polls the stream into the buffer while it has room.
pub(crate) struct Pump<S: Stream> {
    stream: Pin<Box<S>>,
    buffer: Arc<Buffer<S::Item>>,
    batch: Vec<S::Item>,
}

impl<S: Stream> Pump<S> {
    pub(crate) fn new(stream: S, buffer: Arc<Buffer<S::Item>>) -> Pump<S> {
        Pump {
            stream: Box::pin(stream),
            buffer,
            batch: Vec::new(),
        }
    }
}

// The stream is pinned in its box; nothing else is pinned.
impl<S: Stream> Unpin for Pump<S> {}

impl<S: Stream> Future for Pump<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let buffer = &*this.buffer;
        let room = {
            let mut state = buffer.state.lock();
            if state.reader_gone {
                return Poll::Ready(());
            }
            let room = buffer.capacity - state.items.len();
            if room == 0 {
                state.pump = Some(cx.waker().clone());
                return Poll::Pending;
            }
            room
        };
        // Only the reader changes the buffer meanwhile, and it only takes: `room` items
        // fit whatever it does.
        let mut ended = false;
        let mut stream_pending = false;
        while this.batch.len() < room.min(ITEMS_PER_POLL) {
            let stream = this.stream.as_mut();
            let polled = match panic::catch_unwind(AssertUnwindSafe(|| stream.poll_next(cx))) {
                Ok(polled) => polled,
                Err(payload) => {
                    // The items made before the panic reach the reader, ahead of the
                    // error the job resolves with.
                    buffer.state.lock().items.extend(this.batch.drain(..));
                    buffer.readable.notify_all();
                    panic::resume_unwind(payload);
                }
            };
            match polled {
                Poll::Ready(Some(item)) => this.batch.push(item),
                Poll::Ready(None) => {
                    ended = true;
                    break;
                }
                Poll::Pending => {
                    stream_pending = true;
                    break;
                }
            }
        }
        let pushed = !this.batch.is_empty();
        let full = {
            let mut state = buffer.state.lock();
            if state.reader_gone {
                // Gone while the stream was polled: nobody will read the batch or wake a
                // parked pump (loom: `loom-tests/stream.rs`).
                drop(state);
                this.batch.clear();
                return Poll::Ready(());
            }
            state.items.extend(this.batch.drain(..));
            state.ended |= ended;
            let full = state.items.len() >= buffer.capacity;
            if full && !ended {
                state.pump = Some(cx.waker().clone());
            }
            full
        };
        if pushed || ended {
            buffer.readable.notify_all();
        }
        if ended {
            return Poll::Ready(());
        }
        if !stream_pending && !full {
            // Used up this poll's share: let the loop serve others, and come back.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// An async stream read from synchronous code: the `Iterator` that
/// [`Handle::iter`](crate::Handle::iter) and [`Handle::iter_local`](crate::Handle::iter_local)
/// return. Each item is `Ok(item)`; a stream that panicked, or whose bridge closed, ends
/// with one `Err` item ([`Error::Panicked`], [`Error::Closed`], [`Error::Forked`]) and
/// then `None`, instead of hanging.
///
/// The stream is polled on the loop; at most `capacity` items are fetched ahead of the
/// reader, so a slow reader stops the stream and memory stays bounded. Dropping the
/// iterator cancels the stream's job: the loop drops the stream at its next poll
/// boundary.
///
/// # Blocking
///
/// [`next`](Iterator::next) blocks until an item comes; [`next_timeout`](StreamIter::next_timeout)
/// and [`next_deadline`](StreamIter::next_deadline) bound the wait. On a loop thread
/// nothing blocks: `next` yields the items already fetched, then one
/// `Err(BlockingOnLoop)` (and cancels the stream) where it would have to wait, so a `for`
/// loop ends; `next_timeout` returns `Err(BlockingOnLoop)` and leaves the stream running.
/// Inside another tokio runtime's async context a wait follows
/// [`Completion::wait`]'s rule: `block_in_place` on a multi-thread worker; on a
/// current-thread runtime [`Error::BlockingInRuntime`] (or the bridge's
/// [`AssertMode`](crate::AssertMode) log), where `next` also cancels the stream.
///
/// # Examples
///
/// ```
/// let bridge = loopbridge::Bridge::new()?;
/// let numbers = bridge.handle().iter(futures_util::stream::iter(1..=5_u32), 2);
/// let sum: u32 = numbers.map(Result::unwrap).sum();
/// assert_eq!(sum, 15);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a StreamIter cancels its stream"]
pub struct StreamIter<T> {
    buffer: Arc<Buffer<T>>,
    job: Completion<()>,
    /// The end was returned (`None` from now on).
    finished: bool,
}

impl<T: Send + 'static> StreamIter<T> {
    /// The reader of `buffer`, filled by the pump job `job`.
    pub(crate) fn new(buffer: Arc<Buffer<T>>, job: Completion<()>) -> StreamIter<T> {
        let notify: Arc<dyn Notify> = buffer.clone();
        if !job.cell().slot.watch(&Watcher { notify, index: 0 }) {
            // Resolved already (refused, say): nothing will tell.
            buffer.state.lock().job_done = true;
        }
        StreamIter {
            buffer,
            job,
            finished: false,
        }
    }
}

impl<T> StreamIter<T> {
    /// The next item, waiting for at most `timeout`: `Ok(None)` at the end of the stream.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if no item came within `timeout` (nothing is lost: call again);
    /// [`Error::BlockingOnLoop`] on a loop thread when no item is in (the stream keeps
    /// running). The stream's end by a panic, a cancel or a closed bridge: that error,
    /// once, then `Ok(None)`.
    ///
    /// # Blocking
    ///
    /// Blocks for at most `timeout`; not at all when an item is in, or on a loop thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = tokio::sync::mpsc::channel::<u8>(4);
    /// let received = futures_util::stream::unfold(rx, |mut rx| async move {
    ///     rx.recv().await.map(|item| (item, rx))
    /// });
    /// let mut items = bridge.handle().iter(received, 4);
    /// assert!(items.next_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
    /// tx.blocking_send(9)?;
    /// assert_eq!(items.next_timeout(Duration::from_secs(30))?, Some(9));
    /// drop(tx);
    /// assert_eq!(items.next_timeout(Duration::from_secs(30))?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<T>, Error> {
        self.next_until(Some(deadline_after(timeout)), Location::caller())
    }

    /// The next item, waiting until `deadline` at the latest. As
    /// [`next_timeout`](StreamIter::next_timeout) otherwise.
    ///
    /// # Errors
    ///
    /// As [`next_timeout`](StreamIter::next_timeout).
    ///
    /// # Blocking
    ///
    /// Blocks until `deadline` at most.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let mut items = bridge.handle().iter(futures_util::stream::iter(["only"]), 1);
    /// let deadline = Instant::now() + Duration::from_secs(30);
    /// assert_eq!(items.next_deadline(deadline)?, Some("only"));
    /// assert_eq!(items.next_deadline(deadline)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn next_deadline(&mut self, deadline: Instant) -> Result<Option<T>, Error> {
        self.next_until(Some(deadline), Location::caller())
    }

    /// How many items are fetched and not yet read (at most the capacity).
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let mut items = bridge.handle().iter(futures_util::stream::iter(0..100), 3);
    /// while items.buffered() < 3 { std::thread::yield_now(); }
    /// assert_eq!(items.next().unwrap()?, 0);
    /// assert!(items.buffered() <= 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn buffered(&self) -> usize {
        self.buffer.state.lock().items.len()
    }

    #[track_caller]
    fn next_until(
        &mut self,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> Result<Option<T>, Error> {
        if self.finished {
            return Ok(None);
        }
        let buffer = &*self.buffer;
        let mut state = buffer.state.lock();
        // How this thread may block, decided at the first wait.
        let mut waiting: Option<Waiting> = None;
        loop {
            state = match buffer.pop(state) {
                Ok(item) => return Ok(Some(item)),
                Err(state) => state,
            };
            if state.ended {
                self.finished = true;
                return Ok(None);
            }
            if state.job_done {
                drop(state);
                self.finished = true;
                return match self.job.take_now() {
                    Some(Err(error)) => Err(error),
                    _ => Ok(None),
                };
            }
            if loop_thread::is_any_loop_thread() {
                return Err(Error::BlockingOnLoop {
                    site: self.job.site().at(at),
                });
            }
            if let Some(forked) = self.job.cell().orphaned() {
                self.finished = true;
                return Err(forked);
            }
            // Inside another tokio runtime, as `Completion::wait` would.
            let waiting = match waiting {
                Some(waiting) => waiting,
                None => *waiting.insert(host_runtime::admit_wait(
                    self.job.cell().record.home.assert_mode,
                    self.job.site(),
                    at,
                )?),
            };
            match deadline {
                None => state = waiting.run(|| buffer.readable.wait(state)),
                Some(deadline) => {
                    let timed_out;
                    (state, timed_out) =
                        waiting.run(|| buffer.readable.wait_until(&buffer.state, state, deadline));
                    if timed_out && state.items.is_empty() && !state.ended && !state.job_done {
                        return Err(Error::Timeout {
                            site: self.job.site().at(at),
                            submitted: self.job.site().clone(),
                            cancelled: false,
                        });
                    }
                }
            }
        }
    }
}

impl<T> Iterator for StreamIter<T> {
    type Item = Result<T, Error>;

    /// Blocks until the next item; see [`StreamIter`] for the loop thread.
    #[track_caller]
    fn next(&mut self) -> Option<Result<T, Error>> {
        match self.next_until(None, Location::caller()) {
            Ok(item) => item.map(Ok),
            Err(error) => {
                if error.is_blocking_on_loop() || error.is_blocking_in_runtime() {
                    // Nobody can read it here: stop the stream, as the iterator's drop
                    // would (a `for` loop then ends).
                    self.finished = true;
                    self.job.cancel();
                }
                Some(Err(error))
            }
        }
    }
}

impl<T> FusedIterator for StreamIter<T> {}

impl<T> Drop for StreamIter<T> {
    fn drop(&mut self) {
        self.buffer.reader_gone();
        // A pump that is not parked ends at its next poll too; the cancel also stops a
        // stream that is pending on something else.
        self.job.cancel();
    }
}

impl<T> fmt::Debug for StreamIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamIter")
            .field("site", self.job.site())
            .field("capacity", &self.buffer.capacity)
            .field("finished", &self.finished)
            .finish()
    }
}
