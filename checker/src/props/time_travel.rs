//! No time travel: "a client will see the same view of the service regardless of the server
//! that it connects to" and "a client will never see an older view of the system, even if
//! it fails over to a different server with the same session" (ZooKeeper Programmer's
//! Guide, consistency guarantees: single system image; ZooKeeper 3.8's server refuses a
//! client whose last seen zxid is ahead of its own, `ZooKeeperServer.processConnectRequest`).
//!
//! A session's view is the zxid of the replies it receives (ZooKeeper's client keeps
//! `lastZxid` from every reply header with a zxid above 0, `ClientCnxn.readResponse`).
//! Checked: in the order a session's replies arrive, across reconnects to any server, those
//! zxids never decrease. A reply tagged 0 counts too: it reflects the empty state (a
//! server with no database loaded), which the client does not record as its last zxid,
//! but whose content is older than anything the session saw. Refusals (connection loss,
//! session moved, ...) are left out: they report no state.

use crate::index::FastMap;

use zksim_core::stat::{SessionId, Zxid};

use super::describe::{op as describe_op, zxid as z};
use super::{Findings, Outcome, Property};
use crate::index::{History, OpId};

pub fn check(h: &History) -> Outcome {
    let mut findings = Findings::new(Property::NoTimeTravel);
    let mut seen: FastMap<SessionId, (Zxid, OpId)> = FastMap::default();
    let mut checked = 0;
    for &id in &h.completions {
        let op = h.op(id);
        let (Some(session), Some(reply)) = (op.session, op.definite_reply()) else {
            continue;
        };
        // A reply tagged 0 reflects the empty state of a server with no database loaded:
        // older than anything the session saw, so it counts like any other.
        if reply.zxid < 0 {
            continue;
        }
        checked += 1;
        match seen.get(&session) {
            Some(&(before, _)) if reply.zxid < before && !findings.wants_more() => findings.count(),
            Some(&(before, a)) if reply.zxid < before => {
                findings.add(
                    format!(
                        "session {session:#x} saw zxid {} in the reply to {}, then the older zxid {} in the reply to {}{}",
                        z(before),
                        describe_op(h, a),
                        z(reply.zxid),
                        describe_op(h, id),
                        server_change(h, session, h.op(a).end_at(), op.end_at())
                    ),
                    vec![a, id],
                    Vec::new(),
                    Vec::new(),
                );
            }
            _ => {
                seen.insert(session, (reply.zxid, id));
            }
        }
    }
    findings.outcome(checked)
}

/// ", after reconnecting to server 3" when the session connected elsewhere in between.
fn server_change(
    h: &History,
    session: SessionId,
    from: Option<usize>,
    to: Option<usize>,
) -> String {
    let (Some(from), Some(to)) = (from, to) else {
        return String::new();
    };
    h.sessions
        .iter()
        .filter(|s| s.session == session && s.at > from && s.at < to)
        .rev()
        .find_map(|s| match s.event {
            crate::history::SessionEvent::Connected { server, .. } => Some(*server),
            _ => None,
        })
        .map_or(String::new(), |server| {
            format!(", after reconnecting to server {server}")
        })
}
