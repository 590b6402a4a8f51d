//! The answered closes of a history: for each session whose client closed it and got the
//! reply, the reply's zxid. A session's closeSession txn deletes its ephemerals (ZooKeeper
//! Programmer's Guide, ephemeral nodes; the ZooKeeper paper, §2.1), so a session is known
//! to have ended by that zxid, and so are its ephemerals: `election` ends a master's node
//! there, and `session_expiry` its owner session.
//!
//! A history records a close as a `close` event naming the session and xid, paired with
//! an ordinary `complete` for that xid (format version 2); a version 1 history has none,
//! and these recipes then judge with their other evidence (deletion notifications, reads
//! finding a node gone, a node made again), which only weakens them.

use std::collections::BTreeMap;

use zksim_core::stat::{SessionId, Zxid};

use crate::index::History;

#[derive(Clone, Debug, Default)]
pub struct Closes {
    by_session: BTreeMap<SessionId, Zxid>,
}

impl Closes {
    /// Every answered close in the history: the session it closed, at its reply's zxid
    /// (a refusal, such as SESSIONEXPIRED, closed nothing).
    pub fn new(h: &History) -> Closes {
        let mut closes = Closes::default();
        for close in &h.closes {
            let Some(reply) = close.definite_reply() else {
                continue;
            };
            let session = close
                .session
                .or_else(|| h.next_session(close.client, close.invoke_at));
            if let Some(session) = session {
                closes.by_session.entry(session).or_insert(reply.zxid);
            }
        }
        closes
    }

    /// These closes and `session`'s, answered at `zxid` (for tests that build the facts
    /// without a history).
    pub fn with(mut self, session: SessionId, zxid: Zxid) -> Closes {
        let before = self.by_session.insert(session, zxid);
        assert!(before.is_none(), "session {session:#x} closed twice");
        self
    }

    /// The zxid of the reply to `session`'s closeSession, if its client got one.
    pub fn answered(&self, session: SessionId) -> Option<Zxid> {
        self.by_session.get(&session).copied()
    }
}
