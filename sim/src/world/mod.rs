//! The shared state of one simulated run: each node's inbox of timed deliveries, the links
//! between servers and to clients (FIFO, breakable), network faults, clocks, the trace,
//! statistics and the ground truth of what every replica applied.
//!
//! madsim provides time, task scheduling, node kill/restart/pause and the random source;
//! zksim routes its own messages so that links behave like TCP connections: ordered; broken
//! with both ends told when a message is lost or a peer dies; silent while a partition cuts
//! them (what is sent waits, as TCP retransmits, until the cut heals or an end gives up).
//!
//! This module holds the servers' slots and their lives (start, crash, role); the inboxes,
//! the server links, the client connections, the run's budget and what the run records
//! are in its submodules.

pub mod aims;
mod budget;
mod client_conns;
pub mod coverage;
pub mod draws;
mod inbox;
mod links;
mod record;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use madsim::task::NodeId;
use madsim::time::Instant;
use zksim_checker::history::{Event, Micros};
use zksim_core::proto::{ClientMessage, ConnId, ServerMessage};
use zksim_core::stat::Zxid;
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};
pub use zksim_harness::GroundTruth;

use crate::clock::ServerClock;
use crate::trace::Trace;
pub use budget::{Budget, BudgetSleep, ClientsBusy};
use client_conns::Conn;
pub use coverage::Coverage;
use inbox::Inbox;
pub use inbox::Wait;
use links::Link;
pub use links::describe;
pub use record::{Breaches, Recorded};

/// Who an inbox belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Addr {
    Server(ServerId),
    Clients,
}

/// Something delivered to a node at a time.
#[derive(Clone, Debug)]
pub enum Item {
    Peer {
        from: ServerId,
        link: u64,
        msg: PeerMessage,
    },
    PeerDown {
        peer: ServerId,
    },
    FromClient {
        conn: ConnId,
        msg: ClientMessage,
    },
    ClientGone {
        conn: ConnId,
    },
    ToClient {
        conn: ConnId,
        msg: ServerMessage,
    },
    ConnUp {
        conn: ConnId,
    },
    ConnDown {
        conn: ConnId,
    },
    Persisted {
        token: u64,
        incarnation: u64,
    },
}

#[derive(Clone, Debug)]
pub struct ServerSlot {
    pub node: Option<NodeId>,
    pub alive: bool,
    pub paused: bool,
    pub incarnation: u64,
    pub clock: ServerClock,
    pub state: PeerState,
    pub epoch: u32,
    pub serving: bool,
}

/// A server's state as it last published it (only during the liveness phase).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub last_zxid: Zxid,
    pub digest: u64,
    pub sessions: usize,
    pub ephemerals: usize,
}

/// Counters for the summary and the benchmark.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub peer_messages: u64,
    pub client_messages: u64,
    pub leader_changes: u64,
    pub faults: u64,
    pub link_breaks: u64,
}

pub struct World {
    start: Instant,
    seq: u64,
    inboxes: BTreeMap<Addr, Inbox>,
    links: BTreeMap<(ServerId, ServerId), Link>,
    /// Directed pairs a partition cuts: nothing gets through, and nobody is told (as a
    /// firewall that drops packets); the ends find out by their own timeouts.
    cut: BTreeSet<(ServerId, ServerId)>,
    /// Connection closes held up by a cut: (who is to hear, the peer that closed).
    held_closes: Vec<(ServerId, ServerId)>,
    loss_per_mille: u32,
    extra_latency_ns: u64,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: ConnId,
    pub servers: BTreeMap<ServerId, ServerSlot>,
    /// The servers that vote (the others observe).
    pub voters: Vec<ServerId>,
    pub trace: Trace,
    pub stats: Stats,
    pub truth: GroundTruth,
    /// The protocol transitions and fault timings the run reached.
    pub coverage: Coverage,
    /// Invariants the servers breached under a bug knob (`Effect::Breach`): each one's
    /// first breach and how many there were.
    pub breaches: Breaches,
    /// Faults aimed at protocol steps, armed and fired.
    pub aims: aims::Aims,
    /// The harness's random draws (latency, loss, fsync, tears, BUGGIFY).
    pub draws: draws::Draws,
    /// The last server to take the LEADING role, established or not
    /// (`restart_all_but_leader` keeps it down).
    pub last_leader: Option<ServerId>,
    pub history: Recorded,
    /// Whether the safety phase is over (clients stop starting work).
    pub winding_down: bool,
    /// Clients that are done keep their sessions open and idle until then (the liveness
    /// phase's hold, `Scenario::liveness_hold_ms`).
    pub hold_until_ns: u64,
    pub published: BTreeMap<ServerId, Published>,
    /// Each server's last published tree, kept only when `ZKSIM_DEBUG_DIVERGENCE` is set.
    pub debug_trees: BTreeMap<ServerId, zksim_core::tree::Snapshot>,
    pub budget: Budget,
    /// What the clients hold, as of their last pass (for a spent budget's reason).
    pub clients_busy: ClientsBusy,
}

/// The world, shared by every node task of the run.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<World>>);

impl Shared {
    pub fn new(
        servers: &[ServerId],
        voters: &[ServerId],
        trace: Trace,
        draws: draws::Draws,
        max_events: u64,
        max_bytes: u64,
    ) -> Shared {
        let mut inboxes = BTreeMap::new();
        inboxes.insert(Addr::Clients, Inbox::default());
        let mut slots = BTreeMap::new();
        for id in servers {
            inboxes.insert(Addr::Server(*id), Inbox::default());
            slots.insert(
                *id,
                ServerSlot {
                    node: None,
                    alive: false,
                    paused: false,
                    incarnation: 0,
                    clock: ServerClock::default(),
                    state: PeerState::Looking,
                    epoch: 0,
                    serving: false,
                },
            );
        }
        Shared(Arc::new(Mutex::new(World {
            start: Instant::now(),
            seq: 0,
            inboxes,
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            held_closes: Vec::new(),
            loss_per_mille: 0,
            extra_latency_ns: 0,
            conns: BTreeMap::new(),
            next_conn: 1,
            servers: slots,
            voters: voters.to_vec(),
            trace,
            stats: Stats::default(),
            truth: GroundTruth::default(),
            coverage: Coverage::default(),
            breaches: Breaches::default(),
            aims: aims::Aims::default(),
            draws,
            last_leader: None,
            history: Recorded::default(),
            winding_down: false,
            hold_until_ns: 0,
            published: BTreeMap::new(),
            debug_trees: BTreeMap::new(),
            budget: Budget {
                max_events,
                max_bytes,
                ..Budget::default()
            },
            clients_busy: ClientsBusy::default(),
        })))
    }

    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.0.lock().expect("world lock")
    }
}

impl World {
    pub fn now_ns(&self) -> u64 {
        u64::try_from((Instant::now() - self.start).as_nanos()).expect("simulated time fits in u64")
    }

    pub fn now_us(&self) -> Micros {
        self.now_ns() / 1_000
    }

    /// A server's elapsed clock now, in milliseconds (its rate included).
    pub fn clock_ms(&self, id: ServerId) -> i64 {
        self.servers[&id].clock.elapsed_ms(self.now_ns())
    }

    /// The true time at which a server's elapsed clock reaches `local_ms`.
    pub fn local_to_true_ns(&self, id: ServerId, local_ms: i64) -> u64 {
        self.servers[&id].clock.true_ns_at(local_ms)
    }

    /// The latency of the next message between a client and a server.
    fn client_latency_ns(&mut self) -> u64 {
        self.draws.client_latency_ns() + self.extra_latency_ns
    }

    /// The run is over: drop what the nodes' tasks and the world hold of each other.
    pub fn release(&mut self) {
        self.inboxes.clear();
        self.links.clear();
        self.conns.clear();
        self.servers.clear();
        self.truth = GroundTruth::default();
        self.history = Recorded::default();
        self.published.clear();
        self.debug_trees.clear();
        self.budget.supervisor = None;
    }

    fn alive(&self, id: ServerId) -> bool {
        self.servers.get(&id).is_some_and(|s| s.alive)
    }

    // ----- servers -----

    /// A server (re)starts: a new incarnation.
    pub fn server_started(&mut self, id: ServerId) -> u64 {
        let slot = self.servers.get_mut(&id).expect("known server");
        slot.alive = true;
        slot.paused = false;
        slot.incarnation += 1;
        slot.state = PeerState::Looking;
        slot.serving = false;
        slot.incarnation
    }

    /// A server crashed: links break, its client connections drop.
    pub fn server_killed(&mut self, id: ServerId) {
        if let Some(slot) = self.servers.get_mut(&id) {
            slot.alive = false;
            slot.serving = false;
            slot.state = PeerState::Looking;
        }
        self.clear_inbox(id);
        self.published.remove(&id);
        let peers: Vec<ServerId> = self.servers.keys().copied().filter(|p| *p != id).collect();
        for p in peers {
            self.break_link(id, p);
            // The process is gone, and with it whatever it had not heard yet.
            self.link(id, p).dead = false;
        }
        self.held_closes.retain(|(me, _)| *me != id);
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.server == id && c.open)
            .map(|(k, _)| *k)
            .collect();
        for conn in conns {
            self.close_by_server(conn);
        }
    }

    pub fn record_role(
        &mut self,
        id: ServerId,
        state: PeerState,
        epoch: u32,
        leader: Option<ServerId>,
        serving: bool,
    ) {
        let slot = self.servers.get_mut(&id).expect("known server");
        if state == PeerState::Leading
            && serving
            && !(slot.state == PeerState::Leading && slot.serving)
        {
            self.stats.leader_changes += 1;
        }
        if state == PeerState::Leading {
            self.last_leader = Some(id);
        }
        slot.state = state;
        slot.epoch = epoch;
        slot.serving = serving;
        let t = self.now_us();
        self.trace.line(
            t,
            &format!(
                "S{id} {} epoch {epoch} leader {}",
                state.name(),
                leader.map_or("-".to_string(), |l| format!("S{l}"))
            ),
        );
        // The history records roles as others see them (established or synced).
        if zksim_harness::truth::history_records_role(state, serving) {
            self.history.push(Event::Role {
                t,
                server: id,
                state,
                epoch,
                leader,
            });
        }
    }

    /// The established leader, if exactly one live server is.
    pub fn leader(&self) -> Option<ServerId> {
        let leaders: Vec<ServerId> = self
            .servers
            .iter()
            .filter(|(_, s)| s.alive && s.state == PeerState::Leading && s.serving)
            .map(|(id, _)| *id)
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    pub fn fault(&mut self, kind: &str, detail: String) {
        self.stats.faults += 1;
        for slot in self.servers.values().filter(|s| s.alive) {
            self.coverage.fault(slot.state, slot.serving, kind);
        }
        let t = self.now_us();
        tracing::info!(target: "zksim_sim::faults", kind, %detail, "fault");
        self.trace.line(t, &format!("FAULT {kind} {detail}"));
        self.history.push(Event::Fault {
            t,
            kind: kind.to_string(),
            detail,
        });
    }
}
