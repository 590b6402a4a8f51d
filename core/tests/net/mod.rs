//! A small deterministic network for protocol tests: servers exchange messages over FIFO
//! links with a fixed delay, disks complete writes after a fixed delay, and the test
//! decides partitions, crashes, slow disks and client traffic. No madsim, no threads.
//! Servers' effects are carried out by the harness the simulator uses
//! (`zksim_harness`): its disk model, its effect interpreter (persist, then send) and its
//! ground truth, which the checker's replica agreement judges.
//!
//! Clients come in two kinds: raw connections (`connect`, `request`, `reply`), where the
//! test writes the protocol by hand, and [`SimClient`]s, real `ClientSession`s whose
//! effects the network carries out (`add_client`, `client_submit`).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use zksim_core::client::{
    ClientConfig, ClientEffect, ClientSession, ClientState, Outcome, SessionEvent,
};

use zksim_core::log::{DurableRecord, DurableState, RecoverError};
use zksim_core::proto::{ClientMessage, ConnId, ConnectRequest, ServerMessage};
use zksim_core::request::{Reply, Request};
use zksim_core::server::{Effect, Server, ServerConfig};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::watch::EventType;
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};
use zksim_harness::truth::history_records_role;
use zksim_harness::{GroundTruth, Host, Micros, ServerDisk, ServerIo};

pub const LINK_DELAY_MS: i64 = 2;
pub const DISK_DELAY_MS: i64 = 3;

#[derive(Clone, Debug)]
enum Event {
    Deliver {
        from: ServerId,
        to: ServerId,
        link: u64,
        msg: PeerMessage,
    },
    Persisted {
        server: ServerId,
        incarnation: u64,
        token: u64,
    },
    ToServer {
        conn: ConnId,
        server: ServerId,
        msg: ClientMessage,
    },
    /// A `SimClient`'s transport to a server is up (or failed to open).
    TransportUp { conn: ConnId },
    /// A server message reaches a `SimClient`.
    ToClient { conn: ConnId, msg: ServerMessage },
    /// A `SimClient` learns its connection broke.
    ClientConnClosed { conn: ConnId },
    /// A server learns a client dropped its connection.
    ServerConnDropped { conn: ConnId, server: ServerId },
}

pub struct Node {
    pub server: Option<Server>,
    pub config: ServerConfig,
    /// The harness's disk model: what survives a crash, and the unsynced cache.
    pub disk: ServerDisk,
    io: ServerIo,
    /// While set, writes do not complete (a stalled fsync).
    pub stalled: bool,
    stalled_tokens: Vec<u64>,
    incarnation: u64,
    pub roles: Vec<(PeerState, u32, Option<ServerId>)>,
}

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

/// Decides which messages a failing link loses.
pub type DropFilter = Box<dyn FnMut(ServerId, ServerId, &PeerMessage) -> bool>;

pub struct Net {
    pub now_ms: i64,
    pub nodes: BTreeMap<ServerId, Node>,
    events: BTreeMap<(i64, u64), Event>,
    seq: u64,
    /// Cut links (both directions are listed).
    cut: BTreeSet<(ServerId, ServerId)>,
    /// Link incarnations: a message sent on an older incarnation is dropped.
    links: BTreeMap<(ServerId, ServerId), u64>,
    /// Last delivery time per link, to keep FIFO order.
    link_clock: BTreeMap<(ServerId, ServerId), i64>,
    pub conns: BTreeMap<ConnId, ClientConn>,
    next_conn: ConnId,
    /// Messages sent between servers, for assertions: (time, from, to, kind).
    pub sent: Vec<(i64, ServerId, ServerId, &'static str)>,
    /// Messages for which this returns true are lost (a link that fails mid-stream).
    pub drop_filter: Option<DropFilter>,
    /// Extra one-way delay per link, on top of `LINK_DELAY_MS` (a slow link stays FIFO).
    link_extra_ms: BTreeMap<(ServerId, ServerId), i64>,
    /// When set, every message between servers is kept in `messages`.
    pub record_messages: bool,
    pub messages: Vec<(i64, ServerId, ServerId, PeerMessage)>,
    /// Every persist a server asked for: (time, server, token, records, reset).
    pub persists: Vec<(i64, ServerId, u64, Vec<DurableRecord>, bool)>,
    pub clients: Vec<SimClient>,
    /// What every replica applied (the harness's ground truth).
    pub truth: GroundTruth,
    /// Roles as the history records them, for the replica agreement check.
    role_events: Vec<(Micros, ServerId, PeerState, u32, Option<ServerId>)>,
    /// Invariants a server breached under a bug knob (`Effect::Breach`).
    pub breaches: Vec<String>,
    /// Snapshots installed from a leader: (time, server, zxid, digest).
    pub installs: Vec<(i64, ServerId, Zxid, u64)>,
}

impl Net {
    /// An ensemble of voters (and observers), all started.
    pub fn new(
        voters: &[ServerId],
        observers: &[ServerId],
        tweak: impl Fn(&mut ServerConfig),
    ) -> Net {
        let mut net = Net {
            now_ms: 0,
            nodes: BTreeMap::new(),
            events: BTreeMap::new(),
            seq: 0,
            cut: BTreeSet::new(),
            links: BTreeMap::new(),
            link_clock: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            sent: Vec::new(),
            drop_filter: None,
            link_extra_ms: BTreeMap::new(),
            record_messages: false,
            messages: Vec::new(),
            persists: Vec::new(),
            clients: Vec::new(),
            truth: GroundTruth::default(),
            role_events: Vec::new(),
            breaches: Vec::new(),
            installs: Vec::new(),
        };
        for id in voters.iter().chain(observers) {
            let mut config = ServerConfig::new(*id, voters.to_vec(), observers.to_vec());
            tweak(&mut config);
            net.nodes.insert(
                *id,
                Node {
                    server: None,
                    config,
                    disk: ServerDisk::default(),
                    io: ServerIo::new(*id),
                    stalled: false,
                    stalled_tokens: Vec::new(),
                    incarnation: 0,
                    roles: Vec::new(),
                },
            );
            net.restart(*id);
        }
        net
    }

    fn schedule(&mut self, at: i64, event: Event) {
        self.seq += 1;
        self.events.insert((at, self.seq), event);
    }

    pub fn server(&self, id: ServerId) -> &Server {
        self.nodes[&id].server.as_ref().expect("server is up")
    }

    pub fn is_up(&self, id: ServerId) -> bool {
        self.nodes[&id].server.is_some()
    }

    /// Crash a server: it loses what was not durable and its links break.
    pub fn crash(&mut self, id: ServerId) {
        self.crash_with(id, false);
    }

    /// Crash a server in the middle of a write: the oldest persist in flight reaches the
    /// disk only in part, leaving a torn last record in an append-only file.
    pub fn crash_torn(&mut self, id: ServerId) -> bool {
        self.crash_with(id, true)
    }

    /// The durable state a restart would recover from the server's files.
    pub fn recovered(&self, id: ServerId) -> Result<DurableState, RecoverError> {
        self.nodes[&id].disk.recover()
    }

    fn crash_with(&mut self, id: ServerId, torn: bool) -> bool {
        let node = self.nodes.get_mut(&id).expect("known server");
        let tore = node.disk.crash(torn.then_some(0.5));
        node.server = None;
        node.incarnation += 1;
        node.io.crash();
        node.stalled_tokens.clear();
        let peers: Vec<ServerId> = self.nodes.keys().copied().filter(|p| *p != id).collect();
        for p in peers {
            self.break_link(id, p);
        }
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.server == id && !c.closed)
            .map(|(conn, _)| *conn)
            .collect();
        for conn in conns {
            self.close_conn(conn);
        }
        tore
    }

    /// The connection ends from the server's side; its client hears of it after the
    /// messages already on their way.
    fn close_conn(&mut self, conn: ConnId) {
        let now = self.now_ms;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        c.closed = true;
        if c.client.is_some() {
            self.schedule(now + LINK_DELAY_MS, Event::ClientConnClosed { conn });
        }
    }

    /// Make the link from `from` to `to` slower by `extra_ms` (it stays FIFO).
    pub fn set_link_delay(&mut self, from: ServerId, to: ServerId, extra_ms: i64) {
        self.link_extra_ms.insert((from, to), extra_ms);
    }

    /// Start (or restart) a server from its disk.
    pub fn restart(&mut self, id: ServerId) {
        let node = self.nodes.get_mut(&id).expect("known server");
        assert!(node.server.is_none(), "server {id} is already up");
        node.disk.open();
        let mut server = match node.disk.recover() {
            Ok(state) => Server::recover(node.config.clone(), state),
            Err(_) => Server::repairing(node.config.clone()),
        };
        node.incarnation += 1;
        self.truth
            .start_segment(id, server.tree().last_processed_zxid());
        let mut out = Vec::new();
        server.start(self.now_ms, &mut out);
        node.server = Some(server);
        self.handle(id, out);
    }

    fn break_link(&mut self, a: ServerId, b: ServerId) {
        for key in [(a, b), (b, a)] {
            *self.links.entry(key).or_default() += 1;
        }
        let mut out_a = Vec::new();
        let mut out_b = Vec::new();
        let now = self.now_ms;
        if let Some(s) = self.nodes.get_mut(&a).and_then(|n| n.server.as_mut()) {
            s.on_peer_disconnected(now, b, &mut out_a);
        }
        if let Some(s) = self.nodes.get_mut(&b).and_then(|n| n.server.as_mut()) {
            s.on_peer_disconnected(now, a, &mut out_b);
        }
        self.handle(a, out_a);
        self.handle(b, out_b);
    }

    /// `a` closes its connection to `b`: what is in flight either way is dropped and `b`
    /// hears of it at once, unless the link from `a` to `b` is cut or drops messages (the
    /// close travels like a message; this network breaks a partition's links at once).
    fn close_peer(&mut self, a: ServerId, b: ServerId) {
        for key in [(a, b), (b, a)] {
            *self.links.entry(key).or_default() += 1;
        }
        let dropped = self.cut.contains(&(a, b))
            || self
                .drop_filter
                .as_mut()
                .is_some_and(|drop| drop(a, b, &PeerMessage::UpToDate));
        if dropped {
            return;
        }
        let mut out = Vec::new();
        let now = self.now_ms;
        if let Some(s) = self.nodes.get_mut(&b).and_then(|n| n.server.as_mut()) {
            s.on_peer_disconnected(now, a, &mut out);
        }
        self.handle(b, out);
    }

    /// Cut every link between the two groups.
    pub fn partition(&mut self, side: &[ServerId]) {
        let ids: Vec<ServerId> = self.nodes.keys().copied().collect();
        for a in side {
            for b in ids.iter().filter(|b| !side.contains(b)) {
                if self.cut.insert((*a, *b)) {
                    self.cut.insert((*b, *a));
                    self.break_link(*a, *b);
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn stall_disk(&mut self, id: ServerId, stalled: bool) {
        let node = self.nodes.get_mut(&id).expect("known server");
        node.stalled = stalled;
        if !stalled {
            let incarnation = node.incarnation;
            let tokens = std::mem::take(&mut node.stalled_tokens);
            let at = self.now_ms + DISK_DELAY_MS;
            for token in tokens {
                self.schedule(
                    at,
                    Event::Persisted {
                        server: id,
                        incarnation,
                        token,
                    },
                );
            }
        }
    }

    fn send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        self.sent.push((self.now_ms, from, to, msg.kind()));
        if self.record_messages {
            self.messages.push((self.now_ms, from, to, msg.clone()));
        }
        if self.cut.contains(&(from, to)) || !self.nodes.contains_key(&to) {
            return;
        }
        if let Some(drop) = self.drop_filter.as_mut() {
            if drop(from, to, &msg) {
                return;
            }
        }
        let link = *self.links.get(&(from, to)).unwrap_or(&0);
        let clock = self.link_clock.entry((from, to)).or_default();
        let extra = self.link_extra_ms.get(&(from, to)).copied().unwrap_or(0);
        let at = (self.now_ms + LINK_DELAY_MS + extra).max(*clock);
        *clock = at;
        self.schedule(
            at,
            Event::Deliver {
                from,
                to,
                link,
                msg,
            },
        );
    }

    /// Carry out a server's effects through the harness's interpreter.
    fn handle(&mut self, id: ServerId, mut effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        let node = self.nodes.get_mut(&id).expect("known");
        let serving = node.server.as_ref().is_some_and(|s| s.is_serving());
        let mut io = std::mem::replace(&mut node.io, ServerIo::new(id));
        let mut disk = std::mem::take(&mut node.disk);
        io.carry_out(serving, &mut effects, &mut disk, self);
        let node = self.nodes.get_mut(&id).expect("known");
        node.io = io;
        node.disk = disk;
    }

    /// Process the next event or timer if it is due by `until_ms`; false if none is.
    pub fn step(&mut self, until_ms: i64) -> bool {
        let next_event = self.events.keys().next().map(|(t, _)| *t);
        let next_tick = self
            .nodes
            .values()
            .filter_map(|n| n.server.as_ref())
            .filter_map(|s| s.next_deadline())
            .chain(
                self.clients
                    .iter()
                    .filter_map(|c| c.session.next_deadline()),
            )
            .min();
        let next = [next_event, next_tick].into_iter().flatten().min();
        let Some(at) = next.filter(|t| *t <= until_ms) else {
            return false;
        };
        self.now_ms = self.now_ms.max(at);
        if next_event == Some(at) {
            let key = *self.events.keys().next().expect("event exists");
            let event = self.events.remove(&key).expect("event exists");
            self.dispatch(event);
        } else {
            let ids: Vec<ServerId> = self.nodes.keys().copied().collect();
            for id in ids {
                let now = self.now_ms;
                let Some(server) = self.nodes.get_mut(&id).and_then(|n| n.server.as_mut()) else {
                    continue;
                };
                if server.next_deadline().is_some_and(|d| d <= now) {
                    let mut out = Vec::new();
                    server.on_tick(now, &mut out);
                    self.handle(id, out);
                }
            }
            for c in 0..self.clients.len() {
                let now = self.now_ms;
                if self.clients[c]
                    .session
                    .next_deadline()
                    .is_some_and(|d| d <= now)
                {
                    let mut out = Vec::new();
                    self.clients[c].session.on_tick(now, &mut out);
                    self.handle_client(c, out);
                }
            }
        }
        true
    }

    /// Process every event up to `until_ms`, ticking servers at their deadlines.
    pub fn run_until(&mut self, until_ms: i64) {
        while self.step(until_ms) {}
        self.now_ms = self.now_ms.max(until_ms);
    }

    /// Step until `done` holds (checked after every step), for at most `within_ms`.
    pub fn run_until_true(&mut self, within_ms: i64, mut done: impl FnMut(&Net) -> bool) -> bool {
        let until = self.now_ms + within_ms;
        while !done(self) {
            if !self.step(until) {
                return false;
            }
        }
        true
    }

    /// Whether `from` has sent a message of `kind` to `to` at or after `since_ms`.
    pub fn has_sent(&self, from: ServerId, to: ServerId, kind: &str, since_ms: i64) -> bool {
        self.sent
            .iter()
            .any(|(t, f, d, k)| *t >= since_ms && *f == from && *d == to && *k == kind)
    }

    pub fn run_for(&mut self, ms: i64) {
        let until = self.now_ms + ms;
        self.run_until(until);
    }

    fn dispatch(&mut self, event: Event) {
        let now = self.now_ms;
        match event {
            Event::Deliver {
                from,
                to,
                link,
                msg,
            } => {
                if self.cut.contains(&(from, to))
                    || self.links.get(&(from, to)).copied().unwrap_or(0) != link
                {
                    return;
                }
                let Some(server) = self.nodes.get_mut(&to).and_then(|n| n.server.as_mut()) else {
                    return;
                };
                let mut out = Vec::new();
                server.on_peer_message(now, from, msg, &mut out);
                self.handle(to, out);
            }
            Event::Persisted {
                server: id,
                incarnation,
                token,
            } => {
                let node = self.nodes.get_mut(&id).expect("known");
                if node.incarnation != incarnation || node.server.is_none() {
                    return;
                }
                let mut io = std::mem::replace(&mut node.io, ServerIo::new(id));
                let mut disk = std::mem::take(&mut node.disk);
                io.persisted(token, &mut disk, self);
                let node = self.nodes.get_mut(&id).expect("known");
                node.io = io;
                node.disk = disk;
                let mut out = Vec::new();
                if let Some(server) = self.nodes.get_mut(&id).and_then(|n| n.server.as_mut()) {
                    server.on_persisted(now, token, &mut out);
                }
                self.handle(id, out);
            }
            Event::ToServer {
                conn,
                server: id,
                msg,
            } => {
                if self.conns.get(&conn).is_none_or(|c| c.closed) {
                    return;
                }
                let Some(server) = self.nodes.get_mut(&id).and_then(|n| n.server.as_mut()) else {
                    self.close_conn(conn);
                    return;
                };
                let mut out = Vec::new();
                server.on_client_message(now, conn, msg, &mut out);
                self.handle(id, out);
            }
            Event::TransportUp { conn } => {
                let Some((c, server)) = self.current_client_conn(conn) else {
                    return;
                };
                let mut out = Vec::new();
                if self.is_up(server) && !self.conns[&conn].closed {
                    self.clients[c].connected_to.push(server);
                    self.clients[c].session.on_connected(now, &mut out);
                } else {
                    self.conns.get_mut(&conn).expect("known").closed = true;
                    self.clients[c].conn = None;
                    self.clients[c].session.on_connect_failed(now, &mut out);
                }
                self.handle_client(c, out);
            }
            Event::ToClient { conn, msg } => {
                let Some((c, _)) = self.current_client_conn(conn) else {
                    return;
                };
                let mut out = Vec::new();
                self.clients[c].session.on_message(now, msg, &mut out);
                self.handle_client(c, out);
            }
            Event::ClientConnClosed { conn } => {
                let Some((c, _)) = self.current_client_conn(conn) else {
                    return;
                };
                self.clients[c].conn = None;
                let mut out = Vec::new();
                self.clients[c].session.on_disconnected(now, &mut out);
                self.handle_client(c, out);
            }
            Event::ServerConnDropped { conn, server } => {
                if let Some(s) = self.nodes.get_mut(&server).and_then(|n| n.server.as_mut()) {
                    s.on_client_disconnected(now, conn);
                }
            }
        }
    }

    /// The client whose current connection is `conn`, and that connection's server.
    fn current_client_conn(&self, conn: ConnId) -> Option<(usize, ServerId)> {
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

    fn handle_client(&mut self, c: usize, effects: Vec<ClientEffect>) {
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

    // ----- views -----

    /// The server every up server agrees is leading, if there is one.
    pub fn leader(&self) -> Option<ServerId> {
        let leaders: Vec<ServerId> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.server
                    .as_ref()
                    .is_some_and(|s| s.state() == PeerState::Leading && s.is_serving())
            })
            .map(|(id, _)| *id)
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    /// Run until a leader is established and every up server serves, or fail.
    pub fn settle(&mut self, within_ms: i64) -> ServerId {
        let deadline = self.now_ms + within_ms;
        while self.now_ms < deadline {
            self.run_for(50);
            let serving = self
                .nodes
                .values()
                .filter_map(|n| n.server.as_ref())
                .all(|s| s.is_serving());
            if let (Some(l), true) = (self.leader(), serving) {
                return l;
            }
        }
        let states: Vec<String> = self
            .nodes
            .iter()
            .map(|(id, n)| {
                format!(
                    "{id}:{:?}",
                    n.server.as_ref().map(|s| (s.state(), s.is_serving()))
                )
            })
            .collect();
        panic!(
            "no settled leader within {within_ms} ms: {}",
            states.join(" ")
        );
    }

    /// Zab's agreement over what the replicas applied so far (Zab.tla's
    /// PrefixConsistency, Integrity, PrimaryOrder and primary uniqueness), judged by the
    /// checker's replica agreement property on the ground truth.
    pub fn assert_replicas_agree(&self) {
        if let Err(e) = self.replicas_agree() {
            panic!("{e}");
        }
    }

    pub fn replicas_agree(&self) -> Result<(), String> {
        let config = &self.nodes.values().next().expect("a server").config;
        let (voters, observers) = (&config.voters, &config.observers);
        self.truth
            .agreement(voters, observers, &self.role_events)
            .map_err(|found| found.join("\n"))
    }

    pub fn digests(&self) -> BTreeMap<ServerId, (Zxid, u64)> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| {
                n.server
                    .as_ref()
                    .map(|s| (*id, (s.last_committed_zxid(), s.tree().digest())))
            })
            .collect()
    }
}

/// A queue of client messages a test wants to send in order, for convenience.
pub type Script = VecDeque<ClientMessage>;

// ----- helpers shared by the stories -----

impl Net {
    /// Open a raw session on `server` and wait until it is established.
    pub fn open_session(&mut self, server: ServerId) -> ConnId {
        let conn = self.connect(server, 0, 0, 0);
        assert!(
            self.run_until_true(2_000, |n| n.session_of(conn).is_some()),
            "no session on server {server}: {:?}",
            self.conns[&conn].inbox
        );
        conn
    }

    /// Create `paths` through `conn` (xids from `first_xid`) and require each acknowledged.
    pub fn create_all(&mut self, conn: ConnId, first_xid: i32, paths: &[String]) {
        for (i, p) in paths.iter().enumerate() {
            self.request(conn, first_xid + i as i32, create(p, "v"));
        }
        let last = first_xid + paths.len() as i32 - 1;
        assert!(
            self.run_until_true(3_000, |n| n.reply(conn, last).is_some()),
            "writes not acknowledged"
        );
        for x in first_xid..=last {
            assert_eq!(
                self.reply(conn, x).map(|r| r.err),
                Some(zksim_core::error::ErrorCode::Ok)
            );
        }
    }

    /// Every up server has the same (last zxid, digest).
    pub fn assert_converged(&self) {
        let digests = self.digests();
        let first = digests.values().next().expect("a server is up");
        assert!(
            digests.values().all(|d| d == first),
            "replicas differ: {digests:?}"
        );
    }

    /// Servers that serve clients now.
    pub fn serving(&self) -> Vec<ServerId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.server.as_ref().is_some_and(|s| s.is_serving()))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The recorded messages from `from` to `to` at or after `since_ms`.
    pub fn messages_between(
        &self,
        from: ServerId,
        to: ServerId,
        since_ms: i64,
    ) -> Vec<&PeerMessage> {
        self.messages
            .iter()
            .filter(|(t, f, d, _)| *t >= since_ms && *f == from && *d == to)
            .map(|(_, _, _, m)| m)
            .collect()
    }
}

pub fn paths(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/{prefix}{i}")).collect()
}

pub fn create(path: &str, data: &str) -> Request {
    Request::Create {
        path: path.to_string(),
        data: Some(data.as_bytes().to_vec()),
        acl: zksim_core::acl::Acl::open_unsafe(),
        mode: zksim_core::request::CreateMode::Persistent,
        ttl: None,
    }
}

pub fn ephemeral(path: &str) -> Request {
    Request::Create {
        path: path.to_string(),
        data: None,
        acl: zksim_core::acl::Acl::open_unsafe(),
        mode: zksim_core::request::CreateMode::Ephemeral,
        ttl: None,
    }
}

pub fn get_data(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.to_string(),
        watch,
    }
}

pub fn set_data(path: &str, data: &str) -> Request {
    Request::SetData {
        path: path.to_string(),
        data: Some(data.as_bytes().to_vec()),
        version: -1,
    }
}

pub fn sync(path: &str) -> Request {
    Request::Sync {
        path: path.to_string(),
    }
}

/// The data a GetData reply carries.
pub fn data_of(reply: &Reply) -> Option<String> {
    match &reply.response {
        zksim_core::request::Response::GetData { data, .. } => data
            .as_ref()
            .map(|d| String::from_utf8_lossy(d).into_owned()),
        _ => None,
    }
}

impl Net {
    /// A write that `leader` logs but no follower receives (its PROPOSAL is lost): the
    /// leader's history gets a txn that is never committed. The loss stays in force.
    pub fn orphan_write(&mut self, leader: ServerId, path: &str) {
        let conn = self.open_session(leader);
        self.drop_filter = Some(Box::new(move |from, _, m| {
            from == leader && matches!(m, PeerMessage::Propose(_))
        }));
        self.request(conn, 1, create(path, "ghost"));
        let logged = self.run_until_true(500, |n| {
            n.server(leader).last_logged_zxid() > n.server(leader).last_committed_zxid()
        });
        assert!(logged, "the leader logged the orphan proposal");
        self.run_for(20);
    }
}

impl Net {
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

impl Host for Net {
    fn send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        Net::send(self, from, to, msg);
    }

    fn persist(
        &mut self,
        server: ServerId,
        token: u64,
        records: &[DurableRecord],
        reset: bool,
        _written: u64,
        _disk: &ServerDisk,
    ) {
        self.persists
            .push((self.now_ms, server, token, records.to_vec(), reset));
        let node = self.nodes.get_mut(&server).expect("known");
        if node.stalled {
            node.stalled_tokens.push(token);
        } else {
            let incarnation = node.incarnation;
            let at = self.now_ms + DISK_DELAY_MS;
            self.schedule(
                at,
                Event::Persisted {
                    server,
                    incarnation,
                    token,
                },
            );
        }
    }

    fn to_client(&mut self, conn: ConnId, msg: ServerMessage) {
        let at = self.now_ms + LINK_DELAY_MS;
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.closed {
                return;
            }
            if c.client.is_some() {
                self.schedule(at, Event::ToClient { conn, msg });
            } else {
                c.inbox.push(msg);
            }
        }
    }

    fn close_conn(&mut self, conn: ConnId) {
        Net::close_conn(self, conn);
    }

    fn disconnect(&mut self, from: ServerId, peer: ServerId) {
        self.close_peer(from, peer);
    }

    fn role(
        &mut self,
        server: ServerId,
        state: PeerState,
        epoch: u32,
        leader: Option<ServerId>,
        serving: bool,
    ) {
        let node = self.nodes.get_mut(&server).expect("known");
        node.roles.push((state, epoch, leader));
        if history_records_role(state, serving) {
            let t = self.now_us();
            self.role_events.push((t, server, state, epoch, leader));
        }
    }

    fn breach(&mut self, _server: ServerId, invariant: &'static str, detail: String) {
        self.breaches
            .push(format!("breach of {invariant}: {detail}"));
    }

    fn on_install(&mut self, server: ServerId, zxid: Zxid, digest: u64) {
        self.installs.push((self.now_ms, server, zxid, digest));
    }

    fn truth(&mut self) -> &mut GroundTruth {
        &mut self.truth
    }

    fn now_us(&self) -> Micros {
        u64::try_from(self.now_ms).expect("time starts at 0") * 1_000
    }
}
