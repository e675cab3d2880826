//! The bounded byte buffer under [`Unblock`](super::Unblock): a job on a pool worker
//! reads a blocking object into it (or writes out of it), the async side takes bytes out
//! (or puts them in). The blocking side sleeps on a condition variable, the async side
//! parks its waker; each side stores its wait under the lock it found nothing to do
//! under, and each side's progress wakes the other after letting go of it.
//! loom: `loom-tests/stream.rs`.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::task::{Context, Waker};

use tokio::io::ReadBuf;

use crate::sync::{Condvar, Mutex};

/// The default buffer: as large as one `read` of a socket or file usually returns.
pub(crate) const DEFAULT_CAPACITY: usize = 64 * 1024;

/// The bytes between the blocking side and the async side.
pub(crate) struct Pipe {
    state: Mutex<PipeState>,
    /// The blocking side waits here: for room (reading) or for bytes (writing).
    blocking: Condvar,
    capacity: usize,
}

#[derive(Default)]
struct PipeState {
    bytes: VecDeque<u8>,
    /// Reading: the object reached its end (or failed). Writing: the job stopped.
    done: bool,
    /// The first I/O error of the blocking side, handed to the async side once.
    error: Option<io::Error>,
    /// The async side stops this job: flush (writing) or switch, or drop.
    stop: bool,
    /// The async side's task, waiting for bytes (reading) or room (writing).
    waker: Option<Waker>,
}

impl Pipe {
    pub(crate) fn new(capacity: usize) -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(PipeState::default()),
            blocking: Condvar::new(),
            capacity,
        })
    }

    /// Ends the job's part: marks the pipe done (with `error`) and wakes the async side.
    fn finish(&self, error: Option<io::Error>) {
        let waker = {
            let mut state = self.state.lock();
            state.done = true;
            if state.error.is_none() {
                state.error = error;
            }
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(crate) fn stop(&self) {
        self.state.lock().stop = true;
        self.blocking.notify_all();
    }

    /// The reading job: fills the pipe from `io` while it has room.
    pub(crate) fn read_from<T: Read>(&self, io: &mut T) {
        let mut chunk = vec![0; self.capacity.min(DEFAULT_CAPACITY)];
        loop {
            let room = {
                let mut state = self.state.lock();
                loop {
                    if state.stop {
                        // `finish` takes the lock again.
                        drop(state);
                        return self.finish(None);
                    }
                    let room = self.capacity - state.bytes.len();
                    if room > 0 {
                        break room;
                    }
                    state = self.blocking.wait(state);
                }
            };
            let len = room.min(chunk.len());
            let read = match io.read(&mut chunk[..len]) {
                Ok(0) => return self.finish(None),
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return self.finish(Some(error)),
            };
            let waker = {
                let mut state = self.state.lock();
                state.bytes.extend(&chunk[..read]);
                state.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// The writing job: writes out what the async side puts in, until it stops the job;
    /// then flushes.
    pub(crate) fn write_to<T: Write>(&self, io: &mut T) {
        let mut chunk = Vec::with_capacity(self.capacity.min(DEFAULT_CAPACITY));
        loop {
            let waker = {
                let mut state = self.state.lock();
                loop {
                    if !state.bytes.is_empty() {
                        let take = state.bytes.len().min(chunk.capacity());
                        chunk.extend(state.bytes.drain(..take));
                        break;
                    }
                    if state.stop {
                        drop(state);
                        let flushed = io.flush().err();
                        return self.finish(flushed);
                    }
                    state = self.blocking.wait(state);
                }
                state.waker.take()
            };
            // Room was made.
            if let Some(waker) = waker {
                waker.wake();
            }
            if let Err(error) = io.write_all(&chunk) {
                return self.finish(Some(error));
            }
            chunk.clear();
        }
    }
}

impl Pipe {
    /// Reading, the async side: moves buffered bytes into `out` (at most its room) and
    /// wakes the blocking side, or returns the end (nothing put in `out`) or the error,
    /// once. With nothing to report, stores `cx`'s waker and returns `None`.
    pub(crate) fn take_bytes(
        &self,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Option<io::Result<()>> {
        let mut state = self.state.lock();
        if !state.bytes.is_empty() {
            let n = state.bytes.len().min(out.remaining());
            let (front, back) = state.bytes.as_slices();
            let first = front.len().min(n);
            out.put_slice(&front[..first]);
            out.put_slice(&back[..n - first]);
            state.bytes.drain(..n);
            drop(state);
            self.blocking.notify_all();
            return Some(Ok(()));
        }
        if state.done {
            return Some(state.error.take().map_or(Ok(()), Err));
        }
        state.waker = Some(cx.waker().clone());
        None
    }

    /// Writing, the async side: puts as much of `data` as there is room for and wakes
    /// the blocking side, or returns the blocking side's error, once. With no room (or
    /// the job done), stores `cx`'s waker and returns `None`.
    pub(crate) fn put_bytes(&self, cx: &mut Context<'_>, data: &[u8]) -> Option<io::Result<usize>> {
        let mut state = self.state.lock();
        if let Some(error) = state.error.take() {
            return Some(Err(error));
        }
        let room = self.capacity - state.bytes.len();
        if room > 0 && !state.done {
            let n = room.min(data.len());
            state.bytes.extend(&data[..n]);
            drop(state);
            self.blocking.notify_all();
            return Some(Ok(n));
        }
        state.waker = Some(cx.waker().clone());
        None
    }

    /// The blocking side's first error, if it has not been handed out.
    pub(crate) fn take_error(&self) -> Option<io::Error> {
        self.state.lock().error.take()
    }
}
