//! Times the engine on the external corpus (../shared/data): every porcupine etcd log (the
//! figure that matters is the mean per file), porcupine's kv c50-ok and c50-bad. Parsing is
//! outside the timed part, as in porcupine's own benchmarks.
//!
//!     cargo bench -p zksim-checker --bench external             # criterion, full
//!     cargo bench -p zksim-checker --bench external -- --quick  # criterion, quick
//!
//! Either way a short summary of the three figures is printed at the end.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use zksim_checker::external::{ExternalHistory, Format};
use zksim_checker::linearizability::Budget;

struct Corpus {
    etcd: Vec<ExternalHistory>,
    c50_ok: ExternalHistory,
    c50_bad: ExternalHistory,
}

impl Corpus {
    fn load() -> Option<Self> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/porcupine");
        if !dir.is_dir() {
            return None;
        }
        let load = |format, path: PathBuf| {
            ExternalHistory::load(format, &path).unwrap_or_else(|e| panic!("{e}"))
        };
        let mut logs: Vec<PathBuf> = std::fs::read_dir(dir.join("jepsen"))
            .expect("the jepsen folder lists")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        Some(Self {
            etcd: logs
                .into_iter()
                .map(|log| load(Format::PorcupineEtcd, log))
                .collect(),
            c50_ok: load(Format::PorcupineKv, dir.join("kv/c50-ok.txt")),
            c50_bad: load(Format::PorcupineKv, dir.join("kv/c50-bad.txt")),
        })
    }

    fn check_all_etcd(&self) {
        for history in &self.etcd {
            black_box(history.check(Budget::default()));
        }
    }
}

fn criterion_benches(c: &mut Criterion, corpus: &Corpus) {
    let mut etcd = c.benchmark_group("porcupine-etcd");
    etcd.throughput(Throughput::Elements(corpus.etcd.len() as u64));
    etcd.bench_function("all-files", |b| b.iter(|| corpus.check_all_etcd()));
    etcd.finish();
    let mut kv = c.benchmark_group("porcupine-kv");
    kv.bench_function("c50-ok", |b| {
        b.iter(|| black_box(corpus.c50_ok.check(Budget::default())))
    });
    kv.bench_function("c50-bad", |b| {
        b.iter(|| black_box(corpus.c50_bad.check(Budget::default())))
    });
    kv.finish();
}

/// The mean time of `run` over at least half a second and ten runs, after one warm-up.
fn mean_time(run: impl Fn()) -> Duration {
    run();
    let start = Instant::now();
    let mut runs = 0u32;
    while runs < 10 || start.elapsed() < Duration::from_millis(500) {
        run();
        runs += 1;
    }
    start.elapsed() / runs
}

fn print_summary(corpus: &Corpus) {
    let files = corpus.etcd.len() as u32;
    let etcd_all = mean_time(|| corpus.check_all_etcd());
    let c50_ok = mean_time(|| drop(black_box(corpus.c50_ok.check(Budget::default()))));
    let c50_bad = mean_time(|| drop(black_box(corpus.c50_bad.check(Budget::default()))));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("summary (check only, parsing excluded):");
    println!(
        "  porcupine etcd, {files} files: {:.4} ms per file (mean; {:.3} ms for all)",
        ms(etcd_all / files),
        ms(etcd_all)
    );
    println!("  porcupine kv c50-ok:  {:.3} ms", ms(c50_ok));
    println!("  porcupine kv c50-bad: {:.3} ms", ms(c50_bad));
}

fn main() {
    let Some(corpus) = Corpus::load() else {
        println!("external history corpus ../shared/data not found; nothing to benchmark");
        return;
    };
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion, &corpus);
    criterion.final_summary();
    print_summary(&corpus);
}
