//! `Handle::iter` and `Handle::iter_local`: an async stream read by a plain thread.

use futures_core::Stream;

use crate::error::Site;
use crate::stream::{Buffer, Pump, StreamIter};

use super::Handle;

impl Handle {
    /// Polls `stream` on the loop and returns an [`Iterator`] over its items for a plain
    /// thread, with at most `capacity` items fetched ahead (backpressure: a slow reader
    /// stops the stream, and memory stays bounded).
    ///
    /// Each item comes as `Ok(item)`. A panic in the stream, a bridge that closes or a
    /// fork ends the iteration with one `Err` item, then `None`. Dropping the iterator
    /// cancels the stream's job: the loop drops the stream at its next poll boundary.
    ///
    /// # Blocking
    ///
    /// This call never blocks; reading the iterator does (see [`StreamIter`], also for
    /// the loop thread).
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let bridge = loopbridge::Bridge::new()?;
    /// let (tx, rx) = tokio::sync::mpsc::channel::<String>(8);
    /// let received = futures_util::stream::unfold(rx, |mut rx| async move {
    ///     rx.recv().await.map(|line| (line, rx))
    /// });
    /// let lines = bridge.handle().iter(received, 8);
    /// std::thread::spawn(move || {
    ///     for n in 0..3 {
    ///         tx.blocking_send(format!("line {n}")).unwrap();
    ///     }
    /// });
    /// let read: Vec<String> = lines.collect::<Result<_, _>>()?;
    /// assert_eq!(read, ["line 0", "line 1", "line 2"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn iter<S>(&self, stream: S, capacity: usize) -> StreamIter<S::Item>
    where
        S: Stream + Send + 'static,
        S::Item: Send + 'static,
    {
        let buffer = Buffer::new(capacity);
        let job = self.submit_at(Site::caller(), Pump::new(stream, buffer.clone()));
        StreamIter::new(buffer, job)
    }

    /// [`iter`](Handle::iter) for a stream that is not `Send`: `make` is sent to the loop
    /// thread and builds the stream there (as [`submit_local`](Handle::submit_local)
    /// builds a future), so it may hold `Rc` and other thread-bound state. Only the items
    /// cross threads.
    ///
    /// # Blocking
    ///
    /// Never blocks; reading the iterator does.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero. A panic in `make` ends the iteration with
    /// [`Error::Panicked`](crate::Error::Panicked).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use futures_util::StreamExt;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let squares = bridge.handle().iter_local(
    ///     || {
    ///         let limit = Rc::new(3_u32); // not Send: the stream is built on the loop
    ///         futures_util::stream::iter(1..=*limit).map(move |n| n * n * (*limit / 3))
    ///     },
    ///     2,
    /// );
    /// let read: Vec<u32> = squares.collect::<Result<_, _>>()?;
    /// assert_eq!(read, [1, 4, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn iter_local<M, S>(&self, make: M, capacity: usize) -> StreamIter<S::Item>
    where
        M: FnOnce() -> S + Send + 'static,
        S: Stream + 'static,
        S::Item: Send + 'static,
    {
        let buffer = Buffer::new(capacity);
        let filled = buffer.clone();
        let job = self.submit_local_at(Site::caller(), move || Pump::new(make(), filled));
        StreamIter::new(buffer, job)
    }
}
