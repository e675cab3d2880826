//! Blocking producers for async consumers: a sync iterator as a `Stream`
//! (`ThreadPool::unblock_iter`), and a blocking reader or writer as tokio's `AsyncRead` /
//! `AsyncWrite` (`ThreadPool::unblock`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use common::{recv, DropSignal};
use futures_util::StreamExt;
use loopbridge::{Bridge, ThreadPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes that are not all alike, so a reordered or dropped chunk shows.
fn sample(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// A file of its own in the temporary directory, removed at the end.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("loopbridge-{}-{name}", std::process::id()));
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_file_read_through_unblock_arrives_in_a_loopback_socket_byte_for_byte() {
    let bytes = sample(3 * 1024 * 1024 + 17);
    let file = TempFile::new("copy-source");
    std::fs::write(&file.0, &bytes).unwrap();
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(2).unwrap();
    let reader = pool.unblock_with_capacity(std::fs::File::open(&file.0).unwrap(), 16 * 1024);
    let (sent, received) = bridge
        .handle()
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?;
            let server = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await?;
                let mut received = Vec::new();
                socket.read_to_end(&mut received).await?;
                Ok::<_, std::io::Error>(received)
            });
            let mut client = tokio::net::TcpStream::connect(address).await?;
            let mut reader = reader;
            let sent = tokio::io::copy(&mut reader, &mut client).await?;
            client.shutdown().await?;
            let received = server.await.unwrap()?;
            Ok::<_, std::io::Error>((sent, received))
        })
        .unwrap()
        .unwrap();
    assert_eq!(sent, bytes.len() as u64);
    assert!(received == bytes, "the bytes differ");
}

#[test]
fn bytes_written_through_unblock_reach_the_file_after_a_flush() {
    let bytes = sample(300_000);
    let file = TempFile::new("write-target");
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(2).unwrap();
    let mut writer = pool.unblock_with_capacity(std::fs::File::create(&file.0).unwrap(), 4096);
    let expected = bytes.clone();
    bridge
        .handle()
        .block_on(async move {
            for chunk in bytes.chunks(1000) {
                writer.write_all(chunk).await?;
            }
            writer.flush().await?;
            // Written on after a flush: a new writing job takes the file over.
            writer.write_all(b"!").await?;
            writer.shutdown().await
        })
        .unwrap()
        .unwrap();
    let mut written = std::fs::read(&file.0).unwrap();
    assert_eq!(written.pop(), Some(b'!'));
    assert!(written == expected, "the bytes differ");
}

#[test]
fn a_reader_that_fails_hands_its_error_to_the_async_side() {
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "gone",
            ))
        }
    }
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(1).unwrap();
    let mut reader = pool.unblock(Failing);
    let error = bridge
        .handle()
        .block_on(async move {
            let mut buf = [0; 8];
            reader.read(&mut buf).await
        })
        .unwrap()
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
}

#[test]
fn an_iterator_on_the_pool_becomes_a_stream_in_order() {
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(2).unwrap();
    let stream = pool.unblock_iter(0..1000_u32, 7);
    let read: Vec<u32> = bridge
        .handle()
        .block_on(async move { stream.map(Result::unwrap).collect().await })
        .unwrap();
    assert_eq!(read, (0..1000).collect::<Vec<_>>());
}

#[test]
fn dropping_the_stream_stops_the_blocking_iterator_at_its_next_item() {
    const CAPACITY: usize = 4;
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(1).unwrap();
    let made = Arc::new(AtomicUsize::new(0));
    let (signal, iterator_dropped) = mpsc::channel();
    let counting = {
        let made = made.clone();
        let guard = DropSignal(signal);
        std::iter::repeat_with(move || {
            let _keep = &guard;
            made.fetch_add(1, Ordering::SeqCst)
        })
    };
    let mut stream = pool.unblock_iter(counting, CAPACITY);
    let first: Vec<usize> = bridge
        .handle()
        .block_on(async move {
            let mut first = Vec::new();
            for _ in 0..10 {
                first.push(stream.next().await.unwrap().unwrap());
            }
            first
        })
        .unwrap();
    assert_eq!(first, (0..10).collect::<Vec<_>>());
    // The stream was dropped at the end of the block: the iterator ends on its worker.
    recv(&iterator_dropped, "the blocking iterator dropped");
    let made = made.load(Ordering::SeqCst);
    assert!(made <= 10 + CAPACITY + 1, "{made} items made for 10 read");
    assert_eq!(
        pool.submit(|| "the worker is free").wait().unwrap(),
        "the worker is free"
    );
}

#[test]
fn a_panicking_iterator_ends_the_stream_with_an_error_item() {
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(1).unwrap();
    let stream = pool.unblock_iter((0..5).inspect(|&n| assert!(n < 2, "bad row")), 2);
    let read: Vec<Result<i32, loopbridge::Error>> = bridge
        .handle()
        .block_on(stream.collect::<Vec<_>>())
        .unwrap();
    assert_eq!(read.len(), 3);
    assert_eq!(*read[1].as_ref().unwrap(), 1);
    assert_eq!(
        read[2].as_ref().unwrap_err().panic_message(),
        Some("bad row")
    );
}

/// A reader dropped while its buffer is full stops the job waiting for room: the
/// object is dropped on the worker and the worker is free again (the stop once left the
/// job waiting for a lock it held itself).
#[test]
fn dropping_a_reader_whose_buffer_is_full_frees_the_worker() {
    struct Endless(#[allow(dead_code)] DropSignal);
    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf.fill(7);
            Ok(buf.len())
        }
    }
    let bridge = Bridge::new().unwrap();
    let pool = ThreadPool::new(1).unwrap();
    let (signal, object_dropped) = mpsc::channel();
    let mut reader = pool.unblock_with_capacity(Endless(DropSignal(signal)), 4);
    let first = bridge
        .handle()
        .block_on(async move {
            let mut byte = [0; 1];
            reader.read_exact(&mut byte).await.map(|_| byte[0])
        })
        .unwrap()
        .unwrap();
    assert_eq!(first, 7);
    recv(&object_dropped, "the blocking reader dropped on its worker");
    assert_eq!(
        pool.submit(|| "the worker is free").wait().unwrap(),
        "the worker is free"
    );
}
