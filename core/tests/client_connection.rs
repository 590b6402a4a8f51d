//! Stories of the client session state machine against ZooKeeper 3.8's `ClientCnxn`
//! behaviour, the connection's life: handshake, connection loss and reconnect, connect
//! timeouts, expiry, pings and a silent server, a failed auth, and close.

mod common_client;

use common_client::{PASSWORD, SESSION, Story, completed, get, ok_reply, sent, session_connected};
use zksim_core::client::{ClientEffect, ClientState, Outcome, SessionEvent};
use zksim_core::error::ErrorCode;
use zksim_core::proto::{ClientMessage, ConnectRequest, ConnectResponse, ServerMessage};

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
