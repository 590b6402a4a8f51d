//! A follower or observer: discovery (FOLLOWERINFO, LEADERINFO, ACKEPOCH), synchronization
//! (DIFF/TRUNC/SNAP, proposals, NEWLEADER, UPTODATE) and broadcast (log and ACK each
//! PROPOSAL, apply each COMMIT in order). ZooKeeper 3.8's `Learner`, `Follower` and
//! `Observer`, with the NEWLEADER ACK sent only once the synced txns and the new epoch are
//! durable (the fix of ZOOKEEPER-3911, 4643 and 4646).
//!
//! Discovery and broadcast are here; `sync` takes in the leader's history at NEWLEADER and
//! starts serving at UPTODATE.

mod sync;

use crate::bugs::Bug;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Core, Effect, Effects, Role, Server};
use crate::acl::Id;
use crate::log::DurableRecord;
use crate::stat::{SessionId, Zxid};
use crate::tree::Snapshot;
use crate::zab::broadcast::{CommitStep, FollowerBroadcast, is_next_zxid};
use crate::zab::discovery::{LeaderInfoStep, leader_info_step};
use crate::zab::messages::{LearnerRequest, PeerMessage, Proposal};
use crate::zab::{PeerState, ServerId, epoch_of};

use sync::{on_new_leader, on_up_to_date};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// FOLLOWERINFO sent; waiting for LEADERINFO.
    Discovery,
    /// ACKEPOCH sent; receiving the sync stream until NEWLEADER.
    Syncing,
    /// NEWLEADER handled; waiting for UPTODATE.
    Synced,
    /// Serving clients.
    Broadcast,
}

#[derive(Clone, Debug)]
enum SyncMode {
    /// Everything we logged up to `base` is in the leader's history.
    Diff { base: Zxid },
    /// Keep our log up to the zxid; the rest was never committed.
    Trunc(Zxid),
    /// Replace everything with the leader's snapshot.
    Snap(Arc<Snapshot>),
}

impl SyncMode {
    fn name(&self) -> &'static str {
        match self {
            SyncMode::Diff { .. } => "DIFF",
            SyncMode::Trunc(_) => "TRUNC",
            SyncMode::Snap(_) => "SNAP",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Learner {
    leader: ServerId,
    observer: bool,
    phase: Phase,
    new_epoch: Option<u32>,
    last_heard_ms: i64,
    /// Our last logged zxid when we told the leader about it.
    info_zxid: Zxid,
    /// When to repeat FOLLOWERINFO while the leader has not answered (it may still be
    /// finishing its election; ZooKeeper's connectToLeader retries likewise).
    info_resend_ms: i64,
    mode: Option<SyncMode>,
    /// Proposals from the sync stream before NEWLEADER.
    sync_proposals: Vec<Arc<Proposal>>,
    /// The highest zxid the leader said is committed during sync.
    committed_upto: Zxid,
    /// After NEWLEADER: what our log is known to share with the leader's history.
    confirmed: Zxid,
    staged_snapshot: Option<Arc<Snapshot>>,
    /// Logged proposals waiting for their COMMIT, in zxid order.
    pending: FollowerBroadcast,
    /// Sessions our clients touched since the last PING (LearnerSessionTracker).
    touches: BTreeMap<SessionId, i32>,
    /// The sync-txns-logged-after-ack knob (ZOOKEEPER-3023): txn records held back until
    /// UPTODATE, and the ACKs that follow them.
    deferred: Vec<DurableRecord>,
    deferred_acks: Vec<Zxid>,
}

impl Learner {
    pub fn leader(&self) -> ServerId {
        self.leader
    }

    pub fn is_observer(&self) -> bool {
        self.observer
    }

    pub fn is_serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    fn limit_ms(&self, s: &Core) -> i64 {
        let ticks = if self.phase == Phase::Broadcast {
            s.config.sync_limit
        } else {
            s.config.init_limit
        };
        ticks * s.config.tick_ms
    }

    pub fn next_deadline_with(&self, tick_ms: i64, init_limit: i64, sync_limit: i64) -> i64 {
        let ticks = if self.phase == Phase::Broadcast {
            sync_limit
        } else {
            init_limit
        };
        let timeout = self.last_heard_ms + ticks * tick_ms + 1;
        if self.phase == Phase::Discovery {
            timeout.min(self.info_resend_ms)
        } else {
            timeout
        }
    }

    /// The first txn held back for UPTODATE (the sync-txns-logged-after-ack knob), which
    /// is never written if the learner leaves before it.
    pub(super) fn first_deferred(&self) -> Option<Zxid> {
        self.deferred.iter().find_map(|r| match r {
            DurableRecord::Txn(p) => Some(p.hdr.zxid),
            _ => None,
        })
    }

    pub fn touch(&mut self, session: SessionId, timeout_ms: i32) {
        // LearnerSessionTracker.touchSession: only a session with a negotiated timeout.
        assert!(
            timeout_ms > 0,
            "session {session:#x} touched with timeout {timeout_ms}"
        );
        self.touches.insert(session, timeout_ms);
    }
}

/// Run `f` on the server's core and its learner state (see `leader::with_leader`).
fn with_learner<R>(s: &mut Server, f: impl FnOnce(&mut Core, &mut Learner) -> R) -> Option<R> {
    let Server { core, role } = s;
    let Role::Learning(l) = role else {
        panic!(
            "server {}: learner handler outside the learning role",
            core.config.id
        );
    };
    Some(f(core, l))
}

pub(super) fn become_learner(s: &mut Server, now_ms: i64, leader: ServerId, out: &mut Effects) {
    let observer = s.config.is_observer();
    let info_zxid = s.last_logged_zxid();
    // The election that chose the leader started by closing every connection of the last
    // role (Learner.shutdown).
    assert!(
        s.role_peers.is_empty(),
        "server {}: following {leader} with connections of an earlier role",
        s.config.id
    );
    assert_ne!(
        leader, s.config.id,
        "server {}: following itself",
        s.config.id
    );
    s.role_peers.insert(leader);
    s.role = Role::Learning(Learner {
        leader,
        observer,
        phase: Phase::Discovery,
        new_epoch: None,
        last_heard_ms: now_ms,
        info_zxid,
        info_resend_ms: now_ms + s.config.tick_ms,
        mode: None,
        sync_proposals: Vec::new(),
        committed_upto: 0,
        confirmed: 0,
        staged_snapshot: None,
        pending: FollowerBroadcast::default(),
        touches: BTreeMap::new(),
        deferred: Vec::new(),
        deferred_acks: Vec::new(),
    });
    let state = if observer {
        PeerState::Observing
    } else {
        PeerState::Following
    };
    out.push(Effect::role(
        state,
        s.history.current_epoch(),
        Some(leader),
        "discovery",
    ));
    send_info(s, leader, info_zxid, observer, out);
}

fn send_info(s: &Core, leader: ServerId, last_zxid: Zxid, observer: bool, out: &mut Effects) {
    // FOLLOWERINFO reports the learner's history as it is: nothing is logged or cut
    // before LEADERINFO answers (Learner.registerWithLeader).
    assert_eq!(
        last_zxid,
        s.last_logged_zxid(),
        "server {}: FOLLOWERINFO with a stale last zxid",
        s.config.id
    );
    let info = PeerMessage::LearnerInfo {
        accepted_epoch: s.history.accepted_epoch(),
        last_zxid,
        observer,
        repairing: s.repairing,
    };
    out.push(Effect::Send {
        to: leader,
        msg: info,
    });
}

pub(super) fn on_tick(s: &mut Server, now_ms: i64, out: &mut Effects) {
    with_learner(s, |s, l| {
        assert!(
            now_ms >= l.last_heard_ms,
            "server {}: a tick at {now_ms} ms before it last heard its leader",
            s.config.id
        );
        if now_ms - l.last_heard_ms > l.limit_ms(s) {
            // Follower.followLeader: the leader went quiet for longer than the limit.
            s.leave_role();
            return;
        }
        if l.phase == Phase::Discovery && now_ms >= l.info_resend_ms {
            l.info_resend_ms = now_ms + s.config.tick_ms;
            send_info(s, l.leader, l.info_zxid, l.observer, out);
        }
    });
}

pub(super) fn on_message(
    s: &mut Server,
    now_ms: i64,
    from: ServerId,
    msg: PeerMessage,
    out: &mut Effects,
) {
    with_learner(s, |s, l| {
        if from != l.leader || !sent_by_leaders(&msg) {
            return;
        }
        // Zab phase 1: past LEADERINFO a learner follows its leader in the epoch it
        // accepted from it, and nothing raises acceptedEpoch meanwhile (only LEADERINFO
        // does, Learner.registerWithLeader).
        if let Some(epoch) = l.new_epoch {
            assert_eq!(
                s.history.accepted_epoch(),
                epoch,
                "server {}: following {} in epoch {epoch} with acceptedEpoch {}",
                s.config.id,
                l.leader,
                s.history.accepted_epoch()
            );
        }
        l.last_heard_ms = now_ms;
        match msg {
            PeerMessage::LeaderInfo { new_epoch } => on_leader_info(s, l, new_epoch, out),
            PeerMessage::Diff { .. } if l.phase == Phase::Syncing => {
                l.mode = Some(SyncMode::Diff { base: l.info_zxid })
            }
            PeerMessage::Trunc { zxid } if l.phase == Phase::Syncing => {
                l.mode = Some(SyncMode::Trunc(zxid))
            }
            PeerMessage::Snap { snapshot } if l.phase == Phase::Syncing => {
                l.mode = Some(SyncMode::Snap(snapshot))
            }
            PeerMessage::Propose(p) => on_propose(s, l, p, out),
            PeerMessage::Commit { zxid } => on_commit(s, l, zxid, out),
            PeerMessage::Inform(p) => on_inform(s, l, p, out),
            PeerMessage::NewLeader { zxid } if l.phase == Phase::Syncing => {
                on_new_leader(s, l, zxid, out)
            }
            PeerMessage::UpToDate if l.phase == Phase::Synced => on_up_to_date(s, l, out),
            PeerMessage::Ping { round, .. } => {
                let touches = std::mem::take(&mut l.touches).into_iter().collect();
                out.push(Effect::Send {
                    to: l.leader,
                    msg: PeerMessage::Ping { round, touches },
                });
            }
            PeerMessage::Sync { session_id, cxid } => s.sync_done(session_id, cxid),
            PeerMessage::RevalidateReply { session_id, valid } => s.revalidated(session_id, valid),
            // Out of phase: the stream is not what Zab promises, so start over.
            PeerMessage::Diff { .. }
            | PeerMessage::Trunc { .. }
            | PeerMessage::Snap { .. }
            | PeerMessage::NewLeader { .. }
            | PeerMessage::UpToDate => s.leave_role(),
            _ => {}
        }
    });
}

/// Whether a leader sends this message. Only those prove that the server we follow leads:
/// when an election's notifications cross, two servers can each decide to follow the
/// other, and their FOLLOWERINFOs must not keep each other's initLimit timer alive, or
/// neither ever goes back to LOOKING. ZooKeeper's learner gives up the same way when no
/// leader answers (Learner.connectToLeader retries for initLimit ticks, then throws).
fn sent_by_leaders(msg: &PeerMessage) -> bool {
    match msg {
        PeerMessage::LeaderInfo { .. }
        | PeerMessage::Diff { .. }
        | PeerMessage::Trunc { .. }
        | PeerMessage::Snap { .. }
        | PeerMessage::NewLeader { .. }
        | PeerMessage::UpToDate
        | PeerMessage::Propose(_)
        | PeerMessage::Commit { .. }
        | PeerMessage::Inform(_)
        | PeerMessage::Ping { .. }
        | PeerMessage::Sync { .. }
        | PeerMessage::RevalidateReply { .. } => true,
        PeerMessage::Notification(_)
        | PeerMessage::LearnerInfo { .. }
        | PeerMessage::AckEpoch { .. }
        | PeerMessage::Ack { .. }
        | PeerMessage::Request { .. }
        | PeerMessage::Revalidate { .. } => false,
    }
}

/// Zab phase 1: accept the new epoch (durably, before saying so) unless we already
/// promised a later one.
fn on_leader_info(s: &mut Core, l: &mut Learner, new_epoch: u32, out: &mut Effects) {
    if l.phase != Phase::Discovery {
        return;
    }
    let last_zxid = l.info_zxid;
    let step = leader_info_step(s.history.accepted_epoch(), new_epoch);
    if step == LeaderInfoStep::Accept {
        let ack = PeerMessage::AckEpoch {
            current_epoch: Some(s.history.current_epoch()),
            last_zxid,
        };
        let record = s.history.accept_epoch(new_epoch);
        let token = s.durable.persist(vec![record], out);
        out.push(Effect::SendAfterPersist {
            token,
            to: l.leader,
            msg: ack,
        });
    } else if step == LeaderInfoStep::AckAgain {
        out.push(Effect::Send {
            to: l.leader,
            msg: PeerMessage::AckEpoch {
                current_epoch: None,
                last_zxid,
            },
        });
    } else {
        // Learner.registerWithLeader: "Leaders epoch is less than accepted epoch".
        s.leave_role();
        return;
    }
    // Zab phase 1: the learner has accepted the leader's epoch (durably, before its
    // ACKEPOCH leaves).
    assert_eq!(
        s.history.accepted_epoch(),
        new_epoch,
        "server {}: ACKEPOCH for epoch {new_epoch} without accepting it",
        s.config.id
    );
    tracing::debug!(
        target: "zksim_core::zab::discovery",
        leader = l.leader,
        epoch = new_epoch,
        "accepted the leader's epoch (LEADERINFO)"
    );
    l.new_epoch = Some(new_epoch);
    l.phase = Phase::Syncing;
}

fn on_propose(s: &mut Core, l: &mut Learner, p: Arc<Proposal>, out: &mut Effects) {
    // An observer gets PROPOSAL only in its sync stream; after NEWLEADER it learns txns by
    // INFORM (Leader.propose sends to followers only).
    if l.observer {
        assert!(
            !matches!(l.phase, Phase::Synced | Phase::Broadcast),
            "server {}: PROPOSAL {:#x} to an observer after NEWLEADER",
            s.config.id,
            p.hdr.zxid
        );
    }
    match l.phase {
        Phase::Syncing => l.sync_proposals.push(p),
        Phase::Synced | Phase::Broadcast => log_and_ack(s, l, p, out),
        Phase::Discovery => {}
    }
}

/// Zab phase 3: log the proposal and acknowledge it only once it is durable.
fn log_and_ack(s: &mut Core, l: &mut Learner, p: Arc<Proposal>, out: &mut Effects) {
    let zxid = p.hdr.zxid;
    // A leader's stream holds no txn of an epoch past its own (the learner accepted it).
    assert!(
        Some(epoch_of(zxid)) <= l.new_epoch,
        "server {}: PROPOSAL {zxid:#x} past the leader's epoch {:?}",
        s.config.id,
        l.new_epoch
    );
    let last = s.last_logged_zxid();
    if zxid <= last {
        return;
    }
    // A leader proposes every counter of its epoch in order, over a FIFO link: a gap means
    // the stream lost messages (a link that broke unnoticed). Logging past it would ACK a
    // txn without its predecessors, so start over instead.
    if !is_next_zxid(last, zxid) {
        s.leave_role();
        return;
    }
    if !l.deferred.is_empty() {
        // ZOOKEEPER-3023: what arrives before UPTODATE is logged with the sync's txns.
        let record = s.history.append(Arc::clone(&p));
        l.deferred.push(record);
        if !l.observer {
            l.deferred_acks.push(zxid);
        }
        l.pending.logged(p);
        return;
    }
    let token = s.log_proposal(Arc::clone(&p), out);
    if !l.observer {
        let msg = PeerMessage::Ack { zxid };
        if s.config.bugs.has(Bug::AckBeforeFsync) {
            out.push(Effect::Send { to: l.leader, msg });
        } else {
            out.push(Effect::SendAfterPersist {
                token,
                to: l.leader,
                msg,
            });
        }
    }
    l.pending.logged(p);
}

fn on_commit(s: &mut Core, l: &mut Learner, zxid: Zxid, out: &mut Effects) {
    // An observer learns commits by INFORM once synced (Observer.processPacket); COMMIT
    // reaches it only in its sync stream.
    if l.observer {
        assert!(
            !matches!(l.phase, Phase::Synced | Phase::Broadcast),
            "server {}: COMMIT {zxid:#x} to an observer after NEWLEADER",
            s.config.id
        );
    }
    match l.phase {
        // ZOOKEEPER-4394: at NEWLEADER the learner moved its proposals to its log, and a
        // COMMIT that arrives before UPTODATE finds none to match (3.8's syncWithLeader
        // threw NullPointerException there): it is lost.
        Phase::Synced if s.config.bugs.has(Bug::CommitInSyncDropped) => {}
        Phase::Syncing | Phase::Synced => l.committed_upto = l.committed_upto.max(zxid),
        Phase::Broadcast => commit_pending(s, l, zxid, out),
        Phase::Discovery => {}
    }
}

/// Commits arrive in zxid order for the oldest pending proposal (FollowerZooKeeperServer.commit).
fn commit_pending(s: &mut Core, l: &mut Learner, zxid: Zxid, out: &mut Effects) {
    // FollowerZooKeeperServer.commit: a serving follower applies its pending proposals.
    assert_eq!(
        l.phase,
        Phase::Broadcast,
        "server {}: COMMIT {zxid:#x} applied before UPTODATE",
        s.config.id
    );
    match l.pending.commit(zxid, s.history.committed()) {
        CommitStep::Apply(p) => s.apply_committed(&p, out),
        CommitStep::Stale => {}
        // ZooKeeper exits on "Committing zxid X, but next pending txn is Y"; resync instead.
        CommitStep::OutOfOrder => s.leave_role(),
    }
}

fn on_inform(s: &mut Core, l: &mut Learner, p: Arc<Proposal>, out: &mut Effects) {
    let zxid = p.hdr.zxid;
    match l.phase {
        Phase::Syncing => {
            l.sync_proposals.push(p);
            l.committed_upto = l.committed_upto.max(zxid);
        }
        Phase::Synced => {
            log_and_ack(s, l, p, out);
            l.committed_upto = l.committed_upto.max(zxid);
        }
        Phase::Broadcast => {
            // An observer learns committed txns only, in zxid order (Observer.processPacket).
            assert!(l.observer, "server {}: INFORM to a follower", s.config.id);
            if zxid > s.last_logged_zxid() {
                s.log_proposal(Arc::clone(&p), out);
            }
            if zxid > s.tree.last_processed_zxid() {
                s.apply_committed(&p, out);
            }
        }
        Phase::Discovery => {}
    }
}

/// Forward a client's write, sync or session change to the leader.
pub(super) fn forward(
    s: &mut Server,
    session_id: SessionId,
    cxid: i32,
    request: LearnerRequest,
    auth: Vec<Id>,
    out: &mut Effects,
) {
    if let Role::Learning(l) = &s.role {
        // FollowerRequestProcessor: only a serving learner forwards.
        assert!(
            l.is_serving(),
            "server {}: forwarding before UPTODATE",
            s.config.id
        );
        out.push(Effect::Send {
            to: l.leader,
            msg: PeerMessage::Request {
                session_id,
                cxid,
                request,
                auth,
            },
        });
    }
}

pub(super) fn revalidate(
    s: &mut Server,
    session_id: SessionId,
    timeout_ms: i32,
    out: &mut Effects,
) {
    if let Role::Learning(l) = &s.role {
        assert!(
            l.is_serving(),
            "server {}: revalidating before UPTODATE",
            s.config.id
        );
        out.push(Effect::Send {
            to: l.leader,
            msg: PeerMessage::Revalidate {
                session_id,
                timeout_ms,
            },
        });
    }
}

pub(super) fn touch(s: &mut Server, session: SessionId, timeout_ms: i32) {
    if let Role::Learning(l) = &mut s.role {
        // LearnerSessionTracker: a learner reports its clients' touches to the leader with
        // its PING answers only while it serves them (after UPTODATE).
        assert!(
            l.is_serving(),
            "server {}: session {session:#x} touched before UPTODATE",
            s.core.config.id
        );
        l.touch(session, timeout_ms);
    }
}
