//! What a server asks its driver to do ([`Effect`]), in the order it must happen.

use std::sync::Arc;

use crate::log::DurableRecord;
use crate::proto::{ConnId, ServerMessage};
use crate::stat::Zxid;
use crate::zab::messages::{PeerMessage, Proposal};
use crate::zab::{PeerState, ServerId};

/// What a server asks its driver to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send to a peer over the FIFO link.
    Send { to: ServerId, msg: PeerMessage },
    /// Write the records (each to its file) and fsync them all; then call `on_persisted`
    /// with `token`. Tokens complete in the order they were issued. With `reset`, every
    /// file is replaced by these records in one atomic step (as writing a new data
    /// directory and renaming it over the old one would), instead of being appended to.
    Persist {
        token: u64,
        records: Vec<DurableRecord>,
        reset: bool,
    },
    /// Send once the persist with `token` is durable (a follower's ACK).
    SendAfterPersist {
        token: u64,
        to: ServerId,
        msg: PeerMessage,
    },
    /// Close the connection to a peer: whatever is in flight on it either way is dropped,
    /// and the peer hears of the close (`on_peer_disconnected`) once the network lets it
    /// through. A learner closes its leader's connection when it stops following
    /// (Learner.shutdown), a leader its learners' when it stops leading (Leader.shutdown).
    Disconnect { peer: ServerId },
    /// Send to a client connection.
    ToClient { conn: ConnId, msg: ServerMessage },
    /// Close a client connection.
    CloseConn { conn: ConnId },
    /// The server changed role (for traces and summaries).
    Role {
        state: PeerState,
        epoch: u32,
        leader: Option<ServerId>,
    },
    /// A committed txn applied to this server's tree (ground truth).
    Applied(Arc<Proposal>),
    /// The tree was replaced by the leader's snapshot (ground truth: the log restarts).
    InstalledSnapshot { zxid: Zxid, digest: u64 },
    /// An invariant was breached that a bug knob breaks on purpose. Without a knob the
    /// same breach is an assertion failure; with one, the server goes on as the knob's
    /// bug did, and the run reports the breach among its findings.
    Breach {
        invariant: &'static str,
        detail: String,
    },
}

pub type Effects = Vec<Effect>;

impl Effect {
    /// A breach of `invariant` that a bug knob allows (see [`Effect::Breach`]); logged at
    /// warn under `zksim_core::server`.
    pub fn breach(invariant: &'static str, detail: String) -> Effect {
        tracing::warn!(target: "zksim_core::server", invariant, %detail, "breach");
        Effect::Breach { invariant, detail }
    }

    /// The server takes role `state` in `epoch` (`stage`: how far it got, for the log).
    /// Logged at info under `zksim_core::server`: a role change is what an operator
    /// watches for.
    pub fn role(
        state: PeerState,
        epoch: u32,
        leader: Option<ServerId>,
        stage: &'static str,
    ) -> Effect {
        tracing::info!(
            target: "zksim_core::server",
            state = state.name(),
            epoch,
            leader,
            stage,
            "role"
        );
        Effect::Role {
            state,
            epoch,
            leader,
        }
    }
}
