//! What a linearizability check concludes, with enough detail for a readable report.

use std::fmt;

/// The outcome of checking a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some order of the operations, consistent with real time, explains every answer.
    Linearizable,
    /// No such order exists.
    Violation(Violation),
    /// The check could not decide. Never a hidden "probably fine".
    Unknown(UnknownReason),
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }

    pub fn is_violation(&self) -> bool {
        matches!(self, Verdict::Violation(_))
    }
}

/// Where the search for a linearization got stuck, in the partition that has none.
/// Operations are named by their index in the checked history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The keys of the partition that is not linearizable (empty when the model does not
    /// partition).
    pub keys: Vec<String>,
    /// How many operations that partition has.
    pub partition_len: usize,
    /// The longest linearizable prefix the search found, in its linearization order.
    pub prefix: Vec<usize>,
    /// The model's state after that prefix.
    pub state_after_prefix: String,
    /// The operation whose return the search could not get past: it must take effect before
    /// it returns, and no order of the operations pending then makes that possible.
    pub stuck: usize,
    /// The other operations pending at that point (invoked before `stuck` returned, not in
    /// the prefix), in order of invocation.
    pub pending: Vec<usize>,
}

/// Why a check could not decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnknownReason {
    /// The work budget ran out before the search finished.
    BudgetExhausted {
        /// The budget, in search steps.
        max_steps: u64,
        /// Partitions fully checked (all linearizable) before it ran out.
        partitions_checked: usize,
        partitions: usize,
    },
    /// The history itself is not well formed.
    MalformedHistory { operation: usize, problem: String },
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnknownReason::BudgetExhausted {
                max_steps,
                partitions_checked,
                partitions,
            } => write!(
                f,
                "the search budget of {max_steps} steps ran out after {partitions_checked} of \
                 {partitions} partitions were found linearizable"
            ),
            UnknownReason::MalformedHistory { operation, problem } => {
                write!(f, "operation {operation} is malformed: {problem}")
            }
        }
    }
}

/// A bound on the work a check may do, counted in search steps (one step is one attempt to
/// linearize one operation in one state). A check that runs out answers `Unknown`, never
/// `Linearizable`. The memo grows by at most one entry per step, so the budget also bounds
/// memory (about 50 to 100 bytes per step, depending on the partition's size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub max_steps: u64,
}

impl Budget {
    pub const DEFAULT_MAX_STEPS: u64 = 20_000_000;

    pub fn steps(max_steps: u64) -> Self {
        Self { max_steps }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::steps(Self::DEFAULT_MAX_STEPS)
    }
}

/// What a check did, for reports and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub operations: usize,
    pub partitions: usize,
    /// Search steps taken over all partitions.
    pub steps: u64,
    /// Distinct (linearized set, state) pairs visited over all partitions.
    pub configurations: u64,
}

/// A verdict and the work it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub verdict: Verdict,
    pub stats: Stats,
}
