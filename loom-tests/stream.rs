//! loom models of the stream buffers: `Handle::iter`'s (a pump on the loop parked on a
//! full buffer, a plain-thread reader), `ThreadPool::unblock_iter`'s (a blocking producer
//! on a pool worker waiting for room, an async consumer) and `ThreadPool::unblock`'s byte
//! buffer (a blocking reader or writer on a pool worker, an async writer or reader). A
//! spawned loom thread is the blocking or producing side; the model's thread is the
//! other. A lost wake-up leaves one side parked forever, which loom reports as a deadlock.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use loopbridge::__loom::stream::{StreamBuffer, UnblockPipe, UnblockQueue};

/// Yields `0..len`, counting its drops.
struct Counted {
    next: u32,
    len: u32,
    drops: Arc<AtomicUsize>,
}

impl Counted {
    fn new(len: u32) -> (Counted, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let counted = Counted {
            next: 0,
            len,
            drops: drops.clone(),
        };
        (counted, drops)
    }
}

impl Iterator for Counted {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        (self.next < self.len).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

impl Stream for Counted {
    type Item = u32;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<u32>> {
        Poll::Ready(self.get_mut().next())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// The pump fills a one-item buffer and parks; each item the reader takes must wake it.
/// Every item arrives once, in order, then the end. Mutation caught: the pump storing
/// its waker after letting go of the lock it found the buffer full under (deadlock).
#[test]
fn a_pump_parked_on_a_full_buffer_is_woken_by_the_reader() {
    loom::model(|| {
        let buffer = StreamBuffer::new(1);
        let (stream, drops) = Counted::new(2);
        let pump = {
            let buffer = buffer.clone();
            thread::spawn(move || loom::future::block_on(buffer.pump(stream)))
        };
        let mut read = Vec::new();
        while let Some(item) = buffer.read() {
            read.push(item);
        }
        pump.join().unwrap();
        assert_eq!(read, [0, 1], "each item once, in order");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the stream dropped once");
    });
}

/// The reader drops while the pump may be parked on the full buffer: the pump ends (its
/// thread is joined) and the stream is dropped exactly once. Mutation caught: the
/// reader's drop taking the parked pump's waker without waking it (deadlock: only the
/// job's cancel, absent here, would have ended it).
#[test]
fn the_reader_dropping_ends_a_parked_pump_and_drops_the_stream_once() {
    loom::model(|| {
        let buffer = StreamBuffer::new(1);
        let (stream, drops) = Counted::new(3);
        let pump = {
            let buffer = buffer.clone();
            thread::spawn(move || loom::future::block_on(buffer.pump(stream)))
        };
        assert_eq!(buffer.read(), Some(0));
        buffer.drop_reader();
        pump.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the stream dropped once");
    });
}

/// The blocking producer fills a one-item queue and waits for room; each item the async
/// consumer takes must wake it. Every item arrives once, in order, then the end.
/// Mutation caught: a producer that waits without saying so (its `producer_waiting` flag
/// left unset, so the consumer never notifies: deadlock).
#[test]
fn a_producer_waiting_for_room_is_woken_by_the_async_consumer() {
    loom::model(|| {
        let queue = UnblockQueue::new(1);
        let (iter, drops) = Counted::new(2);
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || queue.produce(iter))
        };
        let mut read = Vec::new();
        while let Some(item) = loom::future::block_on(poll_fn(|cx| queue.poll_item(cx))) {
            read.push(item);
        }
        producer.join().unwrap();
        assert_eq!(read, [0, 1], "each item once, in order");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the iterator dropped once");
    });
}

/// The consumer drops while the producer may be waiting for room: the producer returns
/// and the iterator is dropped exactly once. Mutation caught: a consumer drop that sets
/// its flag without notifying the waiting producer (deadlock).
#[test]
fn the_consumer_dropping_stops_a_waiting_producer() {
    loom::model(|| {
        let queue = UnblockQueue::new(1);
        let (iter, drops) = Counted::new(3);
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || queue.produce(iter))
        };
        let first = loom::future::block_on(poll_fn(|cx| queue.poll_item(cx)));
        assert_eq!(first, Some(0));
        queue.drop_consumer();
        producer.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the iterator dropped once");
    });
}

/// Reads the async side of `pipe` to its end, one poll at a time.
fn read_to_end(pipe: &UnblockPipe) -> Vec<u8> {
    let mut read = Vec::new();
    loop {
        let mut byte = [0; 1];
        match loom::future::block_on(poll_fn(|cx| pipe.poll_read(cx, &mut byte))) {
            Ok(0) => return read,
            Ok(n) => read.extend(&byte[..n]),
            Err(error) => panic!("the reading job failed: {error}"),
        }
    }
}

/// `unblock`'s reading job fills a one-byte buffer from a blocking reader and waits for
/// room; each byte the async reader takes must wake it, and each byte it puts in must
/// wake the parked reader. Every byte arrives once, in order, then the end. Mutations
/// caught: the async side taking bytes without notifying the blocking side, and the
/// reading job putting bytes in without waking the parked reader (each a deadlock).
#[test]
fn unblock_reading_wakes_both_sides_and_loses_no_byte() {
    loom::model(|| {
        let pipe = UnblockPipe::new(1);
        let job = {
            let pipe = pipe.clone();
            thread::spawn(move || pipe.read_from(&mut std::io::Cursor::new(vec![1, 2])))
        };
        assert_eq!(read_to_end(&pipe), [1, 2], "each byte once, in order");
        job.join().unwrap();
    });
}

/// `unblock`'s writing job writes out what the async writer puts into a one-byte buffer;
/// a writer facing a full buffer parks until the job makes room. After the writer's stop
/// (its flush) the job writes out the rest and returns. Every byte is written once, in
/// order. Mutation caught: the job taking bytes out without waking the parked writer
/// (deadlock).
#[test]
fn unblock_writing_wakes_the_async_writer_and_writes_every_byte() {
    loom::model(|| {
        let pipe = UnblockPipe::new(1);
        let job = {
            let pipe = pipe.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                pipe.write_to(&mut out);
                out
            })
        };
        for byte in [1, 2] {
            let written = loom::future::block_on(poll_fn(|cx| pipe.poll_write(cx, &[byte])));
            assert_eq!(written.unwrap(), 1);
        }
        pipe.stop();
        assert_eq!(job.join().unwrap(), [1, 2], "each byte once, in order");
    });
}

/// The async side stops the reading job (a drop, a switch to writing) while the job may
/// be waiting for room: it must return. Mutation caught: a stop that sets its flag
/// without notifying the waiting job (deadlock).
#[test]
fn unblock_stop_ends_a_reading_job_waiting_for_room() {
    loom::model(|| {
        let pipe = UnblockPipe::new(1);
        let job = {
            let pipe = pipe.clone();
            thread::spawn(move || pipe.read_from(&mut std::io::Cursor::new(vec![1, 2, 3])))
        };
        let mut first = [0; 1];
        let read = loom::future::block_on(poll_fn(|cx| pipe.poll_read(cx, &mut first)));
        assert_eq!((read.unwrap(), first), (1, [1]));
        pipe.stop();
        job.join().unwrap();
    });
}
