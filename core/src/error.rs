//! ZooKeeper's result codes (`KeeperException.Code`), as part of a reply rather than a Rust error.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A ZooKeeper result code with its wire value (ZooKeeper 3.8 `KeeperException.Code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// `OK` (0): success.
    Ok,
    /// `SYSTEMERROR` (-1).
    SystemError,
    /// `RUNTIMEINCONSISTENCY` (-2).
    RuntimeInconsistency,
    /// `DATAINCONSISTENCY` (-3).
    DataInconsistency,
    /// `CONNECTIONLOSS` (-4): the connection was lost; the request may or may not have taken effect.
    ConnectionLoss,
    /// `MARSHALLINGERROR` (-5).
    MarshallingError,
    /// `UNIMPLEMENTED` (-6): the operation is not implemented.
    Unimplemented,
    /// `OPERATIONTIMEOUT` (-7): the operation timed out.
    OperationTimeout,
    /// `BADARGUMENTS` (-8): an invalid argument (the reply's message says which).
    BadArguments,
    /// `UNKNOWNSESSION` (-12): the server does not know the session.
    UnknownSession,
    /// `NEWCONFIGNOQUORUM` (-13).
    NewConfigNoQuorum,
    /// `RECONFIGINPROGRESS` (-14).
    ReconfigInProgress,
    /// `APIERROR` (-100).
    ApiError,
    /// `NONODE` (-101): the node does not exist.
    NoNode,
    /// `NOAUTH` (-102): not authorized by the node's ACL.
    NoAuth,
    /// `BADVERSION` (-103): the version did not match.
    BadVersion,
    /// `NOCHILDRENFOREPHEMERALS` (-108): an ephemeral cannot have children.
    NoChildrenForEphemerals,
    /// `NODEEXISTS` (-110): the node already exists.
    NodeExists,
    /// `NOTEMPTY` (-111): the node has children.
    NotEmpty,
    /// `SESSIONEXPIRED` (-112): the session has expired.
    SessionExpired,
    /// `INVALIDCALLBACK` (-113).
    InvalidCallback,
    /// `INVALIDACL` (-114): an invalid ACL.
    InvalidAcl,
    /// `AUTHFAILED` (-115): authentication failed.
    AuthFailed,
    /// `SESSIONMOVED` (-118): the session moved to another server.
    SessionMoved,
    /// `NOTREADONLY` (-119).
    NotReadOnly,
    /// `EPHEMERALONLOCALSESSION` (-120).
    EphemeralOnLocalSession,
    /// `NOWATCHER` (-121): no such watch to remove.
    NoWatcher,
    /// `REQUESTTIMEOUT` (-122).
    RequestTimeout,
    /// `RECONFIGDISABLED` (-123).
    ReconfigDisabled,
    /// `SESSIONCLOSEDREQUIRESASLAUTH` (-124).
    SessionClosedRequireSaslAuth,
    /// `QUOTAEXCEEDED` (-125).
    QuotaExceeded,
    /// `THROTTLEDOP` (-127).
    ThrottledOp,
}

/// (code, wire value, name) for every code, in one table so the three never disagree.
const CODES: [(ErrorCode, i32, &str); 32] = [
    (ErrorCode::Ok, 0, "OK"),
    (ErrorCode::SystemError, -1, "SYSTEMERROR"),
    (ErrorCode::RuntimeInconsistency, -2, "RUNTIMEINCONSISTENCY"),
    (ErrorCode::DataInconsistency, -3, "DATAINCONSISTENCY"),
    (ErrorCode::ConnectionLoss, -4, "CONNECTIONLOSS"),
    (ErrorCode::MarshallingError, -5, "MARSHALLINGERROR"),
    (ErrorCode::Unimplemented, -6, "UNIMPLEMENTED"),
    (ErrorCode::OperationTimeout, -7, "OPERATIONTIMEOUT"),
    (ErrorCode::BadArguments, -8, "BADARGUMENTS"),
    (ErrorCode::UnknownSession, -12, "UNKNOWNSESSION"),
    (ErrorCode::NewConfigNoQuorum, -13, "NEWCONFIGNOQUORUM"),
    (ErrorCode::ReconfigInProgress, -14, "RECONFIGINPROGRESS"),
    (ErrorCode::ApiError, -100, "APIERROR"),
    (ErrorCode::NoNode, -101, "NONODE"),
    (ErrorCode::NoAuth, -102, "NOAUTH"),
    (ErrorCode::BadVersion, -103, "BADVERSION"),
    (
        ErrorCode::NoChildrenForEphemerals,
        -108,
        "NOCHILDRENFOREPHEMERALS",
    ),
    (ErrorCode::NodeExists, -110, "NODEEXISTS"),
    (ErrorCode::NotEmpty, -111, "NOTEMPTY"),
    (ErrorCode::SessionExpired, -112, "SESSIONEXPIRED"),
    (ErrorCode::InvalidCallback, -113, "INVALIDCALLBACK"),
    (ErrorCode::InvalidAcl, -114, "INVALIDACL"),
    (ErrorCode::AuthFailed, -115, "AUTHFAILED"),
    (ErrorCode::SessionMoved, -118, "SESSIONMOVED"),
    (ErrorCode::NotReadOnly, -119, "NOTREADONLY"),
    (
        ErrorCode::EphemeralOnLocalSession,
        -120,
        "EPHEMERALONLOCALSESSION",
    ),
    (ErrorCode::NoWatcher, -121, "NOWATCHER"),
    (ErrorCode::RequestTimeout, -122, "REQUESTTIMEOUT"),
    (ErrorCode::ReconfigDisabled, -123, "RECONFIGDISABLED"),
    (
        ErrorCode::SessionClosedRequireSaslAuth,
        -124,
        "SESSIONCLOSEDREQUIRESASLAUTH",
    ),
    (ErrorCode::QuotaExceeded, -125, "QUOTAEXCEEDED"),
    (ErrorCode::ThrottledOp, -127, "THROTTLEDOP"),
];

impl ErrorCode {
    fn entry(self) -> &'static (ErrorCode, i32, &'static str) {
        CODES
            .iter()
            .find(|(code, _, _)| *code == self)
            .expect("every ErrorCode variant is in CODES")
    }

    /// The wire value, as `KeeperException.Code.intValue()`.
    pub fn code(self) -> i32 {
        self.entry().1
    }

    /// The name of the `KeeperException.Code` constant, e.g. `"NONODE"`.
    pub fn name(self) -> &'static str {
        self.entry().2
    }

    /// The code of a wire value.
    pub fn from_code(value: i32) -> Option<ErrorCode> {
        CODES
            .iter()
            .find(|(_, v, _)| *v == value)
            .map(|(c, _, _)| *c)
    }

    /// The code of a `KeeperException.Code` constant's name.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        CODES
            .iter()
            .find(|(_, _, n)| *n == name)
            .map(|(c, _, _)| *c)
    }

    /// Whether it is `Ok`.
    pub fn is_ok(self) -> bool {
        self == ErrorCode::Ok
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_value_and_name() {
        // Every code maps to a distinct wire value and name, and back.
        for (code, value, name) in CODES {
            assert_eq!(ErrorCode::from_code(value), Some(code));
            assert_eq!(ErrorCode::from_name(name), Some(code));
            assert_eq!(code.code(), value);
        }
        assert_eq!(ErrorCode::from_code(-9999), None);
        assert_eq!(ErrorCode::from_name("nonode"), None);
    }
}
