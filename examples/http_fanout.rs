//! A synchronous program that fans out HTTP requests through the bridge: it starts a
//! small HTTP server on 127.0.0.1 inside the bridge (hyper), sends 200 requests with the
//! async `reqwest` client, collects them with `as_completed` under one overall deadline,
//! and reads one large response body chunk by chunk through a plain `Iterator`.
//!
//! `cargo run --example http_fanout`

use std::convert::Infallible;
use std::error::Error;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{stream, TryStreamExt};
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use loopbridge::{as_completed, Bridge};

/// The large body the last request streams.
const LARGE: usize = 8 * 1024 * 1024;
const REQUESTS: usize = 200;

fn main() -> Result<(), Box<dyn Error>> {
    let bridge = Bridge::builder().thread_name("http-loop").build()?;
    let handle = bridge.handle();

    // The server: bound on the loop, then served by a job of its own, cancelled at the
    // end.
    let listener =
        handle.block_on(async { tokio::net::TcpListener::bind("127.0.0.1:0").await })??;
    let address = listener.local_addr()?;
    let server = handle.job("http server").submit(serve(listener));
    println!("serving on http://{address}");

    // The fan-out: one job per request, all on the loop, sharing one client.
    let client = reqwest::Client::new();
    let started = Instant::now();
    let jobs: Vec<_> = (0..REQUESTS)
        .map(|n| {
            let client = client.clone();
            let url = format!("http://{address}/item/{n}");
            handle.submit(async move {
                client
                    .get(url)
                    .send()
                    .await?
                    .error_for_status()?
                    .text()
                    .await
            })
        })
        .collect();

    // Collected in the order they finish, under one deadline for all of them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut done = as_completed(jobs);
    let (mut ok, mut failed) = (0, 0);
    loop {
        match done.next_deadline(deadline) {
            Ok(Some((index, Ok(Ok(body))))) => {
                assert_eq!(body, format!("item {index}"));
                ok += 1;
            }
            Ok(Some((index, Ok(Err(http))))) => {
                eprintln!("request {index} failed: {http}");
                failed += 1;
            }
            Ok(Some((index, Err(job)))) => {
                eprintln!("request {index} did not finish: {job}");
                failed += 1;
            }
            Ok(None) => break,
            Err(timeout) => {
                eprintln!("deadline passed: {timeout}");
                let late = done.into_pending();
                for (_, job) in &late {
                    job.cancel();
                }
                failed += late.len();
                break;
            }
        }
    }
    println!(
        "{ok} of {REQUESTS} requests answered, {failed} failed, in {:?}",
        started.elapsed()
    );

    // One large body, read chunk by chunk by this thread while the loop fetches at most
    // four chunks ahead of it.
    let url = format!("http://{address}/large");
    let body = stream::once(async move {
        client
            .get(url)
            .send()
            .await
            .map(reqwest::Response::bytes_stream)
    })
    .try_flatten();
    let (mut chunks, mut bytes) = (0, 0);
    for chunk in handle.iter(body, 4) {
        let chunk = chunk??;
        chunks += 1;
        bytes += chunk.len();
    }
    println!("streamed {bytes} bytes in {chunks} chunks");
    assert_eq!(bytes, LARGE);

    server.cancel();
    let report = bridge.shutdown(Duration::from_secs(5));
    println!("shutdown: {report:?}");
    Ok(())
}

/// Accepts connections until the bridge stops; each connection is served by a task on
/// the loop.
async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(respond);
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await
            {
                eprintln!("connection error: {error}");
            }
        });
    }
}

async fn respond(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let body = match path.strip_prefix("/item/") {
        Some(n) => Bytes::from(format!("item {n}")),
        None if path == "/large" => Bytes::from(vec![b'x'; LARGE]),
        None => Bytes::from_static(b"not found"),
    };
    Ok(Response::new(Full::new(body)))
}
