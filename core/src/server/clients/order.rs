//! Forwarding requests to Zab in each session's order: writes held behind a sync not yet
//! answered (ZOOKEEPER-1675), syncs answered once the leader confirms them, and the
//! fifo-reorder knob's held writes.

use crate::bugs::Bug;

use super::{Entry, drain};
use crate::acl::Id;
use crate::error::ErrorCode;
use crate::proto::ConnId;
use crate::request::{Reply, Request, Response};
use crate::server::{Core, Effects, Server};
use crate::stat::SessionId;
use crate::zab::messages::LearnerRequest;

pub(super) fn submit(
    s: &mut Server,
    now_ms: i64,
    session: SessionId,
    cxid: i32,
    request: LearnerRequest,
    auth: Vec<Id>,
    out: &mut Effects,
) {
    // Writes are held back only by the fifo-reorder knob.
    if !s.config.bugs.has(Bug::FifoReorder) {
        assert!(
            s.clients.held.is_empty(),
            "server {}: writes held without the fifo-reorder knob",
            s.config.id
        );
    }
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
pub(in crate::server) fn release_held(s: &mut Server, now_ms: i64, out: &mut Effects) {
    // A server that stopped serving closed its connections and dropped what they held.
    if !s.clients.held.is_empty() {
        assert!(
            s.is_serving(),
            "server {}: writes held while not serving",
            s.config.id
        );
    }
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

/// Answer the syncs the leader confirmed, and forward each session's writes that waited
/// behind them, up to its next sync.
pub(in crate::server) fn release_syncs(s: &mut Server, now_ms: i64, out: &mut Effects) {
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
        // The connection indexed under a session is that session's.
        assert_eq!(
            super::session_of(&c.state),
            Some(session),
            "connection {conn} indexed under session {session:#x}"
        );
        let found = c.queue.iter_mut().find(|e| matches!(e, Entry::Write { xid, reply: None, request: Some(Request::Sync { .. }), held: None } if *xid == cxid));
        let Some(Entry::Write {
            request: Some(Request::Sync { path }),
            reply,
            ..
        }) = found
        else {
            // A sync the session sent on an earlier connection (its reply went with that
            // connection): the requests this connection holds wait for its own sync.
            // Releasing them here let a later write of the session commit before that
            // sync was answered, and its reply, queued behind the sync's, carried an
            // older zxid than the sync's (found by swarm seed 1821).
            continue;
        };
        *reply = Some(Reply {
            err: ErrorCode::Ok,
            zxid,
            response: Response::Sync { path: path.clone() },
            message: None,
        });
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
pub(super) fn sync_pending(s: &Core, conn: ConnId) -> bool {
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
