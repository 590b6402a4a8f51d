//! Answering a connection's requests in order (reads served, writes once committed,
//! pings), watch notifications, and completing the request a committed txn came from.

use crate::bugs::Bug;
use std::sync::Arc;

use super::connect::establish;
use super::{ConnState, Entry, close, session_of};
use crate::error::ErrorCode;
use crate::proto::{ConnId, ServerMessage};
use crate::read;
use crate::request::Reply;
use crate::server::{Core, Effect, Effects};
use crate::tree::TxnResult;
use crate::txn::Txn;
use crate::watch::WatchEvent;
use crate::zab::messages::Proposal;

/// Answer a connection's requests in order while the oldest can be answered.
pub(super) fn drain(s: &mut Core, conn: ConnId, out: &mut Effects) {
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
        // Requests are queued only on an active session's connection (`on_request`).
        assert!(
            matches!(c.state, ConnState::Active { .. }),
            "connection {conn} answering in state {:?}",
            c.state
        );
        let auth = c.auth.ids().to_vec();
        match entry {
            Entry::Read { xid, request } => {
                let mut events = Vec::new();
                let outcome = read::serve_read(&mut s.tree, session, &auth, &request, &mut events);
                let zxid = s.tree.last_processed_zxid();
                notify(s, &events, zxid, out);
                let reply = Reply::of_read(outcome, zxid);
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
        // A watch is the session's: it goes to the connection indexed under that session.
        assert_eq!(
            session_of(&c.state),
            Some(e.watcher),
            "connection {conn} indexed under session {:#x}",
            e.watcher
        );
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
            out.push(Effect::breach(
                "a connection's replies never go back",
                detail,
            ));
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
pub(in crate::server) fn on_applied(
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
                establish(s, conn, session, timeout_ms, out);
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
