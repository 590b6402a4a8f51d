//! Running a scenario with a seed and judging it: liveness, client protocol, every property
//! the checker knows and the invariants of the recipe the clients ran (judged by the
//! checker from the run's history), with panics in the simulated service caught and
//! reported.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use zksim_checker::props::Verdict;
use zksim_checker::recipes;
use zksim_checker::{History, check_all};
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

pub use zksim_sim::run_check_options;

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
    /// A panic in the service's code (core), under a valid scenario: a failure of the
    /// service.
    pub panic: Option<String>,
    pub protocol: Vec<String>,
    pub unknown: Vec<(String, String)>,
    /// The run could not say anything of the service: the scenario is invalid, or the
    /// harness (simulator, drivers, scenarios) panicked. Never a failure of the service.
    pub harness: Option<String>,
    /// The protocol points the run reached (`zksim_sim::world::Coverage::points`).
    pub coverage: Vec<String>,
}

impl Judgement {
    /// The run passed: the service did nothing wrong, and the harness did its job.
    pub fn ok(&self) -> bool {
        !self.service_failed() && self.harness.is_none()
    }

    /// The service failed: a property or recipe invariant violated or undecided, the run
    /// budget exceeded, no liveness, a panic in core, or a client protocol violation.
    pub fn service_failed(&self) -> bool {
        !(self.violations.is_empty()
            && self.budget.is_none()
            && self.liveness.is_none()
            && self.panic.is_none()
            && self.protocol.is_empty()
            && self.unknown.is_empty())
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
        if let Some(h) = &self.harness {
            return format!("harness error (not a failure of the service): {h}");
        }
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

/// A caught panic: its message with where it happened, and whether that place is the
/// service's code.
struct CaughtPanic {
    message: String,
    in_service: bool,
}

thread_local! {
    static PANIC: RefCell<Option<CaughtPanic>> = const { RefCell::new(None) };
    /// Whether this thread is running a judged run (whose panics are caught and reported).
    static JUDGING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a panic at `file` (as `std::panic::Location` names it) is in the service's
/// code: core, the sans-IO service. Anything else (the simulator and its drivers, the
/// scenarios, madsim, the standard library under them) is the harness.
fn in_service(file: &str) -> bool {
    file.starts_with("core/") || file.contains("/zksim-core/") || file.starts_with("core\\")
}

/// Capture the panic messages of runs being judged instead of printing them (sweeps run
/// many seeds); any other panic is printed as usual, never swallowed.
pub fn quiet_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let print = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !JUDGING.with(|j| j.get()) {
                print(info);
                return;
            }
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
            let caught = CaughtPanic {
                message: format!("{msg}{at}"),
                in_service: info.location().is_some_and(|l| in_service(l.file())),
            };
            PANIC.with(|p| *p.borrow_mut() = Some(caught));
        }));
    });
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
    // Only a valid scenario says anything of the service (a scenario built in code, not
    // read from a file, is checked here too).
    if let Err(e) = scenario.validate() {
        let j = Judgement {
            seed,
            harness: Some(format!("invalid scenario: {e}")),
            ..Judgement::default()
        };
        return (j, None);
    }
    judge_valid(scenario, &options)
}

/// Run one seed and judge it, keeping only the judgement: the jobs of sweep, hunt, shrink
/// and fuzz. The run stays admitted (sim::admission) until its memory is freed and, when it
/// was large, handed back to the system, so the next run of its job starts from nothing.
pub fn judge_only(scenario: &Scenario, seed: u64, bugs: Bugs) -> Judgement {
    let admitted = zksim_sim::admission::admit();
    let (j, report) = judge(scenario, seed, bugs, TraceMode::Off, None);
    drop(report);
    if j.held_bytes >= crate::memory::RELEASE_ABOVE_BYTES {
        crate::memory::release_freed();
    }
    drop(admitted);
    j
}

/// Run `f`, catching a panic with its message and where it happened (with
/// `quiet_panics` installed; without, the place is unknown and counts as the harness).
fn catch_run<T>(f: impl FnOnce() -> T) -> Result<T, CaughtPanic> {
    PANIC.with(|p| *p.borrow_mut() = None);
    JUDGING.with(|j| j.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    JUDGING.with(|j| j.set(false));
    outcome.map_err(|payload| {
        PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| CaughtPanic {
                message: payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the simulation panicked".into()),
                in_service: false,
            })
    })
}

/// Run a scenario already validated, and judge it.
fn judge_valid(scenario: &Scenario, options: &RunOptions) -> (Judgement, Option<RunReport>) {
    let mut j = Judgement {
        seed: options.seed,
        ..Judgement::default()
    };
    // Runs on other threads of this process share a bound on memory until this one is
    // judged (sim::admission): it may wait for them, its outcome unchanged.
    let _admitted = zksim_sim::admission::admit();
    let report = match catch_run(|| run(scenario, options)) {
        Ok(r) => r,
        Err(caught) => {
            if caught.in_service {
                j.panic = Some(caught.message);
            } else {
                j.harness = Some(format!("the harness panicked: {}", caught.message));
            }
            return (j, None);
        }
    };
    j.ops = report.clients.ops_completed + report.clients.ops_unknown;
    j.sim_ms = report.sim_ms;
    j.wall_ms = report.wall.as_millis() as u64;
    j.events = report.events;
    j.held_bytes = report.held_bytes;
    j.coverage = report.coverage.points().collect();
    j.budget = report.budget_exceeded.clone();
    if j.budget.is_none() {
        j.liveness = report.liveness.clone().err();
    }
    j.protocol = report.clients.protocol_violations.clone();
    // An invariant a bug knob breaks on purpose is reported, not asserted: it is a finding.
    for b in &report.breaches {
        j.violations.push(("assertion".into(), b.clone()));
    }
    match History::new(&report.history) {
        Err(e) => j.violations.push((
            "history".into(),
            format!("the run's history is malformed: {e}"),
        )),
        Ok(h) => {
            let mut verdict = check_all(&h, run_check_options());
            if j.budget.is_some() {
                drop_progress(&mut verdict);
            }
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

/// A run its budget stopped never reached its fault-free phase as planned: progress (a
/// liveness property) is not judged on it, only safety.
pub fn drop_progress(verdict: &mut zksim_checker::props::Report) {
    verdict
        .outcomes
        .retain(|o| o.property != zksim_checker::props::Property::Progress);
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

#[cfg(test)]
mod tests {
    use super::*;
    use zksim_scenarios::{Fault, FaultPlan, PlannedFault};

    #[test]
    fn a_panic_is_placed_where_it_happened() {
        quiet_panics();
        let core = catch_run(|| {
            zksim_core::zab::quorum::QuorumVerifier::new([]);
        })
        .expect_err("an ensemble without voters panics in core");
        assert!(core.in_service, "{}", core.message);
        assert!(
            core.message.contains("at core/src/zab/quorum.rs"),
            "{}",
            core.message
        );
        let here = catch_run(|| {
            panic!("a harness bug");
        })
        .expect_err("a panic");
        assert!(!here.in_service);
        assert!(
            here.message.starts_with("a harness bug at src/judge.rs:"),
            "{}",
            here.message
        );
    }

    #[test]
    fn only_a_panic_in_core_is_the_services() {
        assert!(in_service("core/src/tree/mod.rs"));
        assert!(in_service(
            "/home/u/.cargo/git/checkouts/zksim-core/src/zab/quorum.rs"
        ));
        for harness in [
            "sim/src/world/links.rs",
            "scenarios/src/fault.rs",
            "src/judge.rs",
            "/rustc/59807616e/library/core/src/time.rs",
            "/root/.cargo/registry/src/index.crates.io-1/madsim-0.2.34/src/sim/time/mod.rs",
        ] {
            assert!(!in_service(harness), "{harness}");
        }
    }

    // A scenario value the harness cannot carry out (clock jumps beyond what an i64 holds)
    // panics the harness, not the service: the run is a harness error, with no failure
    // of the service to count, hunt or shrink. Such a scenario never gets this far, since
    // judge() validates first and says so.
    #[test]
    fn a_panic_a_scenario_value_causes_in_the_harness_is_not_the_services() {
        quiet_panics();
        let mut scenario = builtin("default").expect("default");
        scenario.safety_ms = 1_000;
        // Two jumps of a server's wall clock by the most negative offset: the second overflows
        // in the harness's clock model, not in the service.
        let jump = |at_ms| PlannedFault {
            at_ms,
            fault: Fault::ClockJump {
                server: 1,
                delta_ms: i64::MIN,
            },
        };
        scenario.plan = Some(FaultPlan {
            faults: vec![jump(10), jump(20)],
        });
        let options = RunOptions {
            seed: 1,
            bugs: Bugs::default(),
            trace: TraceMode::Off,
            replay: None,
        };
        let (j, report) = judge_valid(&scenario, &options);
        assert!(report.is_none());
        let harness = j.harness.clone().expect("a harness error");
        assert!(harness.starts_with("the harness panicked: "), "{harness}");
        assert!(harness.contains("at sim/src/clock.rs:"), "{harness}");
        assert!(j.panic.is_none() && !j.service_failed() && !j.ok());
        assert_eq!(j.failure_kinds(), Vec::<String>::new());
        assert!(j.reason().contains("not a failure of the service"));
        // Through judge(), the same scenario is refused before it runs.
        let (j, _) = judge(&scenario, 1, Bugs::default(), TraceMode::Off, None);
        assert!(
            j.harness
                .as_deref()
                .is_some_and(|h| h.starts_with("invalid scenario: field `plan`")),
            "{:?}",
            j.harness
        );
    }
}
