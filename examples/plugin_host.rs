//! A plugin host: three plugins share one bridge, each with a periodic timer, a TCP
//! listener on 127.0.0.1 and a blocking job on a thread pool. Unloading one closes its
//! `Scope`, which stops everything the plugin started (the jobs its jobs started too),
//! while the other two keep serving.
//!
//! Run with `cargo run --example plugin_host` (unloads `weather`), or name the plugin to
//! unload: `cargo run --example plugin_host -- unload lights`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loopbridge::{Bridge, Handle, Scope, ThreadPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the host knows of a plugin it loaded.
struct Loaded {
    scope: Scope,
    ticks: Arc<AtomicU64>,
    polls: Arc<AtomicU64>,
    address: SocketAddr,
}

/// The plugin table: a name and the greeting its listener answers with.
const PLUGINS: [(&str, &str); 3] = [("weather", "sunny"), ("lights", "on"), ("music", "playing")];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let to_unload = match args.as_slice() {
        [] => "weather".to_owned(),
        [command, name] if command == "unload" => name.clone(),
        _ => return Err("usage: plugin_host [unload NAME]".into()),
    };

    let bridge = Bridge::builder().thread_name("plugin-host").build()?;
    let handle = bridge.handle();
    let pool = ThreadPool::builder()
        .name("plugin-io")
        .max_workers(4)
        .build()?;

    let mut plugins = BTreeMap::new();
    for (name, greeting) in PLUGINS {
        let loaded = load(&handle, &pool, name, greeting)?;
        println!("loaded   {name:8} listening on {}", loaded.address);
        plugins.insert(name, loaded);
    }
    for (name, plugin) in &plugins {
        wait_until_busy(plugin)?;
        println!("serving  {name:8} says {:?}", ask(&handle, plugin.address)?);
    }

    let Some(unloaded) = plugins.remove(to_unload.as_str()) else {
        return Err(format!("no plugin named {to_unload:?}").into());
    };
    println!(
        "\nunload {to_unload}: {} live jobs",
        unloaded.scope.jobs().len()
    );
    let report = unloaded.scope.close(Duration::from_secs(5));
    println!("report   {report}");
    assert!(report.stuck.is_empty(), "nothing of the plugin is stuck");
    let (ticks, polls) = (
        unloaded.ticks.load(Ordering::SeqCst),
        unloaded.polls.load(Ordering::SeqCst),
    );
    let refused = ask(&handle, unloaded.address);
    println!("unloaded {to_unload:8} listener: {}", describe(&refused));
    assert!(refused.is_err(), "its listener is gone");

    for (name, plugin) in &plugins {
        wait_until_busy(plugin)?;
        println!("serving  {name:8} says {:?}", ask(&handle, plugin.address)?);
    }
    assert_eq!(
        unloaded.ticks.load(Ordering::SeqCst),
        ticks,
        "its timer stopped"
    );
    assert_eq!(
        unloaded.polls.load(Ordering::SeqCst),
        polls,
        "its pool job stopped"
    );
    println!("\n{to_unload} stayed stopped; the other plugins kept working");

    // The host stops: every scope closes with the bridge. Timers and accept loops never
    // end by themselves, so they are cut off once the (short) timeout runs out.
    let report = bridge.shutdown(Duration::from_millis(100));
    println!("host shutdown: {report}");
    assert!(report.stuck.is_empty());
    Ok(())
}

/// Loads one plugin in a scope of its own.
fn load(
    handle: &Handle,
    pool: &ThreadPool,
    name: &str,
    greeting: &'static str,
) -> Result<Loaded, Box<dyn std::error::Error>> {
    let scope = handle.scope(name);
    let plugin = scope.handle();
    let ticks = Arc::new(AtomicU64::new(0));
    let polls = Arc::new(AtomicU64::new(0));

    // A periodic timer.
    let counted = ticks.clone();
    plugin.job("timer").add_job(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(5));
        loop {
            interval.tick().await;
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });

    // A TCP listener on 127.0.0.1, answering each connection with the greeting.
    let listener = plugin.block_on(TcpListener::bind("127.0.0.1:0"))??;
    let address = listener.local_addr()?;
    plugin.job("listener").add_job(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(greeting.as_bytes()).await;
        }
    });

    // A blocking job on the host's pool, started by a loop job of the plugin: it joins
    // the scope and watches the scope's token between steps.
    let counted = polls.clone();
    let pool = pool.clone();
    plugin.job("poller").add_job(async move {
        let _ = pool
            .submit(move || {
                let token = loopbridge::cancellation_token().expect("runs in the plugin's scope");
                while !token.is_cancelled() {
                    counted.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2)); // a blocking poll of a device
                }
            })
            .await;
    });

    Ok(Loaded {
        scope,
        ticks,
        polls,
        address,
    })
}

/// Connects to a plugin's listener and reads its greeting.
fn ask(handle: &Handle, address: SocketAddr) -> std::io::Result<String> {
    handle
        .block_on(async move {
            let mut stream = TcpStream::connect(address).await?;
            let mut greeting = String::new();
            stream.read_to_string(&mut greeting).await?;
            Ok(greeting)
        })
        .map_err(std::io::Error::other)?
}

/// Waits (bounded) until the plugin's timer and its pool job have both moved on.
fn wait_until_busy(plugin: &Loaded) -> Result<(), Box<dyn std::error::Error>> {
    let (ticks, polls) = (
        plugin.ticks.load(Ordering::SeqCst),
        plugin.polls.load(Ordering::SeqCst),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while plugin.ticks.load(Ordering::SeqCst) == ticks
        || plugin.polls.load(Ordering::SeqCst) == polls
    {
        if Instant::now() > deadline {
            return Err("a plugin stopped working".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn describe(result: &std::io::Result<String>) -> String {
    match result {
        Ok(greeting) => format!("answered {greeting:?}"),
        Err(error) => format!("refused ({error})"),
    }
}
