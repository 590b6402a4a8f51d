//! Messages between servers (ZooKeeper's `QuorumPacket` types and FastLeaderElection's
//! notifications). Large payloads sit behind `Arc` so one proposal or snapshot can go to
//! many peers without copying.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{PeerState, ServerId};
use crate::acl::Id;
use crate::request::Request;
use crate::stat::{SessionId, Zxid};
use crate::tree::Snapshot;
use crate::txn::{Txn, TxnHeader};

/// A txn with its header: what a PROPOSAL carries and what the log stores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub hdr: TxnHeader,
    pub txn: Txn,
}

/// FastLeaderElection's notification: the sender's current vote and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The proposed leader.
    pub leader: ServerId,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The sender's logical clock (election round).
    pub election_epoch: u64,
    pub state: PeerState,
    /// The proposed leader's current epoch.
    pub peer_epoch: u32,
}

/// What a learner forwards to the leader on behalf of a client (`Leader.REQUEST`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LearnerRequest {
    /// A write, or a `sync`.
    Client(Request),
    CreateSession {
        timeout_ms: i32,
    },
    CloseSession,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// Leader election.
    Notification(Notification),

    // Discovery (Zab phase 1).
    /// `FOLLOWERINFO` / `OBSERVERINFO`: the learner's accepted epoch and last zxid.
    /// `repairing` marks a server that lost durable state: it takes a SNAP and does not
    /// count toward the epoch quorum.
    LearnerInfo {
        accepted_epoch: u32,
        last_zxid: Zxid,
        observer: bool,
        repairing: bool,
    },
    /// `LEADERINFO`: the epoch the leader proposes.
    LeaderInfo {
        new_epoch: u32,
    },
    /// `ACKEPOCH`: the learner's current epoch (`None` when it had already accepted this
    /// epoch: ZooKeeper sends -1) and last zxid.
    AckEpoch {
        current_epoch: Option<u32>,
        last_zxid: Zxid,
    },

    // Synchronization (Zab phase 2).
    Diff {
        zxid: Zxid,
    },
    Trunc {
        zxid: Zxid,
    },
    Snap {
        snapshot: Arc<Snapshot>,
    },
    /// `NEWLEADER`: `zxid` is `new_epoch << 32`.
    NewLeader {
        zxid: Zxid,
    },
    UpToDate,

    // Broadcast (Zab phase 3).
    Propose(Arc<Proposal>),
    Ack {
        zxid: Zxid,
    },
    Commit {
        zxid: Zxid,
    },
    /// `INFORM`: a committed txn, for observers.
    Inform(Arc<Proposal>),

    // Liveness, sessions and clients.
    /// Leader to learner: a heartbeat of round `round`. Learner to leader: the same round
    /// back, with the sessions its clients touched since the last ping and their timeouts
    /// (LearnerSessionTracker). A reply to round r shows the learner still follows this
    /// leader after the leader sent round r.
    Ping {
        round: u64,
        touches: Vec<(SessionId, i32)>,
    },
    /// `REQUEST`: a client's write, sync or session change, forwarded with the
    /// connection's identities.
    Request {
        session_id: SessionId,
        cxid: i32,
        request: LearnerRequest,
        auth: Vec<Id>,
    },
    /// `REVALIDATE`: may this session move to the sending server?
    Revalidate {
        session_id: SessionId,
        timeout_ms: i32,
    },
    RevalidateReply {
        session_id: SessionId,
        valid: bool,
    },
    /// `SYNC`: the leader's answer to a forwarded sync, sent after every earlier commit.
    Sync {
        session_id: SessionId,
        cxid: i32,
    },
}

impl PeerMessage {
    /// The Zab phase a message belongs to (its log target's last part): `election`,
    /// `discovery`, `sync`, `broadcast`, or `server` for pings, sessions and forwarding.
    pub fn phase(&self) -> &'static str {
        match self {
            PeerMessage::Notification(_) => "election",
            PeerMessage::LearnerInfo { .. }
            | PeerMessage::LeaderInfo { .. }
            | PeerMessage::AckEpoch { .. } => "discovery",
            PeerMessage::Diff { .. }
            | PeerMessage::Trunc { .. }
            | PeerMessage::Snap { .. }
            | PeerMessage::NewLeader { .. }
            | PeerMessage::UpToDate => "sync",
            PeerMessage::Propose(_)
            | PeerMessage::Ack { .. }
            | PeerMessage::Commit { .. }
            | PeerMessage::Inform(_) => "broadcast",
            PeerMessage::Ping { .. }
            | PeerMessage::Request { .. }
            | PeerMessage::Revalidate { .. }
            | PeerMessage::RevalidateReply { .. }
            | PeerMessage::Sync { .. } => "server",
        }
    }

    /// The zxid the message names, if it names one.
    pub fn zxid(&self) -> Option<Zxid> {
        match self {
            PeerMessage::Notification(n) => Some(n.zxid),
            PeerMessage::LearnerInfo { last_zxid, .. }
            | PeerMessage::AckEpoch { last_zxid, .. } => Some(*last_zxid),
            PeerMessage::Diff { zxid }
            | PeerMessage::Trunc { zxid }
            | PeerMessage::NewLeader { zxid }
            | PeerMessage::Ack { zxid }
            | PeerMessage::Commit { zxid } => Some(*zxid),
            PeerMessage::Snap { snapshot } => Some(snapshot.zxid),
            PeerMessage::Propose(p) | PeerMessage::Inform(p) => Some(p.hdr.zxid),
            PeerMessage::LeaderInfo { .. }
            | PeerMessage::UpToDate
            | PeerMessage::Ping { .. }
            | PeerMessage::Request { .. }
            | PeerMessage::Revalidate { .. }
            | PeerMessage::RevalidateReply { .. }
            | PeerMessage::Sync { .. } => None,
        }
    }

    /// Logs the message's arrival from `from` (level trace), under its phase's target
    /// (`zksim_core::zab::election`, `...::discovery`, `...::sync`, `...::broadcast`,
    /// `zksim_core::server`).
    pub fn log_received(&self, from: ServerId) {
        let kind = self.kind();
        let zxid = self.zxid().map(|z| tracing::field::display(super::Hex(z)));
        macro_rules! received {
            ($target:literal) => {
                tracing::trace!(target: $target, from, kind, zxid, "received")
            };
        }
        match self.phase() {
            "election" => received!("zksim_core::zab::election"),
            "discovery" => received!("zksim_core::zab::discovery"),
            "sync" => received!("zksim_core::zab::sync"),
            "broadcast" => received!("zksim_core::zab::broadcast"),
            _ => received!("zksim_core::server"),
        }
    }

    /// A short name for traces.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerMessage::Notification(_) => "NOTIFICATION",
            PeerMessage::LearnerInfo {
                observer: false, ..
            } => "FOLLOWERINFO",
            PeerMessage::LearnerInfo { observer: true, .. } => "OBSERVERINFO",
            PeerMessage::LeaderInfo { .. } => "LEADERINFO",
            PeerMessage::AckEpoch { .. } => "ACKEPOCH",
            PeerMessage::Diff { .. } => "DIFF",
            PeerMessage::Trunc { .. } => "TRUNC",
            PeerMessage::Snap { .. } => "SNAP",
            PeerMessage::NewLeader { .. } => "NEWLEADER",
            PeerMessage::UpToDate => "UPTODATE",
            PeerMessage::Propose(_) => "PROPOSAL",
            PeerMessage::Ack { .. } => "ACK",
            PeerMessage::Commit { .. } => "COMMIT",
            PeerMessage::Inform(_) => "INFORM",
            PeerMessage::Ping { .. } => "PING",
            PeerMessage::Request { .. } => "REQUEST",
            PeerMessage::Revalidate { .. } => "REVALIDATE",
            PeerMessage::RevalidateReply { .. } => "REVALIDATE_REPLY",
            PeerMessage::Sync { .. } => "SYNC",
        }
    }
}
