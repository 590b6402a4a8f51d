//! A small deterministic network for protocol tests: servers exchange messages over FIFO
//! links with a fixed delay, disks complete writes after a fixed delay, and the test
//! decides partitions, crashes, slow disks and client traffic. No madsim, no threads.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use zksim_core::log::{self, DurableRecord, File};
use zksim_core::proto::{ClientMessage, ConnId, ConnectRequest, ServerMessage};
use zksim_core::request::{Reply, Request};
use zksim_core::server::{Effect, Server, ServerConfig};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};

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
}

/// One server's disk: durable bytes per file, plus persists in flight.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    pub files: BTreeMap<File, Vec<u8>>,
    in_flight: BTreeMap<u64, (Vec<DurableRecord>, bool)>,
    /// Messages waiting for a token to be durable (SendAfterPersist).
    held: Vec<(u64, ServerId, PeerMessage)>,
    /// While set, writes do not complete (a stalled fsync).
    pub stalled: bool,
    stalled_tokens: Vec<u64>,
}

impl Disk {
    fn write(&mut self, records: &[DurableRecord]) {
        for r in records {
            let bytes = log::encode(r);
            let file = self.files.entry(r.file()).or_default();
            if r.file().is_replaced() {
                *file = bytes;
            } else {
                file.extend_from_slice(&bytes);
            }
        }
    }
}

pub struct Node {
    pub server: Option<Server>,
    pub config: ServerConfig,
    pub disk: Disk,
    incarnation: u64,
    /// Every txn applied here, in order (ground truth), reset by a snapshot install.
    pub applied: Vec<Zxid>,
    pub roles: Vec<(PeerState, u32, Option<ServerId>)>,
}

/// A raw client connection: what the test sent and what came back.
#[derive(Clone, Debug, Default)]
pub struct ClientConn {
    pub server: ServerId,
    pub inbox: Vec<ServerMessage>,
    pub closed: bool,
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
        };
        for id in voters.iter().chain(observers) {
            let mut config = ServerConfig::new(*id, voters.to_vec(), observers.to_vec());
            tweak(&mut config);
            net.nodes.insert(
                *id,
                Node {
                    server: None,
                    config,
                    disk: Disk::default(),
                    incarnation: 0,
                    applied: Vec::new(),
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
        let node = self.nodes.get_mut(&id).expect("known server");
        node.server = None;
        node.incarnation += 1;
        node.disk.in_flight.clear();
        node.disk.held.clear();
        node.disk.stalled_tokens.clear();
        let peers: Vec<ServerId> = self.nodes.keys().copied().filter(|p| *p != id).collect();
        for p in peers {
            self.break_link(id, p);
        }
        for c in self.conns.values_mut() {
            if c.server == id {
                c.closed = true;
            }
        }
    }

    /// Start (or restart) a server from its disk.
    pub fn restart(&mut self, id: ServerId) {
        let node = self.nodes.get_mut(&id).expect("known server");
        assert!(node.server.is_none(), "server {id} is already up");
        let files = node.disk.files.clone();
        node.applied.clear();
        let mut server = match log::recover(|f| files.get(&f).cloned()) {
            Ok(state) => Server::recover(node.config.clone(), state),
            Err(_) => Server::repairing(node.config.clone()),
        };
        node.incarnation += 1;
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
        node.disk.stalled = stalled;
        if !stalled {
            let incarnation = node.incarnation;
            let tokens = std::mem::take(&mut node.disk.stalled_tokens);
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
        let at = (self.now_ms + LINK_DELAY_MS).max(*clock);
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

    fn handle(&mut self, id: ServerId, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Send { to, msg } => self.send(id, to, msg),
                Effect::Persist {
                    token,
                    records,
                    reset,
                } => {
                    let node = self.nodes.get_mut(&id).expect("known");
                    node.disk.in_flight.insert(token, (records, reset));
                    if node.disk.stalled {
                        node.disk.stalled_tokens.push(token);
                    } else {
                        let incarnation = node.incarnation;
                        let at = self.now_ms + DISK_DELAY_MS;
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
                Effect::SendAfterPersist { token, to, msg } => {
                    let node = self.nodes.get_mut(&id).expect("known");
                    node.disk.held.push((token, to, msg));
                }
                Effect::ToClient { conn, msg } => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        if !c.closed {
                            c.inbox.push(msg);
                        }
                    }
                }
                Effect::CloseConn { conn } => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.closed = true;
                    }
                }
                Effect::Role {
                    state,
                    epoch,
                    leader,
                } => self
                    .nodes
                    .get_mut(&id)
                    .expect("known")
                    .roles
                    .push((state, epoch, leader)),
                Effect::Applied(p) => self
                    .nodes
                    .get_mut(&id)
                    .expect("known")
                    .applied
                    .push(p.hdr.zxid),
                Effect::InstalledSnapshot { .. } => {
                    self.nodes.get_mut(&id).expect("known").applied.clear()
                }
            }
        }
    }

    /// Process the next event or timer if it is due by `until_ms`; false if none is.
    pub fn step(&mut self, until_ms: i64) -> bool {
        let next_event = self.events.keys().next().map(|(t, _)| *t);
        let next_tick = self
            .nodes
            .values()
            .filter_map(|n| n.server.as_ref())
            .filter_map(|s| s.next_deadline())
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
                let (records, reset) = node.disk.in_flight.remove(&token).expect("token in flight");
                if reset {
                    node.disk.files.clear();
                }
                node.disk.write(&records);
                let (ready, held): (Vec<_>, Vec<_>) =
                    node.disk.held.drain(..).partition(|(t, ..)| *t <= token);
                node.disk.held = held;
                for (_, to, msg) in ready {
                    self.send(id, to, msg);
                }
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
                    self.conns.get_mut(&conn).expect("known").closed = true;
                    return;
                };
                let mut out = Vec::new();
                server.on_client_message(now, conn, msg, &mut out);
                self.handle(id, out);
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
        let conn = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            conn,
            ClientConn {
                server,
                inbox: Vec::new(),
                closed: false,
            },
        );
        let req = ConnectRequest {
            last_zxid_seen,
            timeout_ms: 10_000,
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

    /// Check Zab's agreement on committed txns: two servers' applied sequences agree where
    /// they overlap (Zab.tla's PrefixConsistency over delivered txns). A server's sequence
    /// restarts after a crash or a snapshot install, so it is aligned at its first txn.
    pub fn assert_prefix_consistent(&self) {
        if let Err(e) = self.prefix_consistent() {
            panic!("{e}");
        }
    }

    pub fn prefix_consistent(&self) -> Result<(), String> {
        let logs: Vec<(ServerId, &Vec<Zxid>)> =
            self.nodes.iter().map(|(id, n)| (*id, &n.applied)).collect();
        for (a, la) in &logs {
            for (b, lb) in &logs {
                let Some(first) = lb.first() else { continue };
                let Some(at) = la.iter().position(|z| z == first) else {
                    continue;
                };
                for (x, y) in la[at..].iter().zip(lb.iter()) {
                    if x != y {
                        return Err(format!(
                            "servers {a} and {b} applied different txns: {x:#x} and {y:#x}"
                        ));
                    }
                }
            }
        }
        Ok(())
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
