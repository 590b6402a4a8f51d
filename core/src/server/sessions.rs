//! The leader's session tracker (`SessionTrackerImpl` with its `ExpiryQueue`): sessions
//! expire at tick boundaries unless touched, and each has an owner, the server holding
//! its connection.

use std::collections::BTreeMap;

use crate::error::ErrorCode;
use crate::stat::SessionId;
use crate::zab::{Hex, ServerId};

#[derive(Clone, Debug)]
struct Tracked {
    timeout_ms: i32,
    expires_at_ms: i64,
    owner: Option<ServerId>,
    closing: bool,
}

#[derive(Clone, Debug)]
pub struct SessionTracker {
    tick_ms: i64,
    sessions: BTreeMap<SessionId, Tracked>,
}

impl SessionTracker {
    pub fn new(tick_ms: i64) -> SessionTracker {
        assert!(tick_ms > 0, "tick must be positive");
        SessionTracker {
            tick_ms,
            sessions: BTreeMap::new(),
        }
    }

    /// `ExpiryQueue.roundToNextInterval`: expiry happens on tick boundaries.
    fn expiry(&self, now_ms: i64, timeout_ms: i32) -> i64 {
        // A session has a positive timeout (negotiated within the server's limits).
        assert!(timeout_ms > 0, "a session timeout of {timeout_ms} ms");
        let t = now_ms + i64::from(timeout_ms);
        // ExpiryQueue.roundToNextInterval: the tick boundary after the timeout.
        (t / self.tick_ms + 1) * self.tick_ms
    }

    /// `trackSession` (at prep of createSession, or for every session a new leader inherits).
    pub fn add(
        &mut self,
        session: SessionId,
        timeout_ms: i32,
        owner: Option<ServerId>,
        now_ms: i64,
    ) {
        let expires_at_ms = self.expiry(now_ms, timeout_ms);
        // SessionTrackerImpl.trackSession: session ids are unique, so a session is
        // tracked once per leadership.
        assert!(
            !self.sessions.contains_key(&session),
            "session {session:#x} tracked twice"
        );
        tracing::debug!(session = %Hex(session), timeout_ms, owner, "track");
        self.sessions.insert(
            session,
            Tracked {
                timeout_ms,
                expires_at_ms,
                owner,
                closing: false,
            },
        );
    }

    /// `touchSession`: push the expiry back; false for a session that is gone or closing.
    pub fn touch(&mut self, session: SessionId, now_ms: i64) -> bool {
        let tick = self.tick_ms;
        match self.sessions.get_mut(&session) {
            Some(t) if !t.closing => {
                // ExpiryQueue: a live session expires on a tick boundary not yet passed
                // (`expire` would have marked it closing).
                assert_eq!(
                    t.expires_at_ms % tick,
                    0,
                    "session {session:#x} expires off a tick boundary"
                );
                let e = ((now_ms + i64::from(t.timeout_ms)) / tick + 1) * tick;
                t.expires_at_ms = t.expires_at_ms.max(e);
                true
            }
            _ => false,
        }
    }

    /// `checkSession`: a request may proceed only for a live session owned by the server
    /// that forwarded it (the first server to use an unowned session becomes its owner).
    pub fn check(&mut self, session: SessionId, owner: ServerId) -> Result<(), ErrorCode> {
        let tick = self.tick_ms;
        let t = self
            .sessions
            .get_mut(&session)
            .ok_or(ErrorCode::SessionExpired)?;
        if t.closing {
            return Err(ErrorCode::SessionExpired);
        }
        // ExpiryQueue: a live session waits in the bucket of a tick boundary.
        assert_eq!(
            t.expires_at_ms % tick,
            0,
            "session {session:#x} checked with an expiry off a tick boundary"
        );
        match t.owner {
            None => {
                t.owner = Some(owner);
                Ok(())
            }
            Some(o) if o == owner => Ok(()),
            Some(_) => Err(ErrorCode::SessionMoved),
        }
    }

    /// A reconnect moved the session to `owner` (REVALIDATE); false when it is not live.
    pub fn revalidate(&mut self, session: SessionId, owner: ServerId, now_ms: i64) -> bool {
        if !self.touch(session, now_ms) {
            return false;
        }
        let t = self
            .sessions
            .get_mut(&session)
            .expect("a session just touched is tracked");
        t.owner = Some(owner);
        // A revalidated session is live and now belongs to the server it moved to
        // (LearnerSessionTracker's REVALIDATE: the leader records the new owner).
        assert!(!t.closing, "session {session:#x} revalidated while closing");
        true
    }

    /// `setSessionClosing`: a client asked to close its session; no touch revives it.
    pub fn set_closing(&mut self, session: SessionId) {
        let tick = self.tick_ms;
        if let Some(t) = self.sessions.get_mut(&session) {
            // ExpiryQueue: a tracked session waits in the bucket of a tick boundary until
            // its closeSession commits (`remove`).
            assert_eq!(
                t.expires_at_ms % tick,
                0,
                "session {session:#x} closing with an expiry off a tick boundary"
            );
            t.closing = true;
        }
    }

    pub fn remove(&mut self, session: SessionId) {
        // A closeSession txn commits only for a session marked closing when it was
        // prepped: by its client's request, or by expiry (SessionTrackerImpl.setSessionClosing).
        if let Some(t) = self.sessions.get(&session) {
            assert!(
                t.closing,
                "session {session:#x} removed without being closed"
            );
        }
        if self.sessions.remove(&session).is_some() {
            tracing::debug!(session = %Hex(session), "closed");
        }
    }

    /// Sessions whose expiry has passed and that are not already closing; they are marked
    /// closing (the leader then proposes their closeSession).
    pub fn expire(&mut self, now_ms: i64) -> Vec<SessionId> {
        let mut expired = Vec::new();
        for (id, t) in &mut self.sessions {
            if !t.closing && t.expires_at_ms <= now_ms {
                t.closing = true;
                tracing::debug!(session = %Hex(*id), "expire");
                expired.push(*id);
            }
        }
        // ExpiryQueue: what is left live expires after now, so the next expiry is ahead.
        assert!(
            self.next_expiry().is_none_or(|at| at > now_ms),
            "a live session due at {:?} outlived the expiry pass at {now_ms}",
            self.next_expiry()
        );
        expired
    }

    /// Whether `session` is tracked (live or closing).
    pub fn tracks(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    /// When the next session could expire.
    pub fn next_expiry(&self) -> Option<i64> {
        self.sessions
            .values()
            .filter(|t| !t.closing)
            .map(|t| t.expires_at_ms)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_on_tick_boundaries_unless_touched() {
        // ExpiryQueue: expiry = (now + timeout) rounded up to the next tick.
        let mut t = SessionTracker::new(200);
        t.add(7, 1000, Some(1), 50);
        assert_eq!(t.next_expiry(), Some(1200));
        assert!(t.expire(1199).is_empty());
        assert!(t.touch(7, 1100));
        assert_eq!(t.next_expiry(), Some(2200));
        assert_eq!(t.expire(2200), vec![7]);
        assert!(!t.touch(7, 2300));
        assert_eq!(t.check(7, 1), Err(ErrorCode::SessionExpired));
    }

    #[test]
    fn a_session_belongs_to_one_server_at_a_time() {
        // ZooKeeper's SessionMovedException guards against a client's old server still
        // forwarding its requests after it moved.
        let mut t = SessionTracker::new(200);
        t.add(7, 4000, None, 0);
        assert_eq!(t.check(7, 2), Ok(()));
        assert_eq!(t.check(7, 3), Err(ErrorCode::SessionMoved));
        assert!(t.revalidate(7, 3, 10));
        assert_eq!(t.check(7, 3), Ok(()));
        assert_eq!(t.check(9, 3), Err(ErrorCode::SessionExpired));
    }
}
