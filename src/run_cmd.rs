//! `zksim run`: one simulated run, its options, and a summary a person can read.

use crate::output::{errln, out, outln};
use std::path::PathBuf;
use std::process::ExitCode;

use zksim_core::server::{Bug, Bugs};
use zksim_scenarios::{FaultPlan, Scenario, builtin};
use zksim_sim::{RunOptions, RunReport, TraceMode, run};

#[derive(clap::Args)]
pub struct RunArgs {
    /// A built-in scenario's name, a scenario file (JSON), or `swarm` (drawn from the seed).
    #[arg(long, default_value = "default")]
    pub scenario: String,
    /// The seed everything random derives from.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Re-create a known mistake in the service (repeatable); see `zksim bugs`.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Write the trace, one line per event, to this file.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write the history (docs/history.md) to this file.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Print the trace's hash on its own last line.
    #[arg(long)]
    pub hash: bool,
}

/// A scenario by built-in name or file path; the error is one line. A file is named by a
/// path (one that contains `/` or ends in `.json`); any other name is a built-in one, so a
/// folder or file called `config` in the working directory never hides the built-in.
pub fn load_scenario(name: &str) -> Result<Scenario, String> {
    if is_scenario_path(name) {
        use std::io::Read;
        let mut text = Vec::new();
        std::fs::File::open(name)
            .and_then(|f| f.take(SCENARIO_FILE_MAX + 1).read_to_end(&mut text))
            .map_err(|e| format!("cannot read scenario file {name}: {e}"))?;
        if text.len() as u64 > SCENARIO_FILE_MAX {
            return Err(format!(
                "scenario file {name}: larger than {} MiB; a scenario is a small JSON object",
                SCENARIO_FILE_MAX >> 20
            ));
        }
        let scenario =
            Scenario::from_json_bytes(&text).map_err(|e| format!("scenario file {name}: {e}"))?;
        for warning in scenario.warnings() {
            errln!("zksim: warning: scenario file {name}: {warning}");
        }
        return Ok(scenario);
    }
    builtin(name).map_err(|e| {
        let mut message = e.to_string();
        if std::path::Path::new(name).is_file() {
            message.push_str(&format!(" (to read the file {name}, write ./{name})"));
        }
        message
    })
}

/// The largest scenario file read (the largest real one, a shrunk plan of a long run, is
/// tens of kilobytes).
const SCENARIO_FILE_MAX: u64 = 16 << 20;

/// Whether a `--scenario` argument names a file rather than a built-in scenario.
fn is_scenario_path(name: &str) -> bool {
    name.contains('/') || name.ends_with(".json")
}

/// `zksim bugs`: every knob with what it re-creates.
pub fn print_bugs() {
    let width = Bug::ALL
        .map(|b| b.name().len())
        .into_iter()
        .max()
        .unwrap_or(0);
    for b in Bug::ALL {
        outln!("{:<width$} {}", b.name(), b.description());
    }
}

/// The bug knobs by name; the error names the unknown one and lists the known.
pub fn parse_bugs(names: &[String]) -> Result<Bugs, String> {
    let mut bugs = Bugs::default();
    for n in names {
        bugs = bugs.with(n).ok_or_else(|| {
            format!(
                "unknown bug {n:?}; known: {}",
                Bug::ALL.map(Bug::name).join(", ")
            )
        })?;
    }
    Ok(bugs)
}

pub fn run_cmd(args: RunArgs) -> ExitCode {
    let scenario = crate::judge::ScenarioArg::parse(&args.scenario).map(|s| s.for_seed(args.seed));
    let (scenario, bugs) = match (scenario, parse_bugs(&args.bugs)) {
        (Ok(s), Ok(b)) => (s, b),
        (Err(e), _) | (_, Err(e)) => {
            errln!("zksim run: {e}");
            return ExitCode::from(2);
        }
    };
    for path in [&args.trace, &args.history].into_iter().flatten() {
        if let Err(e) = crate::output::check_writable_file(path) {
            errln!("zksim run: {e}");
            return ExitCode::from(2);
        }
    }
    let trace = if args.trace.is_some() {
        TraceMode::Keep
    } else if args.hash {
        TraceMode::Hash
    } else {
        TraceMode::Off
    };
    let replay = replay_command(&args.scenario, args.seed, &args.bugs);
    let plan = scenario
        .plan
        .clone()
        .unwrap_or_else(|| FaultPlan::generate(&scenario, args.seed));
    print_options(&scenario, args.seed, &bugs, &plan);
    let report = run(
        &scenario,
        &RunOptions {
            seed: args.seed,
            bugs,
            trace,
            replay: Some(replay.clone()),
        },
    );
    if let Some(path) = &args.trace {
        let mut text = report.trace_lines.join("\n");
        text.push('\n');
        if let Err(e) = std::fs::write(path, text) {
            errln!("zksim run: cannot write trace {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if let Some(path) = &args.history {
        if let Err(e) = std::fs::write(path, zksim_checker::history::to_jsonl(&report.history)) {
            errln!("zksim run: cannot write history {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    let mut ok = print_summary(&report, &replay);
    ok &= print_verdict(&report);
    if args.hash {
        outln!("{:016x}", report.trace_hash.expect("hashing was on"));
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub fn replay_command(scenario: &str, seed: u64, bugs: &[String]) -> String {
    let mut cmd = format!("cargo run --release -- run --scenario {scenario} --seed {seed}");
    for b in bugs {
        cmd.push_str(&format!(" --bug {b}"));
    }
    cmd
}

/// The seed and every option the seed chose, before anything runs (as VOPR prints them).
fn print_options(s: &Scenario, seed: u64, bugs: &Bugs, plan: &FaultPlan) {
    outln!("zksim run: scenario {}, seed {seed}", s.name);
    outln!(
        "  ensemble: {} servers, {} observers, tick {} ms, snapCount {}",
        s.servers,
        s.observers,
        s.tick_ms,
        s.snap_count
    );
    let w = &s.workload;
    outln!(
        "  clients: {} (pipeline {}, {} keys, values up to {} B, watch {}%, ephemeral {}%, sequential {}%, session timeout {} ms)",
        s.clients,
        w.pipeline,
        w.keys,
        w.value_bytes_max,
        w.watch_percent,
        w.ephemeral_percent,
        w.sequential_percent,
        w.session_timeout_ms
    );
    outln!(
        "  phases: safety {} ms with faults, liveness bound {} ms; budget {} events, {} MB",
        s.safety_ms,
        s.liveness_ms,
        s.max_events(),
        s.memory_mb_max()
    );
    let names = bugs.names();
    outln!(
        "  bugs: {}",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    );
    outln!(
        "  fault plan: {} events{}",
        plan.faults.len(),
        if s.plan.is_some() {
            " (from the scenario)"
        } else {
            " (drawn from the seed)"
        }
    );
    for f in &plan.faults {
        outln!(
            "    {:>8} ms  {}",
            f.at_ms,
            serde_json::to_string(&f.fault).expect("faults serialize")
        );
    }
}

/// Check the history against every property and its recipe's invariants, and print the
/// verdict and the recipe's counts; true when all hold.
fn print_verdict(r: &RunReport) -> bool {
    let history = match zksim_checker::History::new(&r.history) {
        Ok(h) => h,
        Err(e) => {
            outln!("  FAILED: the run's history is malformed: {e}");
            return false;
        }
    };
    let recipe = match zksim_checker::recipes::check(&history) {
        Ok(recipe) => recipe,
        Err(e) => {
            outln!("  FAILED: the run's history cannot be judged: {e}");
            return false;
        }
    };
    if let Some(rr) = &recipe {
        let counts: Vec<String> = rr.counts.iter().map(|(w, n)| format!("{w} {n}")).collect();
        outln!("  recipe {}: {}", rr.recipe, counts.join(", "));
    }
    let mut verdict = zksim_checker::check_all(&history, crate::judge::run_check_options());
    if r.budget_exceeded.is_some() {
        crate::judge::drop_progress(&mut verdict);
    }
    let recipe_holds = recipe.as_ref().is_none_or(|rr| rr.holds());
    if verdict.holds() && recipe_holds {
        let checked: usize = verdict.outcomes.iter().map(|o| o.checked).sum();
        outln!(
            "  properties: all {} hold ({checked} checks)",
            verdict.outcomes.len()
        );
        if let Some(rr) = &recipe {
            outln!(
                "  recipe {}: all {} invariants hold",
                rr.recipe,
                rr.outcomes.len()
            );
        }
        return true;
    }
    outln!();
    let name = "the run's history";
    let text = zksim_checker::report::render(&history, &verdict, recipe.as_ref(), name);
    out!("{text}");
    false
}

/// The outcome and figures; true when the run passed.
fn print_summary(r: &RunReport, replay: &str) -> bool {
    let wall_s = r.wall.as_secs_f64();
    let sim_s = r.sim_ms as f64 / 1000.0;
    let ops = r.clients.ops_completed + r.clients.ops_unknown;
    outln!("summary:");
    outln!(
        "  operations: {ops} ({} answered, {} with unknown outcome)",
        r.clients.ops_completed,
        r.clients.ops_unknown
    );
    outln!(
        "  sessions: {} opened, {} expired",
        r.clients.sessions,
        r.clients.expired
    );
    outln!(
        "  faults: {}; leader changes: {}; link breaks: {}",
        r.stats.faults,
        r.stats.leader_changes,
        r.stats.link_breaks
    );
    outln!(
        "  messages: {} between servers, {} with clients",
        r.stats.peer_messages,
        r.stats.client_messages
    );
    outln!(
        "  budget: {} events of {}; {} MB held of {} MB",
        r.events,
        r.scenario.max_events(),
        r.held_bytes >> 20,
        r.scenario.memory_mb_max()
    );
    outln!(
        "  sim time {sim_s:.2} s; wall time {wall_s:.2} s; sim/wall {:.1}",
        if wall_s > 0.0 { sim_s / wall_s } else { 0.0 }
    );
    let mut ok = true;
    match (&r.budget_exceeded, &r.liveness) {
        (Some(b), _) => {
            ok = false;
            outln!("  FAILED: {b} (seed {})", r.seed);
        }
        (None, Ok(())) => outln!(
            "  liveness: converged {} ms after the faults healed",
            r.converged_after_ms.unwrap_or(0)
        ),
        (None, Err(e)) => {
            ok = false;
            outln!("  FAILED: no liveness: {e} (seed {})", r.seed);
        }
    }
    for v in &r.clients.protocol_violations {
        ok = false;
        outln!("  FAILED: client protocol violation: {v}");
    }
    for b in &r.breaches {
        ok = false;
        outln!("  FAILED: breach of an invariant under a bug knob: {b}");
    }
    if !ok {
        outln!("  replay: {replay}");
    }
    ok
}
