//! A learner's synchronization with its leader: at NEWLEADER, the leader's history made
//! durable (truncation or snapshot, the synced txns, the new epoch) before the ACK; at
//! UPTODATE, that history installed and applied, and the learner serving.

use crate::bugs::Bug;
use std::sync::Arc;

use super::{Learner, Phase, SyncMode};
use crate::server::{Core, Effect, Effects};
use crate::stat::Zxid;
use crate::tree::DataTree;
use crate::zab::broadcast::FollowerBroadcast;
use crate::zab::messages::{PeerMessage, Proposal};
use crate::zab::{PeerState, counter_of, epoch_of};

/// Zab phase 2: make the leader's history ours on disk (truncation or snapshot, the synced
/// txns, then the new currentEpoch) and only then acknowledge NEWLEADER.
pub(super) fn on_new_leader(s: &mut Core, l: &mut Learner, zxid: Zxid, out: &mut Effects) {
    // NEWLEADER ends the sync stream that ACKEPOCH began.
    assert_eq!(
        l.phase,
        Phase::Syncing,
        "server {}: NEWLEADER outside synchronization",
        s.config.id
    );
    let epoch = epoch_of(zxid);
    if Some(epoch) != l.new_epoch {
        s.leave_role();
        return;
    }
    // Learner.syncWithLeader: NEWLEADER names the new epoch's zero, and that epoch is the
    // one this learner accepted at LEADERINFO (ZkV3_7_0.tla FollowerProcessNEWLEADER).
    assert_eq!(
        counter_of(zxid),
        0,
        "server {}: NEWLEADER at {zxid:#x}, not an epoch's zero",
        s.config.id
    );
    assert_eq!(
        s.history.accepted_epoch(),
        epoch,
        "server {}: NEWLEADER of epoch {epoch} with acceptedEpoch {}",
        s.config.id,
        s.history.accepted_epoch()
    );
    tracing::debug!(
        target: "zksim_core::zab::sync",
        epoch,
        mode = l.mode.as_ref().map_or("none", SyncMode::name),
        "NEWLEADER: logging what the leader sent"
    );
    let mut records = Vec::new();
    match l.mode.take() {
        None => {
            s.leave_role();
            return;
        }
        Some(SyncMode::Diff { base }) => l.confirmed = base,
        Some(SyncMode::Trunc(t)) if s.history.snapshot().is_some_and(|snap| snap.zxid > t) => {
            // Our snapshot came from a SNAP that was never confirmed and holds txns the
            // leader's history lacks: it cannot be truncated, so we repair by SNAP like a
            // server whose files failed their checksums.
            s.repairing = true;
            s.leave_role();
            return;
        }
        Some(SyncMode::Trunc(t)) => {
            // Nothing committed is truncated, unless a knob broke the protocol (then the
            // tree ahead of the leader's history is rebuilt at UPTODATE).
            let (record, breach) = s.history.truncate(t, !s.config.bugs.is_empty());
            if breach {
                out.push(Effect::breach(
                    "nothing committed is truncated",
                    format!(
                        "server {}: TRUNC to {t:#x} below its committed {:#x}",
                        s.config.id,
                        s.history.committed()
                    ),
                ));
            }
            s.durable.truncate_durable_zxid(t);
            records.push(record);
            l.confirmed = t;
        }
        Some(SyncMode::Snap(snap)) => {
            // A snapshot decided before this SNAP would be older than it: drop it.
            s.snapshot_label = None;
            records.extend(s.history.install_snapshot(Arc::clone(&snap)));
            s.durable.truncate_durable_zxid(snap.zxid);
            l.confirmed = snap.zxid;
            l.staged_snapshot = Some(snap);
        }
    }
    // ZOOKEEPER-3023: the txns of the sync wait for UPTODATE to be logged (a repair
    // writes its files whole, so it never defers).
    let defer = s.config.bugs.has(Bug::SyncTxnsLoggedAfterAck) && !s.repairing;
    let mut unacked = Vec::new();
    let mut synced = Vec::new();
    for p in std::mem::take(&mut l.sync_proposals) {
        if p.hdr.zxid <= s.history.last_on_file() {
            continue;
        }
        synced.push(p.hdr.zxid);
        if p.hdr.zxid > l.committed_upto {
            unacked.push(p.hdr.zxid);
        }
        let record = s.history.append(p);
        if defer {
            l.deferred.push(record);
        } else {
            records.push(record);
        }
    }
    if s.config.bugs.has(Bug::EpochBeforeTxns) {
        // ZOOKEEPER-4643: the epoch file is written on its own, ahead of the txns.
        let record = s.history.set_current_epoch(epoch);
        s.durable.persist_alone(vec![record], out);
    } else {
        records.push(s.history.set_current_epoch(epoch));
    }
    let token = if s.repairing {
        // A repair replaces the corrupt files whole: the snapshot, the synced txns, and
        // both epochs.
        records.push(s.history.accept_epoch(epoch));
        let token = s.durable.persist_reset(records, out);
        s.repair_token = Some(token);
        token
    } else {
        s.durable.persist(records, out)
    };
    let overtake = s.config.bugs.has(Bug::AckOvertakesNewleaderAck) && !l.observer;
    if overtake {
        // ZOOKEEPER-4685: the log writer ACKs every txn it logs, and its ACKs leave ahead
        // of the NEWLEADER ACK that the learner writes once it has handed them over.
        for z in synced {
            out.push(Effect::SendAfterPersist {
                token,
                to: l.leader,
                msg: PeerMessage::Ack { zxid: z },
            });
        }
    }
    if s.config.bugs.has(Bug::NewleaderAckEarly) {
        // ZOOKEEPER-3911/4646: the ACK leaves before the synced txns are on disk.
        out.push(Effect::Send {
            to: l.leader,
            msg: PeerMessage::Ack { zxid },
        });
    } else {
        out.push(Effect::SendAfterPersist {
            token,
            to: l.leader,
            msg: PeerMessage::Ack { zxid },
        });
    }
    if defer && !l.observer {
        l.deferred_acks = unacked;
    } else if !l.observer && !overtake {
        for z in unacked {
            out.push(Effect::SendAfterPersist {
                token,
                to: l.leader,
                msg: PeerMessage::Ack { zxid: z },
            });
        }
    }
    // NEWLEADER accepted: the learner holds the leader's epoch as current and accepted
    // (Zab paper phase 2; Learner.syncWithLeader writes currentEpoch before the ACK).
    assert_eq!(
        s.history.current_epoch(),
        epoch,
        "server {}: NEWLEADER of epoch {epoch} leaves currentEpoch {}",
        s.config.id,
        s.history.current_epoch()
    );
    l.phase = Phase::Synced;
}

/// UPTODATE: the leader is established, so its history is committed. Install it and serve.
pub(super) fn on_up_to_date(s: &mut Core, l: &mut Learner, out: &mut Effects) {
    // UPTODATE only after NEWLEADER (Learner.syncWithLeader), in the epoch taken as current
    // then.
    assert_eq!(
        l.phase,
        Phase::Synced,
        "server {}: UPTODATE before NEWLEADER",
        s.config.id
    );
    assert_eq!(
        Some(s.history.current_epoch()),
        l.new_epoch,
        "server {}: UPTODATE outside its current epoch",
        s.config.id
    );
    if let Some(snap) = l.staged_snapshot.take() {
        install(s, DataTree::from_snapshot(&snap), l.confirmed, out);
    } else if s.tree.last_processed_zxid() > l.confirmed
        && !s.config.bugs.has(Bug::OldLeaderKeepsState)
    {
        // We hold committed state the leader's history lacks: only a broken protocol does
        // that. Rebuild from our snapshot and log if we can, else start over empty.
        s.breach(
            &PROTOCOL_KNOBS,
            "a learner's committed txns are in its leader's history",
            format!(
                "server {}: committed {:#x} past what it shares with leader {}, {:#x}",
                s.config.id,
                s.tree.last_processed_zxid(),
                l.leader,
                l.confirmed
            ),
            out,
        );
        if !rebuild(s, l.confirmed, out) {
            s.history.forget();
            install(s, DataTree::new(), l.confirmed, out);
            s.leave_role();
            return;
        }
    }
    s.catch_up_to_snapshot(out);
    if !l.deferred.is_empty() {
        // ZOOKEEPER-3023: only now are the synced txns logged, and ACKed once written.
        let token = s.durable.persist(std::mem::take(&mut l.deferred), out);
        for z in std::mem::take(&mut l.deferred_acks) {
            out.push(Effect::SendAfterPersist {
                token,
                to: l.leader,
                msg: PeerMessage::Ack { zxid: z },
            });
        }
    }
    let bound = l.committed_upto.max(l.confirmed);
    let committed: Vec<Arc<Proposal>> = s
        .log_after(s.tree.last_processed_zxid())
        .filter(|p| p.hdr.zxid <= bound)
        .cloned()
        .collect();
    for p in &committed {
        if s.config.bugs.has(Bug::CommittedLogHole) && p.hdr.zxid > l.info_zxid {
            // ZOOKEEPER-4925: a txn received in the sync is applied to the tree alone
            // (processTxn(hdr, txn)), never added to the committed log that DIFFs are
            // served from.
            s.not_in_committed_log.insert(p.hdr.zxid);
        }
        s.apply_committed(p, out);
    }
    l.pending = FollowerBroadcast::with_pending(s.log_after(bound).cloned());
    // UPTODATE: what the leader's history committed is applied here, and what remains
    // pending is exactly the uncommitted tail of the log (Learner.syncWithLeader).
    assert!(
        l.pending
            .oldest()
            .is_none_or(|p| p.hdr.zxid > s.history.committed()),
        "server {}: a pending proposal at or below the committed {:#x}",
        s.config.id,
        s.history.committed()
    );
    l.phase = Phase::Broadcast;
    let epoch = l.new_epoch.expect("synced with an epoch");
    s.current_vote.peer_epoch = epoch;
    let state = if l.observer {
        PeerState::Observing
    } else {
        PeerState::Following
    };
    out.push(Effect::role(state, epoch, Some(l.leader), "uptodate"));
}

/// The knobs that break Zab's safety, so that a learner can hold committed txns its new
/// leader's history lacks.
const PROTOCOL_KNOBS: [Bug; 11] = [
    Bug::CommitBeforeQuorum,
    Bug::AckBeforeFsync,
    Bug::NewleaderAckEarly,
    Bug::EpochBeforeTxns,
    Bug::SyncTxnsLoggedAfterAck,
    Bug::AckOvertakesNewleaderAck,
    Bug::CommitInSyncDropped,
    Bug::CommittedLogHole,
    Bug::DiffInsteadOfTrunc,
    Bug::StaleLogWriter,
    Bug::VoteOrderNotTotal,
];

/// Replace the tree with one that holds only history shared with the leader, up to
/// `shared` (what NEWLEADER confirmed: the SNAP's zxid, the TRUNC's or the DIFF's base).
fn install(s: &mut Core, tree: DataTree, shared: Zxid, out: &mut Effects) {
    // Learner.syncWithLeader: a learner's committed state is a prefix of its leader's
    // history, so the tree it installs goes no further than what it shares with it.
    assert!(
        tree.last_processed_zxid() <= shared,
        "server {}: installing a tree at {:#x} past what it shares with its leader, {shared:#x}",
        s.config.id,
        tree.last_processed_zxid()
    );
    s.tree = tree;
    s.history.committed_tree(s.tree.last_processed_zxid());
    s.prep.clear();
    out.push(Effect::InstalledSnapshot {
        zxid: s.tree.last_processed_zxid(),
        digest: s.tree.digest(),
    });
}

/// Rebuild the tree from the last snapshot and the log up to `zxid`; false if the snapshot
/// is already past it.
fn rebuild(s: &mut Core, zxid: Zxid, out: &mut Effects) -> bool {
    let mut tree = s
        .history
        .snapshot()
        .map(|snap| DataTree::from_snapshot(snap))
        .unwrap_or_default();
    if tree.last_processed_zxid() > zxid {
        return false;
    }
    for p in s.history.log().iter().filter(|p| p.hdr.zxid <= zxid) {
        tree.apply(&p.hdr, &p.txn, &mut Vec::new());
    }
    // The rebuilt tree holds the shared history only, and its snapshot continues into it.
    assert!(
        tree.last_processed_zxid() <= zxid,
        "server {}: rebuilt to {:#x}, past the shared {zxid:#x}",
        s.config.id,
        tree.last_processed_zxid()
    );
    install(s, tree, zxid, out);
    true
}
