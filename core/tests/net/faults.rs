//! Faults and the links between servers: crashes (clean or mid-write), restarts from
//! disk, cut and slow links, stalled disks, peer messages on their way, and the harness's
//! `Host` side of the network (what a server's effects do to it).

use zksim_core::log::{DurableRecord, DurableState, RecoverError};
use zksim_core::proto::{ConnId, ServerMessage};
use zksim_core::server::Server;
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};
use zksim_harness::truth::history_records_role;
use zksim_harness::{GroundTruth, Host, Micros, ServerDisk};

use super::{DISK_DELAY_MS, Event, LINK_DELAY_MS, Net};

impl Net {
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
    pub(super) fn close_conn(&mut self, conn: ConnId) {
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

    fn truth(&mut self) -> &mut GroundTruth {
        &mut self.truth
    }

    fn now_us(&self) -> Micros {
        u64::try_from(self.now_ms).expect("time starts at 0") * 1_000
    }
}
