//! Read after sync: "if a client requires the most recent value, it should call sync()
//! before reading" (ZooKeeper Programmer's Guide, consistency guarantees); sync "causes a
//! server to apply all pending write requests before processing the read" (Hunt et al.,
//! ZooKeeper paper, §2.2; the leader orders it after every write it has committed,
//! ZOOKEEPER-1675 for the quorum round that makes this hold under partitions).
//!
//! Checked: once a session's sync completes, its reply and every later reply the session
//! receives reflect every write (of any session) whose acknowledgement arrived before the
//! sync was invoked: their zxids are at least the largest such write's.

use crate::index::FastMap;

use zksim_core::stat::{SessionId, Zxid};

use super::describe::{op as describe_op, zxid as z};
use super::{Findings, Outcome, Property};
use crate::index::{History, OpId, OpKind};

pub fn check(h: &History) -> Outcome {
    let acked = acknowledged_writes(h);
    let mut findings = Findings::new(Property::ReadAfterSync);
    // Per session: the floor its syncs set, the write that set it, and the sync.
    let mut floors: FastMap<SessionId, (Zxid, OpId, OpId)> = FastMap::default();
    let mut syncs = 0;
    for &id in &h.completions {
        let op = h.op(id);
        let (Some(session), Some(reply)) = (op.session, op.definite_reply()) else {
            continue;
        };
        if op.kind == OpKind::Sync && reply.err.is_ok() {
            syncs += 1;
            let i = acked.partition_point(|(at, _, _)| *at < op.invoke_at);
            if let Some(&(_, floor, write)) = i.checked_sub(1).and_then(|i| acked.get(i)) {
                let current = floors.get(&session).map_or(0, |f| f.0);
                if floor > current {
                    floors.insert(session, (floor, write, id));
                }
            }
        }
        let Some(&(floor, write, sync)) = floors.get(&session) else {
            continue;
        };
        if reply.zxid >= 0 && reply.zxid < floor {
            if !findings.wants_more() {
                findings.count();
                continue;
            }
            findings.add(
                format!(
                    "{} completed before {} was invoked, so the reply to {} must reflect zxid {} or later, but reflects zxid {}",
                    describe_op(h, write),
                    describe_op(h, sync),
                    describe_op(h, id),
                    z(floor),
                    z(reply.zxid)
                ),
                vec![write, sync, id],
                Vec::new(),
                Vec::new(),
            );
        }
    }
    findings.outcome(syncs)
}

/// Acknowledged writes by the position of their reply: (position, largest zxid so far,
/// the write with that zxid).
fn acknowledged_writes(h: &History) -> Vec<(usize, Zxid, OpId)> {
    let mut out: Vec<(usize, Zxid, OpId)> = Vec::new();
    for &id in &h.completions {
        let op = h.op(id);
        let (OpKind::Write, Some(reply), Some(at)) = (op.kind, op.definite_reply(), op.end_at())
        else {
            continue;
        };
        let entry = match out.last() {
            Some(&(_, max, w)) if max >= reply.zxid => (at, max, w),
            _ => (at, reply.zxid, id),
        };
        out.push(entry);
    }
    out
}
