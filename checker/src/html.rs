//! `zksim check --html FILE`: one self-contained page (inline CSS and JavaScript, no
//! network) showing a history on a time axis, after porcupine's visualization and Jepsen's
//! timeline: a lane per client (its operations as bars from invocation to completion, its
//! notifications and session events, and a strip colored by the server it is connected
//! to), a lane per server (its roles: looking, following, leading, with epochs), a lane of
//! faults, and the verdict of every property. The operations a violation involves are
//! outlined in red; clicking a finding zooms to them. A recipe's invariants (the lock's one
//! holder, the queue's exactly-once, ...) stand beside the properties, their findings beside
//! the properties' findings. Wheel zooms, drag pans, hovering
//! shows an operation's request, reply, zxids and times.
//!
//! Histories beyond `FULL_OPS_MAX` operations keep, besides every operation a finding
//! names, only the operations near them in time, and the page says so.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::history::SessionEvent;
use crate::index::{End, History, OpId, OpKind};
use crate::props::describe::{request, zxid as z};
use crate::props::{Report, Verdict};
use crate::recipes::RecipeReport;
use crate::report::{op_line, txn_line};

/// Histories up to this many operations are drawn whole.
pub const FULL_OPS_MAX: usize = 50_000;
/// Otherwise, this many operations on each side of each one a finding names.
const WINDOW_OPS: usize = 2_000;

pub fn render(h: &History, report: &Report, recipe: Option<&RecipeReport>, file: &str) -> String {
    let data = data(h, report, recipe, file);
    let json = serde_json::to_string(&data)
        .expect("page data serializes")
        .replace("</", "<\\/");
    PAGE.replace("/*DATA*/null", &json)
        .replace("TITLE", &escape(&format!("zksim check: {file}")))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Which operations to draw: all, or those near the ones findings name.
fn chosen_ops(h: &History, report: &Report, recipe: Option<&RecipeReport>) -> (Vec<usize>, bool) {
    if h.ops.len() <= FULL_OPS_MAX {
        return ((0..h.ops.len()).collect(), false);
    }
    let mut keep = BTreeSet::new();
    let recipe_ops = recipe
        .into_iter()
        .flat_map(|r| r.outcomes.iter())
        .flat_map(|o| o.findings.iter())
        .flat_map(|f| f.ops.iter());
    for &op in report
        .findings()
        .flat_map(|f| f.ops.iter())
        .chain(recipe_ops)
    {
        let i = op as usize;
        keep.extend(i.saturating_sub(WINDOW_OPS)..(i + WINDOW_OPS).min(h.ops.len()));
    }
    if keep.is_empty() {
        keep.extend(0..FULL_OPS_MAX);
    }
    (keep.into_iter().collect(), true)
}

fn data(h: &History, report: &Report, recipe: Option<&RecipeReport>, file: &str) -> Value {
    let (chosen, partial) = chosen_ops(h, report, recipe);
    let mut op_index = HashMap::new();
    let ops: Vec<Value> = chosen
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            op_index.insert(i, k);
            op_value(h, i)
        })
        .collect();
    let note_index: HashMap<usize, usize> = h
        .notices
        .iter()
        .enumerate()
        .map(|(k, n)| (n.at, k))
        .collect();
    let sess_index: HashMap<usize, usize> = h
        .sessions
        .iter()
        .enumerate()
        .map(|(k, s)| (s.at, k))
        .collect();
    let finding =
        |property: String, sentence: &str, ops: &[OpId], events: &[usize], details: Vec<String>| {
            json!({
                "property": property,
                "sentence": sentence,
                "ops": ops.iter().filter_map(|&o| op_index.get(&(o as usize))).collect::<Vec<_>>(),
                "notes": events.iter().filter_map(|at| note_index.get(at)).collect::<Vec<_>>(),
                "sess": events.iter().filter_map(|at| sess_index.get(at)).collect::<Vec<_>>(),
                "details": details,
            })
        };
    let mut findings: Vec<Value> = report
        .findings()
        .map(|f| {
            let mut details: Vec<String> = f.ops.iter().map(|&o| op_line(h, o)).collect();
            details.extend(f.txns.iter().map(|&t| txn_line(h, t)));
            finding(
                f.property.name().to_string(),
                &f.sentence,
                &f.ops,
                &f.events,
                details,
            )
        })
        .collect();
    let mut outcomes: Vec<Value> = report
        .outcomes
        .iter()
        .map(|o| {
            let (status, total) = match &o.verdict {
                Verdict::Holds => ("holds", 0),
                Verdict::Violated { total, .. } => ("violated", *total),
                Verdict::Unknown(_) => ("unknown", 0),
            };
            json!([
                o.property.name(),
                status,
                o.property.source(),
                o.checked,
                total
            ])
        })
        .collect();
    if let Some(r) = recipe {
        for o in &r.outcomes {
            let name = o.invariant.to_string();
            let status = if o.holds() { "holds" } else { "violated" };
            let source = format!("an invariant of the {} recipe (docs/recipes.md)", o.recipe);
            // What the recipe did, as the properties' "checked" column.
            let did: u64 = r.counts.iter().map(|&(_, n)| n).sum();
            outcomes.push(json!([name, status, source, did, o.total]));
            for f in &o.findings {
                let details = f.ops.iter().map(|&op| op_line(h, op)).collect();
                findings.push(finding(
                    name.clone(),
                    &f.sentence,
                    &f.ops,
                    &f.events,
                    details,
                ));
            }
        }
    }
    json!({
        "file": file,
        "seed": h.header.seed,
        "scenario": h.header.scenario,
        "replay": h.header.replay,
        "bugs": h.header.bugs,
        "partial": partial,
        "total_ops": h.ops.len(),
        "txns": h.txns.len(),
        "end": h.end_t.max(1),
        "servers": servers(h),
        "ops": ops,
        "notes": h.notices.iter().map(|n| json!([n.client, n.t, format!("{} {} (zxid {})", n.event_type.name(), n.path, z(n.zxid)), n.session])).collect::<Vec<_>>(),
        "sess": h.sessions.iter().map(|s| session_value(s.client, s.t, s.session, s.event)).collect::<Vec<_>>(),
        "roles": h.roles.iter().map(|r| json!([r.server, r.t, format!("{:?}", r.state), r.epoch])).collect::<Vec<_>>(),
        "faults": h.faults.iter().map(|f| json!([f.t, f.kind, f.detail])).collect::<Vec<_>>(),
        "outcomes": outcomes,
        "findings": findings,
    })
}

fn servers(h: &History) -> Vec<u64> {
    let mut servers: BTreeSet<u64> = h.header.servers.iter().copied().collect();
    servers.extend(h.roles.iter().map(|r| r.server));
    for s in &h.sessions {
        if let SessionEvent::Connected { server, .. } = s.event {
            servers.insert(*server);
        }
    }
    servers.into_iter().collect()
}

/// `[client, invoke t, end t or -1, kind, status, label, detail]`; kind 0 write, 1 read,
/// 2 sync; status 0 OK, 1 error, 2 unknown.
fn op_value(h: &History, i: usize) -> Value {
    let op = &h.ops[i];
    let kind = match op.kind {
        OpKind::Write => 0,
        OpKind::Read | OpKind::SetWatches => 1,
        OpKind::Sync => 2,
    };
    let (end, status, outcome) = match op.end {
        End::Reply { t, reply, .. } if crate::index::is_refusal(reply.err) => {
            (t as i64, 2, format!("{} (refused)", reply.err))
        }
        End::Reply { t, reply, .. } => (
            t as i64,
            i32::from(!reply.err.is_ok()),
            format!("{} zxid {}", reply.err, z(reply.zxid)),
        ),
        End::Unknown { t, .. } => (t as i64, 2, "unknown outcome".to_string()),
        End::Open => (-1, 2, "never completed".to_string()),
    };
    let label = format!("{} → {outcome}", request(op.request));
    json!([
        op.client,
        op.invoke_t,
        end,
        kind,
        status,
        label,
        op_line(h, i as u32)
    ])
}

fn session_value(client: u32, t: u64, session: i64, event: &SessionEvent) -> Value {
    let (kind, server) = match event {
        SessionEvent::Connected { server, .. } => ("connected", *server),
        SessionEvent::Disconnected => ("disconnected", 0),
        SessionEvent::Expired => ("expired", 0),
        SessionEvent::Closed => ("closed", 0),
        SessionEvent::AuthFailed => ("auth failed", 0),
    };
    json!([
        client,
        t,
        kind,
        server,
        format!("session {session:#x} {kind}")
    ])
}

const PAGE: &str = include_str!("html_page.html");
