//! `zksim sweep`: many seeds of one scenario (or every built-in, or swarm) in parallel,
//! with progress, a summary table, every failing seed with its replay command, and JSON
//! for machines. Exit 1 when anything failed.

use crate::output::{errln, out, outln};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use zksim_core::server::Bugs;

use crate::judge::{
    Judgement, ScenarioArg, all_builtins, judge_only, quiet_panics, replay_command,
};
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

/// The runs of a sweep, numbered without being listed: run `i` is scenario `i % S` with
/// the `i / S`-th seed of the (sharded) range, so that a range of 2^64 seeds starts at
/// once, every scenario of `all` comes early, and a run's seed is O(1) arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The first seed of the shard.
    first: u64,
    /// Seeds between two runs of the shard (its N).
    stride: u64,
    /// Seeds in the shard.
    seeds: u64,
    scenarios: u64,
}

impl Plan {
    /// The seeds of `range` whose position is `k` modulo `n` (`shard` = (k, n)), for each
    /// of `scenarios` scenarios.
    pub fn new(range: std::ops::Range<u64>, shard: Option<(u64, u64)>, scenarios: usize) -> Plan {
        let (k, n) = shard.unwrap_or((0, 1));
        assert!(n >= 1);
        assert!(k < n);
        let len = range.end - range.start;
        let seeds = if k >= len { 0 } else { (len - k - 1) / n + 1 };
        Plan {
            first: range.start.saturating_add(k),
            stride: n,
            seeds,
            scenarios: scenarios as u64,
        }
    }

    /// How many runs the sweep has.
    pub fn total(&self) -> u128 {
        u128::from(self.seeds) * u128::from(self.scenarios)
    }

    /// Run `i`: (scenario, seed).
    pub fn run(&self, i: u128) -> (usize, u64) {
        assert!(i < self.total());
        let scenarios = u128::from(self.scenarios);
        let position = u64::try_from(i / scenarios).expect("below the number of seeds");
        let scenario = usize::try_from(i % scenarios).expect("below the number of scenarios");
        // position < seeds, so first + position * stride stays within the range.
        (scenario, self.first + position * self.stride)
    }
}

/// At most this many failing runs are kept for the summary (the rest are counted), so that
/// a long sweep that fails everywhere holds bounded memory.
const FAILURES_LISTED: usize = 1_000;

/// What the summary table says of one scenario.
#[derive(Clone, Debug, Default)]
struct Tally {
    seeds: u64,
    ops: u64,
    violations: u64,
    undecided: u64,
    liveness: u64,
    budget: u64,
    panics: u64,
    failed: u64,
    harness: u64,
    sim_ms: u64,
    wall_ms: u64,
}

impl Tally {
    fn add(&mut self, j: &Judgement) {
        self.seeds += 1;
        self.ops = self.ops.saturating_add(j.ops);
        self.violations += u64::from(!j.violations.is_empty());
        self.undecided += u64::from(!j.unknown.is_empty());
        self.liveness += u64::from(j.liveness.is_some());
        self.budget += u64::from(j.budget.is_some());
        self.panics += u64::from(j.panic.is_some());
        self.failed += u64::from(j.service_failed());
        self.harness += u64::from(j.harness.is_some());
        self.sim_ms = self.sim_ms.saturating_add(j.sim_ms);
        self.wall_ms = self.wall_ms.saturating_add(j.wall_ms);
    }
}

/// A failing run, as the summary lists it.
struct Failure {
    scenario: usize,
    seed: u64,
    reason: String,
}

/// Everything a sweep keeps while it runs: O(scenarios) counts, the first failures, and in
/// JSON mode the finished runs that wait for an earlier one to be printed.
struct Summary {
    tallies: Vec<Tally>,
    by_property: BTreeMap<String, u64>,
    /// The first failing runs by run number.
    failures: BTreeMap<u128, Failure>,
    failed: u64,
    /// The first runs that said nothing of the service (harness errors), and how many.
    harness_errors: BTreeMap<u128, Failure>,
    harness: u64,
    finished: u128,
    /// JSON mode: the next run to print, and finished runs waiting for it.
    json_next: u128,
    json_waiting: BTreeMap<u128, String>,
    /// The protocol points any run reached (docs/scenarios.md, coverage).
    coverage: BTreeSet<String>,
}

/// Keep `f` under run number `i` among the first `FAILURES_LISTED` by run number.
fn keep_first(list: &mut BTreeMap<u128, Failure>, i: u128, f: Failure) {
    list.insert(i, f);
    if list.len() > FAILURES_LISTED {
        list.pop_last();
    }
}

/// Where the sweep's results go as runs finish.
struct Sink<'a> {
    scenarios: &'a [ScenarioArg],
    bugs: Bugs,
    json: bool,
    progress: bool,
    /// On a terminal: a live bar (seeds per second, time left, failures so far); otherwise
    /// plain progress lines.
    bar: Option<ProgressBar>,
    total: u128,
    start: Instant,
    summary: Mutex<Summary>,
}

impl Sink<'_> {
    /// Count run `i` and print what is due: its failure and progress on standard error, and
    /// in JSON mode every run up to the first one still running.
    fn finished(&self, i: u128, scenario: usize, j: Judgement) {
        let mut s = self.summary.lock().expect("summary lock");
        s.tallies[scenario].add(&j);
        for (p, _) in &j.violations {
            *s.by_property.entry(p.clone()).or_default() += 1;
        }
        s.finished += 1;
        for point in &j.coverage {
            if !s.coverage.contains(point) {
                s.coverage.insert(point.clone());
            }
        }
        let name = self.scenarios[scenario].arg();
        let listed = Failure {
            scenario,
            seed: j.seed,
            reason: j.reason(),
        };
        let failure = if j.harness.is_some() {
            s.harness += 1;
            keep_first(&mut s.harness_errors, i, listed);
            None
        } else if j.service_failed() {
            s.failed += 1;
            let line = format!("{name} seed {}: {}", j.seed, listed.reason);
            keep_first(&mut s.failures, i, listed);
            Some(line)
        } else {
            None
        };
        if self.json {
            let text = run_json(name, &j, &self.bugs);
            s.json_waiting.insert(i, text);
            self.print_json_runs(&mut s);
        }
        if let Some(bar) = &self.bar {
            if let Some(f) = failure {
                bar.println(format!("FAILED {f}"));
            }
            bar.set_message(format!("{} failed", s.failed));
            bar.inc(1);
        } else if self.progress {
            report_progress(s.finished, self.total, s.failed, self.start, failure);
        }
    }

    fn print_json_runs(&self, s: &mut Summary) {
        while let Some(text) = s.json_waiting.remove(&s.json_next) {
            let sep = if s.json_next == 0 { "" } else { ",\n" };
            out!("{sep}{text}");
            s.json_next += 1;
        }
    }
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
        let jobs = jobs("sweep", args.jobs)?;
        Ok((scenarios, seeds, shard, bugs, jobs))
    })();
    let (scenarios, seeds, shard, bugs, jobs_n) = match setup {
        Ok(s) => s,
        Err(e) => {
            errln!("zksim sweep: {e}");
            return ExitCode::from(2);
        }
    };
    let plan = Plan::new(seeds, shard, scenarios.len());
    let total = plan.total();
    let threads = jobs_n.min(usize::try_from(total).unwrap_or(usize::MAX).max(1));
    let names: Vec<&str> = scenarios.iter().map(ScenarioArg::arg).collect();
    if args.json {
        outln!("{{\n  \"runs\": [");
    } else {
        let bug_names = bugs.names();
        outln!(
            "zksim sweep: scenario {}, seeds {}{}, {total} runs on {threads} threads, bugs: {}",
            names.join(", "),
            args.seeds,
            args.shard
                .as_ref()
                .map(|s| format!(" (shard {s})"))
                .unwrap_or_default(),
            if bug_names.is_empty() {
                "none".to_string()
            } else {
                bug_names.join(", ")
            }
        );
    }
    let sink = Sink {
        scenarios: &scenarios,
        bugs,
        json: args.json,
        progress: !args.json,
        bar: (!args.json && std::io::stderr().is_terminal()).then(|| progress_bar(total)),
        total,
        start: Instant::now(),
        summary: Mutex::new(Summary {
            tallies: vec![Tally::default(); scenarios.len()],
            by_property: BTreeMap::new(),
            failures: BTreeMap::new(),
            failed: 0,
            harness_errors: BTreeMap::new(),
            harness: 0,
            finished: 0,
            json_next: 0,
            json_waiting: BTreeMap::new(),
            coverage: BTreeSet::new(),
        }),
    };
    run_all(&scenarios, plan, threads, bugs, &sink);
    let wall_s = sink.start.elapsed().as_secs_f64();
    if let Some(bar) = &sink.bar {
        bar.finish();
        errln!();
    }
    let summary = sink.summary.into_inner().expect("summary lock");
    if args.json {
        print_json_end(&summary, total, wall_s, &bugs);
    } else {
        print_table(&scenarios, &summary, wall_s, threads, &bugs);
    }
    if summary.failed > 0 {
        ExitCode::from(1)
    } else if summary.harness > 0 {
        // Runs that said nothing of the service: the sweep cannot vouch for it.
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--jobs`: at least 1, and at most the CPUs this process may use (more threads would only
/// share them, each holding a run's memory), with a note on standard error when clamped.
pub fn jobs(command: &str, asked: Option<usize>) -> Result<usize, String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    match asked {
        None => Ok(cpus),
        Some(0) => Err("--jobs must be at least 1".into()),
        Some(n) if n > cpus => {
            errln!(
                "zksim {command}: --jobs {n} is more than the {cpus} CPUs available; running {cpus} at a time"
            );
            Ok(cpus)
        }
        Some(n) => Ok(n),
    }
}

/// Run every run of `plan` on `threads` threads, handing each result to `sink`.
fn run_all(scenarios: &[ScenarioArg], plan: Plan, threads: usize, bugs: Bugs, sink: &Sink<'_>) {
    quiet_panics();
    let total = plan.total();
    let next = Mutex::new(0u128);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut next = next.lock().expect("next lock");
                        let i = *next;
                        if i >= total {
                            return;
                        }
                        *next += 1;
                        i
                    };
                    let (scenario, seed) = plan.run(i);
                    let s = scenarios[scenario].for_seed(seed);
                    let j = judge_only(&s, seed, bugs);
                    sink.finished(i, scenario, j);
                }
            });
        }
    });
}

/// This process's resident memory and its peak, in kB, from /proc/self/status (Linux).
pub fn resident_kb() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A bar for `total` runs: position, rate, time left and failures so far (indicatif draws
/// it on standard error, at most a few times a second).
fn progress_bar(total: u128) -> ProgressBar {
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(u64::MAX));
    let style = ProgressStyle::with_template(
        "[{elapsed_precise}] {bar:30} {human_pos}/{human_len} seeds, {per_sec}, ETA {eta}, {msg}",
    )
    .expect("a valid progress template");
    bar.set_style(style);
    bar.set_message("0 failed");
    bar
}

/// Plain progress lines when standard error is not a terminal.
fn report_progress(
    finished: u128,
    total: u128,
    failed: u64,
    start: Instant,
    failure: Option<String>,
) {
    let secs = start.elapsed().as_secs_f64();
    let mut err = std::io::stderr().lock();
    if let Some(f) = failure {
        let _ = writeln!(err, "FAILED {f}");
    }
    // A line after the first seed, every tenth of the sweep (at least every 1,000 seeds),
    // and at the end.
    let step = (total / 10).clamp(1, 1_000);
    if finished == 1 || finished.is_multiple_of(step) || finished == total {
        let rss = resident_kb()
            .map(|(rss, _)| format!(", {} MB resident", rss / 1024))
            .unwrap_or_default();
        let _ = writeln!(
            err,
            "progress: {finished}/{total} seeds, {failed} failed, {secs:.1} s{rss}"
        );
    }
}

fn human(n: u64) -> String {
    match n {
        n if n >= 10_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.0}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// How many of the points are message transitions, and how many fault timings.
fn coverage_counts(points: &BTreeSet<String>) -> (usize, usize) {
    let faults = points.iter().filter(|p| p.starts_with("fault ")).count();
    (points.len() - faults, faults)
}

fn coverage_json(points: &BTreeSet<String>) -> serde_json::Value {
    let (messages, faults) = coverage_counts(points);
    json!({
        "points": points.len(),
        "messages": messages,
        "faults": faults,
        "reached": points.iter().collect::<Vec<_>>(),
    })
}

fn print_table(
    scenarios: &[ScenarioArg],
    summary: &Summary,
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
        "{:<width$} {:>6} {:>9} {:>11} {:>9} {:>9} {:>7} {:>7} {:>9} {:>8} {:>9}",
        "scenario",
        "seeds",
        "ops",
        "violations",
        "undecided",
        "liveness",
        "budget",
        "panics",
        "failed",
        "harness",
        "sim/wall"
    );
    for (s, t) in scenarios.iter().zip(&summary.tallies) {
        let ratio = if t.wall_ms > 0 {
            t.sim_ms as f64 / t.wall_ms as f64
        } else {
            0.0
        };
        outln!(
            "{:<width$} {:>6} {:>9} {:>11} {:>9} {:>9} {:>7} {:>7} {:>9} {:>8} {:>9.1}",
            s.arg(),
            t.seeds,
            human(t.ops),
            t.violations,
            t.undecided,
            t.liveness,
            t.budget,
            t.panics,
            t.failed,
            t.harness,
            ratio
        );
    }
    let runs = summary.finished;
    let rss = resident_kb()
        .map(|(rss, peak)| format!("; {} MB resident, at most {} MB", rss / 1024, peak / 1024))
        .unwrap_or_default();
    let waits = zksim_sim::admission::waits();
    let waits = if waits > 0 {
        format!("; {waits} runs waited for memory")
    } else {
        String::new()
    };
    outln!(
        "wall time {wall_s:.1} s on {threads} threads ({:.2} seeds/s){rss}{waits}",
        runs as f64 / wall_s.max(1e-9)
    );
    let (messages, faults) = coverage_counts(&summary.coverage);
    outln!(
        "coverage: {} protocol points reached: {messages} (role, stage, message) and {faults} (role, stage, fault)",
        summary.coverage.len()
    );
    if !summary.by_property.is_empty() {
        outln!("violations by property:");
        for (p, n) in &summary.by_property {
            outln!("  {p}: {n} seeds");
        }
    }
    if summary.harness > 0 {
        outln!(
            "harness errors ({}; not failures of the service, and the sweep cannot vouch for these seeds):",
            summary.harness
        );
        for f in summary.harness_errors.values() {
            outln!(
                "  {} seed {}: {}",
                scenarios[f.scenario].arg(),
                f.seed,
                f.reason
            );
        }
    }
    if summary.failed == 0 {
        if summary.harness == 0 {
            outln!("all {runs} runs passed");
        }
        return;
    }
    let listed = summary.failures.len() as u64;
    if listed < summary.failed {
        outln!(
            "failing seeds ({}; the first {listed} listed):",
            summary.failed
        );
    } else {
        outln!("failing seeds ({}):", summary.failed);
    }
    for f in summary.failures.values() {
        let name = scenarios[f.scenario].arg();
        outln!("  {name} seed {}: {}", f.seed, f.reason);
        outln!("    replay: {}", replay_command(name, f.seed, bugs));
    }
}

/// One run's JSON object, indented to sit in the `runs` array.
fn run_json(name: &str, j: &Judgement, bugs: &Bugs) -> String {
    let v = json!({
        "scenario": name,
        "seed": j.seed,
        "ok": j.ok(),
        "ops": j.ops,
        "events": j.events,
        "held_mb": j.held_bytes >> 20,
        "sim_ms": j.sim_ms,
        "wall_ms": j.wall_ms,
        "violations": j.violations.iter().map(|(p, s)| json!({"property": p, "finding": s})).collect::<Vec<_>>(),
        "liveness": j.liveness,
        "budget": j.budget,
        "panic": j.panic,
        "harness": j.harness,
        "protocol_violations": j.protocol,
        "unknown": j.unknown.iter().map(|(p, s)| json!({"property": p, "reason": s})).collect::<Vec<_>>(),
        "replay": (!j.ok()).then(|| replay_command(name, j.seed, bugs)),
        "coverage": j.coverage.len(),
    });
    let text = serde_json::to_string_pretty(&v).expect("json");
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The end of the JSON document whose `runs` were printed as they finished.
fn print_json_end(summary: &Summary, total: u128, wall_s: f64, bugs: &Bugs) {
    let (rss, peak) = resident_kb().map_or((None, None), |(r, p)| (Some(r), Some(p)));
    let end = json!({
        "failed": summary.failed,
        "harness_errors": summary.harness,
        "total": u64::try_from(total).ok(),
        "wall_s": wall_s,
        "bugs": bugs.names(),
        "rss_kb": rss,
        "peak_rss_kb": peak,
        "memory_waits": zksim_sim::admission::waits(),
        "coverage": coverage_json(&summary.coverage),
    });
    let text = serde_json::to_string_pretty(&end).expect("json");
    // The fields follow the runs array inside the one document.
    let fields = text
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_matches('\n');
    if summary.json_next > 0 {
        outln!();
    }
    outln!("  ],\n{fields}\n}}");
}

#[cfg(test)]
mod tests {
    use super::*;

    // A plan numbers its runs without listing them: the largest range and its shards are
    // a few multiplications, seed-major so that every scenario of `all` comes early.
    #[test]
    fn a_plan_is_arithmetic_over_the_largest_range() {
        let plan = Plan::new(0..u64::MAX, None, 17);
        assert_eq!(plan.total(), u128::from(u64::MAX) * 17);
        assert_eq!(plan.run(0), (0, 0));
        assert_eq!(plan.run(16), (16, 0));
        assert_eq!(plan.run(17), (0, 1));
        assert_eq!(plan.run(plan.total() - 1), (16, u64::MAX - 1));

        let shard = Plan::new(0..u64::MAX, Some((2, 3)), 1);
        assert_eq!(shard.total(), u128::from(u64::MAX / 3));
        assert_eq!(shard.run(0), (0, 2));
        assert_eq!(shard.run(1), (0, 5));
        assert_eq!(shard.run(shard.total() - 1), (0, u64::MAX - 1));
    }

    // Sharding splits a range exactly: every seed in one shard, none twice.
    #[test]
    fn shards_split_a_range_exactly() {
        for n in 1..6 {
            let mut seeds = Vec::new();
            for k in 0..n {
                let plan = Plan::new(10..23, Some((k, n)), 1);
                seeds.extend((0..plan.total()).map(|i| plan.run(i).1));
            }
            seeds.sort();
            assert_eq!(seeds, (10..23).collect::<Vec<u64>>(), "n = {n}");
        }
        assert_eq!(Plan::new(0..2, Some((3, 4)), 1).total(), 0);
    }
}
