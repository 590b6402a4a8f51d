//! Clients on the network: raw connections, where the test writes the protocol by hand
//! (`connect`, `request`, `reply`), and real client sessions whose effects the network
//! carries out (`add_client`, `client_submit`).

use std::collections::{BTreeMap, VecDeque};

use zksim_core::client::{
    ClientConfig, ClientEffect, ClientSession, ClientState, Outcome, SessionEvent,
};
use zksim_core::proto::{ClientMessage, ConnId, ConnectRequest, ServerMessage};
use zksim_core::request::{Reply, Request};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::watch::EventType;
use zksim_core::zab::ServerId;

use super::{Event, LINK_DELAY_MS, Net};

/// A client connection: what the test sent and what came back. A connection owned by a
/// `SimClient` (`client` is set) has its messages delivered to that client instead.
#[derive(Clone, Debug, Default)]
pub struct ClientConn {
    pub server: ServerId,
    pub inbox: Vec<ServerMessage>,
    pub closed: bool,
    pub client: Option<usize>,
}

/// A real client session driven over the network: `Connect { server: i }` opens a
/// connection to `servers[i]`, `Send` writes on it, `Close` drops it; the server's messages
/// and the connection's end come back as `on_message` and `on_disconnected`.
pub struct SimClient {
    pub session: ClientSession,
    /// Server ids by the index the session names them with.
    pub servers: Vec<ServerId>,
    /// The current connection, if any.
    pub conn: Option<ConnId>,
    /// Requests by xid, as submitted.
    pub requests: BTreeMap<i32, Request>,
    /// How each request ended, in the order they ended.
    pub completed: Vec<(i32, Outcome)>,
    /// Watch notifications, in the order delivered.
    pub watches: Vec<(EventType, String, Zxid)>,
    pub events: Vec<SessionEvent>,
    pub violations: Vec<String>,
    /// Every server the client opened a connection to, in order.
    pub connected_to: Vec<ServerId>,
    /// Every ConnectRequest it sent, with the server it went to.
    pub connects: Vec<(ServerId, ConnectRequest)>,
}

impl SimClient {
    /// How request `xid` ended, if it has.
    pub fn outcome(&self, xid: i32) -> Option<&Outcome> {
        self.completed
            .iter()
            .find_map(|(x, o)| (*x == xid).then_some(o))
    }

    /// The reply to `xid`, if the server answered it.
    pub fn reply(&self, xid: i32) -> Option<&Reply> {
        match self.outcome(xid) {
            Some(Outcome::Reply(r)) => Some(r),
            _ => None,
        }
    }

    pub fn state(&self) -> ClientState {
        self.session.state()
    }
}

/// A queue of client messages a test wants to send in order, for convenience.
pub type Script = VecDeque<ClientMessage>;

impl Net {
    /// The client whose current connection is `conn`, and that connection's server.
    pub(super) fn current_client_conn(&self, conn: ConnId) -> Option<(usize, ServerId)> {
        let c = self.conns.get(&conn)?;
        let client = c.client?;
        (self.clients[client].conn == Some(conn)).then_some((client, c.server))
    }

    // ----- real client sessions -----

    /// Add a client session over `servers` (its server index `i` is `servers[i]`) and
    /// start it; returns its index in `clients`.
    pub fn add_client(&mut self, config: ClientConfig, servers: &[ServerId]) -> usize {
        assert_eq!(config.servers, servers.len(), "one index per server");
        let c = self.clients.len();
        self.clients.push(SimClient {
            session: ClientSession::new(config),
            servers: servers.to_vec(),
            conn: None,
            requests: BTreeMap::new(),
            completed: Vec::new(),
            watches: Vec::new(),
            events: Vec::new(),
            violations: Vec::new(),
            connected_to: Vec::new(),
            connects: Vec::new(),
        });
        let mut out = Vec::new();
        let now = self.now_ms;
        self.clients[c].session.start(now, &mut out);
        self.handle_client(c, out);
        c
    }

    /// Submit a request on client `c`; returns its xid.
    pub fn client_submit(&mut self, c: usize, request: Request) -> i32 {
        let mut out = Vec::new();
        let now = self.now_ms;
        let xid = self.clients[c]
            .session
            .submit(now, request.clone(), &mut out);
        self.clients[c].requests.insert(xid, request);
        self.handle_client(c, out);
        xid
    }

    /// Close client `c`'s session; returns the closeSession's xid.
    pub fn client_close(&mut self, c: usize) -> i32 {
        let mut out = Vec::new();
        let now = self.now_ms;
        let xid = self.clients[c].session.close(now, &mut out);
        self.handle_client(c, out);
        xid
    }

    /// The client drops its transport without telling the session (a broken socket): the
    /// session hears of it as a disconnect, the server as a dropped connection.
    pub fn client_drop_connection(&mut self, c: usize) {
        let Some(conn) = self.clients[c].conn else {
            return;
        };
        let server = self.conns[&conn].server;
        self.conns.get_mut(&conn).expect("known").closed = true;
        let at = self.now_ms + LINK_DELAY_MS;
        self.schedule(at, Event::ServerConnDropped { conn, server });
        self.schedule(at, Event::ClientConnClosed { conn });
        // The session hears of it by the event; keep it current until then.
    }

    pub(super) fn handle_client(&mut self, c: usize, effects: Vec<ClientEffect>) {
        for e in effects {
            match e {
                ClientEffect::Connect { server } => {
                    let id = self.clients[c].servers[server];
                    let conn = self.next_conn;
                    self.next_conn += 1;
                    self.conns.insert(
                        conn,
                        ClientConn {
                            server: id,
                            inbox: Vec::new(),
                            closed: false,
                            client: Some(c),
                        },
                    );
                    self.clients[c].conn = Some(conn);
                    let at = self.now_ms + LINK_DELAY_MS;
                    self.schedule(at, Event::TransportUp { conn });
                }
                ClientEffect::Send(msg) => {
                    let conn = self.clients[c].conn.expect("a transport to send on");
                    if let ClientMessage::Connect(req) = &msg {
                        let server = self.conns[&conn].server;
                        self.clients[c].connects.push((server, req.clone()));
                    }
                    self.client_send(conn, msg);
                }
                ClientEffect::Close => {
                    let Some(conn) = self.clients[c].conn.take() else {
                        continue;
                    };
                    let server = self.conns[&conn].server;
                    let was_open = !self.conns[&conn].closed;
                    self.conns.get_mut(&conn).expect("known").closed = true;
                    if was_open {
                        let at = self.now_ms + LINK_DELAY_MS;
                        self.schedule(at, Event::ServerConnDropped { conn, server });
                    }
                }
                ClientEffect::Completed { xid, outcome } => {
                    self.clients[c].completed.push((xid, outcome))
                }
                ClientEffect::Watch {
                    event_type,
                    path,
                    zxid,
                } => self.clients[c].watches.push((event_type, path, zxid)),
                ClientEffect::Session(ev) => self.clients[c].events.push(ev),
                ClientEffect::ProtocolViolation(what) => self.clients[c].violations.push(what),
            }
        }
    }

    // ----- clients -----

    /// Open a client connection to a server and send a ConnectRequest.
    pub fn connect(
        &mut self,
        server: ServerId,
        session_id: SessionId,
        password: u64,
        last_zxid_seen: Zxid,
    ) -> ConnId {
        self.connect_with_timeout(server, session_id, password, last_zxid_seen, 10_000)
    }

    /// `connect` asking for a session timeout of `timeout_ms`.
    pub fn connect_with_timeout(
        &mut self,
        server: ServerId,
        session_id: SessionId,
        password: u64,
        last_zxid_seen: Zxid,
        timeout_ms: i32,
    ) -> ConnId {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            conn,
            ClientConn {
                server,
                inbox: Vec::new(),
                closed: false,
                client: None,
            },
        );
        let req = ConnectRequest {
            last_zxid_seen,
            timeout_ms,
            session_id,
            password,
        };
        self.client_send(conn, ClientMessage::Connect(req));
        conn
    }

    pub fn client_send(&mut self, conn: ConnId, msg: ClientMessage) {
        let server = self.conns[&conn].server;
        let at = self.now_ms + LINK_DELAY_MS;
        self.schedule(at, Event::ToServer { conn, server, msg });
    }

    pub fn request(&mut self, conn: ConnId, xid: i32, request: Request) {
        self.client_send(conn, ClientMessage::Request { xid, request });
    }

    /// The reply to `xid` on a connection, if it arrived.
    pub fn reply(&self, conn: ConnId, xid: i32) -> Option<Reply> {
        self.conns[&conn].inbox.iter().find_map(|m| match m {
            ServerMessage::Reply { xid: x, reply } if *x == xid => Some(reply.clone()),
            _ => None,
        })
    }

    pub fn session_of(&self, conn: ConnId) -> Option<(SessionId, u64)> {
        self.conns[&conn].inbox.iter().find_map(|m| match m {
            ServerMessage::Connected(r) if r.timeout_ms > 0 => Some((r.session_id, r.password)),
            _ => None,
        })
    }

    /// The client of a raw connection drops it; the server hears of it one link delay later.
    pub fn disconnect(&mut self, conn: ConnId) {
        let c = self.conns.get_mut(&conn).expect("known connection");
        assert!(
            c.client.is_none(),
            "a SimClient's connection: use client_drop_connection"
        );
        if c.closed {
            return;
        }
        c.closed = true;
        let server = c.server;
        let at = self.now_ms + LINK_DELAY_MS;
        self.schedule(at, Event::ServerConnDropped { conn, server });
    }

    /// The negotiated timeout a raw connection's session got (0: refused as expired).
    pub fn negotiated_timeout(&self, conn: ConnId) -> Option<i32> {
        self.conns[&conn].inbox.iter().find_map(|m| match m {
            ServerMessage::Connected(r) => Some(r.timeout_ms),
            _ => None,
        })
    }
}
