//! The client protocol: what a client session sends a server over its connection and what
//! it gets back (ZooKeeper's ConnectRequest/Response, request and reply headers, watcher
//! events, pings, auth and closeSession), independent of a byte encoding.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::request::{Reply, Request};
use crate::stat::{SessionId, Zxid};
use crate::watch::EventType;

/// `ConnectRequest`: a new session (`session_id == 0`) or a reconnect of an existing one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectRequest {
    /// The highest zxid the client has seen; a server behind it refuses the connection.
    pub last_zxid_seen: Zxid,
    pub timeout_ms: i32,
    pub session_id: SessionId,
    pub password: u64,
}

/// `ConnectResponse`. A timeout of 0 means the session has expired; the server then closes
/// the connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectResponse {
    pub timeout_ms: i32,
    pub session_id: SessionId,
    pub password: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    Connect(ConnectRequest),
    /// A request with the client's sequence number (`xid`).
    Request {
        xid: i32,
        request: Request,
    },
    /// `xid -2`.
    Ping,
    /// `xid -4`: add an identity to the connection.
    Auth {
        scheme: String,
        auth: Vec<u8>,
    },
    /// `closeSession`.
    CloseSession {
        xid: i32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMessage {
    Connected(ConnectResponse),
    /// A reply to `Request` or `CloseSession`, with the header zxid inside `reply`.
    Reply {
        xid: i32,
        reply: Reply,
    },
    /// `xid -1`: a watch notification; `zxid` is the txn that fired it.
    Watch {
        event_type: EventType,
        path: String,
        zxid: Zxid,
    },
    /// `xid -2`, with the server's last processed zxid.
    Pong {
        zxid: Zxid,
    },
    /// `xid -4`: OK, or AUTHFAILED after which the server closes the connection.
    AuthReply {
        err: ErrorCode,
    },
}

/// A client connection's identity on a server.
pub type ConnId = u64;
