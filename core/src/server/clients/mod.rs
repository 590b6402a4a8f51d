//! Client connections on a server: the connect handshake (new sessions through the leader,
//! reconnects revalidated by it), per-session FIFO request processing (ZooKeeper's
//! `CommitProcessor`: a read waits for the session's earlier writes), replies, watch
//! notifications, pings and auth.
//!
//! The connect handshake is `connect`; `order` forwards requests to Zab in each session's
//! order; `replies` answers them and sends notifications.

mod connect;
mod order;
mod replies;

use std::collections::{BTreeMap, VecDeque};

use super::{Core, Effect, Effects, Server};
use crate::acl::{self, AuthInfo, Id};
use crate::error::ErrorCode;
use crate::proto::{ClientMessage, ConnId, ServerMessage};
use crate::request::{Reply, Request};
use crate::stat::SessionId;
use crate::tree::DataTree;
use crate::zab::messages::LearnerRequest;

use connect::on_connect;
pub(super) use connect::on_revalidated;
pub(super) use order::{release_held, release_syncs};
use order::{submit, sync_pending};
use replies::drain;
pub(super) use replies::on_applied;

#[derive(Clone, Debug, PartialEq, Eq)]
enum ConnState {
    /// Transport up, no ConnectRequest yet.
    New,
    /// createSession forwarded; the session is established once its txn commits.
    Creating {
        session: SessionId,
        timeout_ms: i32,
    },
    /// Reconnect: the leader is asked whether the session is still live.
    Revalidating {
        session: SessionId,
        timeout_ms: i32,
    },
    Active {
        session: SessionId,
        timeout_ms: i32,
    },
}

#[derive(Clone, Debug)]
enum Entry {
    Read {
        xid: i32,
        request: Request,
    },
    /// A write or sync forwarded to the leader; `reply` is set when it commits. `held` is
    /// the forward still to send: a write waits while an earlier sync of the session is
    /// unanswered (see `on_request`).
    Write {
        xid: i32,
        request: Option<Request>,
        reply: Option<Reply>,
        held: Option<Box<(LearnerRequest, Vec<Id>)>>,
    },
    Ping,
    Close {
        xid: i32,
        reply: Option<Reply>,
        held: bool,
    },
}

#[derive(Clone, Debug)]
struct Conn {
    state: ConnState,
    auth: AuthInfo,
    queue: VecDeque<Entry>,
    /// Notifications held back by the watch-after-read knob until the next reply.
    deferred: Vec<ServerMessage>,
    /// The zxid of the last reply or pong sent on this connection.
    last_zxid: crate::stat::Zxid,
}

#[derive(Clone, Debug, Default)]
pub struct Clients {
    conns: BTreeMap<ConnId, Conn>,
    by_session: BTreeMap<SessionId, ConnId>,
    sessions_created: u64,
    /// Writes held back by the fifo-reorder knob.
    held: BTreeMap<SessionId, (i32, LearnerRequest, Vec<Id>)>,
}

impl Clients {
    /// The connection holding `session` here, if any.
    fn conn_of(&self, session: SessionId) -> Option<ConnId> {
        self.by_session.get(&session).copied()
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Forget a connection the client dropped; its watches go with it (watches belong to
    /// a connection in ZooKeeper and are re-sent by the client with setWatches).
    pub fn disconnected(&mut self, conn: ConnId, tree: &mut DataTree) {
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(session) = session_of(&c.state) {
                // A connection belongs to one session, and a session to one connection
                // here: an older one closes when the session moves to a newer one.
                assert_eq!(
                    self.by_session.get(&session),
                    Some(&conn),
                    "connection {conn} of session {session:#x} not the one indexed"
                );
                self.by_session.remove(&session);
                tree.remove_watcher(session);
            }
        }
    }

    /// Close every connection (the server stops serving).
    pub fn close_all(&mut self, tree: &mut DataTree, out: &mut Effects) {
        self.held.clear();
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.disconnected(conn, tree);
            out.push(Effect::CloseConn { conn });
        }
        // Every session indexed here had its connection: none is left behind.
        assert!(
            self.by_session.is_empty(),
            "sessions {:?} indexed without a connection",
            self.by_session.keys().collect::<Vec<_>>()
        );
    }
}

fn session_of(state: &ConnState) -> Option<SessionId> {
    match state {
        ConnState::New => None,
        ConnState::Creating { session, .. }
        | ConnState::Revalidating { session, .. }
        | ConnState::Active { session, .. } => Some(*session),
    }
}

fn close(s: &mut Core, conn: ConnId, out: &mut Effects) {
    s.clients.disconnected(conn, &mut s.tree);
    out.push(Effect::CloseConn { conn });
}

pub(super) fn on_message(
    s: &mut Server,
    now_ms: i64,
    conn: ConnId,
    msg: ClientMessage,
    out: &mut Effects,
) {
    s.clients.conns.entry(conn).or_insert_with(|| Conn {
        state: ConnState::New,
        auth: AuthInfo::new(&client_ip(conn)),
        queue: VecDeque::new(),
        deferred: Vec::new(),
        last_zxid: 0,
    });
    if !s.is_serving() {
        // ZooKeeperServer not running: the connection is closed.
        close(s, conn, out);
        return;
    }
    match msg {
        ClientMessage::Connect(req) => on_connect(s, now_ms, conn, req, out),
        ClientMessage::Request { xid, request } => on_request(s, now_ms, conn, xid, request, out),
        ClientMessage::Ping => {
            if active_session(s, conn).is_some() {
                touch(s, now_ms, conn);
                push(s, conn, Entry::Ping);
                drain(s, conn, out);
            }
        }
        ClientMessage::Auth { scheme, auth } => on_auth(s, conn, &scheme, &auth, out),
        ClientMessage::CloseSession { xid } => {
            let Some((session, _)) = active_session(s, conn) else {
                return close(s, conn, out);
            };
            assert_eq!(
                s.clients.conn_of(session),
                Some(conn),
                "server {}: closing session {session:#x} on a connection not its own",
                s.config.id
            );
            let held = sync_pending(s, conn);
            push(
                s,
                conn,
                Entry::Close {
                    xid,
                    reply: None,
                    held,
                },
            );
            if held {
                return;
            }
            submit(
                s,
                now_ms,
                session,
                xid,
                LearnerRequest::CloseSession,
                Vec::new(),
                out,
            );
        }
    }
}

/// Each connection's `ip` identity: the simulated client address.
fn client_ip(conn: ConnId) -> String {
    format!("10.0.{}.{}", (conn >> 8) & 0xff, conn & 0xff)
}

fn active_session(s: &Core, conn: ConnId) -> Option<(SessionId, i32)> {
    match s.clients.conns.get(&conn)?.state {
        ConnState::Active {
            session,
            timeout_ms,
        } => Some((session, timeout_ms)),
        _ => None,
    }
}

fn push(s: &mut Core, conn: ConnId, entry: Entry) {
    if let Some(c) = s.clients.conns.get_mut(&conn) {
        // Only an active session's requests are queued (FinalRequestProcessor answers them
        // in order; `drain` asserts the same when it answers).
        assert!(
            matches!(c.state, ConnState::Active { .. }),
            "server {}: a request queued on connection {conn} in state {:?}",
            s.config.id,
            c.state
        );
        c.queue.push_back(entry);
    }
}

fn on_request(
    s: &mut Server,
    now_ms: i64,
    conn: ConnId,
    xid: i32,
    request: Request,
    out: &mut Effects,
) {
    let Some((session, _)) = active_session(s, conn) else {
        return close(s, conn, out);
    };
    // A connection's requests are its session's: the session is indexed under it.
    assert_eq!(
        s.clients.conn_of(session),
        Some(conn),
        "server {}: a request of session {session:#x} on a connection not its own",
        s.config.id
    );
    touch(s, now_ms, conn);
    if request.is_write() || matches!(request, Request::Sync { .. }) {
        let auth = s.clients.conns[&conn].auth.ids().to_vec();
        // The leader answers a sync only once a quorum confirms it still leads
        // (ZOOKEEPER-1675), so the session's later writes could commit first and show in
        // the reads queued behind the sync. They wait here until the sync is answered:
        // a session's requests take effect in the order it sent them.
        if sync_pending(s, conn) {
            let held = Some(Box::new((LearnerRequest::Client(request.clone()), auth)));
            push(
                s,
                conn,
                Entry::Write {
                    xid,
                    request: Some(request),
                    reply: None,
                    held,
                },
            );
        } else {
            push(
                s,
                conn,
                Entry::Write {
                    xid,
                    request: Some(request.clone()),
                    reply: None,
                    held: None,
                },
            );
            submit(
                s,
                now_ms,
                session,
                xid,
                LearnerRequest::Client(request),
                auth,
                out,
            );
        }
    } else {
        push(s, conn, Entry::Read { xid, request });
    }
    drain(s, conn, out);
}

fn on_auth(s: &mut Core, conn: ConnId, scheme: &str, auth: &[u8], out: &mut Effects) {
    // Auth arrives on a connection `on_message` knows.
    assert!(
        s.clients.conns.contains_key(&conn),
        "server {}: auth on unknown connection {conn}",
        s.config.id
    );
    let ip = client_ip(conn);
    match acl::authenticate(scheme, auth, &ip) {
        Some(id) => {
            if let Some(c) = s.clients.conns.get_mut(&conn) {
                c.auth.add(id);
            }
            out.push(Effect::ToClient {
                conn,
                msg: ServerMessage::AuthReply { err: ErrorCode::Ok },
            });
        }
        None => {
            out.push(Effect::ToClient {
                conn,
                msg: ServerMessage::AuthReply {
                    err: ErrorCode::AuthFailed,
                },
            });
            close(s, conn, out);
        }
    }
}

fn touch(s: &mut Server, now_ms: i64, conn: ConnId) {
    let Some((session, timeout_ms)) = active_session(s, conn) else {
        return;
    };
    // A session is touched through the connection that holds it here: an older one
    // closed when the session moved to a newer one (`on_connect`).
    assert_eq!(
        s.clients.conn_of(session),
        Some(conn),
        "server {}: session {session:#x} touched on connection {conn}, not its own",
        s.config.id
    );
    s.zab_touch(now_ms, session, timeout_ms);
}
