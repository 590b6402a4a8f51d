//! `zksim sweep`: many seeds of one scenario (or every built-in, or swarm) in parallel,
//! with progress, a summary table, every failing seed with its replay command, and JSON
//! for machines. Exit 1 when anything failed.

use crate::output::{errln, outln};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;
use zksim_core::server::Bugs;
use zksim_sim::TraceMode;

use crate::judge::{Judgement, ScenarioArg, all_builtins, judge, quiet_panics, replay_command};
use crate::run_cmd::parse_bugs;

#[derive(clap::Args)]
pub struct SweepArgs {
    /// A built-in scenario, a scenario file, `all` (every built-in) or `swarm` (a random
    /// scenario per seed).
    #[arg(long, default_value = "default")]
    pub scenario: String,
    /// Seeds as a half-open range `A..B`.
    #[arg(long, default_value = "0..20")]
    pub seeds: String,
    /// Parallel runs (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only this share of the seeds, `K/N` (1 <= K <= N): seeds whose position in the
    /// range is K-1 modulo N.
    #[arg(long)]
    pub shard: Option<String>,
    /// Re-create a known mistake in the service (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `A..B` as a range; the error says what is wrong.
pub fn parse_seeds(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("seed range {text:?}: expected A..B, e.g. 0..100"))?;
    let a: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("seed range {text:?}: {a:?} is not a number"))?;
    let b: u64 = b
        .trim()
        .parse()
        .map_err(|_| format!("seed range {text:?}: {b:?} is not a number"))?;
    if a >= b {
        return Err(format!(
            "seed range {text:?} is empty: the end must be above the start"
        ));
    }
    Ok(a..b)
}

/// `K/N` as (K-1, N).
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("shard {text:?}: expected K/N, e.g. 2/4"))?;
    let k: u64 = k
        .parse()
        .map_err(|_| format!("shard {text:?}: {k:?} is not a number"))?;
    let n: u64 = n
        .parse()
        .map_err(|_| format!("shard {text:?}: {n:?} is not a number"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {text:?}: need 1 <= K <= N"));
    }
    Ok((k - 1, n))
}

struct Job {
    scenario: usize,
    seed: u64,
}

pub fn run(args: SweepArgs) -> ExitCode {
    let setup = (|| -> Result<_, String> {
        let scenarios = if args.scenario == "all" {
            all_builtins()
        } else {
            vec![ScenarioArg::parse(&args.scenario)?]
        };
        let seeds = parse_seeds(&args.seeds)?;
        let shard = args.shard.as_deref().map(parse_shard).transpose()?;
        let bugs = parse_bugs(&args.bugs)?;
        if args.jobs == Some(0) {
            return Err("--jobs must be at least 1".into());
        }
        Ok((scenarios, seeds, shard, bugs))
    })();
    let (scenarios, seeds, shard, bugs) = match setup {
        Ok(s) => s,
        Err(e) => {
            errln!("zksim sweep: {e}");
            return ExitCode::from(2);
        }
    };
    let jobs_n = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut jobs = Vec::new();
    for (i, _) in scenarios.iter().enumerate() {
        for (pos, seed) in seeds.clone().enumerate() {
            if shard.is_none_or(|(k, n)| pos as u64 % n == k) {
                jobs.push(Job { scenario: i, seed });
            }
        }
    }
    let names: Vec<&str> = scenarios.iter().map(ScenarioArg::arg).collect();
    if !args.json {
        let bug_names = bugs.names();
        outln!(
            "zksim sweep: scenario {}, seeds {}{}, {} runs on {jobs_n} threads, bugs: {}",
            names.join(", "),
            args.seeds,
            args.shard
                .as_ref()
                .map(|s| format!(" (shard {s})"))
                .unwrap_or_default(),
            jobs.len(),
            if bug_names.is_empty() {
                "none".to_string()
            } else {
                bug_names.join(", ")
            }
        );
    }
    let wall = Instant::now();
    let results = run_jobs(&scenarios, jobs, jobs_n, bugs, !args.json);
    let wall_s = wall.elapsed().as_secs_f64();
    let failed = results.iter().any(|(_, j)| j.service_failed());
    let harness = results.iter().any(|(_, j)| j.harness.is_some());
    if args.json {
        print_json(&names, &results, wall_s, &bugs);
    } else {
        print_table(&scenarios, &results, wall_s, jobs_n, &bugs);
    }
    if failed {
        ExitCode::from(1)
    } else if harness {
        // Runs that said nothing of the service: the sweep cannot vouch for it.
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// Run every job on `threads` threads; results in job order.
fn run_jobs(
    scenarios: &[ScenarioArg],
    jobs: Vec<Job>,
    threads: usize,
    bugs: Bugs,
    progress: bool,
) -> Vec<(usize, Judgement)> {
    quiet_panics();
    let total = jobs.len();
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    type Slots = Vec<Option<(usize, Judgement)>>;
    let results: Arc<Mutex<Slots>> = Arc::new(Mutex::new((0..total).map(|_| None).collect()));
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let tty = progress && std::io::stderr().is_terminal();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(total.max(1)) {
            let (jobs, next, results, done, failures) = (
                Arc::clone(&jobs),
                Arc::clone(&next),
                Arc::clone(&results),
                Arc::clone(&done),
                Arc::clone(&failures),
            );
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { return };
                    let scenario = scenarios[job.scenario].for_seed(job.seed);
                    let (j, _) = judge(&scenario, job.seed, bugs, TraceMode::Off, None);
                    let ok = j.ok();
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if progress {
                        report_progress(
                            tty,
                            finished,
                            total,
                            failures.load(Ordering::Relaxed),
                            start,
                            (!ok).then(|| {
                                format!(
                                    "{} seed {}: {}",
                                    scenarios[job.scenario].arg(),
                                    job.seed,
                                    j.reason()
                                )
                            }),
                        );
                    }
                    results.lock().expect("results lock")[i] = Some((job.scenario, j));
                }
            });
        }
    });
    if tty {
        errln!();
    }
    Arc::try_unwrap(results)
        .expect("threads joined")
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

fn report_progress(
    tty: bool,
    finished: usize,
    total: usize,
    failed: usize,
    start: Instant,
    failure: Option<String>,
) {
    let secs = start.elapsed().as_secs_f64();
    let mut err = std::io::stderr().lock();
    if tty {
        let width = 30;
        let filled = finished * width / total.max(1);
        if let Some(f) = failure {
            let _ = writeln!(err, "\r\x1b[2KFAILED {f}");
        }
        let _ = write!(
            err,
            "\r[{}{}] {finished}/{total} seeds, {failed} failed, {secs:.1} s",
            "#".repeat(filled),
            "-".repeat(width - filled)
        );
        let _ = err.flush();
    } else {
        if let Some(f) = failure {
            let _ = writeln!(err, "FAILED {f}");
        }
        let step = (total / 10).max(1);
        if finished.is_multiple_of(step) || finished == total {
            let _ = writeln!(
                err,
                "progress: {finished}/{total} seeds, {failed} failed, {secs:.1} s"
            );
        }
    }
}

fn human(n: u64) -> String {
    match n {
        n if n >= 10_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.0}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

fn print_table(
    scenarios: &[ScenarioArg],
    results: &[(usize, Judgement)],
    wall_s: f64,
    threads: usize,
    bugs: &Bugs,
) {
    let width = scenarios
        .iter()
        .map(|s| s.arg().chars().count())
        .max()
        .unwrap_or(0)
        .max("scenario".len());
    outln!();
    outln!(
        "{:<width$} {:>6} {:>9} {:>11} {:>9} {:>9} {:>7} {:>9} {:>8} {:>9}",
        "scenario",
        "seeds",
        "ops",
        "violations",
        "undecided",
        "liveness",
        "panics",
        "failed",
        "harness",
        "sim/wall"
    );
    let mut by_property: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in scenarios.iter().enumerate() {
        let rows: Vec<&Judgement> = results
            .iter()
            .filter(|(k, _)| *k == i)
            .map(|(_, j)| j)
            .collect();
        let ops: u64 = rows.iter().map(|j| j.ops).sum();
        let violations = rows.iter().filter(|j| !j.violations.is_empty()).count();
        let undecided = rows.iter().filter(|j| !j.unknown.is_empty()).count();
        let liveness = rows.iter().filter(|j| j.liveness.is_some()).count();
        let panics = rows.iter().filter(|j| j.panic.is_some()).count();
        let failed = rows.iter().filter(|j| j.service_failed()).count();
        let harness = rows.iter().filter(|j| j.harness.is_some()).count();
        let sim: u64 = rows.iter().map(|j| j.sim_ms).sum();
        let cpu: u64 = rows.iter().map(|j| j.wall_ms).sum();
        let ratio = if cpu > 0 {
            sim as f64 / cpu as f64
        } else {
            0.0
        };
        outln!(
            "{:<width$} {:>6} {:>9} {:>11} {:>9} {:>9} {:>7} {:>9} {:>8} {:>9.1}",
            s.arg(),
            rows.len(),
            human(ops),
            violations,
            undecided,
            liveness,
            panics,
            failed,
            harness,
            ratio
        );
        for j in rows {
            for (p, _) in &j.violations {
                *by_property.entry(p.clone()).or_default() += 1;
            }
        }
    }
    let runs = results.len();
    outln!(
        "wall time {wall_s:.1} s on {threads} threads ({:.2} seeds/s)",
        runs as f64 / wall_s.max(1e-9)
    );
    if !by_property.is_empty() {
        outln!("violations by property:");
        for (p, n) in &by_property {
            outln!("  {p}: {n} seeds");
        }
    }
    let broken: Vec<&(usize, Judgement)> = results
        .iter()
        .filter(|(_, j)| j.harness.is_some())
        .collect();
    if !broken.is_empty() {
        outln!(
            "harness errors ({}; not failures of the service, and the sweep cannot vouch for these seeds):",
            broken.len()
        );
        for (i, j) in &broken {
            outln!("  {} seed {}: {}", scenarios[*i].arg(), j.seed, j.reason());
        }
    }
    let failures: Vec<&(usize, Judgement)> =
        results.iter().filter(|(_, j)| j.service_failed()).collect();
    if failures.is_empty() {
        if broken.is_empty() {
            outln!("all {runs} runs passed");
        }
        return;
    }
    outln!("failing seeds ({}):", failures.len());
    for (i, j) in failures {
        outln!("  {} seed {}: {}", scenarios[*i].arg(), j.seed, j.reason());
        outln!(
            "    replay: {}",
            replay_command(scenarios[*i].arg(), j.seed, bugs)
        );
    }
}

fn print_json(names: &[&str], results: &[(usize, Judgement)], wall_s: f64, bugs: &Bugs) {
    let runs: Vec<serde_json::Value> = results
        .iter()
        .map(|(i, j)| {
            json!({
                "scenario": names[*i],
                "seed": j.seed,
                "ok": j.ok(),
                "ops": j.ops,
                "sim_ms": j.sim_ms,
                "wall_ms": j.wall_ms,
                "violations": j.violations.iter().map(|(p, s)| json!({"property": p, "finding": s})).collect::<Vec<_>>(),
                "liveness": j.liveness,
                "panic": j.panic,
                "harness": j.harness,
                "protocol_violations": j.protocol,
                "unknown": j.unknown.iter().map(|(p, s)| json!({"property": p, "reason": s})).collect::<Vec<_>>(),
                "replay": (!j.ok()).then(|| replay_command(names[*i], j.seed, bugs)),
            })
        })
        .collect();
    let failed = results.iter().filter(|(_, j)| j.service_failed()).count();
    let harness = results.iter().filter(|(_, j)| j.harness.is_some()).count();
    let out = json!({"runs": runs, "failed": failed, "harness_errors": harness, "total": results.len(), "wall_s": wall_s, "bugs": bugs.names()});
    outln!("{}", serde_json::to_string_pretty(&out).expect("json"));
}
