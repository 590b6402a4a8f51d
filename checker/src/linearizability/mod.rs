//! A general linearizability checker: Wing–Gong–Lowe search with P-compositionality, as in
//! porcupine (Athalye, github.com/anishathalye/porcupine), generic over a `Model`.
//!
//! `check` partitions the history by the keys its operations touch, searches each partition
//! for a linearization within a shared work budget, and stops at the first partition that
//! has none.

mod events;
mod history;
mod lookahead;
mod memo;
mod model;
mod partition;
mod search;
mod states;
mod table;
mod verdict;

pub use history::Operation;
pub use model::Model;
pub use table::FastHasher;
pub use verdict::{Budget, CheckResult, Stats, UnknownReason, Verdict, Violation};

use search::{Outcome, Search};

/// Checks that `ops` is linearizable with respect to `model`, spending at most `budget`.
pub fn check<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    budget: Budget,
) -> CheckResult {
    let mut stats = Stats {
        operations: ops.len(),
        ..Stats::default()
    };
    if let Some(verdict) = malformed(ops) {
        return CheckResult { verdict, stats };
    }
    let partitions = partition::partition(model, ops);
    stats.partitions = partitions.len();
    let mut steps_left = budget.max_steps;
    for (checked, part) in partitions.iter().enumerate() {
        let mut search = Search::new(model, part.ops.iter().map(|&i| &ops[i]).collect());
        let before = steps_left;
        let outcome = search.run(&mut steps_left);
        stats.steps += before - steps_left;
        stats.configurations += search.configurations();
        let verdict = match outcome {
            Outcome::Linearizable => continue,
            Outcome::BudgetExhausted => Verdict::Unknown(UnknownReason::BudgetExhausted {
                max_steps: budget.max_steps,
                partitions_checked: checked,
                partitions: partitions.len(),
            }),
            Outcome::Violation(stuck) => {
                let global = |local: u32| part.ops[local as usize];
                Verdict::Violation(Violation {
                    keys: part.keys.clone(),
                    partition_len: part.ops.len(),
                    prefix: stuck.prefix.iter().map(|&l| global(l)).collect(),
                    state_after_prefix: model.describe_state(search.space.state(stuck.state)),
                    stuck: global(stuck.stuck),
                    pending: stuck.pending.iter().map(|&l| global(l)).collect(),
                })
            }
        };
        return CheckResult { verdict, stats };
    }
    CheckResult {
        verdict: Verdict::Linearizable,
        stats,
    }
}

fn malformed<I, O>(ops: &[Operation<I, O>]) -> Option<Verdict> {
    let (operation, op) = ops
        .iter()
        .enumerate()
        .find(|(_, op)| op.ret.is_some_and(|r| r < op.call))?;
    let problem = format!(
        "it returns at {} before it is invoked at {}",
        op.ret.unwrap_or_default(),
        op.call
    );
    Some(Verdict::Unknown(UnknownReason::MalformedHistory {
        operation,
        problem,
    }))
}
