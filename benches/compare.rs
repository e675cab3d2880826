//! The comparison table: every case of `support::cases`, loopbridge next to the raw tokio,
//! rayon and `reqwest::blocking` patterns and to Python's asyncio (and uvloop), with
//! allocations per operation and heap bytes per pending submission.
//!
//! Method: each case's patterns run in alternating short batches (a round runs one batch
//! of every pattern, in an order that rotates from round to round), so machine noise hits
//! them alike; a pattern's ns/op is the median over rounds, and its ratio to raw tokio is
//! the median of the per-round ratios. Allocations are counted by the benches' global
//! allocator in a separate, untimed pass. The asyncio figures come from
//! `benches/peers/asyncio_bridge.py`, run as a subprocess just before.
//!
//! Run with `cargo bench --bench compare` (under a minute once built), or
//! `cargo bench --bench compare -- --quick` for a rougher table in a few seconds. Run
//! without `--bench` (as `cargo test --benches` does) it only checks that every pattern
//! runs.

mod support;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::pending;
use std::process::Command;
use std::time::Duration;

use loopbridge::Bridge;

use support::alloc::{count, Counts};
use support::cases::{cases, Case, Peers, Role};
use support::cpu::process_cpu;
use support::peers::{RawLoop, ReqwestLoop};

/// How thoroughly to measure, and what.
struct Settings {
    /// Rounds of alternating batches per case.
    rounds: usize,
    /// About how long one batch of one pattern runs.
    batch: Duration,
    /// Operations in the untimed pass that counts allocations (at least one unit).
    counted_ops: u64,
    /// Jobs left pending to measure the bytes each holds.
    pending_jobs: usize,
    /// Arguments for the asyncio peer; `None` to skip it.
    python: Option<Vec<String>>,
    /// Run only the cases whose name contains one of these (all when empty).
    filters: Vec<String>,
    /// Run without `--bench`: every pattern once, to check that it works.
    test_mode: bool,
}

impl Settings {
    fn from_args() -> Settings {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let has = |flag: &str| args.iter().any(|arg| arg == flag);
        let filters: Vec<String> = args
            .iter()
            .filter(|arg| !arg.starts_with('-'))
            .cloned()
            .collect();
        if !has("--bench") {
            // Test mode: one tiny batch of everything.
            return Settings {
                rounds: 1,
                batch: Duration::from_millis(1),
                counted_ops: 10,
                pending_jobs: 100,
                python: None,
                filters,
                test_mode: true,
            };
        }
        let quick = has("--quick");
        let mut python = filters.clone();
        if quick {
            python.push("--quick".to_owned());
        }
        Settings {
            rounds: if quick { 7 } else { 31 },
            batch: Duration::from_millis(if quick { 5 } else { 20 }),
            counted_ops: if quick { 500 } else { 2_000 },
            pending_jobs: if quick { 2_000 } else { 10_000 },
            python: Some(python),
            filters,
            test_mode: false,
        }
    }

    fn wants(&self, case: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|filter| case.contains(filter))
    }
}

/// The value at quantile `q` (0 to 1) of sorted `values`, interpolating between ranks.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = q * (sorted.len() - 1) as f64;
    let (below, above) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[below] + (sorted[above] - sorted[below]) * (rank - below as f64)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    quantile(values, 0.5)
}

/// The interquartile range of `values` relative to their median.
fn spread(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    (quantile(values, 0.75) - quantile(values, 0.25)) / quantile(values, 0.5)
}

/// What one pattern measured.
struct Measured {
    ns_per_op: f64,
    /// Interquartile range of the per-round ns/op, relative to the median.
    spread: f64,
    /// Median of the per-round ratios to the case's raw pattern.
    vs_raw: Option<f64>,
    /// CPU time of the whole process per operation (median over rounds).
    cpu_ns_per_op: Option<f64>,
    /// Median of the per-round ratios of CPU time to the raw pattern's.
    cpu_vs_raw: Option<f64>,
    allocations_per_op: f64,
}

/// Units of work for a batch of about `target`, found after a warm-up.
fn units_per_batch(run: &mut dyn FnMut(u64) -> Duration, target: Duration) -> u64 {
    run(1);
    let mut units = 1u64;
    loop {
        let elapsed = run(units);
        if elapsed * 4 >= target || units >= 1 << 24 {
            let scale = target.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
            return ((units as f64 * scale).round() as u64).max(1);
        }
        units *= 4;
    }
}

fn measure(case: &mut Case<'_>, settings: &Settings) -> Vec<Measured> {
    let patterns = &mut case.patterns;
    let count_of = patterns.len();
    let raw = patterns.iter().position(|p| p.role == Role::Raw);
    let units: Vec<u64> = patterns
        .iter_mut()
        .map(|p| units_per_batch(&mut |units| p.run(units), settings.batch))
        .collect();
    let mut samples = vec![Vec::with_capacity(settings.rounds); count_of];
    let mut cpu_samples = vec![Vec::with_capacity(settings.rounds); count_of];
    for round in 0..settings.rounds {
        // Rotate the order, so no pattern always runs first (on a warmer or colder machine).
        for k in 0..count_of {
            let i = (round + k) % count_of;
            let cpu_before = process_cpu();
            let elapsed = patterns[i].run(units[i]);
            let cpu = process_cpu()
                .zip(cpu_before)
                .map(|(after, before)| after - before);
            let ops = units[i] * patterns[i].ops_per_unit;
            samples[i].push(elapsed.as_nanos() as f64 / ops as f64);
            if let Some(cpu) = cpu {
                cpu_samples[i].push(cpu.as_nanos() as f64 / ops as f64);
            }
        }
    }
    // Ratios first: they pair the rounds, which sorting for the medians would undo.
    let paired = |of: &[Vec<f64>], i: usize| {
        raw.filter(|&raw| of[i].len() == settings.rounds && of[raw].len() == settings.rounds)
            .map(|raw| {
                let mut ratios: Vec<f64> = (0..settings.rounds)
                    .map(|round| of[i][round] / of[raw][round].max(1e-9))
                    .collect();
                median(&mut ratios)
            })
    };
    let vs_raw: Vec<Option<f64>> = (0..count_of).map(|i| paired(&samples, i)).collect();
    let cpu_vs_raw: Vec<Option<f64>> = (0..count_of).map(|i| paired(&cpu_samples, i)).collect();
    let mut measured = Vec::with_capacity(count_of);
    for (i, pattern) in patterns.iter_mut().enumerate() {
        let counted_units = settings.counted_ops.div_ceil(pattern.ops_per_unit);
        let (_, counts) = count(|| pattern.run(counted_units));
        measured.push(Measured {
            ns_per_op: median(&mut samples[i]),
            spread: spread(&mut samples[i]),
            vs_raw: vs_raw[i],
            cpu_ns_per_op: (!cpu_samples[i].is_empty()).then(|| median(&mut cpu_samples[i])),
            cpu_vs_raw: cpu_vs_raw[i],
            allocations_per_op: counts.allocations_per(counted_units * pattern.ops_per_unit),
        });
    }
    measured
}

/// Heap held per pending submission: `jobs` futures that never finish are submitted, and
/// once the loop has taken them all up (a round trip after them has returned) the live
/// heap's growth is divided by `jobs`. The caller's `Vec` of handles is allocated before.
fn pending_loopbridge(jobs: usize) -> Counts {
    let bridge = Bridge::new().expect("bridge");
    let handle = bridge.handle();
    handle.block_on(async {}).expect("warm-up");
    let mut pending_jobs = Vec::with_capacity(jobs);
    let ((), counts) = count(|| {
        for _ in 0..jobs {
            pending_jobs.push(handle.submit(pending::<u64>()));
        }
        handle.block_on(async {}).expect("sync");
    });
    for completion in &pending_jobs {
        completion.cancel();
    }
    drop(pending_jobs);
    drop(bridge);
    counts
}

fn pending_raw(jobs: usize) -> Counts {
    let raw = RawLoop::start();
    raw.round_trip(async {});
    let mut pending_jobs = Vec::with_capacity(jobs);
    let ((), counts) = count(|| {
        for _ in 0..jobs {
            pending_jobs.push(raw.spawn(pending::<u64>()));
        }
        raw.round_trip(async {});
    });
    for join in &pending_jobs {
        join.abort();
    }
    drop(pending_jobs);
    drop(raw);
    counts
}

fn pending_reqwest(jobs: usize) -> Counts {
    let reqwest = ReqwestLoop::start();
    reqwest.round_trip(async { 1 });
    let mut pending_jobs = Vec::with_capacity(jobs);
    let ((), counts) = count(|| {
        for _ in 0..jobs {
            pending_jobs.push(reqwest.submit(pending::<u64>()));
        }
        reqwest.round_trip(async { 1 });
    });
    drop(pending_jobs);
    drop(reqwest);
    counts
}

/// What the asyncio peer printed.
#[derive(Default)]
struct Asyncio {
    /// (case, loop) → ns/op, or bytes per pending job for the case `pending_bytes`.
    values: HashMap<(String, String), f64>,
    /// (case, loop) → interquartile range of the batches' ns/op, relative to the median.
    spreads: HashMap<(String, String), f64>,
    /// The loops it measured, in order ("asyncio", "uvloop").
    loops: Vec<String>,
    /// Versions and skipped loops, to print above the table.
    notes: Vec<String>,
}

impl Asyncio {
    fn get(&self, case: &str, event_loop: &str) -> Option<f64> {
        self.values
            .get(&(case.to_owned(), event_loop.to_owned()))
            .copied()
    }
}

fn run_asyncio_peer(args: &[String]) -> Asyncio {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/peers/asyncio_bridge.py"
    );
    let mut peer = Asyncio::default();
    let output = match Command::new("python3").arg(script).args(args).output() {
        Ok(output) => output,
        Err(error) => {
            let why = if error.kind() == std::io::ErrorKind::NotFound {
                "python3 not found".to_owned()
            } else {
                format!("python3 could not be run ({error})")
            };
            peer.notes
                .push(format!("{why}: the asyncio rows are left out"));
            return peer;
        }
    };
    if !output.status.success() {
        peer.notes.push(format!(
            "the asyncio peer failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if line.starts_with('#') {
            continue;
        }
        let fields: HashMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|field| field.split_once('='))
            .collect();
        if line.starts_with("info ") {
            let version = |key| fields.get(key).copied().unwrap_or("?");
            peer.notes.push(format!(
                "python {}, uvloop {}",
                version("python"),
                version("uvloop")
            ));
        } else if let Some(skipped) = fields.get("skipped") {
            let event_loop = fields.get("loop").copied().unwrap_or("?");
            peer.notes.push(format!(
                "{event_loop} skipped: {skipped} (pip install {event_loop})"
            ));
        } else if let (Some(case), Some(event_loop)) = (fields.get("case"), fields.get("loop")) {
            let value = fields
                .get("ns_per_op")
                .or_else(|| fields.get("bytes_per_pending"))
                .and_then(|value| value.parse::<f64>().ok());
            if let Some(value) = value {
                if !peer.loops.iter().any(|known| known == event_loop) {
                    peer.loops.push((*event_loop).to_owned());
                }
                let key = ((*case).to_owned(), (*event_loop).to_owned());
                if let Some(spread) = fields.get("spread").and_then(|s| s.parse::<f64>().ok()) {
                    peer.spreads.insert(key.clone(), spread);
                }
                peer.values.insert(key, value);
            }
        }
    }
    peer
}

/// The asyncio peer's pattern for a case.
fn asyncio_label(case: &str, event_loop: &str) -> String {
    let what = match case {
        "round_trip" | "round_trip_one_cpu" => "`run_coroutine_threadsafe(coro, loop).result()`",
        "run_callback" => "Home Assistant's `run_callback_threadsafe(loop, f).result()`",
        "call_soon" => "`call_soon_threadsafe(f)`",
        "offload_thread_pool" => "`await loop.run_in_executor(None, f)`",
        "pending_bytes" => "`run_coroutine_threadsafe` (tracemalloc)",
        _ => "`run_coroutine_threadsafe`, then `result()` each",
    };
    format!("{event_loop} {what}")
}

/// One line of the table.
struct Row {
    case: String,
    pattern: String,
    ns_per_op: Option<f64>,
    spread: Option<f64>,
    vs_raw: Option<f64>,
    cpu_ns_per_op: Option<f64>,
    cpu_vs_raw: Option<f64>,
    vs_asyncio: Option<f64>,
    allocations: Option<f64>,
    bytes_pending: Option<f64>,
}

impl Row {
    fn new(case: &str, pattern: impl Into<String>) -> Row {
        Row {
            case: case.to_owned(),
            pattern: pattern.into(),
            ns_per_op: None,
            spread: None,
            vs_raw: None,
            cpu_ns_per_op: None,
            cpu_vs_raw: None,
            vs_asyncio: None,
            allocations: None,
            bytes_pending: None,
        }
    }
}

fn print_table(rows: &[Row]) {
    let number = |value: Option<f64>, decimals: usize| match value {
        None => "—".to_owned(),
        Some(value) if value >= 100.0 && decimals == 0 => format!("{value:.0}"),
        Some(value) => format!("{value:.decimals$}"),
    };
    let ratio = |value: Option<f64>| value.map_or("—".to_owned(), |value| format!("{value:.2}×"));
    let header = [
        "case",
        "pattern",
        "ns/op",
        "spread",
        "× raw tokio",
        "CPU ns/op",
        "CPU × raw",
        "× asyncio",
        "allocs/op",
        "bytes/pending",
    ];
    let percent =
        |value: Option<f64>| value.map_or("—".to_owned(), |v| format!("{:.0}%", v * 100.0));
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|row| {
            [
                row.case.clone(),
                row.pattern.clone(),
                number(row.ns_per_op, 0),
                percent(row.spread),
                ratio(row.vs_raw),
                number(row.cpu_ns_per_op, 0),
                ratio(row.cpu_vs_raw),
                ratio(row.vs_asyncio),
                number(row.allocations, 2),
                number(row.bytes_pending, 0),
            ]
        })
        .collect();
    let width = |column: usize| {
        cells
            .iter()
            .map(|cells| cells[column].chars().count())
            .chain([header[column].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let line = |cells: &[String]| {
        let mut out = String::from("|");
        for (column, cell) in cells.iter().enumerate() {
            let pad = widths[column] - cell.chars().count();
            // Text columns align left, numbers right.
            if column < 2 {
                let _ = write!(out, " {cell}{} |", " ".repeat(pad));
            } else {
                let _ = write!(out, " {}{cell} |", " ".repeat(pad));
            }
        }
        out
    };
    println!("{}", line(&header.map(str::to_owned)));
    let rule: String = widths
        .iter()
        .enumerate()
        .map(|(column, &width)| {
            if column < 2 {
                format!("{}|", "-".repeat(width + 2))
            } else {
                format!("{}:|", "-".repeat(width + 1))
            }
        })
        .collect();
    println!("|{rule}");
    for cells in &cells {
        println!("{}", line(cells));
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cpus} CPUs ({model}), {}", std::env::consts::OS)
}

/// The targets the table is judged against, with the ratios from this run.
fn print_targets(rows: &[Row], asyncio: &Asyncio) {
    // A case's name is written on its first row only: carry it down to the others.
    let find = |case: &str, pattern: &str| {
        let mut current = "";
        rows.iter().find(|row| {
            if !row.case.is_empty() {
                current = &row.case;
            }
            current == case && row.pattern.starts_with(pattern)
        })
    };
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    // The targets are set against asyncio; uvloop's rows are shown for reference.
    let verdict_against = |event_loop: &str, met: bool| {
        if event_loop == "asyncio" {
            verdict(met)
        } else {
            "for reference: the target is set against asyncio"
        }
    };
    println!();
    println!("Targets (ratios from this run):");
    if let Some(ours) = find("round_trip", "loopbridge `submit") {
        if let (Some(vs_raw), Some(cpu)) = (ours.vs_raw, ours.cpu_vs_raw) {
            println!(
                "- default round trip across CPUs ≤ 0.15× raw tokio: {vs_raw:.2}× ({}), \
                 CPU per round trip ≤ 1.0× raw tokio's: {cpu:.2}× ({})",
                verdict(vs_raw <= 0.15),
                verdict(cpu <= 1.0)
            );
        }
        let one_cpu = find("round_trip_one_cpu", "loopbridge `submit").and_then(|row| row.vs_raw);
        if let Some(vs_raw) = one_cpu {
            println!(
                "  (caller and loop on one CPU ≤ 1.0×: {vs_raw:.2}×, {})",
                verdict(vs_raw <= 1.0)
            );
        }
        for case in ["slow_job", "slow_job_one_cpu"] {
            if let Some(row) = find(case, "loopbridge `submit") {
                if let (Some(vs_raw), Some(cpu)) = (row.vs_raw, row.cpu_vs_raw) {
                    println!(
                        "- {case}: latency ≤ 1.02× raw tokio: {vs_raw:.3}× ({}), CPU ≤ 1.05×: \
                         {cpu:.2}× ({})",
                        verdict(vs_raw <= 1.02),
                        verdict(cpu <= 1.05)
                    );
                }
            }
        }
        if let Some(allocations) = ours.allocations {
            println!(
                "- 1 allocation per submit + wait: {allocations:.2} ({})",
                verdict(allocations <= 1.0 + 0.005)
            );
        }
        for event_loop in &asyncio.loops {
            if let (Some(theirs), Some(ns)) =
                (asyncio.get("round_trip", event_loop), ours.ns_per_op)
            {
                let faster = theirs / ns;
                println!(
                    "- ≥ 10× faster than {event_loop}'s run_coroutine_threadsafe: {faster:.1}× ({})",
                    verdict_against(event_loop, faster >= 10.0)
                );
            }
        }
        if asyncio.loops.is_empty() {
            println!("- ≥ 10× faster than asyncio's run_coroutine_threadsafe: not measured");
        }
    }
    if let Some(vs_raw) = find("pending_bytes", "loopbridge `submit").and_then(|row| row.vs_raw) {
        println!(
            "- heap per pending job ≤ 1.5× raw tokio's task: {vs_raw:.2}× ({})",
            verdict(vs_raw <= 1.5)
        );
    }
    if let Some(spin) = find("round_trip", "loopbridge (spin") {
        if let Some(ns) = spin.ns_per_op {
            println!(
                "- explicit spin across CPUs ≤ 1 µs: {:.2} µs ({})",
                ns / 1000.0,
                verdict(ns <= 1000.0)
            );
            let floor = find("round_trip", "busy-spin cache-line").and_then(|row| row.ns_per_op);
            if let Some(floor) = floor {
                println!(
                    "  (≤ 7× the cache-line floor of this run, {floor:.0} ns: {:.1}×, {})",
                    ns / floor,
                    verdict(ns <= 7.0 * floor)
                );
            }
        }
        // Each against raw tokio in the same rounds: the pair of ratios cancels the noise
        // that two medians of their own would keep.
        let one_cpu = |pattern| find("round_trip_one_cpu", pattern).and_then(|row| row.vs_raw);
        if let (Some(spin), Some(default)) =
            (one_cpu("loopbridge (spin"), one_cpu("loopbridge `submit"))
        {
            println!(
                "  (on one CPU never slower than the default: {:.2}×, {})",
                spin / default,
                verdict(spin <= default * 1.02)
            );
        }
        for event_loop in &asyncio.loops {
            if let (Some(theirs), Some(ns)) =
                (asyncio.get("round_trip", event_loop), spin.ns_per_op)
            {
                let faster = theirs / ns;
                println!(
                    "- low-latency ≥ 10× faster than {event_loop}'s run_coroutine_threadsafe: {faster:.1}× ({})",
                    verdict_against(event_loop, faster >= 10.0)
                );
            }
        }
    }
    let scoped_vs_plain = |case: &str| {
        let plain = find(case, "loopbridge `submit")?.ns_per_op?;
        let scoped = find(case, "loopbridge, through a scope")?.ns_per_op?;
        Some(scoped / plain)
    };
    for case in ["round_trip", "throughput_1"] {
        if let Some(ratio) = scoped_vs_plain(case) {
            println!(
                "- {case} through a scope ≤ 1.10× unscoped: {ratio:.2}× ({})",
                verdict(ratio <= 1.10)
            );
        }
    }
    if let Some(vs_cancels) = find("scope_close", "loopbridge").and_then(|row| row.vs_raw) {
        println!(
            "- closing a scope of 10 000 pending jobs ≤ 2× cancelling them one by one: {vs_cancels:.2}× ({})",
            verdict(vs_cancels <= 2.0)
        );
    }
    for (case, pattern, against) in [
        (
            "offload_thread_pool",
            "loopbridge `ThreadPool",
            "spawn_blocking",
        ),
        (
            "offload_thread_pool_one_cpu",
            "loopbridge `ThreadPool",
            "spawn_blocking",
        ),
        (
            "offload_rayon",
            "loopbridge `RayonPool",
            "rayon::spawn + oneshot",
        ),
        (
            "offload_rayon_one_cpu",
            "loopbridge `RayonPool",
            "rayon::spawn + oneshot",
        ),
    ] {
        if let Some(vs_raw) = find(case, pattern).and_then(|row| row.vs_raw) {
            println!(
                "- {case} ≤ 1.0× {against}: {vs_raw:.2}× ({})",
                verdict(vs_raw <= 1.0)
            );
        }
    }
    for threads in [1, 2, 4] {
        let case = format!("throughput_{threads}");
        if let Some(vs_raw) = find(&case, "loopbridge").and_then(|row| row.vs_raw) {
            let relative = 1.0 / vs_raw;
            println!(
                "- throughput ≥ 0.9× raw spawn, {threads} thread(s): {relative:.2}× ({})",
                verdict(relative >= 0.9)
            );
        }
    }
}

/// What the table says besides its rows: each case's meaning, and where threads ran.
#[derive(Default)]
struct Legend {
    cases: Vec<String>,
    placements: Vec<String>,
}

/// The rows of the timed cases: loopbridge's and the raw patterns, then the asyncio
/// peer's.
fn timed_rows(settings: &Settings, asyncio: &Asyncio, legend: &mut Legend) -> Vec<Row> {
    let peers = Peers::start();
    let mut rows = Vec::new();
    let mut placements: Vec<(String, Vec<&str>)> = Vec::new();
    for mut case in cases(&peers) {
        if !settings.wants(case.id) {
            continue;
        }
        eprintln!("measuring {}…", case.id);
        legend.cases.push(format!("{}: {}", case.id, case.title));
        let pinned = peers.place(case.placement);
        let how = match &pinned {
            Ok(_) => case.placement.describe().to_owned(),
            Err(why) => format!("unpinned ({why})"),
        };
        // Cases placed alike share one note: "a, b: how".
        match placements.iter_mut().find(|(known, _)| *known == how) {
            Some((_, ids)) => ids.push(case.id),
            None => placements.push((how, vec![case.id])),
        }
        let measured = measure(&mut case, settings);
        drop(pinned);
        let raw_ns = case
            .patterns
            .iter()
            .zip(&measured)
            .find(|(pattern, _)| pattern.role == Role::Raw)
            .map(|(_, measured)| measured.ns_per_op);
        let asyncio_ns = asyncio.get(case.id, "asyncio");
        for (k, (pattern, measured)) in case.patterns.iter().zip(&measured).enumerate() {
            let mut row = Row::new(if k == 0 { case.id } else { "" }, pattern.label);
            row.ns_per_op = Some(measured.ns_per_op);
            row.spread = Some(measured.spread);
            row.vs_raw = measured.vs_raw;
            row.cpu_ns_per_op = measured.cpu_ns_per_op;
            row.cpu_vs_raw = measured.cpu_vs_raw;
            row.vs_asyncio = asyncio_ns.map(|theirs| measured.ns_per_op / theirs);
            row.allocations = Some(measured.allocations_per_op);
            rows.push(row);
        }
        for event_loop in &asyncio.loops {
            if let Some(ns) = asyncio.get(case.id, event_loop) {
                let mut row = Row::new("", asyncio_label(case.id, event_loop));
                row.ns_per_op = Some(ns);
                row.spread = asyncio
                    .spreads
                    .get(&(case.id.to_owned(), event_loop.clone()))
                    .copied();
                row.vs_raw = raw_ns.map(|raw| ns / raw);
                row.vs_asyncio = asyncio_ns.map(|theirs| ns / theirs);
                rows.push(row);
            }
        }
    }
    legend.placements = placements
        .into_iter()
        .map(|(how, ids)| format!("{}: {how}", ids.join(", ")))
        .collect();
    rows
}

/// The rows of the pending-submission case: heap bytes and allocations per job.
fn pending_rows(settings: &Settings, asyncio: &Asyncio, legend: &mut Legend) -> Vec<Row> {
    eprintln!("measuring pending_bytes…");
    let jobs = settings.pending_jobs;
    legend.cases.push(format!(
        "pending_bytes: heap held per submitted job that has not finished \
         ({jobs} never-ready futures; ratios compare bytes)"
    ));
    let raw = pending_raw(jobs);
    let measured = [
        ("loopbridge `submit(pending())`", pending_loopbridge(jobs)),
        ("raw tokio `spawn(pending())`", raw),
        ("`reqwest::blocking` pattern", pending_reqwest(jobs)),
    ];
    let raw_bytes = raw.bytes_per(jobs as u64);
    let asyncio_bytes = asyncio.get("pending_bytes", "asyncio");
    let mut rows = Vec::new();
    for (k, (label, counts)) in measured.iter().enumerate() {
        let bytes = counts.bytes_per(jobs as u64);
        let mut row = Row::new(if k == 0 { "pending_bytes" } else { "" }, *label);
        row.vs_raw = Some(bytes / raw_bytes);
        row.vs_asyncio = asyncio_bytes.map(|theirs| bytes / theirs);
        row.allocations = Some(counts.allocations_per(jobs as u64));
        row.bytes_pending = Some(bytes);
        rows.push(row);
    }
    for event_loop in &asyncio.loops {
        if let Some(bytes) = asyncio.get("pending_bytes", event_loop) {
            let mut row = Row::new("", asyncio_label("pending_bytes", event_loop));
            row.vs_raw = Some(bytes / raw_bytes);
            row.vs_asyncio = asyncio_bytes.map(|theirs| bytes / theirs);
            row.bytes_pending = Some(bytes);
            rows.push(row);
        }
    }
    rows
}

/// p50/p99/p99.9 of a round trip under a steady ~50 % load from two submitting threads,
/// loopbridge's default next to raw tokio, each started every twice raw tokio's median
/// round trip (so raw tokio's callers are busy about half the time). Rounds alternate the
/// two patterns; their samples are pooled.
fn print_latency(settings: &Settings) {
    use std::hint::black_box;
    use support::latency::{median_round_trip, under_load, Distribution};
    let bridge = Bridge::new().expect("bridge");
    let handle = bridge.handle();
    let raw = RawLoop::start();
    let ours = || {
        black_box(
            handle
                .submit(async { black_box(1u64) })
                .wait()
                .expect("job"),
        );
    };
    let theirs = || {
        black_box(raw.round_trip(async { black_box(1u64) }));
    };
    let raw_median = median_round_trip(200, &theirs);
    let interval = raw_median * 2;
    let (rounds, per_thread) = match (settings.test_mode, settings.rounds) {
        (true, _) => (1, 20),
        (false, rounds) if rounds < 31 => (2, 500),
        _ => (3, 2_000),
    };
    let (mut ours_samples, mut raw_samples) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours_samples.extend(under_load(interval, per_thread, &ours));
        raw_samples.extend(under_load(interval, per_thread, &theirs));
    }
    let ours = Distribution::of(ours_samples);
    let theirs = Distribution::of(raw_samples);
    println!();
    println!(
        "Latency under load: 2 threads, each a round trip every {interval:?} (twice raw \
         tokio's median of {raw_median:?}), {} samples each, unpinned:",
        ours.samples
    );
    println!("| pattern | p50 | p99 | p99.9 | p50 × raw | p99 × raw | p99.9 × raw |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-12);
    for (label, d) in [
        ("loopbridge `submit(fut).wait()`", ours),
        ("raw tokio `spawn` + blocking wait", theirs),
    ] {
        println!(
            "| {label} | {:.1} µs | {:.1} µs | {:.1} µs | {:.2}× | {:.2}× | {:.2}× |",
            d.p50.as_secs_f64() * 1e6,
            d.p99.as_secs_f64() * 1e6,
            d.p999.as_secs_f64() * 1e6,
            ratio(d.p50, theirs.p50),
            ratio(d.p99, theirs.p99),
            ratio(d.p999, theirs.p999),
        );
    }
}

fn main() {
    let settings = Settings::from_args();
    let asyncio = match settings.python {
        Some(ref args) => {
            eprintln!("running the asyncio peer (python3 benches/peers/asyncio_bridge.py)…");
            run_asyncio_peer(args)
        }
        None => Asyncio {
            notes: vec!["test mode: the asyncio peer is not run".to_owned()],
            ..Asyncio::default()
        },
    };
    let mut legend = Legend::default();
    let mut rows = timed_rows(&settings, &asyncio, &mut legend);
    if settings.wants("pending_bytes") {
        rows.extend(pending_rows(&settings, &asyncio, &mut legend));
    }

    println!();
    if settings.test_mode {
        println!("TEST MODE (no --bench): one tiny batch per pattern; these are not measurements");
    }
    println!("loopbridge next to its peers, one run");
    println!("machine: {}", machine());
    for note in &asyncio.notes {
        println!("asyncio peer: {note}");
    }
    println!(
        "method: {} rounds of alternating ~{} ms batches per case; ns/op = median over rounds; \
         × raw tokio = median of per-round ratios (asyncio rows: ratio of medians); \
         allocs/op from a separate counted pass",
        settings.rounds,
        settings.batch.as_millis()
    );
    println!("threads: {}", legend.placements.join("; "));
    println!();
    print_table(&rows);
    println!();
    println!("Cases:");
    for case in &legend.cases {
        println!("- {case}");
    }
    print_targets(&rows, &asyncio);
    if settings.wants("latency") {
        eprintln!("measuring latency under load…");
        print_latency(&settings);
    }
}
