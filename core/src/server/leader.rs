//! The leader: discovery (collect FOLLOWERINFO, propose an epoch, collect ACKEPOCH),
//! synchronization (DIFF/TRUNC/SNAP then NEWLEADER to each learner, establish on a quorum
//! of NEWLEADER ACKs), then broadcast (PROPOSAL, ACK, COMMIT in order), plus pings, session
//! expiry and container reaping. ZooKeeper 3.8's `Leader`, `LearnerHandler`,
//! `PrepRequestProcessor` and `SessionTrackerImpl`. The phases' decisions are
//! `zab::discovery`, `zab::sync` and `zab::broadcast`; this file carries them out.

use crate::bugs::Bug;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::sessions::SessionTracker;
use super::{Core, Effect, Effects, Role, Server};
use crate::acl::Id;
use crate::request::Request;
use crate::stat::{SessionId, Zxid};
use crate::txn::{Txn, TxnHeader};
use crate::zab::broadcast::LeaderBroadcast;
use crate::zab::discovery::{LeaderDiscovery, follower_ahead};
use crate::zab::messages::{LearnerRequest, PeerMessage, Proposal};
use crate::zab::sync::{SyncPlan, plan_sync};
use crate::zab::{PeerState, ServerId, epoch_of, make_zxid};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a quorum of FOLLOWERINFO to choose the epoch.
    Discovery,
    /// The epoch is chosen; waiting for a quorum of ACKEPOCH.
    EpochAck,
    /// Learners are being synchronized; waiting for a quorum of NEWLEADER ACKs.
    Syncing,
    /// Established: broadcasting.
    Broadcast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LearnerPhase {
    Info {
        accepted_epoch: u32,
        last_zxid: Zxid,
    },
    AckedEpoch {
        last_zxid: Zxid,
    },
    /// Sync packets and NEWLEADER sent; in the forwarding set.
    Syncing,
    /// NEWLEADER acknowledged.
    Synced,
    /// UPTODATE sent: the learner serves clients.
    UpToDate,
}

#[derive(Clone, Debug)]
struct LearnerHandle {
    observer: bool,
    repairing: bool,
    phase: LearnerPhase,
    leader_info_sent: bool,
    last_heard_ms: i64,
    /// The highest PING round it answered.
    acked_round: u64,
}

impl LearnerHandle {
    /// Whether proposals and commits are forwarded to it (`Leader.startForwarding`).
    fn forwarding(&self) -> bool {
        matches!(
            self.phase,
            LearnerPhase::Syncing | LearnerPhase::Synced | LearnerPhase::UpToDate
        )
    }

    /// Whether its ACKs count toward a quorum.
    fn counts(&self) -> bool {
        !self.observer
            && !self.repairing
            && matches!(self.phase, LearnerPhase::Synced | LearnerPhase::UpToDate)
    }
}

/// Where a request came from: this server's own client, or a learner's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Local,
    Learner(ServerId),
}

#[derive(Debug)]
pub struct Leader {
    phase: Phase,
    started_ms: i64,
    new_epoch: Option<u32>,
    learners: BTreeMap<ServerId, LearnerHandle>,
    /// Discovery: who connected, with which epochs, and who accepted the new one.
    discovery: LeaderDiscovery,
    newleader_acks: BTreeSet<ServerId>,
    /// Broadcast state: the zxids assigned, the proposals not yet committed.
    broadcast: LeaderBroadcast,
    /// Syncs waiting for the commit of the last proposal made before they arrived.
    pending_syncs: Vec<PendingSync>,
    /// The last PING round sent.
    ping_round: u64,
    sessions: SessionTracker,
    next_ping_ms: i64,
    next_reap_ms: i64,
}

impl Leader {
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub fn next_deadline(&self) -> i64 {
        let mut d = self.next_ping_ms;
        if self.phase == Phase::Broadcast {
            d = d.min(self.next_reap_ms);
            if let Some(e) = self.sessions.next_expiry() {
                d = d.min(e);
            }
        }
        d
    }
}

/// Run `f` on the server's core and its leader state (a handler that leaves the role asks
/// with `Core::leave_role`, and the server starts an election once the input is handled).
fn with_leader<R>(s: &mut Server, f: impl FnOnce(&mut Core, &mut Leader) -> R) -> Option<R> {
    let Server { core, role } = s;
    let Role::Leading(l) = role else {
        panic!(
            "server {}: leader handler outside the leading role",
            core.config.id
        );
    };
    Some(f(core, l))
}

pub(super) fn become_leader(s: &mut Server, now_ms: i64, out: &mut Effects) {
    // The election that chose us started by closing every connection of the last role.
    assert!(
        s.role_peers.is_empty(),
        "server {}: leading with connections of an earlier role",
        s.config.id
    );
    let tick = s.config.tick_ms;
    let l = Leader {
        phase: Phase::Discovery,
        started_ms: now_ms,
        new_epoch: None,
        learners: BTreeMap::new(),
        discovery: LeaderDiscovery::new(
            s.config.id,
            s.history.accepted_epoch(),
            s.last_logged_zxid(),
        ),
        newleader_acks: BTreeSet::new(),
        broadcast: LeaderBroadcast::default(),
        pending_syncs: Vec::new(),
        // Rounds never repeat across terms: a stale reply from an earlier term is lower.
        ping_round: (u64::from(s.history.accepted_epoch()) + 1) << 32,
        sessions: SessionTracker::new(tick),
        next_ping_ms: now_ms + tick / 2,
        next_reap_ms: now_ms + s.config.container_check_ms,
    };
    s.role = Role::Leading(l);
    s.was_leading = true;
    out.push(Effect::Role {
        state: PeerState::Leading,
        epoch: s.history.current_epoch(),
        leader: Some(s.config.id),
    });
    with_leader(s, |s, l| try_choose_epoch(s, l, out));
}

/// `Leader.getEpochToPropose`: once a quorum of voters has connected, the new epoch is one
/// more than every accepted epoch among them; the leader persists it before telling anyone.
fn try_choose_epoch(s: &mut Core, l: &mut Leader, out: &mut Effects) {
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

/// Progress that waits on the leader's own disk: LEADERINFO after acceptedEpoch, its own
/// NEWLEADER ACK after currentEpoch, its own proposal ACKs after each txn.
pub(super) fn on_durable(s: &mut Server, now_ms: i64, out: &mut Effects) {
    with_leader(s, |s, l| {
        send_leader_infos(s, l, out);
        try_epoch_quorum(s, l, now_ms, out);
        try_establish(s, l, now_ms, out);
        if l.phase == Phase::Broadcast {
            l.broadcast
                .ack_durable(s.config.id, s.durable.durable_zxid());
            try_commit(s, l, out);
        }
    });
}

fn send_leader_infos(s: &mut Core, l: &mut Leader, out: &mut Effects) {
    let Some(epoch) = l.new_epoch else { return };
    if s.durable.durable_accepted_epoch() < epoch {
        return;
    }
    for (id, h) in l.learners.iter_mut() {
        if !h.leader_info_sent {
            h.leader_info_sent = true;
            out.push(Effect::Send {
                to: *id,
                msg: PeerMessage::LeaderInfo { new_epoch: epoch },
            });
        }
    }
}

pub(super) fn on_message(
    s: &mut Server,
    now_ms: i64,
    from: ServerId,
    msg: PeerMessage,
    out: &mut Effects,
) {
    let lost_touch = s.config.bugs.has(Bug::SessionTouchLost);
    with_leader(s, |s, l| {
        match l.learners.get_mut(&from) {
            Some(h) => h.last_heard_ms = now_ms,
            // Everything but FOLLOWERINFO comes over a LearnerHandler's connection, which
            // exists only once the learner registered with this leadership: a learner of an
            // earlier term (or of another leader) must not have its requests, syncs, pings
            // or acks counted here.
            None if !matches!(msg, PeerMessage::LearnerInfo { .. }) => return,
            None => {}
        }
        match msg {
            PeerMessage::LearnerInfo {
                accepted_epoch,
                last_zxid,
                observer,
                repairing,
            } => on_learner_info(
                s,
                l,
                now_ms,
                from,
                accepted_epoch,
                last_zxid,
                observer,
                repairing,
                out,
            ),
            PeerMessage::AckEpoch {
                current_epoch,
                last_zxid,
            } => on_ack_epoch(s, l, now_ms, from, current_epoch, last_zxid, out),
            PeerMessage::Ack { zxid } => on_ack(s, l, now_ms, from, zxid, out),
            PeerMessage::Ping { round, touches } => {
                // A follower reports the sessions its clients touched (Learner.ping).
                for (session, _timeout) in touches.into_iter().filter(|_| !lost_touch) {
                    l.sessions.touch(session, now_ms);
                }
                if let Some(h) = l.learners.get_mut(&from) {
                    h.acked_round = h.acked_round.max(round);
                }
                complete_syncs(s, l, out);
            }
            PeerMessage::Request {
                session_id,
                cxid,
                request,
                auth,
            } if l.phase == Phase::Broadcast => {
                process_request(
                    s,
                    l,
                    now_ms,
                    Origin::Learner(from),
                    session_id,
                    cxid,
                    request,
                    auth,
                    out,
                );
            }
            PeerMessage::Revalidate {
                session_id,
                timeout_ms: _,
            } => {
                let valid =
                    l.phase == Phase::Broadcast && l.sessions.revalidate(session_id, from, now_ms);
                out.push(Effect::Send {
                    to: from,
                    msg: PeerMessage::RevalidateReply { session_id, valid },
                });
            }
            // Messages meant for learners, or stale election traffic: ignore.
            _ => {}
        }
    });
}

#[allow(clippy::too_many_arguments)]
fn on_learner_info(
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

fn on_ack_epoch(
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
fn try_epoch_quorum(s: &mut Core, l: &mut Leader, _now_ms: i64, out: &mut Effects) {
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
    let history: Vec<&Arc<Proposal>> = s
        .history
        .log()
        .iter()
        .filter(|p| p.hdr.zxid <= max_committed)
        .collect();
    let zxids: Vec<Zxid> = history.iter().map(|p| p.hdr.zxid).collect();
    let commit_pairs = |after: Zxid| -> Vec<PeerMessage> {
        history
            .iter()
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
        SyncPlan::Snap => return snap_packets(s, commit_pairs),
    };
    let mut packets = vec![first];
    if let Some(after) = txns_after {
        packets.extend(commit_pairs(after));
    }
    packets
}

fn snap_packets(s: &Core, commit_pairs: impl Fn(Zxid) -> Vec<PeerMessage>) -> Vec<PeerMessage> {
    // SNAP: the tree the leader's log continues, then the rest of its history as
    // proposals. ZooKeeper's leader serializes a tree into which it loaded its whole log;
    // shipping the log's tail as txns instead carries the same history, and keeps every
    // txn a learner gets visible as a txn (a snapshot's content cannot be told apart).
    let base = s.history_base();
    let base_zxid = base.last_processed_zxid();
    let mut packets = vec![PeerMessage::Snap {
        snapshot: Arc::new(base.snapshot()),
    }];
    packets.extend(commit_pairs(base_zxid));
    packets
}

fn on_ack(
    s: &mut Core,
    l: &mut Leader,
    now_ms: i64,
    from: ServerId,
    zxid: Zxid,
    out: &mut Effects,
) {
    let Some(epoch) = l.new_epoch else { return };
    if zxid == make_zxid(epoch, 0) {
        // NEWLEADER ACK: the learner has the leader's history and the new epoch on disk.
        let Some(h) = l.learners.get_mut(&from) else {
            return;
        };
        if h.phase != LearnerPhase::Syncing {
            return;
        }
        h.phase = LearnerPhase::Synced;
        if !h.observer && !h.repairing {
            l.newleader_acks.insert(from);
        }
        // A repairing learner acknowledges NEWLEADER only once the reset persist that
        // rewrote its files with our history is durable, which ends its repair: from now
        // on its ACKs count like any follower's (it took no part in choosing the epoch, so
        // it still does not help establish it). Without this the leader ignored it until
        // it reconnected, and lost its quorum when any other follower left.
        h.repairing = false;
        if l.phase == Phase::Broadcast {
            h.phase = LearnerPhase::UpToDate;
            out.push(Effect::Send {
                to: from,
                msg: PeerMessage::UpToDate,
            });
        } else {
            try_establish(s, l, now_ms, out);
        }
        return;
    }
    let counts = l.learners.get(&from).is_some_and(LearnerHandle::counts);
    if l.broadcast.is_outstanding(zxid) {
        if counts {
            l.broadcast.ack(from, zxid);
        }
        try_commit(s, l, out);
    }
}

/// A quorum holds the new epoch and the leader's history (the leader's own currentEpoch
/// durable included): the leader is established. Its whole log is now committed.
fn try_establish(s: &mut Core, l: &mut Leader, now_ms: i64, out: &mut Effects) {
    let Some(epoch) = l.new_epoch else { return };
    if l.phase != Phase::Syncing || s.durable.durable_current_epoch() < epoch {
        return;
    }
    let mut acks: Vec<ServerId> = l.newleader_acks.iter().copied().collect();
    acks.push(s.config.id);
    if !s.quorum.contains_quorum(&acks) {
        return;
    }
    l.phase = Phase::Broadcast;
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
    assert_eq!(s.history.current_epoch(), epoch);
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
    out.push(Effect::Role {
        state: PeerState::Leading,
        epoch,
        leader: Some(s.config.id),
    });
}

/// A write, sync or session change, from this server's client or a learner's.
pub(super) fn submit(
    s: &mut Server,
    now_ms: i64,
    session_id: SessionId,
    cxid: i32,
    request: LearnerRequest,
    auth: Vec<Id>,
    out: &mut Effects,
) {
    with_leader(s, |s, l| {
        l.sessions.touch(session_id, now_ms);
        process_request(
            s,
            l,
            now_ms,
            Origin::Local,
            session_id,
            cxid,
            request,
            auth,
            out,
        );
    });
}

/// Whether `session` may move to `owner` (a reconnect on this server).
pub(super) fn revalidate(s: &mut Server, now_ms: i64, session: SessionId) -> bool {
    let id = s.config.id;
    with_leader(s, |_, l| {
        l.phase == Phase::Broadcast && l.sessions.revalidate(session, id, now_ms)
    })
    .unwrap_or(false)
}

/// A client of this server touched its session.
pub(super) fn touch(s: &mut Server, now_ms: i64, session: SessionId) {
    if s.config.bugs.has(Bug::SessionTouchLost) {
        return;
    }
    with_leader(s, |_, l| {
        l.sessions.touch(session, now_ms);
    });
}

#[allow(clippy::too_many_arguments)]
fn process_request(
    s: &mut Core,
    l: &mut Leader,
    now_ms: i64,
    origin: Origin,
    session_id: SessionId,
    cxid: i32,
    request: LearnerRequest,
    auth: Vec<Id>,
    out: &mut Effects,
) {
    assert_eq!(
        l.phase,
        Phase::Broadcast,
        "requests only after establishment"
    );
    let owner = match origin {
        Origin::Local => s.config.id,
        Origin::Learner(id) => id,
    };
    let time = s.wall_ms(now_ms);
    let hdr = |l: &Leader| TxnHeader {
        session_id,
        cxid,
        zxid: l.broadcast.next_zxid(l.new_epoch.expect("epoch")),
        time,
    };
    match request {
        LearnerRequest::CreateSession { timeout_ms } => {
            // PrepRequestProcessor, createSession: track the session as soon as it is prepped.
            l.sessions.add(session_id, timeout_ms, Some(owner), now_ms);
            let txn = s.prep.prep_create_session(timeout_ms);
            propose(s, l, hdr(l), txn, out);
        }
        LearnerRequest::CloseSession => {
            l.sessions.set_closing(session_id);
            let h = hdr(l);
            let txn = s.prep.prep_close_session(&s.tree, &h);
            propose(s, l, h, txn, out);
        }
        LearnerRequest::Client(Request::Sync { .. }) => {
            // Leader.processSync answers after every proposal made so far is committed.
            // That alone lets a deposed leader that has not noticed yet answer from stale
            // state (ZOOKEEPER-1675), so the leader also waits for a quorum to answer a
            // PING round started after the sync arrived.
            let round = if s.config.bugs.has(Bug::SyncNoQuorum) {
                0
            } else {
                send_pings(l, out);
                l.ping_round
            };
            // With the knob, as in ZooKeeper 3.8: a local client's sync is not matched
            // against proposals at all (LeaderZooKeeperServer builds its CommitProcessor
            // with matchSyncs false), so it is answered from the leader's state at once.
            let wait_zxid = if s.config.bugs.has(Bug::SyncNoQuorum) && origin == Origin::Local {
                None
            } else {
                l.broadcast.last_outstanding()
            };
            l.pending_syncs.push(PendingSync {
                wait_zxid,
                round,
                origin,
                session_id,
                cxid,
            });
            complete_syncs(s, l, out);
        }
        LearnerRequest::Client(req) => {
            let h = hdr(l);
            let txn = match l.sessions.check(session_id, owner) {
                Err(err) => Txn::Error { err },
                Ok(()) => s.prep.prep_write(&s.tree, &h, &auth, &req).txn,
            };
            propose(s, l, h, txn, out);
        }
    }
}

fn sync_done(s: &mut Core, origin: Origin, session_id: SessionId, cxid: i32, out: &mut Effects) {
    match origin {
        Origin::Local => s.sync_done(session_id, cxid),
        Origin::Learner(id) => out.push(Effect::Send {
            to: id,
            msg: PeerMessage::Sync { session_id, cxid },
        }),
    }
}

/// Zab phase 3: log the proposal (group commit) and send it to every forwarding follower.
fn propose(s: &mut Core, l: &mut Leader, hdr: TxnHeader, txn: Txn, out: &mut Effects) {
    let proposal = l.broadcast.propose(l.new_epoch.expect("epoch"), hdr, txn);
    s.log_proposal(Arc::clone(&proposal), out);
    for (id, h) in &l.learners {
        if h.forwarding() && !h.observer {
            out.push(Effect::Send {
                to: *id,
                msg: PeerMessage::Propose(Arc::clone(&proposal)),
            });
        }
    }
    // A one-voter ensemble commits as soon as its own disk has the txn.
    try_commit(s, l, out);
}

/// `Leader.tryToCommit`: commit proposals in zxid order, each once a quorum acknowledged.
fn try_commit(s: &mut Core, l: &mut Leader, out: &mut Effects) {
    let own_ack_commits = s
        .config
        .bugs
        .has(Bug::CommitBeforeQuorum)
        .then_some(s.config.id);
    while let Some(proposal) = l.broadcast.next_committable(&s.quorum, own_ack_commits) {
        commit(s, l, &proposal, out);
    }
}

fn commit(s: &mut Core, l: &mut Leader, proposal: &Arc<Proposal>, out: &mut Effects) {
    let zxid = proposal.hdr.zxid;
    // Zab phase 3: only an established leader commits, and only txns of its own epoch
    // (earlier epochs' txns were committed at establishment).
    assert!(
        l.phase == Phase::Broadcast && Some(epoch_of(zxid)) == l.new_epoch,
        "server {}: committing {zxid:#x} in phase {:?} of epoch {:?}",
        s.config.id,
        l.phase,
        l.new_epoch
    );
    for (id, h) in &l.learners {
        if !h.forwarding() {
            continue;
        }
        let msg = if h.observer {
            PeerMessage::Inform(Arc::clone(proposal))
        } else {
            PeerMessage::Commit { zxid }
        };
        out.push(Effect::Send { to: *id, msg });
    }
    if let Txn::CloseSession { .. } = proposal.txn {
        l.sessions.remove(proposal.hdr.session_id);
    }
    s.apply_committed(proposal, out);
    complete_syncs(s, l, out);
}

/// A sync waiting for the commit of `wait_zxid` and a quorum's answer to PING `round`.
#[derive(Clone, Debug)]
struct PendingSync {
    wait_zxid: Option<Zxid>,
    round: u64,
    origin: Origin,
    session_id: SessionId,
    cxid: i32,
}

fn send_pings(l: &mut Leader, out: &mut Effects) {
    l.ping_round += 1;
    let round = l.ping_round;
    for (id, h) in &l.learners {
        if h.forwarding() {
            out.push(Effect::Send {
                to: *id,
                msg: PeerMessage::Ping {
                    round,
                    touches: Vec::new(),
                },
            });
        }
    }
}

/// Answer the syncs whose proposals are committed and whose ping round a quorum answered.
fn complete_syncs(s: &mut Core, l: &mut Leader, out: &mut Effects) {
    let committed = s.tree.last_processed_zxid();
    let mut ready = Vec::new();
    let mut waiting = Vec::new();
    for p in l.pending_syncs.drain(..) {
        let mut confirmed: Vec<ServerId> = l
            .learners
            .iter()
            .filter(|(_, h)| h.counts() && h.acked_round >= p.round)
            .map(|(id, _)| *id)
            .collect();
        confirmed.push(s.config.id);
        if p.wait_zxid.is_none_or(|z| z <= committed) && s.quorum.contains_quorum(&confirmed) {
            ready.push(p);
        } else {
            waiting.push(p);
        }
    }
    l.pending_syncs = waiting;
    for p in ready {
        sync_done(s, p.origin, p.session_id, p.cxid, out);
    }
}

pub(super) fn on_learner_lost(s: &mut Server, _now_ms: i64, peer: ServerId, _out: &mut Effects) {
    with_leader(s, |s, l| {
        l.learners.remove(&peer);
        s.role_peers.remove(&peer);
    });
}

pub(super) fn on_tick(s: &mut Server, now_ms: i64, out: &mut Effects) {
    with_leader(s, |s, l| {
        let tick = s.config.tick_ms;
        if l.phase != Phase::Broadcast && now_ms - l.started_ms > s.config.init_limit * tick {
            // Discovery or synchronization took longer than initLimit.
            s.leave_role();
            return;
        }
        if now_ms >= l.next_ping_ms && s.config.bugs.has(Bug::LeaderStopsPinging) {
            // Bug knob: the timer stays due, and nothing is sent.
            return;
        }
        if now_ms >= l.next_ping_ms {
            l.next_ping_ms = now_ms + tick / 2;
            if l.phase == Phase::Broadcast && !quorum_alive(s, l, now_ms) {
                // Leader.lead: "Not sufficient followers synced".
                s.leave_role();
                return;
            }
            send_pings(l, out);
        }
        if l.phase != Phase::Broadcast {
            return;
        }
        for session in l.sessions.expire(now_ms) {
            let h = TxnHeader {
                session_id: session,
                cxid: 0,
                zxid: l.broadcast.next_zxid(l.new_epoch.expect("epoch")),
                time: s.wall_ms(now_ms),
            };
            let txn = s.prep.prep_close_session(&s.tree, &h);
            propose(s, l, h, txn, out);
        }
        if now_ms >= l.next_reap_ms {
            l.next_reap_ms = now_ms + s.config.container_check_ms;
            reap_containers(s, l, now_ms, out);
        }
    });
}

/// Every synced voter heard from within syncLimit, with the leader, must form a quorum.
fn quorum_alive(s: &Core, l: &Leader, now_ms: i64) -> bool {
    let limit = s.config.sync_limit * s.config.tick_ms;
    let mut alive: Vec<ServerId> = l
        .learners
        .iter()
        .filter(|(_, h)| h.counts() && now_ms - h.last_heard_ms <= limit)
        .map(|(id, _)| *id)
        .collect();
    alive.push(s.config.id);
    s.quorum.contains_quorum(&alive)
}

/// `ContainerManager.checkContainers`: one deleteContainer txn per candidate.
fn reap_containers(s: &mut Core, l: &mut Leader, now_ms: i64, out: &mut Effects) {
    if s.config.bugs.has(Bug::NoContainerReaping) {
        return;
    }
    // ContainerManager.getElapsed: a TTL is measured by the wall clock against mtime.
    let wall_ms = s.wall_ms(now_ms);
    for path in s.tree.reap_candidates(wall_ms) {
        let h = TxnHeader {
            session_id: 0,
            cxid: 0,
            zxid: l.broadcast.next_zxid(l.new_epoch.expect("epoch")),
            time: wall_ms,
        };
        let txn = s.prep.prep_delete_container(&s.tree, &h, &path);
        propose(s, l, h, txn, out);
    }
}
