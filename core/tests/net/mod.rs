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

mod clients;
mod faults;
mod views;

use std::collections::{BTreeMap, BTreeSet};

use zksim_core::log::DurableRecord;
use zksim_core::proto::{ClientMessage, ConnId, ServerMessage};
use zksim_core::server::{Effect, Server, ServerConfig};
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};
use zksim_harness::{GroundTruth, Micros, ServerDisk, ServerIo};

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use clients::{ClientConn, Script, SimClient};
#[allow(unused_imports)]
pub use views::{create, data_of, ephemeral, get_data, paths, set_data, sync};

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

    /// Carry out a server's effects through the harness's interpreter.
    fn handle(&mut self, id: ServerId, mut effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        let serving = self.nodes[&id]
            .server
            .as_ref()
            .is_some_and(|s| s.is_serving());
        self.with_io(id, |io, disk, net| {
            io.carry_out(serving, &mut effects, disk, net)
        });
    }

    /// Run `f` on server `id`'s side of the interpreter and its disk, with the network as
    /// their host (they are taken out of the node meanwhile).
    fn with_io(&mut self, id: ServerId, f: impl FnOnce(&mut ServerIo, &mut ServerDisk, &mut Net)) {
        let node = self.nodes.get_mut(&id).expect("known");
        let mut io = std::mem::replace(&mut node.io, ServerIo::new(id));
        let mut disk = std::mem::take(&mut node.disk);
        f(&mut io, &mut disk, self);
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
                self.with_io(id, |io, disk, net| io.persisted(token, disk, net));
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
}
