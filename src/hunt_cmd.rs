//! `zksim hunt`: how many seeds it takes to find a bug. For each of several disjoint seed
//! ranges, seeds are run in order until the first failure; the command prints the seeds
//! needed per range, their median and worst, the properties the failures broke, and the
//! size of the first failure once shrunk. This is how docs/bugs.md is measured.

use crate::output::{errln, outln};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::judge::{Judgement, ScenarioArg, judge_only, quiet_panics};
use crate::run_cmd::parse_bugs;

#[derive(clap::Args)]
pub struct HuntArgs {
    /// A built-in scenario, a scenario file, or `swarm`.
    #[arg(long, default_value = "default")]
    pub scenario: String,
    /// The bug knob(s) to hunt for (repeatable; without one, the hunt is for any failure).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// How many disjoint seed ranges to hunt in.
    #[arg(long, default_value_t = 10)]
    pub ranges: u64,
    /// Give up on a range after this many seeds.
    #[arg(long, default_value_t = 200)]
    pub max_seeds: u64,
    /// Range k starts at seed `start + k * 1_000_000`.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Parallel runs (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Also shrink the first failure found and report its size.
    #[arg(long)]
    pub shrink: bool,
}

/// What one range's hunt found.
struct Found {
    range: u64,
    /// Seeds run before and including the failing one; `None`: not found.
    seeds: Option<u64>,
    failure: Option<Judgement>,
}

/// Range k starts at seed `start + k * RANGE_STRIDE`.
const RANGE_STRIDE: u64 = 1_000_000;

pub fn run(args: HuntArgs) -> ExitCode {
    let setup = (|| -> Result<_, String> {
        if args.ranges == 0 || args.max_seeds == 0 {
            return Err("--ranges and --max-seeds must be at least 1".into());
        }
        let jobs = crate::sweep_cmd::jobs("hunt", args.jobs)?;
        // The last range's last seed must be a seed.
        let last = (args.ranges - 1)
            .checked_mul(RANGE_STRIDE)
            .and_then(|r| r.checked_add(args.start))
            .and_then(|first| first.checked_add(args.max_seeds - 1));
        if last.is_none() {
            return Err(format!(
                "--start {} with {} ranges of {} seeds, {RANGE_STRIDE} apart, runs past the last seed ({})",
                args.start,
                args.ranges,
                args.max_seeds,
                u64::MAX
            ));
        }
        Ok((
            ScenarioArg::parse(&args.scenario)?,
            parse_bugs(&args.bugs)?,
            jobs,
        ))
    })();
    let (scenario, bugs, jobs) = match setup {
        Ok(s) => s,
        Err(e) => {
            errln!("zksim hunt: {e}");
            return ExitCode::from(2);
        }
    };
    let names = bugs.names();
    outln!(
        "zksim hunt: scenario {}, bugs: {}, {} ranges of at most {} seeds",
        scenario.arg(),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        },
        args.ranges,
        args.max_seeds
    );
    quiet_panics();
    let wall = Instant::now();
    let next = AtomicUsize::new(0);
    let found: Mutex<Vec<Found>> = Mutex::new(Vec::new());
    let runs = AtomicUsize::new(0);
    let harness_errors = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(args.ranges as usize) {
            scope.spawn(|| {
                loop {
                    let range = next.fetch_add(1, Ordering::Relaxed) as u64;
                    if range >= args.ranges {
                        return;
                    }
                    let first = args.start + range * RANGE_STRIDE;
                    let mut result = Found {
                        range,
                        seeds: None,
                        failure: None,
                    };
                    for i in 0..args.max_seeds {
                        let seed = first + i;
                        let j = judge_only(&scenario.for_seed(seed), seed, bugs);
                        runs.fetch_add(1, Ordering::Relaxed);
                        if let Some(h) = &j.harness {
                            // Not a find: the run said nothing of the service.
                            errln!("zksim hunt: seed {seed}: {h}");
                            harness_errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        if j.service_failed() {
                            result.seeds = Some(i + 1);
                            result.failure = Some(j);
                            break;
                        }
                    }
                    match &result.failure {
                        Some(j) => outln!(
                            "  range {range} (seeds from {first}): found after {} seeds, seed {}: {}",
                            result.seeds.unwrap_or(0),
                            j.seed,
                            j.reason()
                        ),
                        None => outln!(
                            "  range {range} (seeds from {first}): not found in {} seeds",
                            args.max_seeds
                        ),
                    }
                    found.lock().expect("found lock").push(result);
                }
            });
        }
    });
    let mut found = found.into_inner().expect("found lock");
    found.sort_by_key(|f| f.range);
    let mut needed: Vec<u64> = found.iter().filter_map(|f| f.seeds).collect();
    needed.sort();
    let missed = found.len() - needed.len();
    let mut properties: BTreeMap<String, usize> = BTreeMap::new();
    for j in found.iter().filter_map(|f| f.failure.as_ref()) {
        for kind in j.failure_kinds() {
            *properties.entry(kind).or_default() += 1;
        }
    }
    outln!(
        "found in {} of {} ranges; seeds needed: median {}, worst {}{}",
        needed.len(),
        found.len(),
        median(&needed).map_or("-".into(), |m| format!("{m}")),
        if missed > 0 {
            format!("> {}", args.max_seeds)
        } else {
            needed.last().map_or("-".into(), |w| w.to_string())
        },
        if needed.is_empty() {
            String::new()
        } else {
            format!(" (per range: {needed:?})")
        }
    );
    if !properties.is_empty() {
        let list: Vec<String> = properties
            .iter()
            .map(|(p, n)| format!("{p} ({n})"))
            .collect();
        outln!("failures broke: {}", list.join(", "));
    }
    if args.shrink {
        if let Some(j) = found.iter().find_map(|f| f.failure.as_ref()) {
            match crate::shrink_cmd::shrink(
                scenario.for_seed(j.seed),
                j.seed,
                bugs,
                jobs,
                400,
                false,
            ) {
                Ok(s) => outln!(
                    "shrunk seed {} ({} runs): {} -> {}",
                    j.seed,
                    s.runs,
                    s.original,
                    s.shrunk
                ),
                Err(e) => outln!("shrinking seed {} failed: {e}", j.seed),
            }
        }
    }
    outln!(
        "{} runs in {:.0} s",
        runs.into_inner(),
        wall.elapsed().as_secs_f64()
    );
    let harness_errors = harness_errors.into_inner();
    if harness_errors > 0 {
        errln!(
            "zksim hunt: {harness_errors} ranges ended on a harness error, which is not a failure of the service"
        );
        return ExitCode::from(2);
    }
    if missed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The median of sorted values (the mean of the two middle values for an even count).
fn median(sorted: &[u64]) -> Option<f64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2] as f64),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}
