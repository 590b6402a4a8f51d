//! The leader: discovery (collect FOLLOWERINFO, propose an epoch, collect ACKEPOCH),
//! synchronization (DIFF/TRUNC/SNAP then NEWLEADER to each learner, establish on a quorum
//! of NEWLEADER ACKs), then broadcast (PROPOSAL, ACK, COMMIT in order), plus pings, session
//! expiry and container reaping. ZooKeeper 3.8's `Leader`, `LearnerHandler`,
//! `PrepRequestProcessor` and `SessionTrackerImpl`. The phases' decisions are
//! `zab::discovery`, `zab::sync` and `zab::broadcast`; this module carries them out.
//!
//! `establish` holds the discovery and synchronization of learners, `pipeline` requests,
//! proposals, commits and syncs, `upkeep` the timers and session tracking.

mod establish;
mod pipeline;
mod upkeep;

use crate::bugs::Bug;
use std::collections::{BTreeMap, BTreeSet};

use super::sessions::SessionTracker;
use super::{Core, Effect, Effects, Role, Server};
use crate::stat::Zxid;
use crate::zab::broadcast::LeaderBroadcast;
use crate::zab::discovery::LeaderDiscovery;
use crate::zab::messages::PeerMessage;
use crate::zab::{PeerState, ServerId};

use establish::{
    on_ack_epoch, on_learner_info, send_leader_infos, try_choose_epoch, try_epoch_quorum,
    try_establish,
};
pub(super) use pipeline::submit;
use pipeline::{PendingSync, complete_syncs, on_ack, process_request, try_commit};
pub(super) use upkeep::{on_tick, revalidate, touch};

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

#[derive(Clone, Debug)]
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

    /// Whether `peers` are exactly the registered learners (`Server::check_role`).
    pub(super) fn has_learners(&self, peers: &BTreeSet<ServerId>) -> bool {
        self.learners.len() == peers.len() && self.learners.keys().all(|id| peers.contains(id))
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
    out.push(Effect::role(
        PeerState::Leading,
        s.history.current_epoch(),
        Some(s.config.id),
        "discovery",
    ));
    with_leader(s, |s, l| try_choose_epoch(s, l, out));
}

/// Progress that waits on the leader's own disk: LEADERINFO after acceptedEpoch, its own
/// NEWLEADER ACK after currentEpoch, its own proposal ACKs after each txn.
pub(super) fn on_durable(s: &mut Server, now_ms: i64, out: &mut Effects) {
    with_leader(s, |s, l| {
        // Past discovery, the leader has chosen its epoch (Leader.lead).
        if l.phase != Phase::Discovery {
            assert!(
                l.new_epoch.is_some(),
                "server {}: phase {:?} without an epoch",
                s.config.id,
                l.phase
            );
        }
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
                // A learner echoes a round this leader sent: rounds of earlier terms are
                // lower, and none is above the last one sent.
                assert!(
                    round <= l.ping_round,
                    "server {}: PING answer of round {round:#x} from {from}, above {:#x}",
                    s.config.id,
                    l.ping_round
                );
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

pub(super) fn on_learner_lost(s: &mut Server, _now_ms: i64, peer: ServerId, _out: &mut Effects) {
    with_leader(s, |s, l| {
        // Only a registered learner's link can break: every link is a learner's.
        assert_eq!(
            l.learners.contains_key(&peer),
            s.role_peers.contains(&peer),
            "server {}: learner {peer} and its link disagree",
            s.config.id
        );
        l.learners.remove(&peer);
        s.role_peers.remove(&peer);
    });
}
