//! The connect handshake (`ZooKeeperServer.processConnectRequest`): new sessions created
//! through the leader, reconnects revalidated by it, and session ids and passwords.

use crate::bugs::Bug;

use super::{ConnState, close, session_of, submit};
use crate::proto::{ConnId, ConnectRequest, ConnectResponse, ServerMessage};
use crate::server::{Core, Effect, Effects, Server};
use crate::stat::SessionId;
use crate::zab::messages::LearnerRequest;

/// Session passwords: derived from the id with a fixed secret, as ZooKeeper derives them
/// from the id with its server secret.
const PASSWORD_SECRET: u64 = 0x5a6b_7c8d_9e0f_1a2b;

pub fn session_password(session: SessionId) -> u64 {
    (session as u64) ^ PASSWORD_SECRET
}

/// `ZooKeeperServer.processConnectRequest`.
pub(super) fn on_connect(
    s: &mut Server,
    now_ms: i64,
    conn: ConnId,
    req: ConnectRequest,
    out: &mut Effects,
) {
    if s.clients.conns[&conn].state != ConnState::New {
        return close(s, conn, out);
    }
    // Only a serving server takes a connection (`on_message` closes it otherwise).
    assert!(
        s.is_serving(),
        "server {}: a connect handled while not serving",
        s.config.id
    );
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

pub(super) fn set_state(s: &mut Core, conn: ConnId, state: ConnState) {
    // A connection belongs to one session: once it names one, it never names another.
    if let Some(old) = s
        .clients
        .conns
        .get(&conn)
        .and_then(|c| session_of(&c.state))
    {
        assert_eq!(
            Some(old),
            session_of(&state),
            "server {}: connection {conn} of session {old:#x} changing session",
            s.config.id
        );
    }
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
    let id = id as SessionId;
    // Session ids are unique: none in use here, none in the tree.
    assert!(
        s.clients.conn_of(id).is_none(),
        "server {}: new session id {id:#x} already connected",
        s.config.id
    );
    assert!(
        !s.tree.sessions().contains_key(&id),
        "server {}: new session id {id:#x} already live",
        s.config.id
    );
    id
}

/// The connection's session is established (created, or revalidated on a reconnect): the
/// connection serves it, and the client is told its id, password and timeout
/// (`ConnectResponse`).
pub(super) fn establish(
    s: &mut Core,
    conn: ConnId,
    session: SessionId,
    timeout_ms: i32,
    out: &mut Effects,
) {
    // A ConnectResponse with timeout 0 tells the client its session expired
    // (ClientCnxn.onConnected): an established session has the positive timeout
    // negotiated within the server's limits.
    assert!(
        timeout_ms > 0,
        "server {}: session {session:#x} established with timeout {timeout_ms}",
        s.config.id
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

/// The leader's answer to a reconnect.
pub(in crate::server) fn on_revalidated(
    s: &mut Core,
    session: SessionId,
    valid: bool,
    out: &mut Effects,
) {
    let Some(conn) = s.clients.conn_of(session) else {
        return;
    };
    let ConnState::Revalidating { timeout_ms, .. } = s.clients.conns[&conn].state else {
        return;
    };
    // The connection indexed under the session is the one revalidating it.
    assert_eq!(
        session_of(&s.clients.conns[&conn].state),
        Some(session),
        "server {}: connection {conn} revalidating another session than {session:#x}",
        s.config.id
    );
    if valid {
        establish(s, conn, session, timeout_ms, out);
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
