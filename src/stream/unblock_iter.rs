//! `ThreadPool::unblock_iter` and [`UnblockIter`]: a blocking iterator run on a pool,
//! read by async code as a `Stream`.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::pool::ThreadPool;
use crate::sync::{Condvar, Mutex};

/// The bounded queue between the blocking producer and the async consumer.
pub(crate) struct Queue<T> {
    state: Mutex<QueueState<T>>,
    /// The producer waits here for room.
    room: Condvar,
    capacity: usize,
    /// Wake a waiting producer once the queue holds this many items or fewer.
    low_water: usize,
}

struct QueueState<T> {
    items: VecDeque<T>,
    /// The iterator returned `None`.
    ended: bool,
    /// The stream was dropped: the producer stops at its next item.
    consumer_gone: bool,
    /// The producer waits for room.
    producer_waiting: bool,
    /// The consumer's task, waiting for an item.
    consumer: Option<Waker>,
}

impl<T> Queue<T> {
    /// An empty queue for `capacity` items ahead of the consumer.
    pub(crate) fn new(capacity: usize) -> Queue<T> {
        Queue {
            state: Mutex::new(QueueState {
                items: VecDeque::with_capacity(capacity.min(1024)),
                ended: false,
                consumer_gone: false,
                producer_waiting: false,
                consumer: None,
            }),
            room: Condvar::new(),
            capacity,
            low_water: capacity - capacity.div_ceil(2),
        }
    }

    /// The consumer's look: the next item (waking a producer waiting for room once the
    /// queue has drained to its low water), `None` at the end, or pending with `cx`'s
    /// waker kept for the producer's next push.
    pub(crate) fn poll_item(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.state.lock();
        if let Some(item) = state.items.pop_front() {
            // The producer sets its flag and sleeps under this lock: seen here, or it
            // finds the room before it sleeps.
            let wake = state.producer_waiting && state.items.len() <= self.low_water;
            if wake {
                state.producer_waiting = false;
            }
            drop(state);
            if wake {
                self.room.notify_all();
            }
            return Poll::Ready(Some(item));
        }
        if state.ended {
            return Poll::Ready(None);
        }
        match &state.consumer {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.consumer = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The consumer is gone: a producer waiting for room, or at its next item, stops.
    pub(crate) fn consumer_gone(&self) {
        self.state.lock().consumer_gone = true;
        self.room.notify_all();
    }

    /// The producer's loop, on a pool worker.
    pub(crate) fn produce(&self, iter: impl Iterator<Item = T>) {
        for item in iter {
            let mut state = self.state.lock();
            while state.items.len() >= self.capacity && !state.consumer_gone {
                state.producer_waiting = true;
                state = self.room.wait(state);
            }
            if state.consumer_gone {
                return;
            }
            state.items.push_back(item);
            let consumer = state.consumer.take();
            drop(state);
            if let Some(consumer) = consumer {
                consumer.wake();
            }
        }
        let consumer = {
            let mut state = self.state.lock();
            state.ended = true;
            state.consumer.take()
        };
        if let Some(consumer) = consumer {
            consumer.wake();
        }
    }
}

/// A blocking iterator, run on a [`ThreadPool`] and read by async code as a
/// [`Stream`]: what [`ThreadPool::unblock_iter`] returns. Each item is `Ok(item)`; an
/// iterator that panicked, or whose pool shut down, ends the stream with one `Err` item.
///
/// At most `capacity` items are made ahead of the consumer: the producer waits (on its
/// worker) for room. Dropping the stream stops the producer at its next item (an item it
/// is computing is finished and dropped); if it has not started, it never does.
///
/// # Examples
///
/// ```
/// use futures_util::StreamExt;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let pool = loopbridge::ThreadPool::new(2)?;
/// let lines = pool.unblock_iter(["a", "b", "c"].into_iter(), 2);
/// let read: Vec<_> = bridge.handle().block_on(lines.collect::<Vec<_>>())?;
/// let read: Vec<&str> = read.into_iter().collect::<Result<_, _>>()?;
/// assert_eq!(read, ["a", "b", "c"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "streams do nothing unless polled; dropping it stops the producer"]
pub struct UnblockIter<T> {
    queue: Arc<Queue<T>>,
    job: Completion<()>,
    /// The job's result was read.
    job_read: bool,
    finished: bool,
}

impl ThreadPool {
    /// Runs the blocking iterator `iter` on a worker of this pool and returns its items
    /// as a [`Stream`] for async code, with at most `capacity` items made ahead
    /// (backpressure: the worker waits while the consumer is behind).
    ///
    /// The iterator occupies one worker until it ends or the stream is dropped. A panic
    /// in it ends the stream with [`Error::Panicked`]; a pool that shuts down, with
    /// [`Error::Closed`].
    ///
    /// # Blocking
    ///
    /// Never blocks: fine on a loop thread. The producing job holds one of the pool's
    /// workers until the iterator ends or the stream is dropped, also while it waits for
    /// a consumer that paused: size the pool for the streams open at once, plus the other
    /// work it runs.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::StreamExt;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let pool = loopbridge::ThreadPool::new(2)?;
    /// // A blocking source: lines of a file, rows of a synchronous database cursor...
    /// let lines = std::io::BufRead::lines(std::io::Cursor::new("a\nb\nc"));
    /// let stream = pool.unblock_iter(lines, 2);
    /// let read: Vec<String> = bridge.handle().block_on(async move {
    ///     stream.map(|line| line.unwrap().unwrap()).collect().await
    /// })?;
    /// assert_eq!(read, ["a", "b", "c"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn unblock_iter<I>(&self, iter: I, capacity: usize) -> UnblockIter<I::Item>
    where
        I: Iterator + Send + 'static,
        I::Item: Send + 'static,
    {
        assert!(
            capacity > 0,
            "`unblock_iter` needs a capacity of at least 1"
        );
        let queue = Arc::new(Queue::new(capacity));
        let producer = queue.clone();
        let job = self.submit_at(Site::caller(), move || producer.produce(iter));
        UnblockIter {
            queue,
            job,
            job_read: false,
            finished: false,
        }
    }
}

impl<T> Stream for UnblockIter<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match this.queue.poll_item(cx) {
                Poll::Ready(Some(item)) => return Poll::Ready(Some(Ok(item))),
                Poll::Ready(None) => {
                    this.finished = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
            if this.job_read {
                return Poll::Pending;
            }
            // Nothing queued: has the producer's job ended without an end of the stream
            // (a panic, the pool's shutdown)? Its slot wakes this task when it resolves.
            match Pin::new(&mut this.job).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => this.job_read = true,
                Poll::Ready(Err(error)) => {
                    this.job_read = true;
                    this.finished = true;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }
}

impl<T> Drop for UnblockIter<T> {
    fn drop(&mut self) {
        self.queue.consumer_gone();
        self.job.cancel();
    }
}

impl<T> fmt::Debug for UnblockIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnblockIter")
            .field("site", self.job.site())
            .field("capacity", &self.queue.capacity)
            .field("finished", &self.finished)
            .finish()
    }
}
