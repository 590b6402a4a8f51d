//! `ClientSession`: one ZooKeeper client session over a series of connections, as ZooKeeper
//! 3.8's `ClientCnxn` and its `SendThread`, with time as an input and I/O as effects.
//!
//! This module is the connection's state machine (connect, handshake, timeouts, pings,
//! losing and re-establishing the connection); `requests` holds the request queue (xids,
//! requests waiting for a session or in flight, replies matched in order).

mod requests;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::proto::{ClientMessage, ConnectRequest, ConnectResponse, ServerMessage};
use crate::stat::{SessionId, Zxid};

use super::config::ClientConfig;
use super::effect::{ClientEffect, Outcome, SessionEvent};
use super::host::HostProvider;
use super::watches::ClientWatches;

use requests::{InFlight, Queued};

/// `ClientCnxn.SET_WATCHES_XID`: the reserved xid of the SetWatches request sent after a
/// reconnect. Its reply is matched in order like any other and reported to no one.
pub const SET_WATCHES_XID: i32 = -8;

/// `SendThread.run`'s `MAX_SEND_PING_INTERVAL`: a ping at least this often.
const MAX_SEND_PING_INTERVAL_MS: i64 = 10_000;

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientState {
    /// No transport; waiting to reconnect (or to be started).
    NotConnected,
    /// `Connect` emitted; waiting for the transport.
    Connecting,
    /// Transport up, ConnectRequest sent; waiting for the ConnectResponse.
    Handshaking,
    /// A session is established on the current connection.
    Connected,
    /// Closed by `close`. Terminal.
    Closed,
    /// The server said the session expired. Terminal.
    Expired,
    /// The server refused an auth (ZooKeeper's `AUTH_FAILED`). Terminal.
    AuthFailed,
}

impl ClientState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ClientState::Closed | ClientState::Expired | ClientState::AuthFailed
        )
    }
}

/// A ZooKeeper client session. See the module documentation for how to drive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSession {
    config: ClientConfig,
    hosts: HostProvider,
    state: ClientState,
    started: bool,
    /// `close` was called (ZooKeeper's `closing`): no more requests, no reconnect.
    closing: bool,
    /// The server of the current (or latest) connection.
    server: usize,
    /// When `NotConnected`: when to connect, and to which server.
    reconnect: Option<(i64, usize)>,
    session_id: SessionId,
    password: u64,
    negotiated_timeout_ms: i32,
    read_timeout_ms: i64,
    connect_timeout_ms: i64,
    last_zxid_seen: Zxid,
    next_xid: i32,
    last_send_ms: i64,
    last_recv_ms: i64,
    in_flight: VecDeque<InFlight>,
    queued: VecDeque<Queued>,
    /// `ClientCnxn.authInfo`, in the order they were added.
    auths: Vec<(String, Vec<u8>)>,
    watches: ClientWatches,
}

/// `readTimeout = sessionTimeout * 2 / 3`, at least 1 ms so a deadline always advances.
fn read_timeout_ms(session_timeout_ms: i32) -> i64 {
    (i64::from(session_timeout_ms) * 2 / 3).max(1)
}

/// `connectTimeout = sessionTimeout / hostProvider.size()`, at least 1 ms.
fn connect_timeout_ms(session_timeout_ms: i32, servers: usize) -> i64 {
    let servers = i64::try_from(servers).expect("server count fits in i64");
    (i64::from(session_timeout_ms) / servers).max(1)
}

/// How long the connection may stay without a write before a ping goes out. `SendThread.run`
/// pings when `readTimeout / 2 - idleSend - (idleSend > 1000 ? 1000 : 0) <= 0` or
/// `idleSend > MAX_SEND_PING_INTERVAL`; this is the smallest such `idleSend` (at least 1).
pub fn ping_idle_ms(read_timeout_ms: i64) -> i64 {
    let half = read_timeout_ms / 2;
    let idle_ms = if half <= 1000 {
        half
    } else if half <= 2000 {
        1001
    } else {
        half - 1000
    };
    idle_ms.clamp(1, MAX_SEND_PING_INTERVAL_MS + 1)
}

impl ClientSession {
    /// A session that has not connected yet; `start` emits its first `Connect`.
    ///
    /// # Panics
    /// When the configuration is invalid (no servers, first server out of range, a timeout
    /// that is not positive, a negative delay).
    pub fn new(config: ClientConfig) -> ClientSession {
        config.assert_valid();
        ClientSession {
            hosts: HostProvider::new(&config),
            state: ClientState::NotConnected,
            started: false,
            closing: false,
            server: config.first_server,
            reconnect: None,
            session_id: 0,
            password: 0,
            negotiated_timeout_ms: 0,
            // ClientCnxn's constructor: the requested timeout stands until one is negotiated.
            read_timeout_ms: read_timeout_ms(config.session_timeout_ms),
            connect_timeout_ms: connect_timeout_ms(config.session_timeout_ms, config.servers),
            last_zxid_seen: 0,
            next_xid: 1,
            last_send_ms: 0,
            last_recv_ms: 0,
            in_flight: VecDeque::new(),
            queued: VecDeque::new(),
            auths: Vec::new(),
            watches: ClientWatches::default(),
            config,
        }
    }

    /// The session id, 0 until a session is established.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The highest reply zxid seen; sent in every ConnectRequest.
    pub fn last_zxid_seen(&self) -> Zxid {
        self.last_zxid_seen
    }

    pub fn state(&self) -> ClientState {
        self.state
    }

    /// Messages written and not yet answered, SetWatches included (`pendingQueue.size()`).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Requests waiting for a session to be established.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// The server of the current or latest connection attempt.
    pub fn server(&self) -> usize {
        self.server
    }

    /// The timeout the server negotiated, 0 until a session is established.
    pub fn negotiated_timeout_ms(&self) -> i32 {
        self.negotiated_timeout_ms
    }

    pub fn watches(&self) -> &ClientWatches {
        &self.watches
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// When `on_tick` next has something to do: a reconnect, a connect or read timeout, or a
    /// ping. None when terminal or not started.
    pub fn next_deadline(&self) -> Option<i64> {
        match self.state {
            ClientState::NotConnected => self.reconnect.map(|(at_ms, _)| at_ms),
            ClientState::Connecting | ClientState::Handshaking => {
                Some(self.last_recv_ms + self.connect_timeout_ms)
            }
            ClientState::Connected => Some(
                (self.last_recv_ms + self.read_timeout_ms)
                    .min(self.last_send_ms + ping_idle_ms(self.read_timeout_ms)),
            ),
            ClientState::Closed | ClientState::Expired | ClientState::AuthFailed => None,
        }
    }

    /// Emits the first `Connect`, to the configured first server, at once (ZooKeeper does
    /// not sleep before its first connection attempt).
    pub fn start(&mut self, now_ms: i64, out: &mut Vec<ClientEffect>) {
        assert!(!self.started, "{}: started twice", self.who());
        self.started = true;
        if self.state.is_terminal() {
            return;
        }
        assert!(self.state == ClientState::NotConnected);
        self.connect(now_ms, self.hosts.current(), out);
    }

    /// The transport asked for by `Connect` is up: send the ConnectRequest.
    pub fn on_connected(&mut self, now_ms: i64, out: &mut Vec<ClientEffect>) {
        if self.state.is_terminal() {
            return;
        }
        assert!(
            self.state == ClientState::Connecting,
            "{}: on_connected in state {:?}",
            self.who(),
            self.state
        );
        self.state = ClientState::Handshaking;
        // ClientCnxnSocketNIO: updateLastSendAndHeard when the socket connects, then
        // primeConnection sends the ConnectRequest (the session id is 0 for a new session).
        self.last_recv_ms = now_ms;
        let request = ConnectRequest {
            last_zxid_seen: self.last_zxid_seen,
            timeout_ms: self.config.session_timeout_ms,
            session_id: self.session_id,
            password: self.password,
        };
        self.send(now_ms, ClientMessage::Connect(request), out);
    }

    /// The transport asked for by `Connect` could not be opened: try the next server.
    pub fn on_connect_failed(&mut self, now_ms: i64, out: &mut Vec<ClientEffect>) {
        if self.state.is_terminal() {
            return;
        }
        assert!(
            self.state == ClientState::Connecting,
            "{}: on_connect_failed in state {:?}",
            self.who(),
            self.state
        );
        self.lose_connection(now_ms, out);
    }

    /// The transport broke (or the server closed it).
    pub fn on_disconnected(&mut self, now_ms: i64, out: &mut Vec<ClientEffect>) {
        if self.state.is_terminal() {
            return;
        }
        assert!(
            self.state != ClientState::NotConnected,
            "{}: on_disconnected without a transport",
            self.who()
        );
        self.lose_connection(now_ms, out);
    }

    /// A message from the server on the current transport.
    pub fn on_message(&mut self, now_ms: i64, message: ServerMessage, out: &mut Vec<ClientEffect>) {
        if self.state.is_terminal() {
            return;
        }
        assert!(
            matches!(
                self.state,
                ClientState::Handshaking | ClientState::Connected
            ),
            "{}: message {:?} in state {:?}",
            self.who(),
            message,
            self.state
        );
        // ClientCnxnSocketNIO.doIO: updateLastHeard on every message read.
        self.last_recv_ms = now_ms;
        match (self.state, message) {
            (ClientState::Handshaking, ServerMessage::Connected(response)) => {
                self.on_connect_response(now_ms, response, out)
            }
            (ClientState::Handshaking, other) => {
                let what = format!("{} before the connect response", describe(&other));
                self.protocol_violation(now_ms, what, out)
            }
            (_, ServerMessage::Connected(_)) => {
                let what = "a second connect response".to_string();
                self.protocol_violation(now_ms, what, out)
            }
            (_, ServerMessage::Reply { xid, reply }) => self.on_reply(now_ms, xid, reply, out),
            (
                _,
                ServerMessage::Watch {
                    event_type,
                    path,
                    zxid,
                },
            ) => self.on_watch(event_type, path, zxid, out),
            // SendThread.readResponse ignores a ping reply, its zxid included.
            (_, ServerMessage::Pong { .. }) => {}
            (_, ServerMessage::AuthReply { err }) => self.on_auth_reply(err, out),
        }
    }

    /// Timers: reconnect after the backoff, give up a connection attempt after the connect
    /// timeout, a connection after the read timeout, and ping an idle connection.
    pub fn on_tick(&mut self, now_ms: i64, out: &mut Vec<ClientEffect>) {
        match self.state {
            ClientState::NotConnected => {
                if let Some((at_ms, server)) = self.reconnect {
                    if now_ms >= at_ms {
                        self.connect(now_ms, server, out);
                    }
                }
            }
            // SendThread.run: "to = connectTimeout - idleRecv; if (to <= 0) throw".
            ClientState::Connecting | ClientState::Handshaking => {
                if now_ms - self.last_recv_ms >= self.connect_timeout_ms {
                    out.push(ClientEffect::Close);
                    self.lose_connection(now_ms, out);
                }
            }
            ClientState::Connected => {
                if now_ms - self.last_recv_ms >= self.read_timeout_ms {
                    // "Client session timed out, have not heard from server".
                    out.push(ClientEffect::Close);
                    self.lose_connection(now_ms, out);
                } else if now_ms - self.last_send_ms >= ping_idle_ms(self.read_timeout_ms) {
                    self.send(now_ms, ClientMessage::Ping, out);
                }
            }
            ClientState::Closed | ClientState::Expired | ClientState::AuthFailed => {}
        }
    }

    fn connect(&mut self, now_ms: i64, server: usize, out: &mut Vec<ClientEffect>) {
        assert!(self.state == ClientState::NotConnected);
        assert!(server < self.config.servers);
        self.state = ClientState::Connecting;
        self.server = server;
        self.reconnect = None;
        // SendThread.run: the connect timer starts with the attempt.
        self.last_send_ms = now_ms;
        self.last_recv_ms = now_ms;
        out.push(ClientEffect::Connect { server });
    }

    fn send(&mut self, now_ms: i64, message: ClientMessage, out: &mut Vec<ClientEffect>) {
        assert!(matches!(
            self.state,
            ClientState::Handshaking | ClientState::Connected
        ));
        self.last_send_ms = now_ms;
        out.push(ClientEffect::Send(message));
    }

    fn on_connect_response(
        &mut self,
        now_ms: i64,
        response: ConnectResponse,
        out: &mut Vec<ClientEffect>,
    ) {
        // SendThread.onConnected: a negotiated timeout <= 0 means the session expired.
        if response.timeout_ms <= 0 {
            self.on_session_expired(out);
            return;
        }
        if response.session_id == 0
            || (self.session_id != 0 && response.session_id != self.session_id)
        {
            let what = format!(
                "connect response with session 0x{:x} for session 0x{:x}",
                response.session_id, self.session_id
            );
            self.protocol_violation(now_ms, what, out);
            return;
        }
        self.session_id = response.session_id;
        self.password = response.password;
        self.negotiated_timeout_ms = response.timeout_ms;
        self.read_timeout_ms = read_timeout_ms(response.timeout_ms);
        self.connect_timeout_ms = connect_timeout_ms(response.timeout_ms, self.config.servers);
        self.hosts.on_connected();
        self.state = ClientState::Connected;
        out.push(ClientEffect::Session(SessionEvent::Connected {
            session_id: self.session_id,
            timeout_ms: self.negotiated_timeout_ms,
        }));
        self.prime(now_ms, out);
    }

    /// `SendThread.readResponse`, AUTHPACKET_XID: AUTHFAILED puts the client in the dead
    /// state `AUTH_FAILED`; its loop ends and `cleanup()` fails every request with
    /// AUTHFAILED (`conLossPacket`). Other auth replies need nothing.
    fn on_auth_reply(&mut self, err: ErrorCode, out: &mut Vec<ClientEffect>) {
        if err != ErrorCode::AuthFailed {
            return;
        }
        self.state = ClientState::AuthFailed;
        out.push(ClientEffect::Session(SessionEvent::AuthFailed));
        self.fail_all(Outcome::AuthFailed, out);
        out.push(ClientEffect::Close);
    }

    /// `SendThread.onConnected` with timeout <= 0: state CLOSED, the `Expired` event, then
    /// `cleanup()` fails every request with SESSIONEXPIRED.
    fn on_session_expired(&mut self, out: &mut Vec<ClientEffect>) {
        self.state = ClientState::Expired;
        out.push(ClientEffect::Session(SessionEvent::Expired));
        self.fail_all(Outcome::SessionExpired, out);
        out.push(ClientEffect::Close);
    }

    /// `SendThread.readResponse` throws on a broken protocol; the connection is dropped.
    fn protocol_violation(&mut self, now_ms: i64, what: String, out: &mut Vec<ClientEffect>) {
        out.push(ClientEffect::ProtocolViolation(format!(
            "{}: {what}",
            self.who()
        )));
        out.push(ClientEffect::Close);
        self.lose_connection(now_ms, out);
    }

    /// `SendThread.cleanAndNotifyState`: every request written or waiting fails with
    /// CONNECTIONLOSS (`cleanup()`), `Disconnected` if a session was established, then the
    /// next server after the backoff, or the end of the session when closing.
    fn lose_connection(&mut self, now_ms: i64, out: &mut Vec<ClientEffect>) {
        assert!(!self.state.is_terminal());
        let was_connected = self.state == ClientState::Connected;
        self.state = ClientState::NotConnected;
        self.fail_all(Outcome::ConnectionLoss, out);
        if was_connected {
            out.push(ClientEffect::Session(SessionEvent::Disconnected));
        }
        if self.closing {
            self.state = ClientState::Closed;
            self.reconnect = None;
            out.push(ClientEffect::Session(SessionEvent::Closed));
            return;
        }
        let (server, delay_ms) = self.hosts.next();
        if delay_ms == 0 {
            self.connect(now_ms, server, out);
        } else {
            self.reconnect = Some((now_ms + delay_ms, server));
        }
    }

    /// Who this is, for messages: client identity, session and server.
    fn who(&self) -> String {
        let client = match self.config.client_id {
            Some(id) => format!("client {id}"),
            None => "client".to_string(),
        };
        format!(
            "{client} (session 0x{:x}, server {})",
            self.session_id, self.server
        )
    }
}

fn describe(message: &ServerMessage) -> String {
    match message {
        ServerMessage::Connected(_) => "a connect response".to_string(),
        ServerMessage::Reply { xid, .. } => format!("a reply for xid {xid}"),
        ServerMessage::Watch { path, .. } => format!("a watch event for {path}"),
        ServerMessage::Pong { .. } => "a ping reply".to_string(),
        ServerMessage::AuthReply { .. } => "an auth reply".to_string(),
    }
}
