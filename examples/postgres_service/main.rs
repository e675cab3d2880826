//! A plain synchronous TCP service, one OS thread per client, whose requests query a real
//! PostgreSQL: through tokio-postgres with a deadpool pool living on a loopbridge loop,
//! every call bounded by a timed wait that cancels the query when it gives up. The same
//! service built on the blocking `postgres` crate runs the same load in the same run.
//!
//! ```sh
//! eval "$(scripts/postgres.sh start)"
//! cargo run --example postgres_service -- --clients 8 --requests 500
//! ```
//!
//! Options: `--clients N` (8), `--requests M` per client (500), `--pool P` connections
//! in the loopbridge service's pool (one per client), `--timeout-ms T` per call (2000).
//! The server comes from `DATABASE_URL`; with none set or none reachable, the example
//! says so in one line and exits 0. It exits 1 if any request of the load failed.

mod service;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use service::{Backend, BridgeBackend, LoadReport, Server, SyncBackend};

/// Requests per client before the measured run: connections opened, statements prepared.
const WARM_UP: usize = 20;

struct Options {
    clients: usize,
    requests: usize,
    pool: Option<usize>,
    limit: Duration,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        clients: 8,
        requests: 500,
        pool: None,
        limit: Duration::from_millis(2000),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            match value.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{name} {value:?}: expected a positive integer")),
            }
        };
        match flag.as_str() {
            "--clients" => options.clients = number("--clients")?,
            "--requests" => options.requests = number("--requests")?,
            "--pool" => options.pool = Some(number("--pool")?),
            "--timeout-ms" => {
                options.limit = Duration::from_millis(number("--timeout-ms")? as u64);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("postgres_service: {message}");
            eprintln!(
                "usage: postgres_service [--clients N] [--requests M] [--pool P] [--timeout-ms T]"
            );
            return ExitCode::from(2);
        }
    };
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!(
            "postgres_service: DATABASE_URL is not set, nothing to measure \
             (start a server with: eval \"$(scripts/postgres.sh start)\")"
        );
        return ExitCode::SUCCESS;
    };
    match run(&options, &url) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("postgres_service: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(false)` if a request of the load failed.
fn run(options: &Options, url: &str) -> Result<bool, String> {
    let server = service::server_of(url);
    let bridge = loopbridge::Bridge::builder()
        .thread_name("pg-loop")
        .build()
        .map_err(|error| format!("no bridge: {error}"))?;
    let pool = options.pool.unwrap_or(options.clients);
    let on_loop = match BridgeBackend::connect(
        bridge.handle(),
        url,
        "loopbridge_kv_bridge",
        pool,
        options.limit,
    ) {
        Ok(backend) => backend,
        Err(failure) => {
            println!(
                "postgres_service: no PostgreSQL server reachable at {server} ({failure}); \
                 nothing to measure"
            );
            return Ok(true);
        }
    };
    let blocking = SyncBackend::connect(url, "loopbridge_kv_blocking", options.limit)
        .map_err(|failure| format!("the blocking client cannot connect: {failure}"))?;

    println!(
        "postgres_service: PostgreSQL at {server}; {} blocking clients x {} requests \
         (70% GET, 25% PUT, 5% SUM), each client on its own thread and connection",
        options.clients, options.requests
    );
    println!(
        "{:<48} {:>9} {:>9} {:>9} {:>7}",
        "service", "req/s", "p50", "p99", "errors"
    );
    let services: [(String, Arc<dyn Backend>); 2] = [
        (
            format!("loopbridge + tokio-postgres, deadpool ({pool} conn)"),
            Arc::new(on_loop),
        ),
        (
            "postgres crate, blocking (1 conn per client)".to_owned(),
            Arc::new(blocking),
        ),
    ];
    let mut clean = true;
    for (name, backend) in services {
        let report = measure(backend, options).map_err(|error| format!("{name}: {error}"))?;
        println!(
            "{:<48} {:>9.0} {:>9} {:>9} {:>7}",
            name,
            report.requests_per_second(),
            millis(report.percentile(0.50)),
            millis(report.percentile(0.99)),
            report.errors
        );
        if let Some(error) = &report.first_error {
            println!("  first error: {error}");
            clean = false;
        }
    }
    let stats = bridge.handle().stats();
    println!(
        "loop: {} jobs, {} cancelled, {} slow polls, longest poll {}",
        stats.submitted,
        stats.cancelled,
        stats.slow_polls,
        millis(stats.longest_poll)
    );
    let report = bridge.shutdown(Duration::from_secs(5));
    if report.cancelled > 0 {
        println!("loop: shutdown cut off {} jobs", report.cancelled);
    }
    Ok(clean)
}

fn measure(backend: Arc<dyn Backend>, options: &Options) -> std::io::Result<LoadReport> {
    let server = Server::start(backend)?;
    let report = service::run_load(
        server.address(),
        options.clients,
        WARM_UP.min(options.requests),
        options.requests,
    );
    server.stop();
    Ok(report)
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
