//! Stories of the client session state machine against ZooKeeper 3.8's `ClientCnxn`
//! behaviour: handshake, pipelining, connection loss and reconnect, SetWatches, watch
//! consumption, expiry, pings and timeouts, protocol violations, auth and close.

use zksim_core::client::{
    ClientConfig, ClientEffect, ClientSession, ClientState, Outcome, SET_WATCHES_XID, SessionEvent,
};
use zksim_core::error::ErrorCode;
use zksim_core::proto::{ClientMessage, ConnectRequest, ConnectResponse, ServerMessage};
use zksim_core::request::{Reply, Request, Response};
use zksim_core::watch::{EventType, WatcherMode};

const SESSION: i64 = 0x1000;
const PASSWORD: u64 = 77;

/// A client and the effects it produced since the last `take`.
struct Story {
    client: ClientSession,
    out: Vec<ClientEffect>,
}

impl Story {
    /// Three servers, starting at server 1, asking for a 3000 ms session.
    fn new() -> Story {
        let mut config = ClientConfig::new(3, 1, 3000);
        config.client_id = Some(7);
        Story {
            client: ClientSession::new(config),
            out: Vec::new(),
        }
    }

    fn take(&mut self) -> Vec<ClientEffect> {
        std::mem::take(&mut self.out)
    }

    fn start(&mut self, now: i64) {
        self.client.start(now, &mut self.out);
    }

    fn submit(&mut self, now: i64, request: Request) -> i32 {
        self.client.submit(now, request, &mut self.out)
    }

    fn message(&mut self, now: i64, message: ServerMessage) {
        self.client.on_message(now, message, &mut self.out);
    }

    fn reply(&mut self, now: i64, xid: i32, err: ErrorCode, zxid: i64) {
        let reply = Reply {
            err,
            zxid,
            response: Response::Empty,
            message: None,
        };
        self.message(now, ServerMessage::Reply { xid, reply });
    }

    fn accept(&mut self, now: i64, timeout_ms: i32) {
        let response = ConnectResponse {
            timeout_ms,
            session_id: SESSION,
            password: PASSWORD,
        };
        self.message(now, ServerMessage::Connected(response));
    }

    /// Transport up and session accepted, at `now`.
    fn establish(&mut self, now: i64) {
        self.client.on_connected(now, &mut self.out);
        self.accept(now, 3000);
    }

    /// A new client with an established session, effects taken.
    fn connected() -> Story {
        let mut story = Story::new();
        story.start(0);
        story.establish(0);
        story.take();
        story
    }

    fn disconnect(&mut self, now: i64) {
        self.client.on_disconnected(now, &mut self.out);
    }

    fn tick(&mut self, now: i64) {
        self.client.on_tick(now, &mut self.out);
    }
}

fn get(path: &str) -> Request {
    Request::GetData {
        path: path.to_string(),
        watch: false,
    }
}

fn watched(request: Request) -> Request {
    match request {
        Request::Exists { path, .. } => Request::Exists { path, watch: true },
        Request::GetData { path, .. } => Request::GetData { path, watch: true },
        Request::GetChildren { path, .. } => Request::GetChildren { path, watch: true },
        other => other,
    }
}

fn exists(path: &str) -> Request {
    Request::Exists {
        path: path.to_string(),
        watch: false,
    }
}

fn children(path: &str) -> Request {
    Request::GetChildren {
        path: path.to_string(),
        watch: false,
    }
}

fn sent(xid: i32, request: Request) -> ClientEffect {
    ClientEffect::Send(ClientMessage::Request { xid, request })
}

fn completed(xid: i32, outcome: Outcome) -> ClientEffect {
    ClientEffect::Completed { xid, outcome }
}

fn ok_reply(zxid: i64) -> Outcome {
    Outcome::Reply(Reply {
        err: ErrorCode::Ok,
        zxid,
        response: Response::Empty,
        message: None,
    })
}

fn session_connected() -> ClientEffect {
    ClientEffect::Session(SessionEvent::Connected {
        session_id: SESSION,
        timeout_ms: 3000,
    })
}

fn strings(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| p.to_string()).collect()
}

#[test]
fn handshake_establishes_a_new_session() {
    // ClientCnxn.SendThread: connect, ConnectRequest with session id 0, SyncConnected on a
    // positive negotiated timeout.
    let mut s = Story::new();
    s.start(10);
    assert_eq!(s.take(), vec![ClientEffect::Connect { server: 1 }]);
    assert_eq!(s.client.state(), ClientState::Connecting);
    s.client.on_connected(15, &mut s.out);
    assert_eq!(
        s.take(),
        vec![ClientEffect::Send(ClientMessage::Connect(ConnectRequest {
            last_zxid_seen: 0,
            timeout_ms: 3000,
            session_id: 0,
            password: 0,
        }))]
    );
    assert_eq!(s.client.state(), ClientState::Handshaking);
    s.accept(20, 3000);
    assert_eq!(s.take(), vec![session_connected()]);
    assert_eq!(s.client.state(), ClientState::Connected);
    assert_eq!(s.client.session_id(), SESSION);
    assert_eq!(s.client.negotiated_timeout_ms(), 3000);
}

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
fn disconnect_fails_in_flight_and_reconnects_to_the_next_server_with_the_same_session() {
    // ClientCnxn.cleanup: pendingQueue and outgoingQueue fail with CONNECTIONLOSS; then the
    // next server (StaticHostProvider) with the same session id, password and lastZxid.
    let mut s = Story::connected();
    s.submit(1, get("/a"));
    s.submit(1, get("/b"));
    s.reply(2, 1, ErrorCode::Ok, 9);
    s.take();
    s.disconnect(100);
    assert_eq!(
        s.take(),
        vec![
            completed(2, Outcome::ConnectionLoss),
            ClientEffect::Session(SessionEvent::Disconnected),
        ]
    );
    assert_eq!(s.client.state(), ClientState::NotConnected);
    // A request submitted while disconnected waits for the session.
    let queued = s.submit(150, get("/c"));
    assert_eq!(s.client.queued(), 1);
    assert_eq!(s.client.next_deadline(), Some(600));
    s.tick(599);
    assert!(s.take().is_empty());
    s.tick(600);
    assert_eq!(s.take(), vec![ClientEffect::Connect { server: 2 }]);
    s.client.on_connected(610, &mut s.out);
    assert_eq!(
        s.take(),
        vec![ClientEffect::Send(ClientMessage::Connect(ConnectRequest {
            last_zxid_seen: 9,
            timeout_ms: 3000,
            session_id: SESSION,
            password: PASSWORD,
        }))]
    );
    s.accept(620, 3000);
    assert_eq!(s.take(), vec![session_connected(), sent(queued, get("/c"))]);
    assert_eq!(s.client.server(), 2);
}

#[test]
fn a_failed_connect_attempt_fails_the_queued_requests() {
    // ClientCnxn.cleanup also empties outgoingQueue: requests waiting for a connection fail
    // with CONNECTIONLOSS when the attempt fails; no Disconnected without a session.
    let mut s = Story::new();
    s.start(0);
    let xid = s.submit(1, get("/a"));
    s.take();
    s.client.on_connect_failed(5, &mut s.out);
    assert_eq!(s.take(), vec![completed(xid, Outcome::ConnectionLoss)]);
    s.tick(505);
    assert_eq!(s.take(), vec![ClientEffect::Connect { server: 2 }]);
}

#[test]
fn connect_timeout_moves_on_to_the_next_server() {
    // SendThread.run: connectTimeout = sessionTimeout / servers without hearing from the
    // server, then the next server; a full round adds StaticHostProvider's spin delay.
    let mut s = Story::new();
    s.start(0);
    s.take();
    assert_eq!(s.client.next_deadline(), Some(1000));
    s.tick(1000);
    assert_eq!(s.take(), vec![ClientEffect::Close]);
    s.tick(1500);
    assert_eq!(s.take(), vec![ClientEffect::Connect { server: 2 }]);
    s.client.on_connected(1600, &mut s.out);
    s.take();
    s.tick(2600);
    assert_eq!(s.take(), vec![ClientEffect::Close]);
    s.tick(3100);
    assert_eq!(s.take(), vec![ClientEffect::Connect { server: 0 }]);
    s.client.on_connect_failed(3100, &mut s.out);
    // Back to the first server: 500 ms reconnect delay plus 1000 ms spin.
    assert_eq!(s.client.next_deadline(), Some(4600));
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
fn an_expired_session_fails_everything_and_stays_terminal() {
    // SendThread.onConnected: negotiated timeout <= 0 is an expired session: state CLOSED,
    // Expired event, every request SESSIONEXPIRED, no reconnection.
    let mut s = Story::connected();
    s.disconnect(1);
    let waiting = s.submit(2, get("/a"));
    s.tick(501);
    s.client.on_connected(501, &mut s.out);
    s.take();
    s.accept(502, 0);
    assert_eq!(
        s.take(),
        vec![
            ClientEffect::Session(SessionEvent::Expired),
            completed(waiting, Outcome::SessionExpired),
            ClientEffect::Close,
        ]
    );
    assert_eq!(s.client.state(), ClientState::Expired);
    assert_eq!(s.client.next_deadline(), None);
    let late = s.submit(600, get("/b"));
    assert_eq!(s.take(), vec![completed(late, Outcome::SessionExpired)]);
    s.tick(100_000);
    s.disconnect(100_000);
    assert!(s.take().is_empty());
}

#[test]
fn pings_an_idle_connection_and_drops_a_silent_one() {
    // SendThread.run: ping after readTimeout/2 (less 1 s once past 1 s) without a write;
    // close after readTimeout (2/3 of the session timeout) without a read.
    let mut s = Story::connected();
    // 3000 ms session: read timeout 2000 ms, ping after 1000 ms idle.
    assert_eq!(s.client.next_deadline(), Some(1000));
    s.tick(999);
    assert!(s.take().is_empty());
    s.tick(1000);
    assert_eq!(s.take(), vec![ClientEffect::Send(ClientMessage::Ping)]);
    s.message(1100, ServerMessage::Pong { zxid: 50 });
    // ZooKeeper ignores the pong's zxid.
    assert_eq!(s.client.last_zxid_seen(), 0);
    s.tick(2000);
    assert_eq!(s.take(), vec![ClientEffect::Send(ClientMessage::Ping)]);
    let xid = s.submit(2500, get("/a"));
    s.take();
    // Last heard at 1100: the read timeout ends at 3100.
    s.tick(3099);
    assert!(s.take().is_empty());
    s.tick(3100);
    assert_eq!(
        s.take(),
        vec![
            ClientEffect::Close,
            completed(xid, Outcome::ConnectionLoss),
            ClientEffect::Session(SessionEvent::Disconnected),
        ]
    );
    assert_eq!(s.client.next_deadline(), Some(3600));
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
fn a_failed_auth_ends_the_session_client_side() {
    // SendThread.readResponse: AUTHFAILED moves the client to AUTH_FAILED, a dead state;
    // cleanup() fails every request with AUTHFAILED and later ones fail at once.
    let mut s = Story::connected();
    s.client
        .add_auth(1, "digest".to_string(), b"bad".to_vec(), &mut s.out);
    let xid = s.submit(1, get("/a"));
    s.take();
    s.message(
        2,
        ServerMessage::AuthReply {
            err: ErrorCode::AuthFailed,
        },
    );
    assert_eq!(
        s.take(),
        vec![
            ClientEffect::Session(SessionEvent::AuthFailed),
            completed(xid, Outcome::AuthFailed),
            ClientEffect::Close,
        ]
    );
    assert_eq!(s.client.state(), ClientState::AuthFailed);
    let late = s.submit(3, get("/b"));
    assert_eq!(s.take(), vec![completed(late, Outcome::AuthFailed)]);
}

#[test]
fn close_sends_close_session_and_ends_on_its_reply() {
    // ZooKeeper.close: closeSession goes behind earlier requests; once answered the client
    // is CLOSED and later requests are refused.
    let mut s = Story::connected();
    let before = s.submit(1, get("/a"));
    let close = s.client.close(1, &mut s.out);
    let after = s.submit(1, get("/b"));
    assert_eq!(
        s.take(),
        vec![
            sent(before, get("/a")),
            ClientEffect::Send(ClientMessage::CloseSession { xid: close }),
            completed(after, Outcome::Closed),
        ]
    );
    s.reply(2, before, ErrorCode::Ok, 3);
    s.reply(2, close, ErrorCode::Ok, 4);
    assert_eq!(
        s.take(),
        vec![
            completed(before, ok_reply(3)),
            completed(close, ok_reply(4)),
            ClientEffect::Session(SessionEvent::Closed),
            ClientEffect::Close,
        ]
    );
    assert_eq!(s.client.state(), ClientState::Closed);
    assert_eq!(s.client.next_deadline(), None);
}

#[test]
fn close_without_a_connection_ends_at_once() {
    // SendThread.run: "don't re-establish connection if we are closing"; the closeSession
    // and the waiting requests fail with CONNECTIONLOSS.
    let mut s = Story::connected();
    s.disconnect(1);
    let waiting = s.submit(2, get("/a"));
    s.take();
    let close = s.client.close(3, &mut s.out);
    assert_eq!(
        s.take(),
        vec![
            completed(waiting, Outcome::ConnectionLoss),
            completed(close, Outcome::ConnectionLoss),
            ClientEffect::Session(SessionEvent::Closed),
        ]
    );
    assert_eq!(s.client.state(), ClientState::Closed);
    assert_eq!(s.client.next_deadline(), None);
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

#[test]
fn a_connection_lost_while_closing_ends_the_session() {
    // SendThread.run: an error while closing breaks the loop instead of reconnecting;
    // cleanup() fails the closeSession with CONNECTIONLOSS, then Disconnected and Closed.
    let mut s = Story::connected();
    let close = s.client.close(1, &mut s.out);
    s.take();
    s.disconnect(2);
    assert_eq!(
        s.take(),
        vec![
            completed(close, Outcome::ConnectionLoss),
            ClientEffect::Session(SessionEvent::Disconnected),
            ClientEffect::Session(SessionEvent::Closed),
        ]
    );
    assert_eq!(s.client.state(), ClientState::Closed);
    assert_eq!(s.client.next_deadline(), None);
}

#[test]
fn a_reconnect_answered_with_another_session_is_a_protocol_violation() {
    // A server must re-establish the session the client asked for; a different id would
    // silently swap the session (and its ephemerals) under the client.
    let mut s = Story::connected();
    s.disconnect(1);
    s.tick(501);
    s.client.on_connected(501, &mut s.out);
    s.take();
    let response = ConnectResponse {
        timeout_ms: 3000,
        session_id: SESSION + 1,
        password: PASSWORD,
    };
    s.message(502, ServerMessage::Connected(response));
    assert_eq!(
        s.take(),
        vec![
            ClientEffect::ProtocolViolation(
                "client 7 (session 0x1000, server 2): connect response with session 0x1001 \
                 for session 0x1000"
                    .to_string()
            ),
            ClientEffect::Close,
        ]
    );
    assert_eq!(s.client.session_id(), SESSION);
    assert_eq!(s.client.state(), ClientState::NotConnected);
}
