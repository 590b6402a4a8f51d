//! Ephemerals live exactly as long as their session: "ephemeral znodes exist as long as the
//! session that created the znode is active. When the session ends the znode is deleted"
//! (ZooKeeper Programmer's Guide, ephemeral nodes; a session ends by close or expiry,
//! which the leader turns into a closeSession txn, `SessionTrackerImpl` and
//! `PrepRequestProcessor`; ZOOKEEPER-2355 for a closeSession that was lost).
//!
//! Checked on the ground truth:
//! - an ephemeral is created only by a live session (after its createSession txn, before
//!   its closeSession txn), and is owned by the session that created it;
//! - a closeSession txn deletes exactly the session's ephemerals at that point (the
//!   reference replay's set, compared as sets: ZooKeeper lists them in hash-set order);
//! - a session its client saw expire has a closeSession txn;
//! - a close the server answered (ZooKeeper's `close`, whose reply carries the
//!   closeSession txn's zxid) has that session's closeSession txn at the reply's zxid, so
//!   the session's ephemerals are gone from that state on.
//!
//! That no later state shows an ephemeral of a closed session follows from the replay
//! (the reference tree deletes them) and reads-equal-state (every read is held to it).

use crate::index::{FastMap, FastSet};

use zksim_core::stat::{NodeKind, SessionId, Zxid};
use zksim_core::txn::Txn;

use super::describe::zxid as z;
use super::{Findings, Outcome, Property};
use crate::history::SessionEvent;
use crate::index::{History, TxnId};
use crate::reference::Reference;

#[derive(Clone, Copy)]
enum Life {
    Open,
    Closed(Zxid),
}

pub fn check(h: &History, r: &Reference) -> Outcome {
    let mut findings = Findings::new(Property::EphemeralsLiveWithSession);
    let closed = check_creates(h, &mut findings);
    for m in &r.close_mismatches {
        let t = h.txn(m.txn);
        let Txn::CloseSession { paths } = t.txn else {
            continue;
        };
        let mut logged = paths.clone();
        logged.sort();
        findings.add(
            format!(
                "the closeSession of session {:#x} at zxid {} deletes [{}], but the session's ephemerals then were [{}]",
                t.session,
                z(t.zxid),
                logged.join(", "),
                m.expected.join(", ")
            ),
            h.op_of_txn[m.txn as usize].into_iter().collect(),
            vec![m.txn],
            Vec::new(),
        );
    }
    check_answered_closes(h, &mut findings);
    for s in &h.sessions {
        if matches!(s.event, SessionEvent::Expired) && !closed.contains(&s.session) {
            findings.add(
                format!(
                    "client {} was told session {:#x} expired (event {}), but no closeSession txn ends it, so its ephemerals live on",
                    s.client,
                    s.session,
                    s.at + 1
                ),
                Vec::new(),
                Vec::new(),
                vec![s.at],
            );
        }
    }
    findings.outcome(h.txns.len() + h.closes.len())
}

/// Every answered close is its session's closeSession txn, at the zxid of the reply.
fn check_answered_closes(h: &History, findings: &mut Findings) {
    for close in &h.closes {
        let Some(reply) = close.definite_reply() else {
            continue;
        };
        let Some(session) = close
            .session
            .or_else(|| h.next_session(close.client, close.invoke_at))
        else {
            continue;
        };
        let txn = h.txn_at(reply.zxid);
        let ended = txn.is_some_and(|t| {
            let t = h.txn(t);
            t.session == session && matches!(t.txn, Txn::CloseSession { .. })
        });
        if ended {
            continue;
        }
        let there = match txn.map(|t| h.txn(t)) {
            Some(t) => format!(
                "the txn at that zxid is session {:#x}'s {}",
                t.session,
                crate::props::describe::txn(t.txn)
            ),
            None => "no txn has that zxid".to_string(),
        };
        let end_at = close.end_at().unwrap_or(close.invoke_at);
        findings.add(
            format!(
                "client {}'s close of session {session:#x} (event {}) was answered at zxid {}, but {there}: no closeSession ended the session there, so its ephemerals may live on",
                close.client,
                close.invoke_at + 1,
                z(reply.zxid)
            ),
            Vec::new(),
            txn.into_iter().collect(),
            vec![close.invoke_at, end_at],
        );
    }
}

/// Ephemeral creates by sessions that are not live; returns the sessions that closed.
fn check_creates(h: &History, findings: &mut Findings) -> FastSet<SessionId> {
    let mut life: FastMap<SessionId, Life> = FastMap::default();
    for (i, t) in h.txns.iter().enumerate() {
        let id = TxnId::try_from(i).expect("fits");
        match t.txn {
            Txn::CreateSession { .. } => {
                life.insert(t.session, Life::Open);
            }
            Txn::CloseSession { .. } => {
                life.insert(t.session, Life::Closed(t.zxid));
            }
            other => {
                for (path, owner) in ephemeral_creates(other) {
                    let problem = if owner != t.session {
                        Some(format!("is owned by session {owner:#x}, not its creator"))
                    } else {
                        match life.get(&owner) {
                            None => Some("has no createSession txn before it".to_string()),
                            Some(Life::Closed(at)) => {
                                Some(format!("was closed at zxid {}", z(*at)))
                            }
                            Some(Life::Open) => None,
                        }
                    };
                    if let Some(problem) = problem {
                        findings.add(
                            format!(
                                "ephemeral {path} was created at zxid {} by session {:#x}, which {problem}",
                                z(t.zxid),
                                t.session
                            ),
                            h.op_of_txn[i].into_iter().collect(),
                            vec![id],
                            Vec::new(),
                        );
                    }
                }
            }
        }
    }
    life.into_iter()
        .filter(|(_, l)| matches!(l, Life::Closed(_)))
        .map(|(s, _)| s)
        .collect()
}

/// The ephemeral nodes a txn creates, with their owners.
fn ephemeral_creates(txn: &Txn) -> Vec<(&str, SessionId)> {
    match txn {
        Txn::Create {
            path,
            ephemeral_owner,
            ..
        } => match NodeKind::from_owner(*ephemeral_owner) {
            NodeKind::Ephemeral(owner) => vec![(path.as_str(), owner)],
            _ => Vec::new(),
        },
        Txn::Multi(txns) => txns.iter().flat_map(ephemeral_creates).collect(),
        _ => Vec::new(),
    }
}
