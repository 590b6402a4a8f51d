//! A single server without replication: sessions, prep, apply and reply in one step.
//! `zksim tree replay` and the reference-fixture tests drive it; it processes requests
//! exactly as a standalone ZooKeeper 3.8 server does, one at a time.

use std::collections::BTreeMap;

use crate::acl::{self, AuthInfo};
use crate::error::ErrorCode;
use crate::prep::{Prep, PrepConfig};
use crate::request::{Reply, Request, Response};
use crate::stat::{SessionId, Zxid};
use crate::tree::DataTree;
use crate::txn::{Txn, TxnHeader};
use crate::watch::WatchEvent;

/// Session timeout bounds and the tick, as `ZooKeeperServer` derives them from `tickTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    pub tick_ms: i32,
    pub min_timeout_ms: i32,
    pub max_timeout_ms: i32,
}

impl SessionLimits {
    /// ZooKeeper's defaults: min 2 ticks, max 20 ticks.
    pub fn from_tick(tick_ms: i32) -> SessionLimits {
        SessionLimits {
            tick_ms,
            min_timeout_ms: 2 * tick_ms,
            max_timeout_ms: 20 * tick_ms,
        }
    }

    /// The negotiated timeout: the request clamped to [min, max].
    pub fn negotiate(&self, requested_ms: i32) -> i32 {
        requested_ms.clamp(self.min_timeout_ms, self.max_timeout_ms)
    }
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits::from_tick(2000)
    }
}

#[derive(Clone, Debug)]
struct Connection {
    auth: AuthInfo,
}

/// The client address every standalone connection has (the `ip` scheme's identity).
pub const CLIENT_IP: &str = "127.0.0.1";

#[derive(Clone, Debug)]
pub struct Standalone {
    tree: DataTree,
    prep: Prep,
    limits: SessionLimits,
    last_zxid: Zxid,
    connections: BTreeMap<SessionId, Connection>,
}

impl Default for Standalone {
    fn default() -> Self {
        Standalone::new(PrepConfig::default(), SessionLimits::default())
    }
}

impl Standalone {
    pub fn new(config: PrepConfig, limits: SessionLimits) -> Standalone {
        Standalone {
            tree: DataTree::new(),
            prep: Prep::new(config),
            limits,
            last_zxid: 0,
            connections: BTreeMap::new(),
        }
    }

    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    pub fn is_connected(&self, session: SessionId) -> bool {
        self.connections.contains_key(&session)
    }

    fn next_header(&mut self, session_id: SessionId, now_ms: i64) -> TxnHeader {
        self.last_zxid += 1;
        TxnHeader {
            session_id,
            cxid: 0,
            zxid: self.last_zxid,
            time: now_ms,
        }
    }

    fn commit(
        &mut self,
        hdr: &TxnHeader,
        txn: &Txn,
        events: &mut Vec<WatchEvent>,
    ) -> crate::tree::TxnResult {
        let mut fired = Vec::new();
        let result = self.tree.apply(hdr, txn, &mut fired);
        self.prep.applied(hdr.zxid);
        assert_eq!(
            self.tree.last_processed_zxid(),
            hdr.zxid,
            "standalone applies every txn at once"
        );
        self.deliver(fired, events);
        result
    }

    /// Pass on the events whose watcher is connected and may read the node.
    fn deliver(&self, fired: Vec<WatchEvent>, events: &mut Vec<WatchEvent>) {
        for e in fired {
            if self
                .connections
                .get(&e.watcher)
                .is_some_and(|c| e.readable_by(c.auth.ids()))
            {
                events.push(e);
            }
        }
    }

    /// Open a session: a createSession txn with the negotiated timeout, which is returned.
    pub fn connect(&mut self, now_ms: i64, session: SessionId, requested_timeout_ms: i32) -> i32 {
        assert!(
            !self.connections.contains_key(&session),
            "session {session:#x} already open"
        );
        let timeout_ms = self.limits.negotiate(requested_timeout_ms);
        let hdr = self.next_header(session, now_ms);
        let txn = self.prep.prep_create_session(timeout_ms);
        self.commit(&hdr, &txn, &mut Vec::new());
        self.connections.insert(
            session,
            Connection {
                auth: AuthInfo::new(CLIENT_IP),
            },
        );
        timeout_ms
    }

    /// Close a session: a closeSession txn deletes its ephemerals.
    pub fn close(
        &mut self,
        now_ms: i64,
        session: SessionId,
        events: &mut Vec<WatchEvent>,
    ) -> Reply {
        assert!(
            self.connections.contains_key(&session),
            "session {session:#x} not open"
        );
        let hdr = self.next_header(session, now_ms);
        let txn = self.prep.prep_close_session(&self.tree, &hdr);
        self.commit(&hdr, &txn, events);
        self.connections.remove(&session);
        Reply {
            err: ErrorCode::Ok,
            zxid: hdr.zxid,
            response: Response::Empty,
            message: None,
        }
    }

    /// An auth packet: the identity joins the connection's auth info; an unknown scheme is
    /// AUTHFAILED and ZooKeeper closes the connection, which loses its auth and watches.
    /// The reply header's zxid is 0.
    pub fn add_auth(&mut self, session: SessionId, scheme: &str, auth: &[u8]) -> Reply {
        let conn = self.connections.get_mut(&session).expect("session open");
        let err = match acl::authenticate(scheme, auth, CLIENT_IP) {
            Some(id) => {
                conn.auth.add(id);
                ErrorCode::Ok
            }
            None => {
                conn.auth = AuthInfo::new(CLIENT_IP);
                self.tree.remove_watcher(session);
                ErrorCode::AuthFailed
            }
        };
        Reply {
            err,
            zxid: 0,
            response: Response::Empty,
            message: None,
        }
    }

    /// Process one request of an open session and return its reply; watch events it
    /// fires (for any session) are pushed to `events`.
    pub fn request(
        &mut self,
        now_ms: i64,
        session: SessionId,
        request: &Request,
        events: &mut Vec<WatchEvent>,
    ) -> Reply {
        let auth = self
            .connections
            .get(&session)
            .expect("session open")
            .auth
            .ids()
            .to_vec();
        if request.is_write() {
            let hdr = self.next_header(session, now_ms);
            let prepped = self.prep.prep_write(&self.tree, &hdr, &auth, request);
            let result = self.commit(&hdr, &prepped.txn, events);
            let (err, response) = result.to_reply();
            return Reply {
                err,
                zxid: hdr.zxid,
                response,
                message: prepped.message,
            };
        }
        let outcome = crate::read::serve_read(&mut self.tree, session, &auth, request, events);
        Reply::of_read(outcome, self.tree.last_processed_zxid())
    }

    /// Run the container manager until nothing more is eligible: each pass deletes the
    /// candidates of the tree as it was when the pass began, one txn each.
    pub fn reap(&mut self, now_ms: i64, events: &mut Vec<WatchEvent>) -> usize {
        let mut reaped = 0;
        for _pass in 0..=self.tree.node_count() {
            let candidates = self.tree.reap_candidates(now_ms);
            if candidates.is_empty() {
                return reaped;
            }
            for path in candidates {
                let hdr = self.next_header(0, now_ms);
                let txn = self.prep.prep_delete_container(&self.tree, &hdr, &path);
                self.commit(&hdr, &txn, events);
                reaped += 1;
            }
        }
        panic!("container reaping did not reach a fixed point");
    }
}
