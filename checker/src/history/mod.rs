//! zksim's history format (docs/history.md): what clients invoked and saw, with simulated
//! times and zxids, and what every replica committed (the ground truth the checkers use to
//! settle unknown outcomes). JSON lines, one [`Event`] each, the header first.

mod blocks;
mod errors;
mod io;
mod line;

use serde::{Deserialize, Serialize};
use zksim_core::acl::Id;
use zksim_core::request::{Reply, Request};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::txn::Txn;
use zksim_core::watch::EventType;
use zksim_core::zab::PeerState;

pub use errors::describe as describe_bad_line;
pub use io::{HistoryError, ReadError, parse, read, to_jsonl};

/// The `format` of a header.
pub const FORMAT: &str = "zksim-history";
/// The version of the format this build writes. Version 2 added `close`, `ping` and
/// `phase` events and records the SetWatches a client sends after a reconnect; this build
/// reads versions 1 and 2 (a version 1 history simply has none of them).
pub const VERSION: u32 = 2;
/// The oldest version this build reads.
pub const VERSION_MIN: u32 = 1;

/// The xid a client gives the SetWatches it sends after a reconnect
/// (`ClientCnxn.SET_WATCHES_XID`); it recurs once per reconnect.
pub const SET_WATCHES_XID: i32 = -8;

/// Simulated time in microseconds since the run began.
pub type Micros = u64;
/// A simulated client's index within its run.
pub type ClientId = u32;

/// How an operation ended, as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The server replied: the header zxid and error code, and the body. An error code is
    /// a definite outcome too: the operation did not change the tree.
    Reply(Reply),
    /// No reply: the connection broke or the session ended while the operation was in
    /// flight. It may or may not have taken effect.
    Unknown { reason: String },
}

/// A session's life as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SessionEvent {
    /// Established on `server` (a new session or a reconnect of this one).
    Connected {
        server: u64,
        timeout_ms: i32,
    },
    Disconnected,
    Expired,
    Closed,
    AuthFailed,
}

/// A part of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Every fault is healed and no new one comes: from here the service must make
    /// progress, and only what happened before can excuse a failure to.
    Liveness,
}

/// One applied, contiguous run of txns on a replica: after restoring the state at `base`
/// (0 for an empty tree), it applied `zxids` in order. A restart or a snapshot install
/// starts a new segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub base: Zxid,
    pub zxids: Vec<Zxid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The first line.
    Header {
        format: String,
        version: u32,
        seed: Option<u64>,
        scenario: Option<String>,
        servers: Vec<u64>,
        observers: Vec<u64>,
        /// The command that reruns this history's run.
        replay: Option<String>,
        /// Bug knobs that were on.
        bugs: Vec<String>,
        /// The recipe the clients ran (docs/recipes.md), whose invariants the checker
        /// judges too; absent for the generic workload.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipe: Option<String>,
        /// How many clients the run had: history client `c` is the run's client
        /// `c % clients` (each new session of a client is a new history client).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clients: Option<u32>,
        /// The servers' `tickTime` (session expiry and timers run on tick boundaries).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tick_ms: Option<u64>,
        /// How often the leader looks for containers and TTL nodes to delete
        /// (`znode.container.checkIntervalMs`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container_check_ms: Option<u64>,
    },
    /// A client sent a request (`xid` is unique per client).
    Invoke {
        t: Micros,
        client: ClientId,
        session: Option<SessionId>,
        xid: i32,
        op: Request,
    },
    /// The client sent closeSession with this xid (ZooKeeper's `close`); the `complete`
    /// with this xid says how it ended (a reply carries the closeSession txn's zxid).
    Close {
        t: Micros,
        client: ClientId,
        session: Option<SessionId>,
        xid: i32,
    },
    /// The request `xid` of `client` completed.
    Complete {
        t: Micros,
        client: ClientId,
        xid: i32,
        outcome: Outcome,
    },
    /// A watch notification delivered to a client; `zxid` is the txn that fired it.
    Watch {
        t: Micros,
        client: ClientId,
        session: SessionId,
        event_type: EventType,
        path: String,
        zxid: Zxid,
    },
    Session {
        t: Micros,
        client: ClientId,
        session: SessionId,
        event: SessionEvent,
    },
    /// The identities the client's connection holds from now on, as ACL checks see them:
    /// written when a connection is established (its `ip` identity) and after each
    /// `addAuth` the server accepts. A client without one holds identities the checker
    /// does not know, so its ACL decisions are taken on trust.
    Auth {
        t: Micros,
        client: ClientId,
        ids: Vec<Id>,
    },
    /// The server answered a ping of the client's session (the session was heard from).
    Ping {
        t: Micros,
        client: ClientId,
        session: SessionId,
        /// When the client sent the ping this answers, if the recorder knows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_t: Option<Micros>,
    },
    /// A phase of the run began.
    Phase { t: Micros, phase: Phase },
    /// A server changed role.
    Role {
        t: Micros,
        server: u64,
        state: PeerState,
        epoch: u32,
        leader: Option<u64>,
    },
    /// A fault the simulator injected or healed, for reports.
    Fault {
        t: Micros,
        kind: String,
        detail: String,
    },
    /// A committed txn (ground truth: the union of what the replicas applied).
    Txn {
        zxid: Zxid,
        session: SessionId,
        cxid: i32,
        /// The leader's clock when it made the txn (`TxnHeader.time`, milliseconds).
        time: i64,
        txn: Txn,
        /// When a replica first applied it, in the history's simulated time (a recorder
        /// that knows it writes it; the progress checks need it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        applied_t: Option<Micros>,
    },
    /// What one replica applied, in order.
    Replica { server: u64, segments: Vec<Segment> },
}

impl Event {
    /// The simulated time of an event that happened at one, for ordering and reports.
    pub fn time(&self) -> Option<Micros> {
        match self {
            Event::Invoke { t, .. }
            | Event::Complete { t, .. }
            | Event::Watch { t, .. }
            | Event::Session { t, .. }
            | Event::Auth { t, .. }
            | Event::Close { t, .. }
            | Event::Ping { t, .. }
            | Event::Phase { t, .. }
            | Event::Role { t, .. }
            | Event::Fault { t, .. } => Some(*t),
            Event::Header { .. } | Event::Txn { .. } | Event::Replica { .. } => None,
        }
    }

    pub fn header(
        seed: Option<u64>,
        scenario: Option<String>,
        servers: Vec<u64>,
        observers: Vec<u64>,
        replay: Option<String>,
        bugs: Vec<String>,
    ) -> Event {
        Event::Header {
            format: FORMAT.to_string(),
            version: VERSION,
            seed,
            scenario,
            servers,
            observers,
            replay,
            bugs,
            recipe: None,
            clients: None,
            tick_ms: None,
            container_check_ms: None,
        }
    }

    /// A header that also gives the servers' tick and container check interval.
    pub fn with_timing(self, tick: u64, container_check: u64) -> Event {
        match self {
            Event::Header {
                format,
                version,
                seed,
                scenario,
                servers,
                observers,
                replay,
                bugs,
                recipe,
                clients,
                ..
            } => Event::Header {
                format,
                version,
                seed,
                scenario,
                servers,
                observers,
                replay,
                bugs,
                recipe,
                clients,
                tick_ms: Some(tick),
                container_check_ms: Some(container_check),
            },
            other => other,
        }
    }

    /// A header naming the recipe the run's clients ran, and how many clients it had.
    pub fn with_recipe(self, recipe: Option<String>, client_count: u32) -> Event {
        match self {
            Event::Header {
                format,
                version,
                seed,
                scenario,
                servers,
                observers,
                replay,
                bugs,
                tick_ms,
                container_check_ms,
                ..
            } => Event::Header {
                format,
                version,
                seed,
                scenario,
                servers,
                observers,
                replay,
                bugs,
                recipe,
                clients: Some(client_count),
                tick_ms,
                container_check_ms,
            },
            other => other,
        }
    }
}
