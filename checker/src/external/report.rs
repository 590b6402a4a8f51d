//! Readable reports of a violation found in an external history, whose times are lines.

use std::fmt::Write as _;

use super::builder::{Parsed, SourceLines};
use crate::linearizability::{Model, Operation, Violation};

/// How many operations of the prefix (its end) and of the pending set a report lists.
const SHOWN: usize = 8;

/// A few lines: one plain sentence, then the operations involved with their lines.
pub fn violation<M: Model>(
    model: &M,
    history: &Parsed<M::Input, M::Output>,
    violation: &Violation,
) -> String {
    let Parsed { ops, lines } = history;
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
        where_in_file(lines[violation.stuck]),
        violation.prefix.len(),
        violation.partition_len,
        violation.state_after_prefix,
    );
    let _ = writeln!(out, "  cannot be linearized:");
    let _ = writeln!(
        out,
        "    {}",
        describe(model, stuck, lines[violation.stuck])
    );
    if !violation.pending.is_empty() {
        let _ = writeln!(out, "  pending with it:");
        for &i in violation.pending.iter().take(SHOWN) {
            let _ = writeln!(out, "    {}", describe(model, &ops[i], lines[i]));
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
            let _ = writeln!(out, "    {}", describe(model, &ops[i], lines[i]));
        }
    }
    out
}

fn describe<M: Model>(
    model: &M,
    op: &Operation<M::Input, M::Output>,
    lines: SourceLines,
) -> String {
    let what = model.describe_operation(&op.input, &op.output);
    format!(
        "process {:<4} {what:<40} {}",
        op.process,
        where_in_file(lines)
    )
}

fn where_in_file(lines: SourceLines) -> String {
    match lines.ret {
        Some(ret) if ret == lines.call => format!("line {ret}"),
        Some(ret) => format!("lines {}-{ret}", lines.call),
        None => format!("line {}, never returned", lines.call),
    }
}
