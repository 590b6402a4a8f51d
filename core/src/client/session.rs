//! `ClientSession`: one ZooKeeper client session over a series of connections, as ZooKeeper
//! 3.8's `ClientCnxn` and its `SendThread`, with time as an input and I/O as effects.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::proto::{ClientMessage, ConnectRequest, ConnectResponse, ServerMessage};
use crate::request::{Reply, Request};
use crate::stat::{SessionId, Zxid};
use crate::watch::EventType;

use super::config::ClientConfig;
use super::effect::{ClientEffect, Outcome, SessionEvent};
use super::host::HostProvider;
use super::watches::{ClientWatches, WatchRegistration};

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

/// A message written and not yet answered (ZooKeeper's `pendingQueue`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct InFlight {
    xid: i32,
    kind: InFlightKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum InFlightKind {
    Request(WatchRegistration),
    CloseSession,
    SetWatches,
}

/// A request waiting for a session to be established (ZooKeeper's `outgoingQueue`).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Queued {
    Request { xid: i32, request: Request },
    CloseSession { xid: i32 },
}

impl Queued {
    fn xid(&self) -> i32 {
        match self {
            Queued::Request { xid, .. } | Queued::CloseSession { xid } => *xid,
        }
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

    /// Submits a request and returns its xid. Sent at once when a session is established,
    /// else queued until one is; completed at once when the session is closing or over.
    pub fn submit(&mut self, now_ms: i64, request: Request, out: &mut Vec<ClientEffect>) -> i32 {
        let xid = self.take_xid();
        if let Some(outcome) = self.refusal() {
            out.push(ClientEffect::Completed { xid, outcome });
        } else if self.state == ClientState::Connected {
            self.send_request(now_ms, xid, request, out);
        } else {
            self.queued.push_back(Queued::Request { xid, request });
        }
        xid
    }

    /// `ZooKeeper.addAuthInfo`: remembered for every later connection, and sent now when a
    /// session is established. Ignored once the session is over, as ZooKeeper does.
    pub fn add_auth(
        &mut self,
        now_ms: i64,
        scheme: String,
        auth: Vec<u8>,
        out: &mut Vec<ClientEffect>,
    ) {
        if self.state.is_terminal() {
            return;
        }
        self.auths.push((scheme.clone(), auth.clone()));
        if self.state == ClientState::Connected && !self.closing {
            self.send(now_ms, ClientMessage::Auth { scheme, auth }, out);
        }
    }

    /// `ZooKeeper.close`: sends closeSession behind every request submitted before, and
    /// returns its xid. Its reply completes it, emits `Closed` and ends the session. When the
    /// connection is lost first the session still ends (ZooKeeper does not reconnect while
    /// closing); with no connection at all it ends at once.
    pub fn close(&mut self, now_ms: i64, out: &mut Vec<ClientEffect>) -> i32 {
        let xid = self.take_xid();
        if let Some(outcome) = self.refusal() {
            out.push(ClientEffect::Completed { xid, outcome });
            return xid;
        }
        self.closing = true;
        match self.state {
            ClientState::Connected => self.send_close_session(now_ms, xid, out),
            ClientState::Connecting | ClientState::Handshaking => {
                self.queued.push_back(Queued::CloseSession { xid });
            }
            ClientState::NotConnected => {
                // SendThread.run: "don't re-establish connection if we are closing".
                self.queued.push_back(Queued::CloseSession { xid });
                self.lose_connection(now_ms, out);
            }
            ClientState::Closed | ClientState::Expired | ClientState::AuthFailed => {
                unreachable!("refusal() covers terminal states")
            }
        }
        xid
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

    /// `ClientCnxn.getXid`: increasing from 1, skipping from `Integer.MAX_VALUE` back to 1
    /// so no request ever uses a negative (reserved) xid.
    fn take_xid(&mut self) -> i32 {
        if self.next_xid == i32::MAX {
            self.next_xid = 1;
        }
        let xid = self.next_xid;
        self.next_xid += 1;
        assert!(xid > 0);
        xid
    }

    /// The outcome a request gets without being sent, if it cannot be sent ever.
    fn refusal(&self) -> Option<Outcome> {
        match self.state {
            ClientState::Closed => Some(Outcome::Closed),
            ClientState::Expired => Some(Outcome::SessionExpired),
            ClientState::AuthFailed => Some(Outcome::AuthFailed),
            _ if self.closing => Some(Outcome::Closed),
            _ => None,
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

    fn send_request(
        &mut self,
        now_ms: i64,
        xid: i32,
        request: Request,
        out: &mut Vec<ClientEffect>,
    ) {
        let registration = WatchRegistration::of(&request);
        self.in_flight.push_back(InFlight {
            xid,
            kind: InFlightKind::Request(registration),
        });
        self.send(now_ms, ClientMessage::Request { xid, request }, out);
    }

    fn send_close_session(&mut self, now_ms: i64, xid: i32, out: &mut Vec<ClientEffect>) {
        assert!(self.closing);
        self.in_flight.push_back(InFlight {
            xid,
            kind: InFlightKind::CloseSession,
        });
        self.send(now_ms, ClientMessage::CloseSession { xid }, out);
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

    /// `SendThread.primeConnection`'s queue, sent once the session is established: the auths
    /// (pushed to the queue's front one by one, so the last added goes first), then
    /// SetWatches when any watch is held, then the requests that waited, in xid order.
    fn prime(&mut self, now_ms: i64, out: &mut Vec<ClientEffect>) {
        for (scheme, auth) in self.auths.clone().into_iter().rev() {
            self.send(now_ms, ClientMessage::Auth { scheme, auth }, out);
        }
        if !self.watches.is_empty() {
            let request = self.watches.set_watches(self.last_zxid_seen);
            self.in_flight.push_back(InFlight {
                xid: SET_WATCHES_XID,
                kind: InFlightKind::SetWatches,
            });
            let xid = SET_WATCHES_XID;
            self.send(now_ms, ClientMessage::Request { xid, request }, out);
        }
        while let Some(queued) = self.queued.pop_front() {
            match queued {
                Queued::Request { xid, request } => self.send_request(now_ms, xid, request, out),
                Queued::CloseSession { xid } => self.send_close_session(now_ms, xid, out),
            }
        }
        assert!(self.queued.is_empty());
    }

    /// `SendThread.readResponse`: replies come in the order requests were sent.
    fn on_reply(&mut self, now_ms: i64, xid: i32, reply: Reply, out: &mut Vec<ClientEffect>) {
        let Some(oldest) = self.in_flight.front() else {
            let what = format!("nothing in flight, but got a reply for xid {xid}");
            return self.protocol_violation(now_ms, what, out);
        };
        if oldest.xid != xid {
            let what = format!(
                "xid out of order: got a reply for xid {xid}, expected xid {}",
                oldest.xid
            );
            return self.protocol_violation(now_ms, what, out);
        }
        let answered = self
            .in_flight
            .pop_front()
            .expect("the oldest was just read");
        self.observe_zxid(reply.zxid);
        match answered.kind {
            InFlightKind::SetWatches => {}
            InFlightKind::Request(registration) => {
                self.watches.on_reply(&registration, reply.err);
                let outcome = Outcome::Reply(reply);
                out.push(ClientEffect::Completed { xid, outcome });
            }
            InFlightKind::CloseSession => self.on_close_reply(xid, reply, out),
        }
    }

    /// `ReplyHeader.zxid > 0` moves the last zxid seen; it never goes back.
    fn observe_zxid(&mut self, zxid: Zxid) {
        let before = self.last_zxid_seen;
        if zxid > 0 {
            self.last_zxid_seen = self.last_zxid_seen.max(zxid);
        }
        assert!(self.last_zxid_seen >= before);
    }

    /// `ZooKeeper.close`: once closeSession is answered the client shuts down.
    fn on_close_reply(&mut self, xid: i32, reply: Reply, out: &mut Vec<ClientEffect>) {
        assert!(self.closing);
        // Nothing is sent after closeSession: later submits are refused.
        assert!(self.in_flight.is_empty());
        assert!(self.queued.is_empty());
        out.push(ClientEffect::Completed {
            xid,
            outcome: Outcome::Reply(reply),
        });
        self.state = ClientState::Closed;
        out.push(ClientEffect::Session(SessionEvent::Closed));
        out.push(ClientEffect::Close);
    }

    fn on_watch(
        &mut self,
        event_type: EventType,
        path: String,
        zxid: Zxid,
        out: &mut Vec<ClientEffect>,
    ) {
        // A notification's header zxid is -1 on ZooKeeper's wire, so it does not move
        // last_zxid_seen here either.
        self.watches.on_event(event_type, &path);
        out.push(ClientEffect::Watch {
            event_type,
            path,
            zxid,
        });
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

    /// `ClientCnxn.cleanup`: the written requests, then the waiting ones, in xid order.
    /// SetWatches is internal and reported to no one.
    fn fail_all(&mut self, outcome: Outcome, out: &mut Vec<ClientEffect>) {
        for written in self.in_flight.drain(..) {
            if written.kind != InFlightKind::SetWatches {
                let outcome = outcome.clone();
                out.push(ClientEffect::Completed {
                    xid: written.xid,
                    outcome,
                });
            }
        }
        for waiting in self.queued.drain(..) {
            let outcome = outcome.clone();
            out.push(ClientEffect::Completed {
                xid: waiting.xid(),
                outcome,
            });
        }
        assert!(self.in_flight.is_empty());
        assert!(self.queued.is_empty());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_idle_follows_send_thread_run() {
        // SendThread.run: timeToNextPing = readTimeout/2 - idleSend - (idleSend > 1000 ? 1000 : 0),
        // and a ping at least every MAX_SEND_PING_INTERVAL (10 s).
        assert_eq!(ping_idle_ms(1000), 500);
        assert_eq!(ping_idle_ms(2000), 1000);
        assert_eq!(ping_idle_ms(3000), 1001);
        assert_eq!(ping_idle_ms(6666), 2333);
        assert_eq!(ping_idle_ms(40_000), 10_001);
        assert_eq!(ping_idle_ms(1), 1);
    }

    #[test]
    fn timeouts_derive_from_the_session_timeout() {
        // SendThread.onConnected: readTimeout = 2/3, connectTimeout = timeout / servers.
        assert_eq!(read_timeout_ms(30_000), 20_000);
        assert_eq!(connect_timeout_ms(30_000, 3), 10_000);
        assert_eq!(connect_timeout_ms(2, 5), 1);
    }

    #[test]
    fn xids_skip_from_max_back_to_one() {
        // ClientCnxn.getXid: "Skip from MAX to 1", never a reserved negative xid.
        let mut client = ClientSession::new(ClientConfig::new(1, 0, 3000));
        client.next_xid = i32::MAX - 1;
        assert_eq!(client.take_xid(), i32::MAX - 1);
        assert_eq!(client.take_xid(), 1);
        assert_eq!(client.take_xid(), 2);
    }
}
