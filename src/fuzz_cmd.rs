//! `zksim fuzz`: swarm seeds until a time budget is spent, keeping every failing case (its
//! scenario, the shrunk scenario, the report and the replay commands) in a corpus folder.
//!
//! Seeds are taken in order from `--start`, so a fuzz run is reproducible from its start
//! seed and the number of seeds it reached; nightly shards use disjoint starts.
//!
//! Coverage: the protocol points the runs reached (docs/scenarios.md) are gathered as the
//! seeds finish; every seed that reached a point no earlier seed had is kept, with the
//! points it added, in `coverage.json` in the corpus, and the run ends with how coverage
//! grew.

use crate::output::{errln, outln};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zksim_checker::History;
use zksim_core::server::Bugs;
use zksim_sim::TraceMode;

use crate::judge::{Judgement, ScenarioArg, judge, judge_only, quiet_panics, replay_command};
use crate::run_cmd::parse_bugs;

#[derive(clap::Args)]
pub struct FuzzArgs {
    /// The time budget in minutes (fractions allowed).
    #[arg(long)]
    pub minutes: f64,
    /// Where failing cases are kept, one folder per case.
    #[arg(long, default_value = "zksim-corpus")]
    pub corpus: PathBuf,
    /// The first seed; seeds are taken in order from here.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// A scenario instead of swarm (a built-in name or a file).
    #[arg(long, default_value = "swarm")]
    pub scenario: String,
    /// Parallel runs (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Re-create a known mistake in the service (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Do not shrink failing cases (shrinking takes up to a few minutes per case).
    #[arg(long)]
    pub no_shrink: bool,
    /// Stop after this many failing cases.
    #[arg(long, default_value_t = 5)]
    pub max_failures: usize,
}

pub fn run(args: FuzzArgs) -> ExitCode {
    let setup = (|| -> Result<_, String> {
        if !(args.minutes > 0.0 && args.minutes.is_finite() && args.minutes <= 24.0 * 60.0) {
            return Err(format!(
                "--minutes {}: give a positive budget of at most a day",
                args.minutes
            ));
        }
        if args.max_failures == 0 {
            return Err("--max-failures must be at least 1".into());
        }
        let scenario = ScenarioArg::parse(&args.scenario)?;
        let bugs = parse_bugs(&args.bugs)?;
        let jobs = crate::sweep_cmd::jobs("fuzz", args.jobs)?;
        crate::output::check_writable_dir(&args.corpus).map_err(|e| format!("corpus: {e}"))?;
        Ok((scenario, bugs, jobs))
    })();
    let (scenario, bugs, jobs) = match setup {
        Ok(s) => s,
        Err(e) => {
            errln!("zksim fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    let budget = Duration::from_secs_f64(args.minutes * 60.0);
    outln!(
        "zksim fuzz: scenario {}, seeds from {}, {:.1} minutes on {jobs} threads, corpus {}, bugs: {}",
        scenario.arg(),
        args.start,
        args.minutes,
        args.corpus.display(),
        if bugs.names().is_empty() {
            "none".to_string()
        } else {
            bugs.names().join(", ")
        }
    );
    quiet_panics();
    let start = Instant::now();
    let next = AtomicU64::new(args.start);
    let ran = AtomicUsize::new(0);
    let ops = AtomicU64::new(0);
    let harness_errors = AtomicUsize::new(0);
    let failures: Arc<Mutex<Vec<Judgement>>> = Arc::new(Mutex::new(Vec::new()));
    let coverage = Mutex::new(Growth::default());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while start.elapsed() < budget
                    && failures.lock().expect("failures lock").len() < args.max_failures
                {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed < args.start {
                        // Every seed from --start to the last one has been taken.
                        break;
                    }
                    let s = scenario.for_seed(seed);
                    let j = judge_only(&s, seed, bugs);
                    let ran_now = ran.fetch_add(1, Ordering::Relaxed) + 1;
                    ops.fetch_add(j.ops, Ordering::Relaxed);
                    coverage.lock().expect("coverage lock").add(
                        seed,
                        ran_now,
                        start.elapsed().as_secs_f64(),
                        &j.coverage,
                    );
                    if let Some(h) = &j.harness {
                        // Not the service's failure: said, counted, never kept as a case.
                        errln!("zksim fuzz: {} seed {seed}: {h}", scenario.arg());
                        harness_errors.fetch_add(1, Ordering::Relaxed);
                    } else if !j.ok() {
                        outln!("FAILED {} seed {seed}: {}", scenario.arg(), j.reason());
                        failures.lock().expect("failures lock").push(j);
                    }
                }
            });
        }
    });
    let fuzz_s = start.elapsed().as_secs_f64();
    let ran = ran.into_inner();
    let mut failures = std::mem::take(&mut *failures.lock().expect("failures lock"));
    failures.sort_by_key(|j| j.seed);
    outln!(
        "{ran} seeds ({}..={}), {} operations, {} failed, in {fuzz_s:.0} s ({:.2} seeds/s)",
        args.start,
        args.start.saturating_add((ran as u64).saturating_sub(1)),
        ops.into_inner(),
        failures.len(),
        ran as f64 / fuzz_s.max(1e-9)
    );
    let coverage = coverage.into_inner().expect("coverage lock");
    outln!("{}", coverage.summary());
    // Written whole, then renamed into place, as the cases are.
    let coverage_file = args.corpus.join("coverage.json");
    let partial = args.corpus.join(".coverage.json.partial");
    if let Err(e) = std::fs::create_dir_all(&args.corpus)
        .and_then(|()| std::fs::write(&partial, coverage.json()))
        .and_then(|()| std::fs::rename(&partial, &coverage_file))
    {
        errln!("zksim fuzz: cannot write {}: {e}", coverage_file.display());
        return ExitCode::from(2);
    }
    for j in &failures {
        let case = args
            .corpus
            .join(format!("{}-seed-{}", file_stem(scenario.arg()), j.seed));
        match keep_case(&case, &scenario, j, bugs, jobs, !args.no_shrink) {
            Ok(()) => outln!("  kept {}", case.display()),
            Err(e) => {
                errln!("zksim fuzz: cannot keep {}: {e}", case.display());
                return ExitCode::from(2);
            }
        }
    }
    if !failures.is_empty() {
        ExitCode::from(1)
    } else if harness_errors.into_inner() > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// How coverage grew over the run: the points reached, and each seed that added some.
#[derive(Default)]
struct Growth {
    points: BTreeSet<String>,
    /// (seed, seeds run when it finished, seconds, the points it added).
    steps: Vec<(u64, usize, f64, Vec<String>)>,
}

impl Growth {
    fn add(&mut self, seed: u64, ran: usize, secs: f64, reached: &[String]) {
        let new: Vec<String> = reached
            .iter()
            .filter(|p| !self.points.contains(*p))
            .cloned()
            .collect();
        if new.is_empty() {
            return;
        }
        self.points.extend(new.iter().cloned());
        self.steps.push((seed, ran, secs, new));
    }

    /// The points reached after a run's first 1, 10, 100, ... seeds, and where the last
    /// new one came.
    fn summary(&self) -> String {
        let mut marks = Vec::new();
        let mut total = 0;
        let mut next_mark = 1;
        for (_, ran, _, new) in &self.steps {
            while *ran > next_mark {
                marks.push(format!("{total} after {next_mark}"));
                next_mark *= 10;
            }
            total += new.len();
        }
        let last = self
            .steps
            .last()
            .map_or(String::new(), |(seed, ran, secs, _)| {
                format!("; the last new one at seed {seed} (run {ran}, {secs:.0} s)")
            });
        format!(
            "coverage: {} protocol points; {} seeds reached new ones{}{last}",
            self.points.len(),
            self.steps.len(),
            if marks.is_empty() {
                String::new()
            } else {
                format!(" ({} seeds)", marks.join(", "))
            }
        )
    }

    fn json(&self) -> String {
        let steps: Vec<_> = self
            .steps
            .iter()
            .map(|(seed, ran, secs, new)| {
                serde_json::json!({"seed": seed, "run": ran, "seconds": secs, "new": new})
            })
            .collect();
        let v = serde_json::json!({"points": self.points, "seeds_with_new_points": steps});
        serde_json::to_string_pretty(&v).expect("json")
    }
}

fn file_stem(arg: &str) -> String {
    Path::new(arg)
        .file_stem()
        .map_or_else(|| arg.to_string(), |s| s.to_string_lossy().to_string())
}

/// Write a failing case: scenario.json (the scenario of that seed), report.txt (what
/// failed, the checker's report, the replay commands) and, when shrinking, shrunk.json.
fn keep_case(
    dir: &Path,
    scenario: &ScenarioArg,
    j: &Judgement,
    bugs: Bugs,
    jobs: usize,
    shrink: bool,
) -> Result<(), String> {
    // Every file is written to a hidden folder that becomes the case once complete, so an
    // interrupted fuzz leaves whole cases only.
    let mut files: Vec<(&str, String)> = Vec::new();
    let s = scenario.for_seed(j.seed);
    files.push(("scenario.json", s.to_json() + "\n"));
    let scenario_file = dir.join("scenario.json").display().to_string();
    let mut report = format!(
        "scenario {} seed {}: {}\n\nreplay:        {}\nreplay (file): {}\n",
        scenario.arg(),
        j.seed,
        j.reason(),
        replay_command(scenario.arg(), j.seed, &bugs),
        replay_command(&scenario_file, j.seed, &bugs)
    );
    // The checker's full report, from a rerun (the same seed gives the same run).
    let (_, run) = judge(&s, j.seed, bugs, TraceMode::Off, None);
    if let Some(run) = run {
        if let Ok(h) = History::new(&run.history) {
            let verdict = zksim_checker::check_all(&h, crate::judge::run_check_options());
            let recipe = zksim_checker::recipes::check(&h).ok().flatten();
            report.push('\n');
            report.push_str(&zksim_checker::report::render(
                &h,
                &verdict,
                recipe.as_ref(),
                &format!("scenario {} seed {}", scenario.arg(), j.seed),
            ));
        }
    }
    if shrink {
        match crate::shrink_cmd::shrink(s, j.seed, bugs, jobs, 400, false) {
            Ok(shrunk) => {
                files.push(("shrunk.json", shrunk.scenario.to_json() + "\n"));
                let shrunk_file = dir.join("shrunk.json").display().to_string();
                report.push_str(&format!(
                    "\nshrunk ({} runs): {}\nreplay (shrunk): {}\n",
                    shrunk.runs,
                    shrunk.shrunk,
                    replay_command(&shrunk_file, j.seed, &bugs)
                ));
            }
            Err(e) => report.push_str(&format!("\nnot shrunk: {e}\n")),
        }
    }
    files.push(("report.txt", report));
    crate::output::write_dir_atomically(dir, &files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn growth_keeps_only_seeds_that_added_points_and_marks_its_growth() {
        let mut g = Growth::default();
        g.add(7, 1, 0.5, &points(&["a", "b"]));
        g.add(8, 2, 1.0, &points(&["a"]));
        g.add(9, 12, 2.0, &points(&["b", "c"]));
        assert_eq!(g.points.len(), 3);
        let seeds: Vec<u64> = g.steps.iter().map(|s| s.0).collect();
        assert_eq!(seeds, vec![7, 9], "seed 8 added nothing");
        assert_eq!(g.steps[1].3, points(&["c"]));
        assert_eq!(
            g.summary(),
            "coverage: 3 protocol points; 2 seeds reached new ones (2 after 1, 2 after 10 seeds); \
             the last new one at seed 9 (run 12, 2 s)"
        );
        let v: serde_json::Value = serde_json::from_str(&g.json()).expect("JSON");
        assert_eq!(v["points"].as_array().map(Vec::len), Some(3));
        assert_eq!(v["seeds_with_new_points"][1]["seed"], 9);
    }
}
