//! Replica agreement: Zab's safety properties (Junqueira, Reed and Serafini, "Zab:
//! High-performance broadcast for primary-backup systems", DSN 2011, §III; the Zab.tla
//! specification's invariants), on what each replica applied (`replica` segments) and the
//! ground truth (`txn` events):
//!
//! - Integrity: a replica applies only txns that were committed (in the ground truth).
//! - Agreement and TotalOrder: no two txns share a zxid, and every replica applies the
//!   committed txns in one order. With PrefixConsistency: each segment (the run a replica
//!   applied after restoring the state at its base) is exactly the ground truth's txns
//!   after its base, in zxid order, with none skipped; so every replica's history is a
//!   prefix of the others'.
//! - PrimaryOrder: within an epoch the committed txns carry the counters 1, 2, 3, ... with
//!   no gap (a leader proposes them in that order and commits a prefix), and a later
//!   epoch's txns follow all of an earlier one's (zxid order, by construction).
//! - Primary uniqueness: at most one server leads any epoch (`role` events).
//!
//! Segments name zxids only, so agreement on a txn's content rests on the ground truth
//! holding one txn per zxid; two `txn` lines for one zxid that differ are a violation.

use crate::index::FastMap;

use zksim_core::stat::Zxid;
use zksim_core::zab::PeerState;

use super::describe::zxid as z;
use super::{Findings, Outcome, Property};
use crate::index::{History, ReplicaRec, TxnAnomaly};

pub fn check(h: &History) -> Outcome {
    let mut findings = Findings::new(Property::ReplicaAgreement);
    for a in &h.anomalies {
        if let TxnAnomaly::Conflict {
            zxid,
            first,
            second,
        } = a
        {
            findings.add(
                format!(
                    "two different txns were applied at zxid {} (events {} and {})",
                    z(*zxid),
                    first + 1,
                    second + 1
                ),
                Vec::new(),
                Vec::new(),
                vec![*first, *second],
            );
        }
    }
    check_counters(h, &mut findings);
    let mut checked = h.txns.len();
    for r in &h.replicas {
        checked += check_replica(h, r, &mut findings);
    }
    check_leaders(h, &mut findings);
    findings.outcome(checked)
}

/// PrimaryOrder: each epoch's counters run 1, 2, 3, ... without a gap.
fn check_counters(h: &History, findings: &mut Findings) {
    let mut prev: Option<Zxid> = None;
    for t in &h.txns {
        let (epoch, counter) = (t.zxid >> 32, t.zxid & 0xffff_ffff);
        let expected = match prev {
            Some(p) if p >> 32 == epoch => (p & 0xffff_ffff) + 1,
            _ => 1,
        };
        if counter != expected {
            let after = prev.map_or("the start".to_string(), |p| format!("zxid {}", z(p)));
            findings.add(
                format!(
                    "epoch {epoch}'s committed txns have a gap: zxid {} follows {after}; counter {expected} is missing",
                    z(t.zxid)
                ),
                Vec::new(),
                Vec::new(),
                vec![t.at],
            );
        }
        prev = Some(t.zxid);
    }
}

/// Each segment is the ground truth's run after its base. Returns the zxids checked.
fn check_replica(h: &History, r: &ReplicaRec, findings: &mut Findings) -> usize {
    let mut checked = 0;
    for (k, seg) in r.segments.iter().enumerate() {
        let start = h.txns.partition_point(|t| t.zxid <= seg.base);
        let base_known =
            seg.base == 0 || seg.base & 0xffff_ffff == 0 || h.txn_at(seg.base).is_some();
        if !base_known {
            findings.add(
                format!(
                    "server {}'s segment {} starts from the state at zxid {}, which was never committed",
                    r.server,
                    k + 1,
                    z(seg.base)
                ),
                Vec::new(),
                Vec::new(),
                vec![r.at],
            );
            continue;
        }
        for (i, &zxid) in seg.zxids.iter().enumerate() {
            checked += 1;
            let expected = h.txns.get(start + i).map(|t| t.zxid);
            if expected == Some(zxid) {
                continue;
            }
            let sentence = match (expected, h.txn_at(zxid)) {
                (_, None) => format!(
                    "server {} applied zxid {}, which is not a committed txn (Integrity)",
                    r.server,
                    z(zxid)
                ),
                (Some(e), Some(_)) if e < zxid => format!(
                    "server {} applied zxid {} but skipped zxid {} before it (PrefixConsistency)",
                    r.server,
                    z(zxid),
                    z(e)
                ),
                _ => format!(
                    "server {} applied zxid {} out of order in segment {} (TotalOrder)",
                    r.server,
                    z(zxid),
                    k + 1
                ),
            };
            findings.add(sentence, Vec::new(), Vec::new(), vec![r.at]);
            break;
        }
    }
    checked
}

/// At most one leader per epoch.
fn check_leaders(h: &History, findings: &mut Findings) {
    let mut leader: FastMap<u32, (u64, usize)> = FastMap::default();
    for role in &h.roles {
        if role.state != PeerState::Leading {
            continue;
        }
        match leader.get(&role.epoch) {
            Some(&(server, at)) if server != role.server => findings.add(
                format!(
                    "servers {server} and {} both led epoch {} (events {} and {})",
                    role.server,
                    role.epoch,
                    at + 1,
                    role.at + 1
                ),
                Vec::new(),
                Vec::new(),
                vec![at, role.at],
            ),
            Some(_) => {}
            None => {
                leader.insert(role.epoch, (role.server, role.at));
            }
        }
    }
}
