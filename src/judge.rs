//! Running a scenario with a seed and judging it: liveness, client protocol, every property
//! the checker knows and the invariants of the recipe the clients ran (judged by the
//! checker from the run's history), with panics in the simulated service caught and
//! reported.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use zksim_checker::props::Verdict;
use zksim_checker::recipes;
use zksim_checker::{History, Options, check_all};
use zksim_core::server::Bugs;
use zksim_scenarios::{Scenario, builtin, swarm};
use zksim_sim::{RunOptions, RunReport, TraceMode, run};

/// A scenario argument: a built-in name, a file, or `swarm` (drawn per seed).
#[derive(Clone, Debug)]
pub enum ScenarioArg {
    Fixed(Box<Scenario>, String),
    Swarm,
}

impl ScenarioArg {
    pub fn parse(name: &str) -> Result<ScenarioArg, String> {
        if name == "swarm" {
            return Ok(ScenarioArg::Swarm);
        }
        crate::run_cmd::load_scenario(name)
            .map(|s| ScenarioArg::Fixed(Box::new(s), name.to_string()))
    }

    /// The scenario of one seed.
    pub fn for_seed(&self, seed: u64) -> Scenario {
        match self {
            ScenarioArg::Fixed(s, _) => (**s).clone(),
            ScenarioArg::Swarm => swarm(seed),
        }
    }

    /// How to name it on a command line.
    pub fn arg(&self) -> &str {
        match self {
            ScenarioArg::Fixed(_, name) => name,
            ScenarioArg::Swarm => "swarm",
        }
    }
}

/// `all`: every built-in scenario.
pub fn all_builtins() -> Vec<ScenarioArg> {
    zksim_scenarios::builtin_names()
        .into_iter()
        .map(|n| {
            ScenarioArg::Fixed(
                Box::new(builtin(n).expect("built-ins are valid")),
                n.to_string(),
            )
        })
        .collect()
}

/// The linearizability search's budget when judging a simulated run. The search only runs
/// when the zxid order fails to explain the writes, which under a bug knob often happens
/// across a partition holding every create and delete (they all touch `/`'s children), where
/// a search is hopeless; the other properties name such a run's violation in milliseconds.
/// A search that runs out gives "unknown", never "holds", and a sweep counts an undecided
/// run as failed. `zksim check --max-steps`
/// searches further on a saved history.
pub const RUN_SEARCH_STEPS: u64 = 10_000;

/// The options every simulated run is checked with.
pub fn run_check_options() -> Options {
    Options {
        max_steps: RUN_SEARCH_STEPS,
    }
}

/// The failure kind of a run whose budget of simulated events ran out.
pub const BUDGET_EXCEEDED: &str = "run budget exceeded";

/// How one run ended.
#[derive(Clone, Debug, Default)]
pub struct Judgement {
    pub seed: u64,
    pub ops: u64,
    pub sim_ms: u64,
    pub wall_ms: u64,
    /// Simulated events the run took (its budget is `Scenario::max_events`).
    pub events: u64,
    /// What the run held until it was judged (history and disks), estimated, in bytes.
    pub held_bytes: u64,
    /// The run's budget (of simulated events, or of memory) ran out: the reason, with what
    /// was still busy.
    pub budget: Option<String>,
    /// Violated properties with their first finding.
    pub violations: Vec<(String, String)>,
    pub liveness: Option<String>,
    pub panic: Option<String>,
    pub protocol: Vec<String>,
    pub unknown: Vec<(String, String)>,
}

impl Judgement {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
            && self.budget.is_none()
            && self.liveness.is_none()
            && self.panic.is_none()
            && self.protocol.is_empty()
            && self.unknown.is_empty()
    }

    /// Every way the run failed, by name: the violated properties (and recipe invariants),
    /// `undecided <property>`, `no liveness`, `panic`, `run budget exceeded`, `client
    /// protocol`. A shrunk run must fail in the same way as the original: its list must
    /// contain the original's first.
    pub fn failure_kinds(&self) -> Vec<String> {
        let mut kinds = Vec::new();
        if self.panic.is_some() {
            kinds.push("panic".to_string());
        }
        if self.budget.is_some() {
            kinds.push(BUDGET_EXCEEDED.to_string());
        }
        kinds.extend(self.violations.iter().map(|(p, _)| p.clone()));
        if self.liveness.is_some() {
            kinds.push("no liveness".to_string());
        }
        kinds.extend(self.unknown.iter().map(|(p, _)| format!("undecided {p}")));
        if !self.protocol.is_empty() {
            kinds.push("client protocol".to_string());
        }
        kinds
    }

    /// A one-line reason for a failed run. A spent budget comes before the properties:
    /// the run was cut short, so what its history ends without (an answer, a deletion)
    /// says more of the cut than of the service.
    pub fn reason(&self) -> String {
        if let Some(p) = &self.panic {
            return format!("panic: {p}");
        }
        if let Some(b) = &self.budget {
            return b.clone();
        }
        if let Some((prop, sentence)) = self.violations.first() {
            return format!("{prop}: {sentence}");
        }
        if let Some(l) = &self.liveness {
            return format!("no liveness: {l}");
        }
        if let Some((prop, why)) = self.unknown.first() {
            return format!("{prop} undecided: {why}");
        }
        if let Some(p) = self.protocol.first() {
            return format!("client protocol violation: {p}");
        }
        "ok".to_string()
    }
}

thread_local! {
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Capture panic messages per thread instead of printing them (sweeps run many seeds).
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
    }));
}

/// Run one seed and judge it. With `keep`, the report comes back too.
pub fn judge(
    scenario: &Scenario,
    seed: u64,
    bugs: Bugs,
    trace: TraceMode,
    replay: Option<String>,
) -> (Judgement, Option<RunReport>) {
    let options = RunOptions {
        seed,
        bugs,
        trace,
        replay,
    };
    PANIC.with(|p| *p.borrow_mut() = None);
    let outcome = catch_unwind(AssertUnwindSafe(|| run(scenario, &options)));
    let mut j = Judgement {
        seed,
        ..Judgement::default()
    };
    let report = match outcome {
        Ok(r) => r,
        Err(payload) => {
            let msg = PANIC
                .with(|p| p.borrow_mut().take())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the simulation panicked".into());
            j.panic = Some(msg);
            return (j, None);
        }
    };
    j.ops = report.clients.ops_completed + report.clients.ops_unknown;
    j.sim_ms = report.sim_ms;
    j.wall_ms = report.wall.as_millis() as u64;
    j.events = report.events;
    j.held_bytes = report.held_bytes;
    j.budget = report.budget_exceeded.clone();
    if j.budget.is_none() {
        j.liveness = report.liveness.clone().err();
    }
    j.protocol = report.clients.protocol_violations.clone();
    match History::new(&report.history) {
        Err(e) => j.violations.push((
            "history".into(),
            format!("the run's history is malformed: {e}"),
        )),
        Ok(h) => {
            let verdict = check_all(&h, run_check_options());
            for o in &verdict.outcomes {
                match &o.verdict {
                    Verdict::Violated { findings, .. } => j.violations.push((
                        o.property.to_string(),
                        findings
                            .first()
                            .map(|f| f.sentence.clone())
                            .unwrap_or_default(),
                    )),
                    Verdict::Unknown(why) => j.unknown.push((o.property.to_string(), why.clone())),
                    Verdict::Holds => {}
                }
            }
            judge_recipe(&h, &mut j);
        }
    }
    (j, Some(report))
}

/// The invariants of the recipe the run's clients ran, judged from its history: each one
/// violated with its first finding.
fn judge_recipe(h: &History, j: &mut Judgement) {
    match recipes::check(h) {
        Ok(None) => {}
        Ok(Some(report)) => {
            for o in report.violated() {
                let first = o.findings.first().map(|f| f.sentence.clone());
                j.violations
                    .push((o.invariant.to_string(), first.unwrap_or_default()));
            }
        }
        Err(e) => j.violations.push((
            "history".into(),
            format!("the run's history cannot be judged: {e}"),
        )),
    }
}

/// The command that replays a seed.
pub fn replay_command(scenario: &str, seed: u64, bugs: &Bugs) -> String {
    let mut cmd = format!("cargo run --release -- replay --scenario {scenario} --seed {seed}");
    for b in bugs.names() {
        cmd.push_str(&format!(" --bug {b}"));
    }
    cmd
}
