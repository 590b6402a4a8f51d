//! [`Sweep`]: run a user's recipe under a scenario for a range of seeds, each seed a
//! fresh deterministic simulation, and judge each run by the recipe's invariants and by
//! the checker.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use zksim_core::server::Bugs;
use zksim_scenarios::{Scenario, builtin, builtin_names, swarm};

use super::invariant::{Invariant, When};
use super::judge::judge_run;
use super::observed::{Observed, State, lock};
use super::replay::{
    JOBS_VAR, SCENARIO_VAR, SEED_VAR, SEEDS_VAR, out_dir, this_test_command, write_files,
};
use super::report::{Broken, Failure, Source, SweepReport};
use crate::recipes::{BuildClients, Clients, Recipe, team_of};
use crate::{RunOptions, RunReport, TraceMode, run_with};

/// The scenario a sweep runs: a built-in's name (`default`, `lock`, ...), `swarm` (a
/// scenario drawn from each seed), a scenario file's path, or a [`Scenario`] value.
/// Whatever recipe the scenario names, the sweep's recipe replaces it; the rest (servers,
/// clients, faults, timings, session timeout, think time) applies as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScenarioChoice {
    /// A built-in scenario, `swarm`, or a scenario file (`.json`).
    Named(String),
    /// A scenario value.
    Value(Box<Scenario>),
}

impl From<&str> for ScenarioChoice {
    fn from(name: &str) -> ScenarioChoice {
        ScenarioChoice::Named(name.to_string())
    }
}

impl From<String> for ScenarioChoice {
    fn from(name: String) -> ScenarioChoice {
        ScenarioChoice::Named(name)
    }
}

impl From<Scenario> for ScenarioChoice {
    fn from(scenario: Scenario) -> ScenarioChoice {
        ScenarioChoice::Value(Box::new(scenario))
    }
}

/// A scenario ready to run: one for every seed, or swarm's, drawn per seed.
enum Resolved {
    Fixed(Box<Scenario>),
    Swarm,
}

impl ScenarioChoice {
    /// How failures name it.
    fn label(&self) -> String {
        match self {
            ScenarioChoice::Named(name) => name.clone(),
            ScenarioChoice::Value(s) => s.name.clone(),
        }
    }

    fn resolve(&self) -> Result<Resolved, SweepError> {
        let invalid = |name: &str, e: &dyn std::fmt::Display| SweepError::InvalidScenario {
            name: name.to_string(),
            problem: e.to_string(),
        };
        let scenario = match self {
            ScenarioChoice::Named(name) if name == "swarm" => return Ok(Resolved::Swarm),
            ScenarioChoice::Named(name) if builtin_names().contains(&name.as_str()) => {
                builtin(name).map_err(|e| invalid(name, &e))?
            }
            ScenarioChoice::Named(name) if name.ends_with(".json") => {
                let bytes = std::fs::read(name).map_err(|e| invalid(name, &e))?;
                Scenario::from_json_bytes(&bytes).map_err(|e| invalid(name, &e))?
            }
            ScenarioChoice::Named(name) => {
                return Err(SweepError::UnknownScenario {
                    name: name.clone(),
                    known: builtin_names().join(", "),
                });
            }
            ScenarioChoice::Value(s) => {
                s.validate().map_err(|e| invalid(&s.name, &e))?;
                (**s).clone()
            }
        };
        Ok(Resolved::Fixed(Box::new(scenario)))
    }
}

impl Resolved {
    /// The scenario of `seed`, with the sweep's recipe in place of the scenario's own: its
    /// history names no built-in recipe, so the checker judges only ZooKeeper's guarantees.
    fn for_seed(&self, seed: u64) -> Scenario {
        let mut scenario = match self {
            Resolved::Fixed(s) => (**s).clone(),
            Resolved::Swarm => swarm(seed),
        };
        scenario.recipe = None;
        scenario
    }
}

/// Why a sweep could not start. Nothing ran. Its `Debug` is its message, so that a test's
/// `.expect(...)` says what is wrong in a sentence.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// The name is no built-in scenario, not `swarm`, and not a `.json` file.
    #[error(
        "unknown scenario {name:?}: give a built-in scenario ({known}), `swarm`, a scenario file (.json) or a Scenario value"
    )]
    UnknownScenario {
        /// The name given.
        name: String,
        /// The built-in scenarios.
        known: String,
    },
    /// The scenario cannot be run (or its file cannot be read).
    #[error("scenario {name}: {problem}")]
    InvalidScenario {
        /// The scenario's name or file.
        name: String,
        /// What is wrong, with the field at fault.
        problem: String,
    },
    /// The seed range holds no seed.
    #[error("the seed range {start}..{end} is empty: give at least one seed, such as 0..100")]
    NoSeeds {
        /// The range's start.
        start: u64,
        /// The range's end (exclusive).
        end: u64,
    },
    /// `jobs(0)`.
    #[error("a sweep needs at least one job")]
    NoJobs,
    /// A bug knob the service does not know.
    #[error("unknown bug {name:?}; known: {known}")]
    UnknownBug {
        /// The name given.
        name: String,
        /// The knobs the service has (docs/bugs.md).
        known: String,
    },
    /// An environment variable the sweep reads has a value it cannot use.
    #[error("{var}={value:?}: {problem}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        problem: &'static str,
    },
}

impl std::fmt::Debug for SweepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A sweep of recipe `R`: its scenario, seeds and invariants. Build it, then [`Sweep::run`].
///
/// Every seed is a fresh simulation in its own deterministic runtime, so a seed fails the
/// same way alone as in any sweep. Environment variables adjust a sweep without editing the
/// test: `ZKSIM_SEED=N` runs seed `N` alone and writes its trace, history and reports
/// (into `ZKSIM_OUT`, default `zksim-replay/<test>-seed-<N>/`); `ZKSIM_SEEDS=A..B` replaces
/// the seed range and `ZKSIM_SCENARIO=NAME` the scenario (the nightly job's longer sweeps);
/// `ZKSIM_JOBS=N` runs `N` seeds at a time.
pub struct Sweep<R: Recipe> {
    scenario: ScenarioChoice,
    seeds: Range<u64>,
    invariants: Vec<Arc<Invariant<R::Shared>>>,
    jobs: usize,
    keep_going: bool,
    command: Option<String>,
    bugs: Vec<String>,
}

impl<R: Recipe> std::fmt::Debug for Sweep<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweep")
            .field("scenario", &self.scenario.label())
            .field("seeds", &self.seeds)
            .field("invariants", &self.invariants)
            .field("jobs", &self.jobs)
            .field("keep_going", &self.keep_going)
            .field("bugs", &self.bugs)
            .finish_non_exhaustive()
    }
}

/// One seed's run, judged.
struct SeedRun {
    seed: u64,
    broken: Vec<Broken>,
    sim_ms: u64,
}

impl<R: Recipe + 'static> Sweep<R> {
    /// A sweep of `R` under `scenario` (a built-in name, `swarm`, a `.json` file or a
    /// [`Scenario`]), over seeds `0..100`, one at a time, stopping at the first failing
    /// seed.
    pub fn new(scenario: impl Into<ScenarioChoice>) -> Sweep<R> {
        Sweep {
            scenario: scenario.into(),
            seeds: 0..100,
            invariants: Vec::new(),
            jobs: 1,
            keep_going: false,
            command: None,
            bugs: Vec::new(),
        }
    }

    /// The seeds to run.
    pub fn seeds(mut self, seeds: Range<u64>) -> Sweep<R> {
        self.seeds = seeds;
        self
    }

    /// Judge `invariant` on every run (as many as wanted; each failure names the ones
    /// broken).
    pub fn invariant(mut self, invariant: Invariant<R::Shared>) -> Sweep<R> {
        self.invariants.push(Arc::new(invariant));
        self
    }

    /// Run `jobs` seeds at a time, each on its own thread (the report is the same).
    pub fn jobs(mut self, jobs: usize) -> Sweep<R> {
        self.jobs = jobs;
        self
    }

    /// Run every seed even after one failed (by default a sweep stops at its lowest
    /// failing seed).
    pub fn keep_going(mut self, keep_going: bool) -> Sweep<R> {
        self.keep_going = keep_going;
        self
    }

    /// Run a service that re-creates a known mistake (a bug knob of docs/bugs.md, such as
    /// `commit-before-quorum`): to see what a broken ZooKeeper does to the recipe, or that
    /// the recipe's invariants notice it.
    pub fn bug(mut self, name: impl Into<String>) -> Sweep<R> {
        self.bugs.push(name.into());
        self
    }

    /// The command that reruns this test, which a failure's replay line prefixes with
    /// `ZKSIM_SEED=<seed>`. By default it is worked out from the test being run
    /// (`cargo test [--release] -p <package> --test <target> -- <test> --exact --nocapture`).
    pub fn replay_command(mut self, command: impl Into<String>) -> Sweep<R> {
        self.command = Some(command.into());
        self
    }

    /// Run the seeds and judge each run: the recipe's invariants, the run's liveness and
    /// every property of the checker. Prints the report (and every failure, with its
    /// replay command) on standard output, which the test harness shows for a failing
    /// test. An error means nothing ran: an unknown or invalid scenario, an empty seed
    /// range, no jobs, or an environment variable that cannot be used.
    pub fn run(&self) -> Result<SweepReport, SweepError> {
        let command = self.command.clone().unwrap_or_else(this_test_command);
        // A scenario from the environment is part of the replay command too.
        let (choice, command) = match std::env::var(SCENARIO_VAR) {
            Ok(name) => {
                let command = format!("{SCENARIO_VAR}={name} {command}");
                (ScenarioChoice::Named(name), command)
            }
            Err(_) => (self.scenario.clone(), command),
        };
        let resolved = choice.resolve()?;
        let (seeds, replaying) = self.seed_range()?;
        if seeds.is_empty() {
            return Err(SweepError::NoSeeds {
                start: seeds.start,
                end: seeds.end,
            });
        }
        let jobs = self.job_count()?;
        let bugs = self.bug_knobs()?;
        let wall = Instant::now();
        let mut runs = self.run_seeds(&resolved, seeds, jobs, bugs, &command, replaying);
        runs.sort_by_key(|r| r.seed);
        if !self.keep_going {
            // Seeds after the lowest failing one that ran on other jobs are left out, so
            // that the report does not depend on the number of jobs.
            if let Some(first) = runs.iter().position(|r| !r.broken.is_empty()) {
                runs.truncate(first + 1);
            }
        }
        let label = choice.label();
        let report = SweepReport {
            scenario: label.clone(),
            seeds_run: runs.iter().map(|r| r.seed).collect(),
            failures: runs
                .iter()
                .filter(|r| !r.broken.is_empty())
                .map(|r| Failure {
                    seed: r.seed,
                    scenario: label.clone(),
                    broken: r.broken.clone(),
                    replay: format!("{SEED_VAR}={} {command}", r.seed),
                })
                .collect(),
            wall: wall.elapsed(),
            sim: Duration::from_millis(runs.iter().map(|r| r.sim_ms).sum()),
        };
        println!("zksim: {report}");
        for failure in &report.failures {
            println!("{failure}");
        }
        Ok(report)
    }

    /// The seeds to run, and whether one seed is being replayed.
    fn seed_range(&self) -> Result<(Range<u64>, bool), SweepError> {
        if let Ok(value) = std::env::var(SEED_VAR) {
            let seed = value.trim().parse::<u64>().map_err(|_| SweepError::Env {
                var: SEED_VAR,
                value: value.clone(),
                problem: "a seed is a whole number from 0 to 18446744073709551614",
            })?;
            let end = seed.checked_add(1).ok_or(SweepError::Env {
                var: SEED_VAR,
                value,
                problem: "a seed is a whole number from 0 to 18446744073709551614",
            })?;
            return Ok((seed..end, true));
        }
        if let Ok(value) = std::env::var(SEEDS_VAR) {
            let range = value.trim().split_once("..").and_then(|(a, b)| {
                Some(a.trim().parse::<u64>().ok()?..b.trim().parse::<u64>().ok()?)
            });
            return match range {
                Some(r) => Ok((r, false)),
                None => Err(SweepError::Env {
                    var: SEEDS_VAR,
                    value,
                    problem: "a seed range is written A..B (B excluded), such as 0..1000",
                }),
            };
        }
        Ok((self.seeds.clone(), false))
    }

    fn bug_knobs(&self) -> Result<Bugs, SweepError> {
        let mut bugs = Bugs::default();
        for name in &self.bugs {
            bugs = bugs.with(name).ok_or_else(|| SweepError::UnknownBug {
                name: name.clone(),
                known: zksim_core::bugs::Bug::ALL.map(|b| b.name()).join(", "),
            })?;
        }
        Ok(bugs)
    }

    fn job_count(&self) -> Result<usize, SweepError> {
        let jobs = match std::env::var(JOBS_VAR) {
            Ok(value) => value.trim().parse::<usize>().map_err(|_| SweepError::Env {
                var: JOBS_VAR,
                value: value.clone(),
                problem: "a number of jobs is a whole number, at least 1",
            })?,
            Err(_) => self.jobs,
        };
        if jobs == 0 {
            return Err(SweepError::NoJobs);
        }
        Ok(jobs)
    }

    /// Run the seeds on `jobs` threads, each taking the next seed in order; past a failure
    /// (unless the sweep keeps going) a job takes no seed above the lowest failing one.
    fn run_seeds(
        &self,
        resolved: &Resolved,
        seeds: Range<u64>,
        jobs: usize,
        bugs: Bugs,
        command: &str,
        replaying: bool,
    ) -> Vec<SeedRun> {
        let next = AtomicU64::new(seeds.start);
        let lowest_failing = AtomicU64::new(u64::MAX);
        let runs = Mutex::new(Vec::new());
        let job = || {
            loop {
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= seeds.end {
                    break;
                }
                if !self.keep_going && seed > lowest_failing.load(Ordering::SeqCst) {
                    break;
                }
                let scenario = resolved.for_seed(seed);
                let run = self.run_seed(&scenario, seed, bugs, command, replaying);
                if !run.broken.is_empty() {
                    lowest_failing.fetch_min(seed, Ordering::SeqCst);
                }
                runs.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(run);
            }
        };
        if jobs == 1 {
            job();
        } else {
            std::thread::scope(|scope| {
                for _ in 0..jobs {
                    scope.spawn(job);
                }
            });
        }
        runs.into_inner().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run one seed and judge it.
    fn run_seed(
        &self,
        scenario: &Scenario,
        seed: u64,
        bugs: Bugs,
        command: &str,
        replaying: bool,
    ) -> SeedRun {
        let state = Arc::new(Mutex::new(State {
            team: team_of::<R>(scenario, seed),
            broken: None,
        }));
        let observed = Observed {
            state: Arc::clone(&state),
            invariants: self.invariants.clone(),
        };
        let build: BuildClients = Box::new(move |_, _| -> Box<dyn Clients> { Box::new(observed) });
        let options = RunOptions {
            seed,
            bugs,
            trace: if replaying {
                TraceMode::Keep
            } else {
                TraceMode::Off
            },
            replay: Some(format!("{SEED_VAR}={seed} {command}")),
        };
        // Runs on other jobs share a bound on memory (crate::admission); waiting for it
        // changes nothing in the run.
        let admitted = crate::admission::admit();
        let report = catch_unwind(AssertUnwindSafe(|| run_with(scenario, &options, build)));
        drop(admitted);
        let mut broken = Vec::new();
        let report = match report {
            Ok(report) => report,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the run panicked".to_string());
                broken.push(Broken::new(Source::Run, "panic", message));
                return SeedRun {
                    seed,
                    broken,
                    sim_ms: 0,
                };
            }
        };
        broken.extend(self.judge_recipe(&state));
        broken.extend(judge_run(&report));
        if replaying {
            self.write_replay(seed, &report, &broken);
        }
        SeedRun {
            seed,
            broken,
            sim_ms: report.sim_ms,
        }
    }

    /// The recipe's invariants: the first broken at a step, then each judged at the end.
    fn judge_recipe(&self, state: &Arc<Mutex<State<R>>>) -> Vec<Broken> {
        let state = lock(state);
        let mut broken = Vec::new();
        if let Some(b) = &state.broken {
            let message = format!(
                "{} (client {}, at {} ms simulated)",
                b.message, b.client, b.now_ms
            );
            broken.push(Broken::new(Source::Recipe, b.invariant.clone(), message));
        }
        for invariant in &self.invariants {
            let at_step = state
                .broken
                .as_ref()
                .is_some_and(|b| b.invariant == invariant.name());
            if at_step {
                continue;
            }
            if let Err(message) = invariant.check(&state.team.shared) {
                let message = match invariant.when() {
                    When::AtEnd => message,
                    When::EachStep => format!("{message} (at the end of the run)"),
                };
                broken.push(Broken::new(Source::Recipe, invariant.name(), message));
            }
        }
        broken
    }

    /// A replayed seed's files, and where they went.
    fn write_replay(&self, seed: u64, report: &RunReport, broken: &[Broken]) {
        let dir = out_dir(seed);
        match write_files(&dir, report, broken) {
            Ok(()) => println!(
                "zksim: seed {seed}: wrote trace.txt ({} lines), history.jsonl, report.txt and report.html in {}",
                report.trace_count,
                dir.display()
            ),
            Err(e) => println!("zksim: seed {seed}: cannot write {}: {e}", dir.display()),
        }
    }
}
