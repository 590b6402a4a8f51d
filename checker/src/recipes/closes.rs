//! The answered closes of a history: for each session whose client closed it and got the
//! reply, the reply's zxid. A session's closeSession txn deletes its ephemerals (ZooKeeper
//! Programmer's Guide, ephemeral nodes; the ZooKeeper paper, §2.1), so a session is known
//! to have ended by that zxid, and so are its ephemerals: `election` ends a master's node
//! there, and `session_expiry` its owner session.
//!
//! The history does not record closeSession yet (its client sends it outside the
//! requests a history lists). Until it does, `Closes::new` finds none and these recipes
//! judge with their other evidence (deletion notifications, reads finding a node gone, a
//! node made again), which only weakens them. When the history records a close (a `close`
//! event naming the session and xid, paired with an ordinary `complete` for that xid),
//! `Closes::new` is the one place to read it: every answered close, by session, at its
//! reply's zxid.

use std::collections::BTreeMap;

use zksim_core::stat::{SessionId, Zxid};

use crate::index::History;

#[derive(Clone, Debug, Default)]
pub struct Closes {
    by_session: BTreeMap<SessionId, Zxid>,
}

impl Closes {
    /// Every answered close in the history. None yet: see the module comment.
    pub fn new(h: &History) -> Closes {
        let _ = h;
        Closes::default()
    }

    /// These closes and `session`'s, answered at `zxid` (for tests, which judge histories
    /// with closes before histories record them).
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
