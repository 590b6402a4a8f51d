//! A violation report in plain text: the property (or recipe invariant), one sentence, the
//! few operations involved with their sessions, times and zxids, and how to replay the run.
//!
//! The first line names the first violated property, else the first violated invariant of
//! the history's recipe, so `zksim check FILE | head -1` says what broke. Lines are event
//! numbers in the file (header = line 1).

use std::fmt::Write as _;

use crate::index::{End, History, OpId, TxnId};
use crate::props::describe::{request, zxid as z};
use crate::props::{Finding, Report, Verdict};
use crate::recipes::{InvariantOutcome, RecipeReport};

/// `1234567` µs as `1.234567 s`.
pub fn time(t: u64) -> String {
    format!("{}.{:06} s", t / 1_000_000, t % 1_000_000)
}

/// The whole report for `zksim check`: the properties, and the invariants of the
/// history's recipe when it names one.
pub fn render(h: &History, report: &Report, recipe: Option<&RecipeReport>, file: &str) -> String {
    let mut out = String::new();
    let violated: Vec<_> = report.violated().collect();
    let broken: Vec<&InvariantOutcome> = recipe.map_or(Vec::new(), |r| r.violated().collect());
    if let Some(first) = violated.first() {
        if let Verdict::Violated { findings, .. } = &first.verdict {
            let _ = writeln!(
                out,
                "{}: VIOLATED: {}",
                first.property, findings[0].sentence
            );
        }
    } else if let Some(first) = broken.first() {
        let _ = writeln!(
            out,
            "{}: VIOLATED: {}",
            first.invariant, first.findings[0].sentence
        );
    } else if let Some(u) = report.unknown().next() {
        if let Verdict::Unknown(why) = &u.verdict {
            let _ = writeln!(out, "{}: UNKNOWN: {why}", u.property);
        }
    } else {
        let invariants = recipe.map_or(String::new(), |r| {
            format!(" and the invariants of recipe {}", r.recipe)
        });
        let _ = writeln!(
            out,
            "all properties{invariants} hold: {file} ({} operations, {} txns)",
            h.ops.len(),
            h.txns.len()
        );
    }
    for o in &violated {
        let Verdict::Violated { findings, total } = &o.verdict else {
            continue;
        };
        let _ = writeln!(
            out,
            "\n{} is violated ({}): {total} finding{}, {} shown",
            o.property,
            o.property.source(),
            if *total == 1 { "" } else { "s" },
            findings.len()
        );
        for (i, f) in findings.iter().enumerate() {
            finding(&mut out, h, i + 1, f);
        }
    }
    for o in &broken {
        invariant(&mut out, h, o);
    }
    summary(&mut out, report);
    if let Some(r) = recipe {
        recipe_summary(&mut out, r);
    }
    replay(&mut out, h);
    out
}

/// A violated recipe invariant and its findings.
fn invariant(out: &mut String, h: &History, o: &InvariantOutcome) {
    let _ = writeln!(
        out,
        "\n{} is violated (recipe {}, docs/recipes.md): {} finding{}, {} shown",
        o.invariant,
        o.recipe,
        o.total,
        if o.total == 1 { "" } else { "s" },
        o.findings.len()
    );
    for (i, f) in o.findings.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}", i + 1, f.sentence);
        for &op in &f.ops {
            let _ = writeln!(out, "       {}", op_line(h, op));
        }
        for &at in &f.events {
            let _ = writeln!(out, "       line {}: {}", at + 1, event_words(h, at));
        }
    }
}

/// The recipe's invariants that hold, and what it did and checked.
fn recipe_summary(out: &mut String, r: &RecipeReport) {
    let holds: Vec<&str> = r
        .outcomes
        .iter()
        .filter(|o| o.holds())
        .map(|o| o.invariant)
        .collect();
    if !holds.is_empty() {
        let _ = writeln!(out, "recipe {}: holds: {}", r.recipe, holds.join(", "));
    }
    let counts: Vec<String> = r.counts.iter().map(|(w, n)| format!("{w} {n}")).collect();
    let _ = writeln!(out, "recipe {}: {}", r.recipe, counts.join(", "));
}

fn finding(out: &mut String, h: &History, n: usize, f: &Finding) {
    let _ = writeln!(out, "  {n}. {}", f.sentence);
    for &op in &f.ops {
        let _ = writeln!(out, "       {}", op_line(h, op));
    }
    for &t in &f.txns {
        let _ = writeln!(out, "       {}", txn_line(h, t));
    }
    for &at in &f.events {
        let _ = writeln!(out, "       line {}: {}", at + 1, event_words(h, at));
    }
}

/// One operation: who, what, when invoked, how and when it ended.
pub fn op_line(h: &History, id: OpId) -> String {
    let op = h.op(id);
    let session = op
        .session
        .map_or("no session".to_string(), |s| format!("session {s:#x}"));
    let ended = match op.end {
        End::Reply { t, at, reply } => format!(
            "{} zxid {} at {} (line {})",
            reply.err,
            z(reply.zxid),
            time(t),
            at + 1
        ),
        End::Unknown { t, at } => format!("unknown outcome at {} (line {})", time(t), at + 1),
        End::Open => "never completed".to_string(),
    };
    let effect = h.effect_zxid(id).map_or(String::new(), |zx| {
        format!("; took effect at zxid {}", z(zx))
    });
    format!(
        "client {} {session} xid {}: {} invoked at {} (line {}) -> {ended}{effect}",
        op.client,
        op.xid,
        request(op.request),
        time(op.invoke_t),
        op.invoke_at + 1
    )
}

pub fn txn_line(h: &History, id: TxnId) -> String {
    let t = h.txn(id);
    format!(
        "txn zxid {} session {:#x} cxid {}: {:?} (line {})",
        z(t.zxid),
        t.session,
        t.cxid,
        t.txn,
        t.at + 1
    )
}

/// A few words about a non-operation event (a notification, a session event, ...).
pub fn event_words(h: &History, at: usize) -> String {
    if let Some(n) = h.notices.iter().find(|n| n.at == at) {
        return format!(
            "session {:#x} notified {} {} (zxid {}) at {}",
            n.session,
            n.event_type.name(),
            n.path,
            z(n.zxid),
            time(n.t)
        );
    }
    if let Some(s) = h.sessions.iter().find(|s| s.at == at) {
        return format!(
            "client {} session {:#x} {:?} at {}",
            s.client,
            s.session,
            s.event,
            time(s.t)
        );
    }
    if let Some(t) = h.txns.iter().find(|t| t.at == at) {
        return format!("txn zxid {} {:?}", z(t.zxid), t.txn);
    }
    if let Some(r) = h.replicas.iter().find(|r| r.at == at) {
        return format!("server {}'s applied segments", r.server);
    }
    if let Some(r) = h.roles.iter().find(|r| r.at == at) {
        return format!(
            "server {} {:?} in epoch {} at {}",
            r.server,
            r.state,
            r.epoch,
            time(r.t)
        );
    }
    "an event".to_string()
}

fn summary(out: &mut String, report: &Report) {
    let holds: Vec<String> = report
        .outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Holds)
        .map(|o| format!("{} ({} checked)", o.property, o.checked))
        .collect();
    if !holds.is_empty() {
        let _ = writeln!(out, "\nholds: {}", holds.join(", "));
    }
    for o in report.unknown() {
        if let Verdict::Unknown(why) = &o.verdict {
            let _ = writeln!(out, "unknown: {}: {why}", o.property);
        }
    }
}

fn replay(out: &mut String, h: &History) {
    let header = &h.header;
    if let Some(seed) = header.seed {
        let _ = write!(out, "seed: {seed}");
        if let Some(s) = &header.scenario {
            let _ = write!(out, "; scenario: {s}");
        }
        if !header.bugs.is_empty() {
            let _ = write!(out, "; bugs: {}", header.bugs.join(", "));
        }
        out.push('\n');
    }
    if let Some(cmd) = &header.replay {
        let _ = writeln!(out, "replay: {cmd}");
    }
}
