//! A synchronous thread-per-connection TCP service on 127.0.0.1 whose requests read and
//! write a real SQLite database through one connection owned by a `ThreadBound`, while
//! async code on a bridge's loop reaches the same connection by `.await`ing calls. Its
//! built-in clients check every answer and the totals; it exits 0 when all is right.
//!
//! ```sh
//! cargo run --example sqlite_service -- --clients 8 --requests 200
//! ```

mod service;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut clients = 8;
    let mut requests = 200;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--clients", Some(n)) => clients = n,
            ("--requests", Some(n)) => requests = n,
            _ => {
                eprintln!("usage: sqlite_service [--clients N] [--requests M]");
                return ExitCode::FAILURE;
            }
        }
    }
    let db = service::TempDb::new("example");
    let started = std::time::Instant::now();
    match service::run(&db.0, clients, requests) {
        Ok(outcome) => {
            println!(
                "sqlite_service: {clients} clients x {requests} requests in {:?}: shared total {}, \
                 sum {}, {} audit notes written from the loop",
                started.elapsed(),
                outcome.shared_total,
                outcome.sum,
                outcome.notes
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("sqlite_service failed: {error}");
            ExitCode::FAILURE
        }
    }
}
