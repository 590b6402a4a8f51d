//! What a sweep of a user's recipe found: [`SweepReport`], each failing seed a
//! [`Failure`] listing everything it broke ([`Broken`]) and the command that replays it.

use std::fmt;
use std::time::Duration;

/// Who judged a [`Broken`] invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Source {
    /// One of the recipe's own invariants ([`super::Invariant`]).
    Recipe,
    /// A ZooKeeper guarantee the checker judged from the run's history
    /// (`linearizable-writes`, `fifo-client-order`, ..., docs/properties.md), or
    /// `undecided <property>` when the checker could not decide it.
    Checker,
    /// The run itself: `liveness` (the service did not converge once faults healed),
    /// `run budget exceeded`, `panic`, `client protocol`, `assertion` (a server breached
    /// an invariant), `history` (the run's history is malformed).
    Run,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Recipe => "recipe invariant",
            Source::Checker => "checker",
            Source::Run => "run",
        }
    }
}

/// One invariant a run broke.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Broken {
    /// The invariant's name: the recipe's own, a checker property's, or the run's.
    pub invariant: String,
    /// What was seen: the invariant's message, or the checker's first finding.
    pub message: String,
    /// Who judged it.
    pub source: Source,
}

impl Broken {
    pub(super) fn new(source: Source, invariant: impl Into<String>, message: String) -> Broken {
        Broken {
            invariant: invariant.into(),
            message,
            source,
        }
    }
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.invariant,
            self.source.label(),
            self.message
        )
    }
}

/// A seed whose run broke something.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The run's seed.
    pub seed: u64,
    /// The scenario, as the sweep was given it (a built-in name, `swarm`, or the name of a
    /// scenario value).
    pub scenario: String,
    /// Everything the run broke: the recipe's invariants first, then the run's, then the
    /// checker's.
    pub broken: Vec<Broken>,
    /// The command that runs this seed alone again, with its trace and history written
    /// out.
    pub replay: String,
}

impl Failure {
    /// The first thing the run broke (a failure breaks at least one).
    pub fn first(&self) -> &Broken {
        self.broken.first().expect("a failure broke something")
    }

    /// Whether the run broke the invariant named `name`.
    pub fn broke(&self, name: &str) -> bool {
        self.broken.iter().any(|b| b.invariant == name)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} of scenario {} failed:",
            self.seed, self.scenario
        )?;
        for b in &self.broken {
            writeln!(f, "  {b}")?;
        }
        write!(f, "replay: {}", self.replay)
    }
}

/// What a sweep found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SweepReport {
    /// The scenario, as the sweep was given it.
    pub scenario: String,
    /// The seeds run, in order (a sweep that stops at its first failure runs fewer than
    /// its range).
    pub seeds_run: Vec<u64>,
    /// The failing seeds, lowest first.
    pub failures: Vec<Failure>,
    /// Wall-clock time of the whole sweep.
    pub wall: Duration,
    /// Simulated time of all its runs.
    pub sim: Duration,
}

impl SweepReport {
    /// Whether every seed run passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The lowest failing seed's failure.
    pub fn first_failure(&self) -> Option<&Failure> {
        self.failures.first()
    }

    /// Panic, with every failure and its replay command, unless every seed passed: the
    /// assertion of a test that the recipe holds.
    pub fn assert_passed(&self) {
        if let Some(first) = self.first_failure() {
            panic!(
                "{} of {} seeds failed; the first:\n{first}\n{self}",
                self.failures.len(),
                self.seeds_run.len()
            );
        }
    }

    /// The lowest failing seed, or a panic saying that none failed: the assertion of a
    /// test that a bug is caught.
    pub fn expect_failure(&self) -> &Failure {
        self.first_failure()
            .unwrap_or_else(|| panic!("expected a failing seed, but every seed passed: {self}"))
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let run = self.seeds_run.len();
        let range = match (self.seeds_run.first(), self.seeds_run.last()) {
            (Some(a), Some(b)) => format!(" ({a}..={b})"),
            _ => String::new(),
        };
        let seeds = if run == 1 { "seed" } else { "seeds" };
        write!(
            f,
            "{run} {seeds}{range} of scenario {}: {} passed, {} failed; {:.1} s wall, {:.0} s simulated",
            self.scenario,
            run - self.failures.len(),
            self.failures.len(),
            self.wall.as_secs_f64(),
            self.sim.as_secs_f64()
        )?;
        if !self.failures.is_empty() {
            let seeds: Vec<String> = self.failures.iter().map(|x| x.seed.to_string()).collect();
            write!(f, "; failing seeds: {}", seeds.join(", "))?;
        }
        Ok(())
    }
}
