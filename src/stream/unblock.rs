//! `ThreadPool::unblock` and [`Unblock`]: a blocking `std::io::Read` or `Write` run on
//! a pool, used by async code as tokio's `AsyncRead` / `AsyncWrite`, through a bounded
//! byte buffer.
//!
//! While reading, a job on a worker reads from the object into the buffer while it has
//! room; while writing, a job writes out what the async side put in. Switching between
//! the two (or flushing) ends the running job, which hands the object back.

use std::fmt;
use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::completion::Completion;
use crate::error::Site;
use crate::pool::ThreadPool;

use super::pipe::{Pipe, DEFAULT_CAPACITY};

/// A blocking I/O object used from async code: the [`AsyncRead`] and [`AsyncWrite`]
/// that [`ThreadPool::unblock`] returns, for a `std::io::Read` or `std::io::Write` that
/// has no async version (a legacy library's reader, a pipe to a child process, a file on
/// a platform without async files).
///
/// Reads are served from a buffer that a job on the pool fills ahead of them, writes go
/// into a buffer that a job writes out; each holds at most the capacity (64 KiB by
/// default, [`ThreadPool::unblock_with_capacity`]), and the blocking side waits while it
/// is full (reading) or empty (writing). `poll_flush` (and `poll_shutdown`) waits until
/// everything written is written out and flushed. Switching from reading to writing or
/// back waits for the running job to hand the object back.
///
/// Dropping it stops the blocking side at its next buffer: a read or write in progress
/// finishes, and the object is dropped on the worker. Bytes written and not yet flushed
/// may be lost then, as with a `BufWriter` that is not flushed.
///
/// Errors of the blocking side come back as they were; a panic in it, or a pool that
/// shut down, as an `io::Error` of kind `Other` that wraps the crate's [`Error`](crate::Error).
///
/// # Examples
///
/// ```
/// use tokio::io::AsyncReadExt;
///
/// let bridge = loopbridge::Bridge::new()?;
/// let pool = loopbridge::ThreadPool::new(2)?;
/// let mut reader = pool.unblock(std::io::Cursor::new(b"legacy bytes".to_vec()));
/// let text = bridge.handle().block_on(async move {
///     let mut text = String::new();
///     reader.read_to_string(&mut text).await.map(|_| text)
/// })??;
/// assert_eq!(text, "legacy bytes");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Unblock<T> {
    pool: ThreadPool,
    capacity: usize,
    state: Mode<T>,
    site: Site,
}

enum Mode<T> {
    Idle(Option<T>),
    Reading(Arc<Pipe>, Completion<T>),
    Writing(Arc<Pipe>, Completion<T>),
    /// The object is gone (a panic took it, or a flush failed to get it back).
    Lost,
}

// `T` is never pinned: it is moved to and from the pool by value.
impl<T> Unpin for Unblock<T> {}

impl ThreadPool {
    /// Wraps the blocking `io` so that async code reads it through tokio's
    /// [`AsyncRead`] and writes it through [`AsyncWrite`], with a 64 KiB buffer, as its
    /// own jobs on this pool (see [`Unblock`]). A legacy reader can then be copied into a
    /// socket with `tokio::io::copy`.
    ///
    /// # Blocking
    ///
    /// Never blocks: the jobs start at the first read or write. A job holds one of the
    /// pool's workers while the reader or writer lives, also while it waits for the async
    /// side to make room (a reader that paused): size the pool for the `Unblock`s open at
    /// once, plus the other work it runs, or drop (or finish) one before waiting on the
    /// pool for something else.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::io::AsyncReadExt;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let pool = loopbridge::ThreadPool::new(2)?;
    /// let legacy = std::io::Cursor::new(b"bytes from a blocking reader".to_vec());
    /// let mut reader = pool.unblock(legacy);
    /// let text = bridge.handle().block_on(async move {
    ///     let mut text = String::new();
    ///     reader.read_to_string(&mut text).await.map(|_| text)
    /// })??;
    /// assert_eq!(text, "bytes from a blocking reader");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn unblock<T: Send + 'static>(&self, io: T) -> Unblock<T> {
        self.unblock_with_capacity(io, DEFAULT_CAPACITY)
    }

    /// [`unblock`](ThreadPool::unblock) with a buffer of `capacity` bytes.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::io::AsyncWriteExt;
    ///
    /// let bridge = loopbridge::Bridge::new()?;
    /// let pool = loopbridge::ThreadPool::new(2)?;
    /// let mut writer = pool.unblock_with_capacity(Vec::<u8>::new(), 4);
    /// let written = bridge.handle().block_on(async move {
    ///     writer.write_all(b"more than four bytes").await?;
    ///     writer.flush().await?;
    ///     writer.into_inner().await
    /// })??;
    /// assert_eq!(written, b"more than four bytes");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn unblock_with_capacity<T: Send + 'static>(&self, io: T, capacity: usize) -> Unblock<T> {
        assert!(capacity > 0, "`unblock` needs a capacity of at least 1");
        Unblock {
            pool: self.clone(),
            capacity,
            state: Mode::Idle(Some(io)),
            site: Site::caller(),
        }
    }
}

impl<T: Send + 'static> Unblock<T> {
    /// Stops the running job (after a flush, for writing) and gives the object back.
    ///
    /// # Errors
    ///
    /// An I/O error of the blocking side, or the job's end by a panic or a shutdown.
    pub async fn into_inner(mut self) -> io::Result<T> {
        std::future::poll_fn(|cx| self.poll_idle(cx)).await?;
        match std::mem::replace(&mut self.state, Mode::Lost) {
            Mode::Idle(Some(io)) => Ok(io),
            _ => Err(lost()),
        }
    }

    /// Ends a running job and takes the object back (`Idle`), with the job's error.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (pipe, job) = match &mut self.state {
            Mode::Idle(_) => return Poll::Ready(Ok(())),
            Mode::Lost => return Poll::Ready(Err(lost())),
            Mode::Reading(pipe, job) | Mode::Writing(pipe, job) => (pipe, job),
        };
        pipe.stop();
        let io = match Pin::new(job).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(io)) => io,
            Poll::Ready(Err(error)) => {
                self.state = Mode::Lost;
                return Poll::Ready(Err(io::Error::other(error)));
            }
        };
        let error = pipe.take_error();
        self.state = Mode::Idle(Some(io));
        Poll::Ready(error.map_or(Ok(()), Err))
    }
}

impl<T: Read + Send + 'static> AsyncRead for Unblock<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                Mode::Reading(pipe, job) => {
                    if let Some(read) = pipe.take_bytes(cx, out) {
                        return Poll::Ready(read);
                    }
                    // A job that ended without finishing the pipe: a panic, a shutdown.
                    if let Poll::Ready(result) = Pin::new(job).poll(cx) {
                        this.state = match result {
                            Ok(io) => Mode::Idle(Some(io)),
                            Err(error) => {
                                this.state = Mode::Lost;
                                return Poll::Ready(Err(io::Error::other(error)));
                            }
                        };
                        continue;
                    }
                    return Poll::Pending;
                }
                Mode::Writing(..) => {
                    std::task::ready!(this.poll_idle(cx))?;
                }
                Mode::Idle(io) => {
                    let Some(mut io) = io.take() else {
                        return Poll::Ready(Err(lost()));
                    };
                    let pipe = Pipe::new(this.capacity);
                    let filler = pipe.clone();
                    let job = this.pool.submit_at(this.site.clone(), move || {
                        filler.read_from(&mut io);
                        io
                    });
                    this.state = Mode::Reading(pipe, job);
                }
                Mode::Lost => return Poll::Ready(Err(lost())),
            }
        }
    }
}

impl<T: Write + Send + 'static> AsyncWrite for Unblock<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                Mode::Writing(pipe, job) => {
                    if let Some(written) = pipe.put_bytes(cx, data) {
                        return Poll::Ready(written);
                    }
                    if let Poll::Ready(result) = Pin::new(job).poll(cx) {
                        // The job ended while bytes were still to be written.
                        let error = pipe.take_error();
                        this.state = match result {
                            Ok(io) => Mode::Idle(Some(io)),
                            Err(error) => {
                                this.state = Mode::Lost;
                                return Poll::Ready(Err(io::Error::other(error)));
                            }
                        };
                        if let Some(error) = error {
                            return Poll::Ready(Err(error));
                        }
                        continue;
                    }
                    return Poll::Pending;
                }
                Mode::Reading(..) => {
                    std::task::ready!(this.poll_idle(cx))?;
                }
                Mode::Idle(io) => {
                    let Some(mut io) = io.take() else {
                        return Poll::Ready(Err(lost()));
                    };
                    let pipe = Pipe::new(this.capacity);
                    let drainer = pipe.clone();
                    let job = this.pool.submit_at(this.site.clone(), move || {
                        drainer.write_to(&mut io);
                        io
                    });
                    this.state = Mode::Writing(pipe, job);
                }
                Mode::Lost => return Poll::Ready(Err(lost())),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.state {
            // Ending the writing job writes out the rest and flushes.
            Mode::Writing(..) => this.poll_idle(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

fn lost() -> io::Error {
    io::Error::other("the blocking I/O object was lost: an earlier error ended its job")
}

impl<T> Drop for Unblock<T> {
    fn drop(&mut self) {
        if let Mode::Reading(pipe, job) | Mode::Writing(pipe, job) = &self.state {
            pipe.stop();
            // A job that has not started never runs.
            job.cancel();
        }
    }
}

impl<T> fmt::Debug for Unblock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.state {
            Mode::Idle(_) => "idle",
            Mode::Reading(..) => "reading",
            Mode::Writing(..) => "writing",
            Mode::Lost => "lost",
        };
        f.debug_struct("Unblock")
            .field("site", &self.site)
            .field("capacity", &self.capacity)
            .field("mode", &mode)
            .finish()
    }
}
