//! Acknowledged writes survive: "once an update has been applied, it will persist from that
//! time forward until a client overwrites the update" (ZooKeeper Programmer's Guide,
//! consistency guarantees: reliability); Zab's integrity and durability: a txn is
//! acknowledged only once a quorum has it on disk (Junqueira et al., Zab, DSN 2011, §III).
//!
//! Checked: every write the server answered (OK, or an error of the write itself, which
//! also takes a zxid) is in the ground truth under its session and xid, at the zxid its
//! reply names. The ground truth is what the replicas applied; that every replica applies
//! the same committed sequence from there on (so no replica loses an acknowledged txn
//! after a crash or a snapshot) is replica-agreement's part.

use super::describe::{op as describe_op, zxid as z};
use super::{Findings, Outcome, Property};
use crate::index::{History, OpId, OpKind};

pub fn check(h: &History) -> Outcome {
    let mut findings = Findings::new(Property::AcknowledgedWritesSurvive);
    let mut checked = 0;
    for (i, op) in h.ops.iter().enumerate() {
        let Some(reply) = op.definite_reply() else {
            continue;
        };
        if op.kind != OpKind::Write {
            continue;
        }
        checked += 1;
        let id = OpId::try_from(i).expect("fits");
        match h.txn_of_op[i] {
            None => findings.add(
                format!(
                    "{} was acknowledged ({} at zxid {}), but the ground truth has no txn of session {:#x} with xid {}",
                    describe_op(h, id),
                    reply.err,
                    z(reply.zxid),
                    op.session.unwrap_or_default(),
                    op.xid
                ),
                vec![id],
                Vec::new(),
                Vec::new(),
            ),
            Some(t) if h.txn(t).zxid != reply.zxid => findings.add(
                format!(
                    "{} was acknowledged at zxid {}, but the ground truth has it at zxid {}",
                    describe_op(h, id),
                    z(reply.zxid),
                    z(h.txn(t).zxid)
                ),
                vec![id],
                vec![t],
                Vec::new(),
            ),
            Some(_) => {}
        }
    }
    findings.outcome(checked)
}
