//! Times every ZooKeeper property on generated histories (checker/src/generator) of 10^4,
//! 10^5 and 10^6 client operations: indexing the parsed events (`History::new`) and
//! `check_all` (the reference replay and all thirteen properties), with generating and
//! parsing outside the timed part; then the whole of `zksim check FILE` on each history
//! written to a temporary file: reading and parsing it (`history::read`), indexing,
//! `check_all`, the recipe's invariants and the report.
//!
//!     cargo bench -p zksim-checker --bench properties              # criterion
//!     cargo bench -p zksim-checker --bench properties -- --quick   # criterion's quick mode
//!     ZKSIM_BENCH_MAX_OPS=100000 cargo bench -p zksim-checker --bench properties
//!
//! Summaries follow: the best of three runs per size, with the time per operation, so
//! growth can be read off (flat per-operation times mean linear growth). Each names the
//! properties that do not hold (the generator's histories hold them all; a summary that
//! says otherwise is a finding of its own).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use zksim_checker::generator::{GenConfig, generate};
use zksim_checker::history::{self, Event};
use zksim_checker::{History, Options, Report, check_all, recipes, report};

fn check(events: &[Event]) -> Report {
    let h = History::new(events).expect("a generated history indexes");
    check_all(&h, Options::default())
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

/// The properties a report finds violated, for the summaries.
fn verdict(report: &Report) -> String {
    let violated: Vec<String> = report.violated().map(|o| o.property.to_string()).collect();
    if violated.is_empty() {
        "all hold".to_string()
    } else {
        format!("violated: {}", violated.join(", "))
    }
}

/// One `zksim check FILE`, timed by stage: (read and parse, index, check, the verdict).
fn end_to_end(path: &Path) -> (Duration, Duration, Duration, String) {
    let start = Instant::now();
    let file = std::fs::File::open(path).expect("the history file opens");
    let events = history::read(file).expect("the history reads");
    let read = start.elapsed();
    let start = Instant::now();
    let h = History::new(&events).expect("a generated history indexes");
    let index = start.elapsed();
    let start = Instant::now();
    let recipe = recipes::check(&h).expect("no recipe, or a known one");
    let report = check_all(&h, Options::default());
    black_box(report::render(&h, &report, recipe.as_ref(), "bench"));
    let check = start.elapsed();
    (read, index, check, verdict(&report))
}

/// The best of three `end_to_end` runs on the history written to a temporary file.
fn summarize_end_to_end(n: usize, events: &[Event]) {
    let path: PathBuf =
        std::env::temp_dir().join(format!("zksim-bench-{}-{n}.jsonl", std::process::id()));
    std::fs::write(&path, history::to_jsonl(events)).expect("the history is written");
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let runs: Vec<_> = (0..3).map(|_| end_to_end(&path)).collect();
    let _ = std::fs::remove_file(&path);
    let (read, index, check, verdict) = runs
        .into_iter()
        .min_by_key(|(r, i, c, _)| *r + *i + *c)
        .expect("three runs");
    let s = |d: Duration| d.as_secs_f64();
    println!(
        "  end to end (read, parse, index, check) {n} ops: {:.2} s (parse {:.2}, index {:.2}, check {:.2}); {} MB; {verdict}",
        s(read + index + check),
        s(read),
        s(index),
        s(check),
        bytes / 1_000_000
    );
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
            b.iter(|| black_box(check(events)))
        });
    }
    group.finish();
    c.final_summary();
    println!("\nsummary (best of 3, index + check_all):");
    for (n, events) in &histories {
        let (best, report) = (0..3)
            .map(|_| {
                let start = Instant::now();
                let report = check(events);
                (start.elapsed(), report)
            })
            .min_by_key(|(d, _)| *d)
            .expect("three runs");
        println!(
            "  {n:>9} operations ({:>9} events): {best:>10.2?}  {:>6.0} ns/operation; {}",
            events.len(),
            best.as_nanos() as f64 / *n as f64,
            verdict(&report)
        );
    }
    println!("\nsummary (best of 3, as zksim check FILE does):");
    for (n, events) in &histories {
        summarize_end_to_end(*n, events);
    }
}
