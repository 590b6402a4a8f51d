//! Times every ZooKeeper property on generated histories (checker/src/generator) of 10^4,
//! 10^5 and 10^6 client operations: indexing the parsed events (`History::new`) and
//! `check_all` (the reference replay and all eleven properties). Generating and parsing
//! are outside the timed part.
//!
//!     cargo bench -p zksim-checker --bench properties              # criterion
//!     cargo bench -p zksim-checker --bench properties -- --quick   # criterion's quick mode
//!     ZKSIM_BENCH_MAX_OPS=100000 cargo bench -p zksim-checker --bench properties
//!
//! A summary follows: the best of three runs per size, with the time per operation, so
//! growth can be read off (flat per-operation times mean linear growth).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use zksim_checker::generator::{GenConfig, generate};
use zksim_checker::history::Event;
use zksim_checker::{History, Options, check_all};

fn check(events: &[Event]) -> bool {
    let h = History::new(events).expect("a generated history indexes");
    check_all(&h, Options::default()).holds()
}

fn sizes() -> Vec<usize> {
    let max: usize = std::env::var("ZKSIM_BENCH_MAX_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    [10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|&n| n <= max)
        .collect()
}

fn main() {
    let histories: Vec<(usize, Vec<Event>)> = sizes()
        .into_iter()
        .map(|n| (n, generate(1, &GenConfig::new(n))))
        .collect();
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));
    let mut group = c.benchmark_group("check-all");
    for (n, events) in &histories {
        group.throughput(Throughput::Elements(*n as u64));
        group.measurement_time(Duration::from_secs(if *n >= 1_000_000 { 30 } else { 5 }));
        group.bench_with_input(BenchmarkId::from_parameter(n), events, |b, events| {
            b.iter(|| assert!(black_box(check(events))))
        });
    }
    group.finish();
    c.final_summary();
    println!("\nsummary (best of 3, index + check_all):");
    for (n, events) in &histories {
        let best = (0..3)
            .map(|_| {
                let start = Instant::now();
                assert!(check(events));
                start.elapsed()
            })
            .min()
            .expect("three runs");
        println!(
            "  {n:>9} operations ({:>9} events): {best:>10.2?}  {:>6.0} ns/operation",
            events.len(),
            best.as_nanos() as f64 / *n as f64
        );
    }
}
