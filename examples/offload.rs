//! Async code on a bridge's loop offloading blocking file I/O to a thread pool and a
//! CPU-heavy computation to rayon, awaiting both; the loop keeps serving meanwhile.
//!
//! Run with `cargo run --example offload`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use loopbridge::{Bridge, RayonPool, ThreadPool};
use rayon::prelude::*;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How many numbers the file holds, one per line.
const NUMBERS: u64 = 100_000;

/// A file under the temporary directory, removed when dropped (also on an early error).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

fn main() -> Result<(), BoxError> {
    let bridge = Bridge::builder().thread_name("app-loop").build()?;
    let handle = bridge.handle();
    let io = ThreadPool::builder()
        .name("file-io")
        .max_workers(4)
        .build()?;
    let cpu = RayonPool::global();

    let file = TempFile(
        std::env::temp_dir().join(format!("loopbridge-offload-{}.txt", std::process::id())),
    );
    let path = file.0.clone();

    // Ticks on the loop while the pools work: proof the loop is never blocked.
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let ticks = ticks.clone();
        handle.submit(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let (sum, primes) = handle.block_on(async move {
        // 1. Blocking file I/O on the thread pool: write the numbers...
        let write_to = path.clone();
        io.submit(move || -> std::io::Result<()> {
            let mut out = BufWriter::new(File::create(&write_to)?);
            for n in 1..=NUMBERS {
                writeln!(out, "{n}")?;
            }
            out.into_inner()?.sync_all()
        })
        .await??;

        // 2. ...then read them back on the thread pool while rayon counts primes on
        //    every core, and await both.
        let read = io.submit(move || std::fs::read_to_string(&path));
        let primes = cpu.submit(|| {
            (1..=1_000_000u64)
                .into_par_iter()
                .filter(|&n| is_prime(n))
                .count()
        });
        let (text, primes) = tokio::join!(read, primes);
        let sum = text??
            .lines()
            .map(str::parse::<u64>)
            .sum::<Result<u64, _>>()?;
        Ok::<_, BoxError>((sum, primes?))
    })??;

    assert_eq!(sum, NUMBERS * (NUMBERS + 1) / 2);
    assert_eq!(primes, 78_498); // π(1 000 000)
    assert!(ticker.cancel(), "the ticker ran until now");
    println!(
        "sum of {NUMBERS} numbers read back from {}: {sum}",
        file.0.display()
    );
    println!("primes up to 1 000 000, counted on rayon: {primes}");
    println!(
        "loop ticks while the pools worked: {}",
        ticks.load(Ordering::Relaxed)
    );

    drop(file);
    let report = bridge.shutdown(Duration::from_secs(5));
    assert!(report.stuck.is_empty(), "{report}");
    Ok(())
}
