//! FIFO client order: "all requests from a given client are executed in the order that they
//! were sent by the client" (Hunt et al., ZooKeeper paper, §2.3) and "updates from a client
//! will be applied in the order that they were sent" (ZooKeeper Programmer's Guide,
//! consistency guarantees: sequential consistency).
//!
//! Checked per session, in the order its requests were sent (invoked):
//! - the writes that took effect (settled by the ground truth) have increasing zxids;
//! - a request sent after an acknowledged write is answered from a state that includes it
//!   (its reply's zxid is at least the write's), since it executes after it;
//!
//! and per client, replies arrive in the order the requests were sent (ZooKeeper's client
//! matches each reply to the oldest outstanding request, `ClientCnxn.readResponse`).

use crate::index::FastMap;

use super::describe::{op as describe_op, zxid as z};
use super::{Findings, Outcome, Property};
use crate::history::ClientId;
use crate::index::{History, OpId, OpKind};

pub fn check(h: &History) -> Outcome {
    let mut findings = Findings::new(Property::FifoClientOrder);
    let mut sessions: Vec<_> = h.session_ops.iter().collect();
    sessions.sort_by_key(|(s, _)| **s);
    for (_, ops) in sessions {
        check_session(h, ops, &mut findings);
    }
    check_reply_order(h, &mut findings);
    findings.outcome(h.ops.len())
}

fn check_session(h: &History, ops: &[OpId], findings: &mut Findings) {
    // The latest write that took effect, and the acknowledged write with the largest zxid.
    let mut last_write: Option<(i64, OpId)> = None;
    let mut acked: Option<(i64, OpId)> = None;
    for &id in ops {
        let op = h.op(id);
        if let (Some((za, a)), Some(reply)) = (acked, op.definite_reply()) {
            if reply.zxid >= 0 && reply.zxid < za && h.op(a).end_at() < Some(op.invoke_at) {
                findings.add(
                    format!(
                        "{} was sent after {} was acknowledged at zxid {}, yet was answered from the older state at zxid {}",
                        describe_op(h, id),
                        describe_op(h, a),
                        z(za),
                        z(reply.zxid)
                    ),
                    vec![a, id],
                    Vec::new(),
                    Vec::new(),
                );
            }
        }
        if op.kind != OpKind::Write {
            continue;
        }
        let Some(zb) = h.effect_zxid(id) else {
            continue;
        };
        if let Some((za, a)) = last_write {
            if zb < za {
                findings.add(
                    format!(
                        "{} was sent before {}, but took effect after it: zxid {} > {}",
                        describe_op(h, a),
                        describe_op(h, id),
                        z(za),
                        z(zb)
                    ),
                    vec![a, id],
                    [h.txn_of_op[a as usize], h.txn_of_op[id as usize]]
                        .into_iter()
                        .flatten()
                        .collect(),
                    Vec::new(),
                );
            }
        }
        last_write = Some((zb, id));
        if op.definite_reply().is_some() && acked.is_none_or(|(za, _)| zb > za) {
            acked = Some((zb, id));
        }
    }
}

/// Each client's completions follow the order of its invocations (op ids are in
/// invocation order).
fn check_reply_order(h: &History, findings: &mut Findings) {
    let mut last: FastMap<ClientId, OpId> = FastMap::default();
    for &id in &h.completions {
        let client = h.op(id).client;
        if let Some(&prev) = last.get(&client) {
            if prev > id {
                findings.add(
                    format!(
                        "{} was answered (event {}) after {}, which was sent later",
                        describe_op(h, id),
                        h.op(id).end_at().map_or(0, |at| at + 1),
                        describe_op(h, prev)
                    ),
                    vec![id, prev],
                    Vec::new(),
                    Vec::new(),
                );
                continue;
            }
        }
        last.insert(client, id);
    }
}
