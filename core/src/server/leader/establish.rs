//! The leader's discovery and synchronization: choosing and persisting the new epoch,
//! LEADERINFO and ACKEPOCH, each learner's DIFF/TRUNC/SNAP and NEWLEADER
//! (`LearnerHandler.syncFollower`), and establishment on a quorum of NEWLEADER ACKs.

use crate::bugs::Bug;
use std::sync::Arc;

use super::{Leader, LearnerHandle, LearnerPhase, Phase};
use crate::server::{Core, Effect, Effects};
use crate::stat::Zxid;
use crate::zab::discovery::follower_ahead;
use crate::zab::messages::{PeerMessage, Proposal};
use crate::zab::sync::{SyncPlan, plan_sync};
use crate::zab::{Hex, PeerState, ServerId, make_zxid};

/// `Leader.getEpochToPropose`: once a quorum of voters has connected, the new epoch is one
/// more than every accepted epoch among them; the leader persists it before telling anyone.
pub(super) fn try_choose_epoch(s: &mut Core, l: &mut Leader, out: &mut Effects) {
    if l.phase != Phase::Discovery {
        return;
    }
    let Some(epoch) = l.discovery.epoch_to_propose(&s.quorum) else {
        return;
    };
    // The leader's own acceptedEpoch is among the quorum's: the new epoch is above every
    // epoch it promised (Zab paper, Alg. 1 line 6: e' > every accepted epoch).
    assert!(
        epoch > s.history.accepted_epoch(),
        "server {}: choosing epoch {epoch} at or below its acceptedEpoch {}",
        s.config.id,
        s.history.accepted_epoch()
    );
    l.new_epoch = Some(epoch);
    l.phase = Phase::EpochAck;
    let record = s.history.accept_epoch(epoch);
    s.durable.persist(vec![record], out);
    // A single-voter ensemble may already be durable-idle later; on_durable continues.
}

pub(super) fn send_leader_infos(s: &mut Core, l: &mut Leader, out: &mut Effects) {
    let Some(epoch) = l.new_epoch else { return };
    if s.durable.durable_accepted_epoch() < epoch {
        return;
    }
    // Leader.lead: LEADERINFO proposes the epoch the leader itself accepted, once chosen.
    assert_eq!(
        s.history.accepted_epoch(),
        epoch,
        "server {}: LEADERINFO of an epoch it did not accept",
        s.config.id
    );
    assert_ne!(
        l.phase,
        Phase::Discovery,
        "server {}: LEADERINFO before the epoch is chosen",
        s.config.id
    );
    for (id, h) in l.learners.iter_mut() {
        if !h.leader_info_sent {
            h.leader_info_sent = true;
            tracing::debug!(
                target: "zksim_core::zab::discovery",
                learner = *id,
                epoch,
                "LEADERINFO proposes the epoch"
            );
            out.push(Effect::Send {
                to: *id,
                msg: PeerMessage::LeaderInfo { new_epoch: epoch },
            });
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn on_learner_info(
    s: &mut Core,
    l: &mut Leader,
    now_ms: i64,
    from: ServerId,
    accepted_epoch: u32,
    last_zxid: Zxid,
    observer: bool,
    repairing: bool,
    out: &mut Effects,
) {
    // Leader.getEpochToPropose counts the leader itself, never through a FOLLOWERINFO.
    assert_ne!(
        from, s.config.id,
        "server {}: FOLLOWERINFO from itself",
        s.config.id
    );
    let is_voter = s.quorum.is_voter(from);
    if l.learners
        .get(&from)
        .is_some_and(|h| !matches!(h.phase, LearnerPhase::Info { .. }))
    {
        // A learner repeats FOLLOWERINFO only while it waits for LEADERINFO, and the link
        // is FIFO, so every FOLLOWERINFO of one attempt arrives before its ACKEPOCH. One
        // from a learner past discovery means it went LOOKING (without its link breaking,
        // so we never heard) and came back: start it over, as ZooKeeper does with the new
        // LearnerHandler of a new connection. Ignoring it left the learner waiting forever.
        l.newleader_acks.remove(&from);
    }
    let handle = LearnerHandle {
        observer: observer || !is_voter,
        repairing,
        phase: LearnerPhase::Info {
            accepted_epoch,
            last_zxid,
        },
        leader_info_sent: false,
        last_heard_ms: now_ms,
        acked_round: 0,
    };
    l.learners.insert(from, handle);
    s.role_peers.insert(from);
    // A voter that already accepted a later epoch than the one this leader chose (from a
    // leader whose discovery never finished) would refuse LEADERINFO forever
    // (Learner.registerWithLeader). Step down so that the next election chooses an epoch
    // above every accepted one; leaving leadership is always safe.
    if let Some(epoch) = l.new_epoch {
        if is_voter && !observer && !repairing && accepted_epoch > epoch {
            s.leave_role();
            return;
        }
    }
    // Only voters with intact state take part in choosing the epoch.
    if !observer && is_voter && !repairing && l.phase == Phase::Discovery {
        l.discovery.follower_info(from, accepted_epoch, last_zxid);
        try_choose_epoch(s, l, out);
    }
    send_leader_infos(s, l, out);
}

pub(super) fn on_ack_epoch(
    s: &mut Core,
    l: &mut Leader,
    now_ms: i64,
    from: ServerId,
    current_epoch: Option<u32>,
    last_zxid: Zxid,
    out: &mut Effects,
) {
    let Some(h) = l.learners.get_mut(&from) else {
        return;
    };
    // LearnerHandler reads ACKEPOCH on the connection it wrote LEADERINFO to: an ACKEPOCH
    // answers this leader's LEADERINFO, never an earlier connection's (the harness drops
    // what waited for a persist when its connection closes).
    assert!(
        h.leader_info_sent,
        "server {}: ACKEPOCH from {from} before LEADERINFO was sent to it",
        s.config.id
    );
    // Zab phase 1 (Learner.registerWithLeader): a learner acknowledges a new epoch with the
    // currentEpoch it held before, which is below it: it takes the new epoch as current
    // only at NEWLEADER. A leader proposes an epoch above every one it proposed before.
    if let (Some(ce), Some(epoch)) = (current_epoch, l.new_epoch) {
        assert!(
            ce < epoch,
            "server {}: ACKEPOCH from {from} with currentEpoch {ce}, not below epoch {epoch}",
            s.config.id
        );
    }
    // Zab phase 1: the leader's history must be at least as recent as every follower's
    // (Leader.waitForEpochAck: "Follower is ahead of the leader").
    if let Some(ce) = current_epoch {
        if !h.observer
            && !h.repairing
            && follower_ahead(
                (ce, last_zxid),
                (s.history.current_epoch(), s.last_logged_zxid()),
            )
        {
            s.leave_role();
            return;
        }
    }
    h.phase = LearnerPhase::AckedEpoch { last_zxid };
    if !h.observer && !h.repairing {
        l.discovery.epoch_acked(from);
    }
    match l.phase {
        Phase::EpochAck => try_epoch_quorum(s, l, now_ms, out),
        Phase::Syncing | Phase::Broadcast => start_sync(s, l, from, out),
        Phase::Discovery => {}
    }
}

/// A quorum acknowledged the epoch (the leader itself included once its acceptedEpoch is
/// durable): persist currentEpoch and synchronize every learner that has acknowledged.
pub(super) fn try_epoch_quorum(s: &mut Core, l: &mut Leader, _now_ms: i64, out: &mut Effects) {
    let Some(epoch) = l.new_epoch else { return };
    if l.phase != Phase::EpochAck || s.durable.durable_accepted_epoch() < epoch {
        return;
    }
    if !l.discovery.epoch_quorum(&s.quorum) {
        return;
    }
    // Zab phase 1 ends: the leader accepted the epoch it proposes (Leader.lead writes
    // acceptedEpoch before waitForEpochAck).
    assert_eq!(
        s.history.accepted_epoch(),
        epoch,
        "server {}: a quorum acknowledged an epoch the leader did not accept",
        s.config.id
    );
    l.phase = Phase::Syncing;
    tracing::debug!(
        target: "zksim_core::zab::discovery",
        epoch,
        "a quorum acknowledged the epoch (ACKEPOCH)"
    );
    let record = s.history.set_current_epoch(epoch);
    s.durable.persist(vec![record], out);
    let ready: Vec<ServerId> = l
        .learners
        .iter()
        .filter(|(_, h)| matches!(h.phase, LearnerPhase::AckedEpoch { .. }))
        .map(|(id, _)| *id)
        .collect();
    for id in ready {
        start_sync(s, l, id, out);
    }
}

/// `LearnerHandler.syncFollower`: bring a learner to the leader's history with DIFF, TRUNC
/// or SNAP, then the outstanding proposals, then NEWLEADER.
fn start_sync(s: &mut Core, l: &mut Leader, id: ServerId, out: &mut Effects) {
    let epoch = l.new_epoch.expect("syncing has an epoch");
    let Some(h) = l.learners.get_mut(&id) else {
        return;
    };
    let LearnerPhase::AckedEpoch { last_zxid } = h.phase else {
        return;
    };
    // LearnerHandler.syncFollower runs once the epoch is established by a quorum's
    // ACKEPOCH, and the leader's currentEpoch is the new one (Leader.lead).
    assert!(
        matches!(l.phase, Phase::Syncing | Phase::Broadcast),
        "server {}: synchronizing {id} in phase {:?}",
        s.config.id,
        l.phase
    );
    assert_eq!(
        s.history.current_epoch(),
        epoch,
        "server {}: synchronizing {id} before taking epoch {epoch} as current",
        s.config.id
    );
    let force_snap = h.repairing;
    h.phase = LearnerPhase::Syncing;
    let established = l.phase == Phase::Broadcast;
    // Before establishment the whole log is the leader's history; after, only what has
    // been committed, with the outstanding proposals following as plain proposals.
    let max_committed = if established {
        s.tree.last_processed_zxid()
    } else {
        s.last_logged_zxid()
    };
    let mut packets = sync_packets(s, last_zxid, max_committed, force_snap);
    tracing::debug!(
        target: "zksim_core::zab::sync",
        learner = id,
        epoch,
        learner_zxid = %Hex(last_zxid),
        up_to = %Hex(max_committed),
        mode = packets.first().map_or("-", PeerMessage::kind),
        "synchronizing a learner"
    );
    for p in l.broadcast.outstanding() {
        packets.push(PeerMessage::Propose(Arc::clone(p)));
    }
    packets.push(PeerMessage::NewLeader {
        zxid: make_zxid(epoch, 0),
    });
    for msg in packets {
        out.push(Effect::Send { to: id, msg });
    }
}

/// The DIFF/TRUNC/SNAP decision (`zab::sync::plan_sync`) and its packets, over the
/// leader's history up to `max_committed` (`syncFollower` and `queueCommittedProposals`).
fn sync_packets(
    s: &Core,
    peer_last: Zxid,
    max_committed: Zxid,
    force_snap: bool,
) -> Vec<PeerMessage> {
    // The leader's history reaches its committed zxid: it never ships what it lacks.
    assert!(
        max_committed <= s.last_logged_zxid(),
        "server {}: syncing up to {max_committed:#x} past its history",
        s.config.id
    );
    let history: Vec<&Arc<Proposal>> = s
        .history
        .log()
        .iter()
        .filter(|p| p.hdr.zxid <= max_committed)
        .collect();
    // ZOOKEEPER-4925: DIFF and TRUNC are planned and served from the committed log, which
    // lacks the txns this server applied while it synced as a learner. (A SNAP carries the
    // tree, which has them; here its tail is shipped from the whole log.)
    let committed_log: Vec<&Arc<Proposal>> = if s.config.bugs.has(Bug::CommittedLogHole) {
        history
            .iter()
            .copied()
            .filter(|p| !s.not_in_committed_log.contains(&p.hdr.zxid))
            .collect()
    } else {
        history.clone()
    };
    let zxids: Vec<Zxid> = committed_log.iter().map(|p| p.hdr.zxid).collect();
    let commit_pairs = |log: &[&Arc<Proposal>], after: Zxid| -> Vec<PeerMessage> {
        log.iter()
            .filter(|p| p.hdr.zxid > after)
            .flat_map(|p| {
                [
                    PeerMessage::Propose(Arc::clone(p)),
                    PeerMessage::Commit { zxid: p.hdr.zxid },
                ]
            })
            .collect()
    };
    let plan = plan_sync(
        &zxids,
        peer_last,
        max_committed,
        force_snap,
        s.config.bugs.has(Bug::DiffInsteadOfTrunc),
    );
    let (first, txns_after) = match plan {
        SyncPlan::Diff { zxid, txns_after } => (PeerMessage::Diff { zxid }, txns_after),
        SyncPlan::Trunc { zxid, txns_after } => (PeerMessage::Trunc { zxid }, txns_after),
        SyncPlan::Snap => {
            return snap_packets(s, max_committed, |after| commit_pairs(&history, after));
        }
    };
    let mut packets = vec![first];
    if let Some(after) = txns_after {
        packets.extend(commit_pairs(&committed_log, after));
    }
    packets
}

fn snap_packets(
    s: &Core,
    max_committed: Zxid,
    commit_pairs: impl Fn(Zxid) -> Vec<PeerMessage>,
) -> Vec<PeerMessage> {
    // SNAP: the tree the leader's log continues, then the rest of its history as
    // proposals. ZooKeeper's leader serializes a tree into which it loaded its whole log;
    // shipping the log's tail as txns instead carries the same history, and keeps every
    // txn a learner gets visible as a txn (a snapshot's content cannot be told apart).
    let base = s.history_base();
    let base_zxid = base.last_processed_zxid();
    // The snapshot holds only the history the learner is synced up to
    // (LearnerHandler.syncFollower): an established leader's committed tree, or, before
    // establishment, a prefix of the log it is about to have a quorum commit.
    assert!(
        base_zxid <= max_committed,
        "server {}: SNAP of a tree at {base_zxid:#x}, past the sync's {max_committed:#x}",
        s.config.id
    );
    let mut packets = vec![PeerMessage::Snap {
        snapshot: Arc::new(base.snapshot()),
    }];
    packets.extend(commit_pairs(base_zxid));
    packets
}

/// A quorum holds the new epoch and the leader's history (the leader's own currentEpoch
/// durable included): the leader is established. Its whole log is now committed.
pub(super) fn try_establish(s: &mut Core, l: &mut Leader, now_ms: i64, out: &mut Effects) {
    let Some(epoch) = l.new_epoch else { return };
    if l.phase != Phase::Syncing || s.durable.durable_current_epoch() < epoch {
        return;
    }
    let mut acks: Vec<ServerId> = l.newleader_acks.iter().copied().collect();
    acks.push(s.config.id);
    if !s.quorum.contains_quorum(&acks) {
        return;
    }
    // Only a voter whose state is intact helps establish (LearnerHandler counts a
    // NEWLEADER ACK from a participant; an observer or a server repairing its files never).
    for id in &l.newleader_acks {
        assert!(
            s.quorum.is_voter(*id),
            "server {}: NEWLEADER ACK of non-voter {id} counted",
            s.config.id
        );
    }
    l.phase = Phase::Broadcast;
    tracing::debug!(
        target: "zksim_core::zab::sync",
        epoch,
        acks = ?l.newleader_acks,
        "a quorum acknowledged NEWLEADER"
    );
    s.catch_up_to_snapshot(out);
    let tail: Vec<Arc<Proposal>> = s.log_after(s.tree.last_processed_zxid()).cloned().collect();
    for p in &tail {
        s.apply_committed(p, out);
    }
    // Established: a quorum holds the leader's whole history in this epoch, so all of it
    // is committed (Zab paper phase 2; Leader.lead after waitForNewLeaderAck).
    assert_eq!(
        s.history.committed(),
        s.history.last_logged(),
        "server {}: established with part of its history uncommitted",
        s.config.id
    );
    assert_eq!(
        s.history.current_epoch(),
        epoch,
        "server {}: established in an epoch it does not hold as current",
        s.config.id
    );
    for (session, timeout) in s.tree.sessions().clone() {
        // ZOOKEEPER-2355's effect: a session inherited without expiry keeps its
        // ephemerals after its client is gone.
        let timeout = if s.config.bugs.has(Bug::LostCloseSession) {
            i32::MAX / 2
        } else {
            timeout
        };
        l.sessions.add(session, timeout, None, now_ms);
    }
    l.next_reap_ms = now_ms + s.config.container_check_ms;
    for (id, h) in l.learners.iter_mut() {
        if h.phase == LearnerPhase::Synced {
            h.phase = LearnerPhase::UpToDate;
            out.push(Effect::Send {
                to: *id,
                msg: PeerMessage::UpToDate,
            });
        }
    }
    s.current_vote.peer_epoch = epoch;
    out.push(Effect::role(
        PeerState::Leading,
        epoch,
        Some(s.config.id),
        "established",
    ));
}
