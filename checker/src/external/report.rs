//! Readable reports of a violation found in an external history, whose times are lines.

use std::fmt::Write as _;

use crate::linearizability::{Model, Operation, Violation};

/// How many operations of the prefix (its end) and of the pending set a report lists.
const SHOWN: usize = 8;

/// A few lines: one plain sentence, then the operations involved with their lines.
pub fn violation<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    violation: &Violation,
) -> String {
    let stuck = &ops[violation.stuck];
    let mut out = String::new();
    let partition = if violation.keys.is_empty() {
        String::new()
    } else {
        format!(" on key {}", violation.keys.join(", "))
    };
    let others = match violation.pending.len() {
        0 => "this operation alone is not consistent with its result".to_string(),
        1 => "no order of this operation and the one pending with it is consistent with \
              their results"
            .to_string(),
        n => format!(
            "no order of this operation and the {n} pending with it is consistent with \
             their results"
        ),
    };
    let _ = writeln!(
        out,
        "Process {}'s {} ({}) cannot be linearized: the longest linearizable prefix has {} \
         of the {} operations{partition} and ends in state {}; from there, {others}.",
        stuck.process,
        model.describe_operation(&stuck.input, &stuck.output),
        lines(stuck),
        violation.prefix.len(),
        violation.partition_len,
        violation.state_after_prefix,
    );
    let _ = writeln!(out, "  cannot be linearized:");
    let _ = writeln!(out, "    {}", describe(model, stuck));
    if !violation.pending.is_empty() {
        let _ = writeln!(out, "  pending with it:");
        for &i in violation.pending.iter().take(SHOWN) {
            let _ = writeln!(out, "    {}", describe(model, &ops[i]));
        }
        if violation.pending.len() > SHOWN {
            let _ = writeln!(out, "    ... and {} more", violation.pending.len() - SHOWN);
        }
    }
    if !violation.prefix.is_empty() {
        let skipped = violation.prefix.len().saturating_sub(SHOWN);
        let _ = writeln!(
            out,
            "  end of the longest linearizable prefix, in linearization order:"
        );
        if skipped > 0 {
            let _ = writeln!(out, "    ... {skipped} earlier operations");
        }
        for &i in &violation.prefix[skipped..] {
            let _ = writeln!(out, "    {}", describe(model, &ops[i]));
        }
    }
    out
}

fn describe<M: Model>(model: &M, op: &Operation<M::Input, M::Output>) -> String {
    format!(
        "process {:<4} {:<40} {}",
        op.process,
        model.describe_operation(&op.input, &op.output),
        lines(op)
    )
}

fn lines<I, O>(op: &Operation<I, O>) -> String {
    match op.ret {
        Some(ret) => format!("lines {}-{}", op.call, ret),
        None => format!("line {}, never returned", op.call),
    }
}
