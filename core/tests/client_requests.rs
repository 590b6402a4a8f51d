//! Stories of the client session state machine against ZooKeeper 3.8's `ClientCnxn`
//! behaviour, requests and watches: pipelining and reply order, SetWatches and auths sent
//! again on reconnect, watch consumption, and the same inputs giving the same effects.

mod common_client;

use common_client::{
    PASSWORD, SESSION, Story, children, completed, exists, get, ok_reply, sent, session_connected,
    strings, watched,
};
use zksim_core::client::{ClientEffect, Outcome, SET_WATCHES_XID, SessionEvent};
use zksim_core::error::ErrorCode;
use zksim_core::proto::{ClientMessage, ConnectRequest, ServerMessage};
use zksim_core::request::{Reply, Request, Response};
use zksim_core::watch::{EventType, WatcherMode};

#[test]
fn requests_are_pipelined_and_complete_in_order() {
    // ClientCnxn: requests go out in xid order without waiting, and replies come back in
    // that order (SendThread.readResponse takes the head of pendingQueue).
    let mut s = Story::connected();
    let xids: Vec<i32> = ["/a", "/b", "/c"]
        .iter()
        .map(|p| s.submit(1, get(p)))
        .collect();
    assert_eq!(xids, vec![1, 2, 3]);
    assert_eq!(
        s.take(),
        vec![sent(1, get("/a")), sent(2, get("/b")), sent(3, get("/c"))]
    );
    assert_eq!(s.client.in_flight(), 3);
    s.reply(2, 1, ErrorCode::Ok, 5);
    s.reply(2, 2, ErrorCode::NoNode, 6);
    s.reply(2, 3, ErrorCode::Ok, 0);
    let reply = |err, zxid| {
        Outcome::Reply(Reply {
            err,
            zxid,
            response: Response::Empty,
            message: None,
        })
    };
    assert_eq!(
        s.take(),
        vec![
            completed(1, reply(ErrorCode::Ok, 5)),
            completed(2, reply(ErrorCode::NoNode, 6)),
            completed(3, reply(ErrorCode::Ok, 0)),
        ]
    );
    assert_eq!(s.client.in_flight(), 0);
    // A reply zxid of 0 does not move the last zxid seen.
    assert_eq!(s.client.last_zxid_seen(), 6);
}

#[test]
fn set_watches_re_registers_every_watch_after_reconnect() {
    // SendThread.primeConnection: SetWatches2 with data, exist, child, persistent and
    // persistent recursive lists relative to lastZxid, before queued requests.
    let mut s = Story::connected();
    s.submit(1, watched(get("/d")));
    s.submit(1, watched(exists("/e")));
    s.submit(1, watched(children("/c")));
    let add = |path: &str, mode| Request::AddWatch {
        path: path.to_string(),
        mode,
    };
    s.submit(1, add("/p", WatcherMode::Persistent));
    s.submit(1, add("/r", WatcherMode::PersistentRecursive));
    s.reply(2, 1, ErrorCode::Ok, 10);
    s.reply(2, 2, ErrorCode::NoNode, 11);
    s.reply(2, 3, ErrorCode::Ok, 12);
    s.reply(2, 4, ErrorCode::Ok, 13);
    s.reply(2, 5, ErrorCode::Ok, 14);
    s.disconnect(3);
    let waiting = s.submit(4, get("/z"));
    s.tick(503);
    s.establish(503);
    s.take();
    s.client.on_disconnected(504, &mut s.out);
    assert_eq!(
        s.take(),
        vec![
            completed(waiting, Outcome::ConnectionLoss),
            ClientEffect::Session(SessionEvent::Disconnected),
        ],
        "SetWatches in flight completes silently"
    );
    let waiting = s.submit(505, get("/z"));
    s.tick(1004);
    s.establish(1004);
    let set_watches = Request::SetWatches {
        relative_zxid: 14,
        data: strings(&["/d"]),
        exist: strings(&["/e"]),
        child: strings(&["/c"]),
        persistent: strings(&["/p"]),
        persistent_recursive: strings(&["/r"]),
    };
    assert_eq!(
        s.take(),
        vec![
            ClientEffect::Connect { server: 0 },
            ClientEffect::Send(ClientMessage::Connect(ConnectRequest {
                last_zxid_seen: 14,
                timeout_ms: 3000,
                session_id: SESSION,
                password: PASSWORD,
            })),
            session_connected(),
            sent(SET_WATCHES_XID, set_watches),
            sent(waiting, get("/z")),
        ]
    );
    // The SetWatches reply is matched in order and reported to no one.
    s.reply(1005, SET_WATCHES_XID, ErrorCode::Ok, 20);
    s.reply(1005, waiting, ErrorCode::Ok, 20);
    assert_eq!(s.take(), vec![completed(waiting, ok_reply(20))]);
    assert_eq!(s.client.last_zxid_seen(), 20);
}

#[test]
fn no_set_watches_without_watches() {
    // primeConnection: "Only send if there's a pending watch".
    let mut s = Story::connected();
    s.submit(1, watched(get("/gone")));
    s.reply(2, 1, ErrorCode::NoNode, 3);
    s.disconnect(3);
    s.tick(503);
    s.take();
    s.establish(503);
    assert_eq!(
        s.take(),
        vec![
            ClientEffect::Send(ClientMessage::Connect(ConnectRequest {
                last_zxid_seen: 3,
                timeout_ms: 3000,
                session_id: SESSION,
                password: PASSWORD,
            })),
            session_connected(),
        ]
    );
}

#[test]
fn watch_events_consume_the_watches_they_fire() {
    // ZKWatchManager.materialize: NodeCreated consumes the exist watch, NodeChildrenChanged
    // the child watch, NodeDeleted data and child watches; persistent watches stay.
    let mut s = Story::connected();
    s.submit(1, watched(exists("/new")));
    s.submit(1, watched(get("/n")));
    s.submit(1, watched(children("/n")));
    s.submit(
        1,
        Request::AddWatch {
            path: "/".to_string(),
            mode: WatcherMode::PersistentRecursive,
        },
    );
    s.reply(2, 1, ErrorCode::NoNode, 4);
    s.reply(2, 2, ErrorCode::Ok, 4);
    s.reply(2, 3, ErrorCode::Ok, 4);
    s.reply(2, 4, ErrorCode::Ok, 4);
    assert!(s.client.watches().exist.contains("/new"));
    s.take();
    let event = |event_type, path: &str, zxid| ServerMessage::Watch {
        event_type,
        path: path.to_string(),
        zxid,
    };
    s.message(3, event(EventType::NodeCreated, "/new", 5));
    assert_eq!(
        s.take(),
        vec![ClientEffect::Watch {
            event_type: EventType::NodeCreated,
            path: "/new".to_string(),
            zxid: 5,
        }]
    );
    assert!(s.client.watches().exist.is_empty());
    s.message(4, event(EventType::NodeChildrenChanged, "/n", 6));
    assert!(s.client.watches().child.is_empty());
    assert!(s.client.watches().data.contains("/n"));
    s.message(5, event(EventType::NodeDeleted, "/n", 7));
    assert!(s.client.watches().data.is_empty());
    assert_eq!(
        s.client.watches().persistent_recursive,
        ["/".to_string()].into_iter().collect()
    );
    // A notification does not move the last zxid seen (its wire zxid is -1 in ZooKeeper).
    assert_eq!(s.client.last_zxid_seen(), 4);
}

#[test]
fn an_out_of_order_reply_is_a_protocol_violation() {
    // SendThread.readResponse: "Xid out of order" throws; the connection is dropped and its
    // requests fail with CONNECTIONLOSS.
    let mut s = Story::connected();
    s.submit(1, get("/a"));
    s.submit(1, get("/b"));
    s.take();
    s.reply(2, 2, ErrorCode::Ok, 3);
    let effects = s.take();
    assert_eq!(
        effects[0],
        ClientEffect::ProtocolViolation(
            "client 7 (session 0x1000, server 1): xid out of order: got a reply for xid 2, \
             expected xid 1"
                .to_string()
        )
    );
    assert_eq!(
        effects[1..],
        [
            ClientEffect::Close,
            completed(1, Outcome::ConnectionLoss),
            completed(2, Outcome::ConnectionLoss),
            ClientEffect::Session(SessionEvent::Disconnected),
        ]
    );
    assert_eq!(s.client.last_zxid_seen(), 0);
}

#[test]
fn auths_are_sent_again_on_reconnect_before_set_watches() {
    // SendThread.primeConnection pushes each authInfo to the queue's front (so the last added
    // goes first), ahead of SetWatches and the requests that waited.
    let mut s = Story::connected();
    s.client
        .add_auth(1, "digest".to_string(), b"a:a".to_vec(), &mut s.out);
    assert_eq!(
        s.take(),
        vec![ClientEffect::Send(ClientMessage::Auth {
            scheme: "digest".to_string(),
            auth: b"a:a".to_vec(),
        })]
    );
    s.message(2, ServerMessage::AuthReply { err: ErrorCode::Ok });
    s.submit(3, watched(get("/w")));
    s.reply(4, 1, ErrorCode::Ok, 8);
    s.disconnect(5);
    s.client
        .add_auth(6, "digest".to_string(), b"b:b".to_vec(), &mut s.out);
    let waiting = s.submit(7, get("/q"));
    s.tick(505);
    s.take();
    s.establish(505);
    let auth = |who: &[u8]| {
        ClientEffect::Send(ClientMessage::Auth {
            scheme: "digest".to_string(),
            auth: who.to_vec(),
        })
    };
    let effects = s.take();
    assert_eq!(
        effects[1..],
        [
            session_connected(),
            auth(b"b:b"),
            auth(b"a:a"),
            sent(
                SET_WATCHES_XID,
                Request::SetWatches {
                    relative_zxid: 8,
                    data: strings(&["/w"]),
                    exist: vec![],
                    child: vec![],
                    persistent: vec![],
                    persistent_recursive: vec![],
                }
            ),
            sent(waiting, get("/q")),
        ]
    );
}

#[test]
fn the_same_inputs_give_the_same_effects() {
    // Determinism: the session is a function of its inputs.
    let run = || {
        let mut s = Story::new();
        s.start(0);
        s.establish(1);
        s.submit(2, watched(get("/a")));
        s.submit(2, get("/b"));
        s.reply(3, 1, ErrorCode::Ok, 4);
        s.tick(2000);
        s.disconnect(2100);
        s.submit(2200, get("/c"));
        s.tick(2600);
        s.establish(2610);
        s.reply(2620, SET_WATCHES_XID, ErrorCode::Ok, 5);
        s.client.close(2700, &mut s.out);
        s.take()
    };
    let first = run();
    assert!(first.len() > 10);
    assert_eq!(first, run());
}
