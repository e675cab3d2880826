//! Streams across the bridge: an async stream read by a plain thread (`Handle::iter`),
//! with its bound, its end by panic or shutdown, and the drop that stops it.

mod common;

use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{eventually, recv, DropCount, DropSignal, WAIT};
use futures_core::Stream;
use loopbridge::Bridge;

/// An endless stream of items that count themselves: how many it made, and how many
/// are still alive anywhere (in the buffer, or in the reader's hands).
struct Counting {
    made: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    _signal: Option<DropSignal>,
}

struct Item {
    n: usize,
    _count: DropCount,
}

impl Stream for Counting {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Item>> {
        let n = self.made.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(Item {
            n,
            _count: DropCount(self.dropped.clone()),
        }))
    }
}

#[test]
fn a_slow_reader_never_has_more_than_capacity_items_fetched_ahead() {
    const CAPACITY: usize = 8;
    let bridge = Bridge::new().unwrap();
    let made = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut items = bridge.handle().iter(
        Counting {
            made: made.clone(),
            dropped: dropped.clone(),
            _signal: None,
        },
        CAPACITY,
    );
    let mut reached_capacity = 0;
    for read in 0..200 {
        // Slower than the stream: it has got ahead before each read (it refills the
        // buffer whenever the reader has drained half of it).
        eventually("the stream gets ahead", || items.buffered() > CAPACITY / 2);
        let ahead = made.load(Ordering::SeqCst) - read;
        assert!(ahead <= CAPACITY, "{ahead} items fetched ahead");
        if ahead == CAPACITY {
            reached_capacity += 1;
        }
        let item = items.next().unwrap().unwrap();
        assert_eq!(item.n, read);
        let alive = made.load(Ordering::SeqCst) - dropped.load(Ordering::SeqCst);
        assert!(alive <= CAPACITY + 1, "{alive} items alive");
    }
    assert!(reached_capacity > 0, "the reader was never the slow one");
}

#[test]
fn dropping_the_iterator_mid_stream_drops_the_stream_and_its_items() {
    let bridge = Bridge::new().unwrap();
    let made = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (signal, stream_dropped) = mpsc::channel();
    let mut items = bridge.handle().iter(
        Counting {
            made: made.clone(),
            dropped: dropped.clone(),
            _signal: Some(DropSignal(signal)),
        },
        4,
    );
    for _ in 0..10 {
        items.next().unwrap().unwrap();
    }
    drop(items);
    recv(&stream_dropped, "the stream dropped");
    eventually("every item dropped", || {
        dropped.load(Ordering::SeqCst) == made.load(Ordering::SeqCst)
    });
    assert_eq!(bridge.handle().stats().in_flight, 0);
}

#[test]
fn a_panicking_stream_ends_with_an_error_item() {
    let bridge = Bridge::new().unwrap();
    let stream = futures_util::stream::iter(0..5).map(|n| {
        assert!(n < 3, "bad item");
        n
    });
    let read: Vec<Result<i32, loopbridge::Error>> = bridge.handle().iter(stream, 2).collect();
    assert_eq!(read.len(), 4);
    assert_eq!(
        read[..3]
            .iter()
            .map(|item| *item.as_ref().unwrap())
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(
        read[3].as_ref().unwrap_err().panic_message(),
        Some("bad item")
    );
}

#[test]
fn a_bridge_closing_ends_the_iteration_with_closed() {
    let bridge = Bridge::new().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<u8>(1);
    let received =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|n| (n, rx)) });
    let mut items = bridge.handle().iter(received, 4);
    tx.blocking_send(1).unwrap();
    assert_eq!(items.next_timeout(WAIT).unwrap(), Some(1));
    bridge.shutdown(Duration::from_millis(20));
    assert!(items.next().unwrap().unwrap_err().is_closed());
    assert!(items.next().is_none());

    // A closed bridge refuses the stream: one `Closed` item.
    let closed = Bridge::new().unwrap();
    let handle = closed.handle();
    closed.shutdown(Duration::from_secs(1));
    let mut refused = handle.iter(futures_util::stream::iter([1]), 1);
    assert!(refused.next().unwrap().unwrap_err().is_closed());
    assert!(refused.next().is_none());
}

#[test]
fn a_not_send_stream_is_built_and_polled_on_the_loop() {
    let bridge = Bridge::new().unwrap();
    let items = bridge.handle().iter_local(
        || {
            let shared = Rc::new(10);
            futures_util::stream::iter(0..3).map(move |n| n + *shared)
        },
        1,
    );
    assert_eq!(items.collect::<Result<Vec<_>, _>>().unwrap(), [10, 11, 12]);
}

#[test]
fn reading_on_a_loop_thread_refuses_and_ends_the_iteration() {
    let bridge = Bridge::new().unwrap();
    let handle = bridge.handle();
    let inner = handle.clone();
    let (timed, next, after) = handle
        .run_callback(move || {
            let mut items = inner.iter(futures_util::stream::pending::<u8>(), 1);
            let timed = items
                .next_timeout(WAIT)
                .map_err(|e| e.is_blocking_on_loop());
            let next = items
                .next()
                .map(|item| item.map_err(|e| e.is_blocking_on_loop()));
            (timed, next, items.next().is_none())
        })
        .wait()
        .unwrap();
    assert_eq!(timed, Err(true));
    assert_eq!(next, Some(Err(true)));
    assert!(after);
}

use futures_util::StreamExt;
