//! Transactions: what the leader's prep stage turns a write into, what the log stores and
//! what every replica applies to its DataTree (ZooKeeper's `txn` records, `zookeeper.jute`).

use serde::{Deserialize, Serialize};

use crate::acl::Acl;
use crate::error::ErrorCode;
use crate::stat::{SessionId, Zxid};

/// `TxnHeader`: who issued the txn, its zxid and the leader's wall time at prep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnHeader {
    pub session_id: SessionId,
    pub cxid: i32,
    pub zxid: Zxid,
    pub time: i64,
}

/// Which create request produced a create txn. It decides the reply's shape only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreateKind {
    /// `create` inside a multi: the result carries the path only.
    Create,
    Create2,
    Container,
    Ttl,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Txn {
    /// `CreateSessionTxn`.
    CreateSession { timeout_ms: i32 },
    /// `CloseSessionTxn`: the session's ephemerals, in the order they are deleted.
    CloseSession { paths: Vec<String> },
    /// `CreateTxn` / `CreateContainerTxn` / `CreateTTLTxn`, with the owner resolved.
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        ephemeral_owner: i64,
        parent_cversion: i32,
        kind: CreateKind,
    },
    /// `DeleteTxn` from a client's delete.
    Delete { path: String },
    /// `DeleteTxn` from the container manager (`OpCode.deleteContainer`).
    DeleteContainer { path: String },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// `CheckVersionTxn`, inside a multi.
    Check { path: String, version: i32 },
    /// `ErrorTxn`: a write that failed in prep still takes its zxid.
    Error { err: ErrorCode },
    /// `MultiTxn`: all sub-txns share the header's zxid.
    Multi(Vec<Txn>),
}

impl Txn {
    pub fn is_error(&self) -> bool {
        matches!(self, Txn::Error { .. })
    }
}
