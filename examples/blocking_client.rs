//! The library author's view: a crate-like module (`inventory`) that offers a blocking
//! API over an async client, on a `LazyBridge` of its own. Its users call it from plain
//! threads, and from inside a `#[tokio::main]` host: there the right call is from
//! `spawn_blocking` (or the async API); a call from a task still works, warned once.
//!
//! Run with `cargo run --example blocking_client`.

/// What a library crate would be: an async client, and a blocking API over it.
mod inventory {
    use std::net::SocketAddr;
    use std::time::Duration;

    use loopbridge::{Bridge, LazyBridge};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    /// The library's own loop: started by the first call, apart from the program's (and
    /// from `loopbridge::global()`), fork-aware.
    static RUNTIME: LazyBridge = LazyBridge::new(|| {
        Bridge::builder()
            .thread_name("inventory")
            .shutdown_timeout(Duration::from_secs(1))
    });

    /// Why a call failed.
    #[derive(Debug)]
    pub enum Error {
        /// The network.
        Io(std::io::Error),
        /// The loop (shut down, a timeout, a refused wait, …).
        Bridge(loopbridge::Error),
    }

    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Error::Io(error) => write!(f, "inventory: {error}"),
                Error::Bridge(error) => write!(f, "inventory: {error}"),
            }
        }
    }

    impl std::error::Error for Error {}

    /// A blocking client of an inventory server.
    #[derive(Clone, Debug)]
    pub struct Client {
        server: SocketAddr,
    }

    impl Client {
        /// A client of the server at `server`.
        pub fn new(server: SocketAddr) -> Client {
            Client { server }
        }

        /// How many of `item` are in stock, waiting at most 5 s.
        ///
        /// Blocks the calling thread; call it from a plain thread or from
        /// `spawn_blocking`, and [`stock_async`](Client::stock_async) from async code.
        pub fn stock(&self, item: &str) -> Result<u64, Error> {
            let request = self.stock_async(item.to_owned());
            RUNTIME
                .handle()
                .submit(request)
                .wait_timeout_or_cancel(Duration::from_secs(5))
                .map_err(Error::Bridge)?
        }

        /// The async client underneath (runs on any tokio runtime).
        pub fn stock_async(
            &self,
            item: String,
        ) -> impl std::future::Future<Output = Result<u64, Error>> + Send + 'static {
            let server = self.server;
            async move {
                let mut stream = TcpStream::connect(server).await.map_err(Error::Io)?;
                stream
                    .write_all(format!("{item}\n").as_bytes())
                    .await
                    .map_err(Error::Io)?;
                let mut line = String::new();
                BufReader::new(stream)
                    .read_line(&mut line)
                    .await
                    .map_err(Error::Io)?;
                line.trim()
                    .parse()
                    .map_err(|_| Error::Io(std::io::Error::other("bad answer")))
            }
        }
    }

    /// A toy server for the example, on the library's loop: the stock of an item is
    /// its name's length.
    pub fn start_test_server() -> Result<SocketAddr, Error> {
        RUNTIME
            .handle()
            .block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let address = listener.local_addr()?;
                tokio::spawn(async move {
                    while let Ok((socket, _)) = listener.accept().await {
                        tokio::spawn(async move {
                            let (read, mut write) = socket.into_split();
                            let mut line = String::new();
                            BufReader::new(read).read_line(&mut line).await?;
                            let answer = format!("{}\n", line.trim().len());
                            write.write_all(answer.as_bytes()).await
                        });
                    }
                });
                std::io::Result::Ok(address)
            })
            .map_err(Error::Bridge)?
            .map_err(Error::Io)
    }

    /// For hosts that unload the library: stops its loop.
    pub fn shutdown() -> loopbridge::ShutdownReport {
        RUNTIME.shutdown(Duration::from_secs(1))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Shows loopbridge's warnings (target `loopbridge`) on stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let server = inventory::start_test_server()?;
    let client = inventory::Client::new(server);

    // 1. Plain threads: the blocking API as it is meant to be used.
    let threads: Vec<_> = ["apples", "pears", "kiwis"]
        .into_iter()
        .map(|item| {
            let client = client.clone();
            std::thread::spawn(move || client.stock(item).map(|stock| (item, stock)))
        })
        .collect();
    for thread in threads {
        let (item, stock) = thread.join().expect("a client thread panicked")?;
        assert_eq!(stock, item.len() as u64);
        println!("plain thread:   {item} in stock: {stock}");
    }

    // 2. Inside the `#[tokio::main]` host: from `spawn_blocking`, no warning.
    let blocking_client = client.clone();
    let stock = tokio::task::spawn_blocking(move || blocking_client.stock("plums")).await??;
    println!("spawn_blocking: plums in stock: {stock}");

    // 3. The async API, from the host's own tasks.
    let stock = client.stock_async("figs".to_owned()).await?;
    println!("async:          figs in stock: {stock}");

    // 4. The mistake: the blocking API from a task of the host's multi-thread runtime.
    // It works (the wait runs in `block_in_place`, so the host's other tasks go on) and
    // `loopbridge` warns once for the call site through `tracing`.
    let task_client = client.clone();
    let stock = tokio::spawn(async move { task_client.stock("grapes") }).await??;
    println!("inside a task:  grapes in stock: {stock} (warned once, through tracing)");

    // 5. The host unloads the library.
    let report = inventory::shutdown();
    println!("shutdown:       {report}");
    Ok(())
}
