//! What a client session asks of its driver and reports to its user: `ClientEffect`, with the
//! `Outcome` of a request and the `SessionEvent`s (ZooKeeper's `KeeperState` changes).

use serde::{Deserialize, Serialize};

use crate::proto::ClientMessage;
use crate::request::Reply;
use crate::stat::{SessionId, Zxid};
use crate::watch::EventType;

/// One effect of an input, in the order the client produced it. Everything a history
/// recorder needs is here: which requests went out (`Send`), how each ended (`Completed`),
/// watch notifications, session events and protocol violations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientEffect {
    /// Open a transport to server `server`; answer with `on_connected` or
    /// `on_connect_failed`. The client has no transport until then.
    Connect { server: usize },
    /// Write a message on the current transport.
    Send(ClientMessage),
    /// Drop the current transport. The driver reports nothing more from it.
    Close,
    /// A request (or `close`'s closeSession) has ended.
    Completed { xid: i32, outcome: Outcome },
    /// A watch notification from the server.
    Watch {
        event_type: EventType,
        path: String,
        zxid: Zxid,
    },
    /// The session's state changed.
    Session(SessionEvent),
    /// The server broke the protocol (a reply out of order, a message where none may be);
    /// a `Close` follows and the client treats it as a lost connection.
    ProtocolViolation(String),
}

/// How a request ended.
///
/// Whether a request that did not get a `Reply` may have taken effect follows from whether
/// its `Send` effect was emitted: a request never sent did not reach any server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The server answered; the code inside may be an error (NONODE, BADVERSION, ...).
    Reply(Reply),
    /// CONNECTIONLOSS: the connection broke before an answer came (`ClientCnxn.cleanup`).
    ConnectionLoss,
    /// SESSIONEXPIRED: the server said the session is gone; the client is terminal.
    SessionExpired,
    /// AUTHFAILED: an auth was refused; ZooKeeper's client then fails every request
    /// (`ClientCnxn.conLossPacket` in state `AUTH_FAILED`).
    AuthFailed,
    /// Submitted after `close`: never sent.
    Closed,
}

/// A change of the session's state, as ZooKeeper's `Watcher.Event.KeeperState` events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionEvent {
    /// `SyncConnected`: a session is established (new or re-established) on a connection.
    Connected {
        session_id: SessionId,
        timeout_ms: i32,
    },
    /// `Disconnected`: a connection with an established session was lost; the client
    /// reconnects on its own.
    Disconnected,
    /// `Expired`: the server refused the session as expired. Terminal.
    Expired,
    /// `AuthFailed`: the server refused an auth. Terminal, as ZooKeeper's `AUTH_FAILED`.
    AuthFailed,
    /// `Closed`: the session was closed by `close`. Terminal.
    Closed,
}
