//! A plain synchronous program using async code through the global bridge: timers, a
//! loopback TCP exchange, a timeout, a cancel, and a panic turned into an error.
//!
//! Run with `cargo run --example quickstart`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let handle = loopbridge::global();

    // 1. Async timers from synchronous code.
    let slept = handle.block_on(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        "slept 20 ms on the loop"
    })?;
    println!("timer:    {slept}");

    // 2. A loopback TCP exchange: an echo server and a client, both on the loop.
    let echoed = handle.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await?;
            let mut buffer = [0u8; 64];
            let read = socket.read(&mut buffer).await?;
            socket.write_all(&buffer[..read]).await?;
            std::io::Result::Ok(())
        });
        let mut client = TcpStream::connect(address).await?;
        client.write_all(b"hello, loop").await?;
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await?;
        server.await.map_err(std::io::Error::other)??;
        std::io::Result::Ok(String::from_utf8_lossy(&reply).into_owned())
    })??;
    assert_eq!(echoed, "hello, loop");
    println!("tcp echo: {echoed:?}");

    // 3. A timed wait that gives up without cancelling, then a cancel.
    // (tokio resources such as timers are created inside the async block: that runs on
    // the loop thread, where the runtime is.)
    let mut slow = handle.submit(async { tokio::time::sleep(Duration::from_secs(3600)).await });
    let timed_out = slow.wait_timeout(Duration::from_millis(10)).unwrap_err();
    assert!(timed_out.is_timeout());
    println!("timeout:  {timed_out}");
    assert!(
        slow.cancel(),
        "the job was still running, so the cancel wins"
    );
    let cancelled = slow.wait().unwrap_err();
    assert!(cancelled.is_cancelled());
    println!("cancel:   {cancelled}");

    // 4. A panic in a job becomes an error naming the line that submitted it. The panic is
    // deliberate: this example's own panic hook prints it as one line (the library leaves
    // the process's panic hook alone).
    println!("panic:    a job now panics on purpose; its error comes back to the caller");
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "          (the deliberate panic, at {})",
            info.location()
                .map_or_else(String::new, ToString::to_string)
        );
    }));
    let panicked = handle
        .job("parse reply")
        .submit(async { panic!("unexpected byte 0xff") })
        .wait()
        .unwrap_err();
    std::panic::set_hook(default_hook);
    assert_eq!(panicked.panic_message(), Some("unexpected byte 0xff"));
    println!("panic:    {panicked}");

    // The loop keeps serving after all of that.
    assert_eq!(handle.block_on(async { 6 * 7 })?, 42);
    let stats = handle.stats();
    println!(
        "stats:    {} submitted, {} finished, {} cancelled, {} panicked",
        stats.submitted, stats.finished, stats.cancelled, stats.panicked
    );
    Ok(())
}
