//! Per-case timings under criterion: every case of `support::cases` as one group, with
//! loopbridge's patterns next to the raw tokio, rayon and `reqwest::blocking` patterns
//! they replace, in the same run.
//!
//! Run with `cargo bench --bench timings` (add a filter such as `round_trip` to run one
//! case). For the comparison table, with allocation counts and the asyncio peer, run
//! `cargo bench --bench compare`.

mod support;

use criterion::{Criterion, Throughput};

use support::cases::{cases, Peers};

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let peers = Peers::start();
    for mut case in cases(&peers) {
        let mut group = criterion.benchmark_group(case.id);
        let ops_per_unit = case.patterns[0].ops_per_unit;
        if ops_per_unit > 1 {
            // A unit is a whole throughput run: report jobs per second.
            group.throughput(Throughput::Elements(ops_per_unit));
            group.sample_size(10);
        }
        // Pinned as in the comparison table (see `support::placement`).
        let pinned = peers.place(case.placement);
        if let Err(why) = &pinned {
            eprintln!("{}: {why}", case.id);
        }
        for pattern in &mut case.patterns {
            group.bench_function(pattern.id, |b| b.iter_custom(|units| pattern.run(units)));
        }
        group.finish();
        drop(pinned);
    }
    criterion.final_summary();
}
