//! The stream buffers for the loom models in `loom-tests/stream.rs`: the real buffer of
//! `Handle::iter` with its `Pump` (polled by a loom thread standing in for the loop), the
//! real queue of `ThreadPool::unblock_iter` and the real byte buffer of
//! `ThreadPool::unblock` (their blocking sides run on a loom thread standing in for the
//! pool worker). No job around any of them: the models target the buffers' own handoffs.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::stream::{Buffer, Pipe, Pump, Queue};

/// `Handle::iter`'s bounded buffer, between a pump and a reader.
pub struct StreamBuffer<T>(Arc<Buffer<T>>);

impl<T> Clone for StreamBuffer<T> {
    fn clone(&self) -> StreamBuffer<T> {
        StreamBuffer(self.0.clone())
    }
}

impl<T> StreamBuffer<T> {
    /// A buffer for `capacity` items ahead of the reader.
    pub fn new(capacity: usize) -> StreamBuffer<T> {
        StreamBuffer(Buffer::new(capacity))
    }

    /// The loop side: the job's future, polling `stream` into the buffer.
    pub fn pump<S>(&self, stream: S) -> impl Future<Output = ()>
    where
        S: Stream<Item = T>,
    {
        Pump::new(stream, self.0.clone())
    }

    /// The reader's blocking wait: the next item, or `None` at the stream's end.
    pub fn read(&self) -> Option<T> {
        self.0.read()
    }

    /// The reader drops its iterator.
    pub fn drop_reader(&self) {
        self.0.drop_reader();
    }
}

/// `ThreadPool::unblock_iter`'s bounded queue, between a blocking producer and an async
/// consumer.
pub struct UnblockQueue<T>(Arc<Queue<T>>);

impl<T> Clone for UnblockQueue<T> {
    fn clone(&self) -> UnblockQueue<T> {
        UnblockQueue(self.0.clone())
    }
}

impl<T> UnblockQueue<T> {
    /// A queue for `capacity` items ahead of the consumer.
    pub fn new(capacity: usize) -> UnblockQueue<T> {
        UnblockQueue(Arc::new(Queue::new(capacity)))
    }

    /// The pool worker's side: runs `iter` into the queue, waiting for room.
    pub fn produce(&self, iter: impl Iterator<Item = T>) {
        self.0.produce(iter);
    }

    /// One poll of the consumer's stream.
    pub fn poll_item(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.0.poll_item(cx)
    }

    /// The consumer drops its stream.
    pub fn drop_consumer(&self) {
        self.0.consumer_gone();
    }
}

/// `ThreadPool::unblock`'s byte buffer, between the blocking side (run on a loom thread
/// standing in for the pool worker) and the async side.
#[derive(Clone)]
pub struct UnblockPipe(Arc<Pipe>);

impl UnblockPipe {
    /// A buffer for `capacity` bytes.
    pub fn new(capacity: usize) -> UnblockPipe {
        UnblockPipe(Pipe::new(capacity))
    }

    /// The reading job: fills the buffer from `io` until its end or a stop.
    pub fn read_from(&self, io: &mut impl std::io::Read) {
        self.0.read_from(io);
    }

    /// The writing job: writes out what the async side puts in until a stop, then flushes.
    pub fn write_to(&self, io: &mut impl std::io::Write) {
        self.0.write_to(io);
    }

    /// One poll of the async reader: bytes into `out` (`Ok(0)` at the end).
    pub fn poll_read(&self, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<std::io::Result<usize>> {
        let mut buf = tokio::io::ReadBuf::new(out);
        match self.0.take_bytes(cx, &mut buf) {
            Some(read) => Poll::Ready(read.map(|()| buf.filled().len())),
            None => Poll::Pending,
        }
    }

    /// One poll of the async writer: how much of `data` went in.
    pub fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0
            .put_bytes(cx, data)
            .map_or(Poll::Pending, Poll::Ready)
    }

    /// The async side ends the job: a flush, a switch, or a drop.
    pub fn stop(&self) {
        self.0.stop();
    }
}
