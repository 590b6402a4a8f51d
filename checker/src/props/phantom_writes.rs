//! No phantom writes: every change to the tree is a client's write (or the service's own
//! session and container bookkeeping). Zab's Integrity: "if some process delivers
//! ⟨v, z⟩, then some process has broadcast ⟨v, z⟩" (Junqueira et al., Zab, DSN 2011,
//! §III), and in ZooKeeper a txn is broadcast only for a request a client sent: its
//! `TxnHeader` names the session and the request's `cxid` (`PrepRequestProcessor`).
//!
//! Checked on the ground truth: every txn a client write makes (create, delete, setData,
//! setACL, multi, and the error txn of a write that failed) belongs to a write its
//! session sent with that xid, and names what the request asked for: the same operation,
//! the same path (a sequential create's name extends the requested path), the same data,
//! and an ephemeral node only for an ephemeral create; a multi's sub-txns match its
//! operations one by one. That the txn is exactly what the request gives on the state
//! before it (versions, ACLs, the sequence number) is linearizable-writes' re-prep.
//!
//! A write invoked before its client's first session was established is its client's
//! next session's. Session 0 is the server's own: the error txn of a deleteContainer whose
//! prep failed belongs to no client.

use zksim_core::request::{CreateMode, Request};
use zksim_core::stat::NodeKind;
use zksim_core::txn::Txn;

use super::describe::{request as describe_request, txn as describe_txn, zxid as z};
use super::{Findings, Outcome, Property};
use crate::index::{History, OpKind, TxnId, is_client_write_txn};

pub fn check(h: &History) -> Outcome {
    let mut findings = Findings::new(Property::NoPhantomWrites);
    let mut checked = 0;
    for (i, t) in h.txns.iter().enumerate() {
        if !is_client_write_txn(t.txn) || server_own(t.session, t.txn) {
            continue;
        }
        checked += 1;
        let id = TxnId::try_from(i).expect("fits");
        let problem = match h.op_of_txn[i] {
            Some(op) => mismatch(h.op(op).request, t.txn).map(|why| (why, vec![op])),
            None => Some((unclaimed(h, t.session, t.cxid), Vec::new())),
        };
        let Some((why, ops)) = problem else {
            continue;
        };
        if !findings.wants_more() {
            findings.count();
            continue;
        }
        findings.add(
            format!(
                "the txn at zxid {} ({} of session {:#x}, cxid {}) {why}",
                z(t.zxid),
                describe_txn(t.txn),
                t.session,
                t.cxid
            ),
            ops,
            vec![id],
            Vec::new(),
        );
    }
    findings.outcome(checked)
}

/// Session 0 is the server's own: the container manager's deleteContainer requests, whose
/// prep may fail (NONODE, NOTEMPTY) and leave an error txn (ZooKeeper's
/// `ContainerManager` submits them with session 0).
fn server_own(session: i64, txn: &Txn) -> bool {
    session == 0 && matches!(txn, Txn::Error { .. })
}

/// Why no write claims the txn: no request of that session and xid, or one that is not
/// a write.
fn unclaimed(h: &History, session: i64, cxid: i32) -> String {
    let other = h.session_ops.get(&session).and_then(|ops| {
        ops.iter()
            .map(|&o| h.op(o))
            .find(|op| op.xid == cxid && op.kind != OpKind::Write)
    });
    match other {
        Some(op) => format!(
            "was applied, but the session's request with xid {cxid} was {}, not a write",
            describe_request(op.request)
        ),
        None => format!("was applied, but the session never sent a write with xid {cxid}"),
    }
}

/// Why a txn is not what the request asked for, if it is not.
fn mismatch(request: &Request, txn: &Txn) -> Option<String> {
    let why = match (request, txn) {
        (_, Txn::Error { .. }) => return None,
        (Request::Multi(ops), Txn::Multi(txns)) if ops.len() == txns.len() => {
            return ops.iter().zip(txns).enumerate().find_map(|(k, (op, txn))| {
                mismatch(op, txn).map(|why| format!("in its operation {}: {why}", k + 1))
            });
        }
        (Request::Multi(ops), Txn::Multi(txns)) => format!(
            "has {} sub-txns for a multi of {} operations",
            txns.len(),
            ops.len()
        ),
        (
            Request::Create {
                path, data, mode, ..
            },
            Txn::Create {
                path: made,
                data: written,
                ephemeral_owner,
                ..
            },
        ) => create_mismatch(path, data, *mode, made, written, *ephemeral_owner)?,
        (Request::Delete { path, .. }, Txn::Delete { path: p })
        | (Request::SetAcl { path, .. }, Txn::SetAcl { path: p, .. })
        | (Request::Check { path, .. }, Txn::Check { path: p, .. }) => differs("path", path, p)?,
        (
            Request::SetData { path, data, .. },
            Txn::SetData {
                path: p, data: d, ..
            },
        ) => differs("path", path, p).or_else(|| differs("data", data, d))?,
        _ => "is another operation".to_string(),
    };
    Some(format!(
        "does not do what the request asked ({}): it {why}",
        describe_request(request)
    ))
}

fn create_mismatch(
    path: &str,
    data: &Option<Vec<u8>>,
    mode: CreateMode,
    made: &str,
    written: &Option<Vec<u8>>,
    owner: i64,
) -> Option<String> {
    let name_ok = if mode.is_sequential() {
        made.strip_prefix(path)
            .is_some_and(|n| n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit()))
    } else {
        made == path
    };
    if !name_ok {
        return Some(format!("creates {made}"));
    }
    if let Some(why) = differs("data", data, written) {
        return Some(why);
    }
    let ephemeral = matches!(NodeKind::from_owner(owner), NodeKind::Ephemeral(_));
    (ephemeral != mode.is_ephemeral()).then(|| {
        format!(
            "creates {} node",
            if ephemeral {
                "an ephemeral"
            } else {
                "a persistent"
            }
        )
    })
}

fn differs<T: PartialEq + std::fmt::Debug>(what: &str, asked: &T, done: &T) -> Option<String> {
    (asked != done).then(|| format!("has {what} {done:?} where the request has {asked:?}"))
}
