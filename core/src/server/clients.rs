//! Client connections on a server: the connect handshake (new sessions through the leader,
//! reconnects revalidated by it), per-session FIFO request processing (ZooKeeper's
//! `CommitProcessor`: a read waits for the session's earlier writes), replies, watch
//! notifications, pings and auth.

use crate::bugs::Bug;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::{Core, Effect, Effects, Server};
use crate::acl::{self, AuthInfo, Id};
use crate::error::ErrorCode;
use crate::proto::{ClientMessage, ConnId, ConnectRequest, ConnectResponse, ServerMessage};
use crate::read;
use crate::request::{Reply, Request, Response};
use crate::stat::SessionId;
use crate::tree::{DataTree, TxnResult};
use crate::txn::Txn;
use crate::watch::WatchEvent;
use crate::zab::messages::{LearnerRequest, Proposal};

/// Session passwords: derived from the id with a fixed secret, as ZooKeeper derives them
/// from the id with its server secret.
const PASSWORD_SECRET: u64 = 0x5a6b_7c8d_9e0f_1a2b;

pub fn session_password(session: SessionId) -> u64 {
    (session as u64) ^ PASSWORD_SECRET
}

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
                if self.by_session.get(&session) == Some(&conn) {
                    self.by_session.remove(&session);
                    tree.remove_watcher(session);
                }
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
        c.queue.push_back(entry);
    }
}

/// `ZooKeeperServer.processConnectRequest`.
fn on_connect(s: &mut Server, now_ms: i64, conn: ConnId, req: ConnectRequest, out: &mut Effects) {
    if s.clients.conns[&conn].state != ConnState::New {
        return close(s, conn, out);
    }
    // A client that has seen a later zxid than this server must go elsewhere, or it could
    // read back in time (ZooKeeperServer: "Refusing session request ... client must try
    // another server").
    if req.last_zxid_seen > s.tree.last_processed_zxid() && !s.config.bugs.has(Bug::StaleRead) {
        return close(s, conn, out);
    }
    let timeout_ms = s.config.session_limits().negotiate(req.timeout_ms);
    if req.session_id == 0 {
        let session = new_session_id(s, now_ms);
        set_state(
            s,
            conn,
            ConnState::Creating {
                session,
                timeout_ms,
            },
        );
        submit(
            s,
            now_ms,
            session,
            0,
            LearnerRequest::CreateSession { timeout_ms },
            Vec::new(),
            out,
        );
        return;
    }
    let session = req.session_id;
    if req.password != session_password(session) {
        out.push(Effect::ToClient {
            conn,
            msg: ServerMessage::Connected(ConnectResponse {
                timeout_ms: 0,
                session_id: session,
                password: 0,
            }),
        });
        return close(s, conn, out);
    }
    // The session moves here: an older connection of it on this server closes.
    if let Some(old) = s.clients.conn_of(session) {
        if old != conn {
            close(s, old, out);
        }
    }
    set_state(
        s,
        conn,
        ConnState::Revalidating {
            session,
            timeout_ms,
        },
    );
    if let Some(valid) = s.zab_revalidate(now_ms, session, timeout_ms, out) {
        on_revalidated(s, session, valid, out);
    }
}

fn set_state(s: &mut Core, conn: ConnId, state: ConnState) {
    if let Some(session) = session_of(&state) {
        s.clients.by_session.insert(session, conn);
    }
    if let Some(c) = s.clients.conns.get_mut(&conn) {
        c.state = state;
    }
}

/// `SessionTrackerImpl.initializeNextSessionId`: the server id in the high byte, then a
/// value from the clock, then a counter, so ids stay unique across servers and restarts.
fn new_session_id(s: &mut Core, now_ms: i64) -> SessionId {
    s.clients.sessions_created += 1;
    let id = (s.config.id & 0xff) << 56
        | ((now_ms as u64) & 0xff_ffff_ffff) << 16
        | (s.clients.sessions_created & 0xffff);
    id as SessionId
}

/// The leader's answer to a reconnect.
pub(super) fn on_revalidated(s: &mut Core, session: SessionId, valid: bool, out: &mut Effects) {
    let Some(conn) = s.clients.conn_of(session) else {
        return;
    };
    let ConnState::Revalidating { timeout_ms, .. } = s.clients.conns[&conn].state else {
        return;
    };
    if valid {
        set_state(
            s,
            conn,
            ConnState::Active {
                session,
                timeout_ms,
            },
        );
        let resp = ConnectResponse {
            timeout_ms,
            session_id: session,
            password: session_password(session),
        };
        out.push(Effect::ToClient {
            conn,
            msg: ServerMessage::Connected(resp),
        });
    } else {
        // An expired session: timeout 0, then the connection closes.
        out.push(Effect::ToClient {
            conn,
            msg: ServerMessage::Connected(ConnectResponse {
                timeout_ms: 0,
                session_id: session,
                password: 0,
            }),
        });
        close(s, conn, out);
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
    s.zab_touch(now_ms, session, timeout_ms);
}

fn submit(
    s: &mut Server,
    now_ms: i64,
    session: SessionId,
    cxid: i32,
    request: LearnerRequest,
    auth: Vec<Id>,
    out: &mut Effects,
) {
    if s.config.bugs.has(Bug::FifoReorder) {
        // The reordering knob: hold a session's write until its next one, then send the
        // two swapped.
        let is_write = matches!(&request, LearnerRequest::Client(r) if r.is_write());
        let held = s.clients.held.remove(&session);
        match (is_write, held) {
            (true, None) => {
                s.clients.held.insert(session, (cxid, request, auth));
                return;
            }
            (true, Some((c, r, a))) => {
                submit_now(s, now_ms, session, cxid, request, auth, out);
                return submit_now(s, now_ms, session, c, r, a, out);
            }
            (false, Some((c, r, a))) => submit_now(s, now_ms, session, c, r, a, out),
            (false, None) => {}
        }
    }
    submit_now(s, now_ms, session, cxid, request, auth, out);
}

/// Release writes held by the reordering knob (on every tick, so none waits forever).
pub(super) fn release_held(s: &mut Server, now_ms: i64, out: &mut Effects) {
    for (session, (cxid, request, auth)) in std::mem::take(&mut s.clients.held) {
        submit_now(s, now_ms, session, cxid, request, auth, out);
    }
}

fn submit_now(
    s: &mut Server,
    now_ms: i64,
    session: SessionId,
    cxid: i32,
    request: LearnerRequest,
    auth: Vec<Id>,
    out: &mut Effects,
) {
    s.zab_submit(now_ms, session, cxid, request, auth, out);
}

/// Answer a connection's requests in order while the oldest can be answered.
fn drain(s: &mut Core, conn: ConnId, out: &mut Effects) {
    loop {
        let Some(c) = s.clients.conns.get_mut(&conn) else {
            return;
        };
        let ready = match c.queue.front() {
            Some(Entry::Read { .. }) | Some(Entry::Ping) => true,
            Some(Entry::Write { reply, .. }) | Some(Entry::Close { reply, .. }) => reply.is_some(),
            None => false,
        };
        if !ready {
            return;
        }
        let entry = c.queue.pop_front().expect("front exists");
        let session = session_of(&c.state).expect("requests only on sessions");
        let auth = c.auth.ids().to_vec();
        match entry {
            Entry::Read { xid, request } => {
                let mut events = Vec::new();
                let outcome = read::serve_read(&mut s.tree, session, &auth, &request, &mut events);
                let zxid = s.tree.last_processed_zxid();
                notify(s, &events, zxid, out);
                let reply = match outcome {
                    Ok(response) => Reply {
                        err: ErrorCode::Ok,
                        zxid,
                        response,
                        message: None,
                    },
                    Err(err) => Reply {
                        err,
                        zxid,
                        response: Response::Empty,
                        message: None,
                    },
                };
                reply_to(s, conn, ServerMessage::Reply { xid, reply }, out);
            }
            Entry::Ping => {
                let zxid = s.tree.last_processed_zxid();
                reply_to(s, conn, ServerMessage::Pong { zxid }, out);
            }
            Entry::Write { xid, reply, .. } => {
                let reply = reply.expect("ready");
                let moved = reply.err == ErrorCode::SessionMoved;
                reply_to(s, conn, ServerMessage::Reply { xid, reply }, out);
                if moved {
                    // FinalRequestProcessor closes a connection whose session moved.
                    return close(s, conn, out);
                }
            }
            Entry::Close { xid, reply, .. } => {
                reply_to(
                    s,
                    conn,
                    ServerMessage::Reply {
                        xid,
                        reply: reply.expect("ready"),
                    },
                    out,
                );
                return close(s, conn, out);
            }
        }
    }
}

/// Send watch notifications to the sessions connected here.
fn notify(s: &mut Core, events: &[WatchEvent], zxid: i64, out: &mut Effects) {
    let defer = s.config.bugs.has(Bug::WatchAfterRead);
    for e in events {
        let Some(conn) = s.clients.conn_of(e.watcher) else {
            continue;
        };
        let c = s
            .clients
            .conns
            .get_mut(&conn)
            .expect("indexed connection exists");
        // Only to a live session that may read the node (ZOOKEEPER-4799).
        if !matches!(c.state, ConnState::Active { .. }) || !e.readable_by(c.auth.ids()) {
            continue;
        }
        let msg = ServerMessage::Watch {
            event_type: e.event_type,
            path: e.path.clone(),
            zxid,
        };
        if defer {
            c.deferred.push(msg);
        } else {
            out.push(Effect::ToClient { conn, msg });
        }
    }
}

/// Send a reply, then any notifications the watch-after-read knob held back.
fn reply_to(s: &mut Core, conn: ConnId, msg: ServerMessage, out: &mut Effects) {
    let zxid = match &msg {
        ServerMessage::Reply { reply, .. } => Some(reply.zxid),
        ServerMessage::Pong { zxid } => Some(*zxid),
        _ => None,
    };
    if let (Some(zxid), Some(c)) = (zxid, s.clients.conns.get_mut(&conn)) {
        // A connection's replies are in order and each reflects the state at least as of
        // the one before: a client's view never goes back (ZooKeeper Programmer's Guide,
        // "ZooKeeper guarantees": sequential consistency and single system image).
        if zxid < c.last_zxid {
            let detail = format!(
                "server {}: a reply at zxid {zxid:#x} after one at {:#x} on connection {conn}",
                s.config.id, c.last_zxid
            );
            assert!(!s.config.bugs.is_empty(), "{detail}");
            out.push(Effect::Breach {
                invariant: "a connection's replies never go back",
                detail,
            });
        }
        c.last_zxid = c.last_zxid.max(zxid);
    }
    out.push(Effect::ToClient { conn, msg });
    if let Some(c) = s.clients.conns.get_mut(&conn) {
        for m in c.deferred.drain(..) {
            out.push(Effect::ToClient { conn, msg: m });
        }
    }
}

/// A committed txn was applied: notify watchers, then complete the request that made it
/// if its connection is here (notifications go before the reply, so a client never reads
/// a change before hearing of it).
pub(super) fn on_applied(
    s: &mut Core,
    proposal: &Arc<Proposal>,
    result: &TxnResult,
    events: &[WatchEvent],
    out: &mut Effects,
) {
    let zxid = proposal.hdr.zxid;
    notify(s, events, zxid, out);
    let session = proposal.hdr.session_id;
    let Some(conn) = s.clients.conn_of(session) else {
        return;
    };
    let (err, response) = result.to_reply();
    let reply = Reply {
        err,
        zxid,
        response,
        message: None,
    };
    match &proposal.txn {
        Txn::CreateSession { .. } => {
            if let ConnState::Creating {
                session,
                timeout_ms,
            } = s.clients.conns[&conn].state
            {
                // The connection creating a session is the one indexed under it.
                assert_eq!(
                    session, proposal.hdr.session_id,
                    "server {}: createSession {:#x} applied for connection {conn} creating {session:#x}",
                    s.config.id, proposal.hdr.session_id
                );
                set_state(
                    s,
                    conn,
                    ConnState::Active {
                        session,
                        timeout_ms,
                    },
                );
                let resp = ConnectResponse {
                    timeout_ms,
                    session_id: session,
                    password: session_password(session),
                };
                out.push(Effect::ToClient {
                    conn,
                    msg: ServerMessage::Connected(resp),
                });
            }
        }
        Txn::CloseSession { .. } => {
            let c = s
                .clients
                .conns
                .get_mut(&conn)
                .expect("indexed connection exists");
            match c
                .queue
                .iter_mut()
                .find(|e| matches!(e, Entry::Close { xid, .. } if *xid == proposal.hdr.cxid))
            {
                Some(Entry::Close { reply: r, .. }) => *r = Some(reply),
                // The session expired: its connection closes.
                _ => return close(s, conn, out),
            }
        }
        _ => {
            let c = s
                .clients
                .conns
                .get_mut(&conn)
                .expect("indexed connection exists");
            if let Some(Entry::Write { reply: r, .. }) = c.queue.iter_mut().find(
                |e| matches!(e, Entry::Write { xid, reply: None, .. } if *xid == proposal.hdr.cxid),
            ) {
                *r = Some(reply);
            }
        }
    }
    drain(s, conn, out);
}

/// Answer the syncs the leader confirmed, and forward each session's writes that waited
/// behind them, up to its next sync.
pub(super) fn release_syncs(s: &mut Server, now_ms: i64, out: &mut Effects) {
    for (session, cxid) in std::mem::take(&mut s.syncs_done) {
        let Some(conn) = s.clients.conn_of(session) else {
            continue;
        };
        let zxid = s.tree.last_processed_zxid();
        let c = s
            .clients
            .conns
            .get_mut(&conn)
            .expect("indexed connection exists");
        let found = c.queue.iter_mut().find(|e| matches!(e, Entry::Write { xid, reply: None, request: Some(Request::Sync { .. }), held: None } if *xid == cxid));
        if let Some(Entry::Write {
            request: Some(Request::Sync { path }),
            reply,
            ..
        }) = found
        {
            *reply = Some(Reply {
                err: ErrorCode::Ok,
                zxid,
                response: Response::Sync { path: path.clone() },
                message: None,
            });
        }
        let mut release = Vec::new();
        for e in c.queue.iter_mut() {
            match e {
                Entry::Write {
                    xid, request, held, ..
                } if held.is_some() => {
                    let (req, auth) = *held.take().expect("checked");
                    release.push((*xid, req, auth));
                    if matches!(request, Some(Request::Sync { .. })) {
                        break;
                    }
                }
                Entry::Close { xid, held, .. } if *held => {
                    *held = false;
                    release.push((*xid, LearnerRequest::CloseSession, Vec::new()));
                }
                _ => {}
            }
        }
        for (xid, req, auth) in release {
            submit(s, now_ms, session, xid, req, auth, out);
        }
        drain(s, conn, out);
    }
}

/// Whether the connection has a sync that is sent and not yet answered, or any request
/// still held behind one.
fn sync_pending(s: &Core, conn: ConnId) -> bool {
    s.clients.conns.get(&conn).is_some_and(|c| {
        c.queue.iter().any(|e| {
            matches!(
                e,
                Entry::Write {
                    request: Some(Request::Sync { .. }),
                    reply: None,
                    ..
                } | Entry::Write { held: Some(_), .. }
                    | Entry::Close { held: true, .. }
            )
        })
    })
}
