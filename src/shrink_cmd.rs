//! `zksim shrink`: reduce a failing run to a small one that fails the same way, and write it
//! as a scenario file that replays deterministically with the same seed.
//!
//! The seed's fault plan is made explicit, then delta-debugged (Zeller's ddmin: drop ever
//! smaller chunks of fault events while the run still fails); then the safety phase is cut
//! to just after the last fault, the clients are reduced, and the workload is simplified one
//! knob at a time. A candidate is kept only when its run fails with the original's first
//! failure (the same property, or no liveness, or a panic). Candidates of one step run in
//! parallel; the lowest-numbered failing one wins, so the result does not depend on timing.

use crate::output::{errln, outln};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use zksim_core::server::Bugs;
use zksim_scenarios::{FaultPlan, PlannedFault, Scenario};
use zksim_sim::TraceMode;

use crate::judge::{Judgement, ScenarioArg, judge, judge_only, quiet_panics};
use crate::run_cmd::parse_bugs;

#[derive(clap::Args)]
pub struct ShrinkArgs {
    /// A built-in scenario, a scenario file, or `swarm`.
    #[arg(long, default_value = "default")]
    pub scenario: String,
    #[arg(long)]
    pub seed: u64,
    /// Re-create a known mistake in the service (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Where to write the shrunk scenario (default: shrunk-<scenario>-<seed>.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Parallel runs (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Stop after this many runs.
    #[arg(long, default_value_t = 400)]
    pub max_runs: usize,
}

/// What a shrink produced.
pub struct Shrunk {
    pub scenario: Scenario,
    /// The failure it keeps.
    pub kind: String,
    pub original: Size,
    pub shrunk: Size,
    pub runs: usize,
}

/// How big a failing run is.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub faults: usize,
    pub clients: u32,
    pub safety_ms: u64,
    pub ops: u64,
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} fault events, {} clients, {} ms of faults, {} operations",
            self.faults, self.clients, self.safety_ms, self.ops
        )
    }
}

pub fn run(args: ShrinkArgs) -> ExitCode {
    let (arg, bugs) = match (ScenarioArg::parse(&args.scenario), parse_bugs(&args.bugs)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            errln!("zksim shrink: {e}");
            return ExitCode::from(2);
        }
    };
    let jobs = match crate::sweep_cmd::jobs("shrink", args.jobs) {
        Ok(jobs) => jobs,
        Err(e) => {
            errln!("zksim shrink: {e}");
            return ExitCode::from(2);
        }
    };
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = std::path::Path::new(arg.arg())
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "scenario".into());
        PathBuf::from(format!("shrunk-{stem}-{}.json", args.seed))
    });
    if let Err(e) = crate::output::check_writable_file(&out) {
        errln!("zksim shrink: {e}");
        return ExitCode::from(2);
    }
    outln!(
        "zksim shrink: scenario {}, seed {}, bugs: {}",
        arg.arg(),
        args.seed,
        if bugs.names().is_empty() {
            "none".to_string()
        } else {
            bugs.names().join(", ")
        }
    );
    let wall = Instant::now();
    let shrunk = match shrink(
        arg.for_seed(args.seed),
        args.seed,
        bugs,
        jobs,
        args.max_runs,
        true,
    ) {
        Ok(s) => s,
        Err(e) => {
            errln!("zksim shrink: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::write(&out, shrunk.scenario.to_json() + "\n") {
        errln!("zksim shrink: cannot write {}: {e}", out.display());
        return ExitCode::from(2);
    }
    outln!("failure kept: {}", shrunk.kind);
    outln!("original: {}", shrunk.original);
    outln!("shrunk:   {}", shrunk.shrunk);
    outln!(
        "{} runs in {:.1} s; wrote {}",
        shrunk.runs,
        wall.elapsed().as_secs_f64(),
        out.display()
    );
    outln!(
        "replay: {}",
        crate::judge::replay_command(&out.display().to_string(), args.seed, &bugs)
    );
    ExitCode::SUCCESS
}

/// The state of a shrink: the best failing scenario so far and the run budget.
struct Shrinker {
    seed: u64,
    bugs: Bugs,
    jobs: usize,
    kind: String,
    runs: usize,
    max_runs: usize,
    verbose: bool,
    best: Scenario,
    best_ops: u64,
}

impl Shrinker {
    /// Run the candidates (in parallel, `jobs` at a time, in order) and return the first
    /// that fails with the kept failure, with its judgement.
    fn first_failing(&mut self, candidates: Vec<Scenario>) -> Option<(Scenario, Judgement)> {
        let mut candidates = candidates.into_iter().peekable();
        while candidates.peek().is_some() && self.runs < self.max_runs {
            let room = self.jobs.min(self.max_runs - self.runs);
            let batch: Vec<Scenario> = candidates.by_ref().take(room).collect();
            self.runs += batch.len();
            let (seed, bugs) = (self.seed, self.bugs);
            let results: Vec<Judgement> = std::thread::scope(|scope| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|s| scope.spawn(move || judge_only(s, seed, bugs)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("judge catches panics"))
                    .collect()
            });
            for (s, j) in batch.into_iter().zip(results) {
                if j.failure_kinds().contains(&self.kind) {
                    return Some((s, j));
                }
            }
        }
        None
    }

    /// Keep `candidate`s that still fail; true when one did.
    fn try_step(&mut self, what: &str, candidates: Vec<Scenario>) -> bool {
        let candidates: Vec<Scenario> = candidates
            .into_iter()
            .filter(|c| c.validate().is_ok() && *c != self.best)
            .collect();
        if candidates.is_empty() {
            return false;
        }
        match self.first_failing(candidates) {
            Some((s, j)) => {
                self.best = s;
                self.best_ops = j.ops;
                if self.verbose {
                    outln!(
                        "  {what}: {} fault events, {} clients, {} ms, {} ops (run {})",
                        plan_len(&self.best),
                        self.best.clients,
                        self.best.safety_ms,
                        self.best_ops,
                        self.runs
                    );
                }
                true
            }
            None => false,
        }
    }

    fn with_faults(&self, faults: Vec<PlannedFault>) -> Scenario {
        let mut s = self.best.clone();
        s.plan = Some(FaultPlan { faults });
        s
    }

    /// Zeller's ddmin over the plan's fault events.
    fn faults(&mut self) {
        if self.try_step("no faults at all", vec![self.with_faults(Vec::new())]) {
            return;
        }
        let mut n = 2;
        loop {
            let faults = self.best.plan.clone().unwrap_or_default().faults;
            if faults.len() < 2 || self.runs >= self.max_runs {
                return;
            }
            n = n.min(faults.len());
            let chunk = faults.len().div_ceil(n);
            let complements: Vec<Scenario> = (0..faults.len())
                .step_by(chunk)
                .map(|start| {
                    let mut rest = faults.clone();
                    rest.drain(start..(start + chunk).min(faults.len()));
                    self.with_faults(rest)
                })
                .collect();
            if self.try_step("fewer faults", complements) {
                n = (n - 1).max(2);
            } else if n >= faults.len() {
                return;
            } else {
                n = (n * 2).min(faults.len());
            }
        }
    }

    /// Cut the safety phase to just after the last fault.
    fn safety(&mut self) {
        let last = self
            .best
            .plan
            .as_ref()
            .and_then(|p| p.faults.last())
            .map_or(0, |f| f.at_ms);
        let candidates = [500, 1_000, 2_000, 5_000]
            .into_iter()
            .map(|margin| last + margin)
            .filter(|&ms| ms < self.best.safety_ms)
            .map(|ms| {
                let mut s = self.best.clone();
                s.safety_ms = ms;
                s
            })
            .collect();
        self.try_step("shorter safety phase", candidates);
    }

    /// Fewer clients: the fewest that still fail.
    fn clients(&mut self) {
        let n = self.best.clients;
        let mut sizes = vec![1, 2, n / 4, n / 2];
        sizes.sort();
        sizes.dedup();
        let candidates = sizes
            .into_iter()
            .filter(|&c| c >= 1 && c < n)
            .map(|c| {
                let mut s = self.best.clone();
                s.clients = c;
                s
            })
            .collect();
        self.try_step("fewer clients", candidates);
    }

    /// Simplify the workload one knob at a time.
    fn workload(&mut self) {
        type Change = (&'static str, fn(&mut Scenario));
        let changes: [Change; 16] = [
            ("no session churn", |s| s.workload.session_churn_percent = 0),
            ("pipeline 1", |s| s.workload.pipeline = 1),
            ("no watches", |s| s.workload.watch_percent = 0),
            ("no ephemerals", |s| s.workload.ephemeral_percent = 0),
            ("no sequential nodes", |s| s.workload.sequential_percent = 0),
            ("fewer keys", |s| {
                s.workload.keys = (s.workload.keys / 2).max(1)
            }),
            ("short values", |s| s.workload.value_bytes_max = 0),
            ("no multi", |s| s.workload.mix.multi = 0),
            ("no sync", |s| s.workload.mix.sync_read = 0),
            ("no check-and-set", |s| s.workload.mix.check_set = 0),
            ("no getChildren", |s| s.workload.mix.get_children = 0),
            ("no exists", |s| s.workload.mix.exists = 0),
            ("no delete", |s| s.workload.mix.delete = 0),
            ("no create", |s| s.workload.mix.create = 0),
            ("no getData", |s| s.workload.mix.get_data = 0),
            // Invalid when the plan names an observer; such a candidate is skipped.
            ("no observers", |s| s.observers = 0),
        ];
        for (what, change) in changes {
            let mut s = self.best.clone();
            change(&mut s);
            if s.recipe.is_none() && s.workload.mix.total() == 0 {
                continue;
            }
            self.try_step(what, vec![s]);
        }
    }
}

fn plan_len(s: &Scenario) -> usize {
    s.plan.as_ref().map_or(0, |p| p.faults.len())
}

fn size(s: &Scenario, ops: u64) -> Size {
    Size {
        faults: plan_len(s),
        clients: s.clients,
        safety_ms: s.safety_ms,
        ops,
    }
}

/// Shrink a failing run of `scenario` with `seed`. An error when the run does not fail.
pub fn shrink(
    scenario: Scenario,
    seed: u64,
    bugs: Bugs,
    jobs: usize,
    max_runs: usize,
    verbose: bool,
) -> Result<Shrunk, String> {
    quiet_panics();
    let (j, _) = judge(&scenario, seed, bugs, TraceMode::Off, None);
    if let Some(h) = &j.harness {
        return Err(format!(
            "scenario {} seed {seed}: {h}; that is not a failure of the service, so there is nothing to shrink",
            scenario.name
        ));
    }
    let Some(kind) = j.failure_kinds().into_iter().next() else {
        return Err(format!(
            "scenario {} seed {seed} passes: there is no failure to shrink",
            scenario.name
        ));
    };
    // The same run with its plan made explicit, so that faults can be dropped one by one.
    let mut explicit = scenario.clone();
    let plan = scenario
        .plan
        .clone()
        .unwrap_or_else(|| FaultPlan::generate(&scenario, seed));
    explicit.plan = Some(plan);
    explicit.name = format!("{}-seed-{seed}-shrunk", scenario.name);
    explicit.description = format!(
        "Shrunk from scenario {} with seed {seed}{}: fails with {kind}. Replay with the same seed.",
        scenario.name,
        if bugs.names().is_empty() {
            String::new()
        } else {
            format!(" and bugs {}", bugs.names().join(", "))
        }
    );
    if verbose {
        outln!("failure to keep: {kind} ({})", j.reason());
    }
    let original = size(&explicit, j.ops);
    let mut s = Shrinker {
        seed,
        bugs,
        jobs: jobs.max(1),
        kind: kind.clone(),
        runs: 1,
        max_runs,
        verbose,
        best: explicit.clone(),
        best_ops: j.ops,
    };
    // The explicit plan must reproduce the failure before anything is dropped.
    if s.first_failing(vec![explicit]).is_none() {
        return Err(format!(
            "the run with its fault plan written out no longer fails with {kind}"
        ));
    }
    s.faults();
    s.safety();
    s.clients();
    s.workload();
    // Fewer clients or a simpler workload may let more faults go.
    s.faults();
    s.safety();
    Ok(Shrunk {
        shrunk: size(&s.best, s.best_ops),
        scenario: s.best,
        kind,
        original,
        runs: s.runs,
    })
}
