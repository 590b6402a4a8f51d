//! The model: an ensemble of zksim-core servers, each driven exactly as the simulator drives
//! it (the harness's effect interpreter `ServerIo` and disk model `ServerDisk`), and a
//! network of per-link FIFO queues. Every step is one nondeterministic choice:
//!
//! - `Deliver`: the oldest message on a link reaches its server (links are FIFO, as Zab's
//!   TCP connections are; messages on different links overtake each other freely);
//! - `Drop`: a link breaks, losing what is in flight both ways, and both ends hear of it
//!   (a lost message on TCP is a broken connection);
//! - `Fsync`: a server's oldest unsynced write becomes durable (the harness releases the
//!   messages held for it, then the server hears `on_persisted`);
//! - `Crash`: a server stops; its unsynced writes and held messages are lost, its links
//!   break; `Restart`: it recovers from what its disk made durable;
//! - `Timer`: a server's earliest timer fires, its clock jumping to the deadline: any armed
//!   timer may fire at any point, so nothing found or missed depends on timing;
//! - `Write`: a client's write, forwarded by a synced follower, reaches the established
//!   leader (a bounded number of them);
//! - `Elect`: a chosen set of servers, a quorum at least, runs the real fast leader
//!   election among themselves to its decision in one step (`ElectionMode::Atomic`, the
//!   default; with `ElectionMode::Messages` notifications are delivered one by one).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use zksim_core::server::{Bugs, Effect, Server, ServerConfig};
use zksim_core::zab::messages::{LearnerRequest, PeerMessage, Proposal};
use zksim_core::zab::{PeerState, ServerId};
use zksim_harness::{GroundTruth, ServerDisk, ServerIo};

use crate::host::ModelHost;

/// How far the search goes: each fault is a budget spent over a whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    /// Voters in the ensemble (3 or 5).
    pub servers: usize,
    /// Client writes submitted to established leaders.
    pub writes: u8,
    /// Server crashes (each may be followed by a restart).
    pub crashes: u8,
    /// Link breaks (`Drop`).
    pub partitions: u8,
    /// Timer firings, over all servers.
    pub timers: u8,
    /// States with more messages than this in flight on one link are not explored further.
    pub in_flight: usize,
    /// States where some server accepted a higher epoch than this are not explored further
    /// (elections can follow one another forever).
    #[serde(default = "default_epochs")]
    pub epochs: u32,
    /// Where the search starts.
    #[serde(default)]
    pub start: Start,
    /// How leader election is explored.
    #[serde(default)]
    pub election: ElectionMode,
}

/// How leader election is explored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElectionMode {
    /// An election is one step (`Elect`): the servers of a chosen set, a quorum at least,
    /// run the real fast leader election among themselves to its decision, their
    /// notifications delivered in a fixed order and the looking servers' timers firing
    /// when nothing is in flight. Which quorum takes part is the nondeterministic choice,
    /// so every leader a quorum can elect is explored; the orders of notifications within
    /// one election are not. Notifications and looking servers' timers are not separate
    /// steps.
    #[default]
    Atomic,
    /// Every notification is delivered, and every looking server's timer fires, as its own
    /// step.
    Messages,
}

fn default_epochs() -> u32 {
    3
}

/// Where the search starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// Every server with empty disks, looking for a leader.
    #[default]
    Empty,
    /// The ensemble as one fixed run from `Empty` leaves it once a leader is established
    /// and every server follows it (deliveries first, then fsyncs, then the earliest
    /// timer), with nothing in flight and nothing unsynced; no budget is spent.
    Established,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            servers: 3,
            writes: 1,
            crashes: 1,
            partitions: 0,
            timers: 3,
            in_flight: 4,
            epochs: default_epochs(),
            start: Start::Empty,
            election: ElectionMode::Atomic,
        }
    }
}

/// One nondeterministic choice of the model: a step of a counterexample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The oldest message in flight from `from` to `to` is delivered.
    Deliver { from: ServerId, to: ServerId },
    /// The link between `a` and `b` breaks: what is in flight either way is lost.
    Drop { a: ServerId, b: ServerId },
    /// The server's oldest unsynced write becomes durable.
    Fsync { server: ServerId },
    /// The server crashes, losing what it had not synced.
    Crash { server: ServerId },
    /// The server restarts from its disk.
    Restart { server: ServerId },
    /// The server's earliest timer fires.
    Timer { server: ServerId },
    /// The servers in `servers` (a bit per server: 1 << (id - 1)) elect a leader among
    /// themselves (`ElectionMode::Atomic`).
    Elect { servers: u32 },
    /// Write number `n` (from 1) reaches the established leader, forwarded by `via`.
    Write {
        leader: ServerId,
        via: ServerId,
        n: u8,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Step::Deliver { from, to } => write!(f, "deliver S{from} -> S{to}"),
            Step::Drop { a, b } => write!(f, "drop: link S{a} - S{b} breaks"),
            Step::Fsync { server } => write!(f, "fsync S{server}"),
            Step::Crash { server } => write!(f, "crash S{server}"),
            Step::Restart { server } => write!(f, "restart S{server}"),
            Step::Timer { server } => write!(f, "timer S{server}"),
            Step::Write { leader, via, n } => {
                write!(f, "write w{n} to leader S{leader} (forwarded by S{via})")
            }
            Step::Elect { servers } => {
                let ids: Vec<String> = (0..32)
                    .filter(|i| servers & (1 << i) != 0)
                    .map(|i| format!("S{}", i + 1))
                    .collect();
                write!(f, "election among {}", ids.join(", "))
            }
        }
    }
}

/// One server's place in the model: the server while it is up, the harness's interpreter
/// state and disk (which outlive a crash), and its elapsed clock.
#[derive(Clone, Debug)]
pub struct Node {
    pub server: Option<Server>,
    pub io: ServerIo,
    pub disk: ServerDisk,
    /// Persist tokens written to the disk cache and not yet synced, oldest first.
    pub unsynced: VecDeque<u64>,
    pub now_ms: i64,
}

/// How much of each budget a run has spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Spent {
    pub writes: u8,
    pub crashes: u8,
    pub partitions: u8,
    pub timers: u8,
}

/// A state of the whole system. Its `Hash` (the checker's fingerprint) is in
/// `fingerprint.rs`.
#[derive(Clone, Debug)]
pub struct State {
    /// Server `i + 1` is `nodes[i]`.
    pub nodes: Vec<Node>,
    /// Messages in flight per directed link, oldest first.
    pub links: BTreeMap<(ServerId, ServerId), VecDeque<PeerMessage>>,
    pub spent: Spent,
    /// What every replica applied (the harness's ground truth).
    pub truth: GroundTruth,
    /// Every server established as leader, per epoch (a quorum acknowledged its NEWLEADER).
    pub established: BTreeMap<u32, BTreeSet<ServerId>>,
    /// Invariants breached on purpose by a bug knob (`Effect::Breach`).
    pub breaches: Vec<String>,
    /// Assertion failures inside a server, and recoveries the model refused.
    pub failures: Vec<String>,
    /// The steps that led here from the initial state (not part of the fingerprint: the
    /// first path to reach a state is the one kept, a shortest one under BFS).
    pub trail: Vec<Step>,
}

impl PartialEq for State {
    /// Two states are equal when their fingerprints are (stateright needs `PartialEq` to
    /// rebuild paths; it compares the states it re-derives, which are deterministic).
    fn eq(&self, other: &State) -> bool {
        crate::fingerprint::of(self) == crate::fingerprint::of(other)
    }
}

/// A safety property broken, and the steps that break it.
pub type Violation = (&'static str, Vec<Step>);

/// The model: the ensemble's configuration and the bounds.
#[derive(Clone, Debug)]
pub struct ZabModel {
    pub bounds: Bounds,
    pub bugs: Bugs,
    pub configs: Vec<ServerConfig>,
    /// Set when the search's time is up: no state has a next step any more, so every
    /// checker thread drains its queue and ends (stateright's own timeout is only heard
    /// between batches of work, which one thread never finishes).
    pub stop: Arc<AtomicBool>,
    /// The shortest path to a violation seen so far: the property broken, and the steps.
    /// The checker's own record keeps the last violation of a batch, not the first.
    pub first_violation: Arc<Mutex<Option<Violation>>>,
    /// When set, only these safety properties are checked (the others count as holding):
    /// to look past the durability invariant for the violation a client would see.
    pub only: Option<Vec<&'static str>>,
}

impl ZabModel {
    pub fn new(bounds: Bounds, bugs: Bugs) -> ZabModel {
        let voters: Vec<ServerId> = (1..=bounds.servers as ServerId).collect();
        let configs = voters
            .iter()
            .map(|id| {
                let mut c = ServerConfig::new(*id, voters.clone(), Vec::new());
                c.bugs = bugs;
                c
            })
            .collect();
        ZabModel {
            bounds,
            bugs,
            configs,
            stop: Arc::new(AtomicBool::new(false)),
            first_violation: Arc::new(Mutex::new(None)),
            only: None,
        }
    }

    /// Note a violation of `property` in `state` (kept if its path is the shortest yet);
    /// returns whether the property holds.
    pub fn judge(&self, property: &'static str, state: &State, holds: bool) -> bool {
        if self
            .only
            .as_ref()
            .is_some_and(|only| !only.contains(&property))
        {
            return true;
        }
        if !holds {
            let mut first = self.first_violation.lock().expect("not poisoned");
            if first
                .as_ref()
                .is_none_or(|(_, steps)| steps.len() > state.trail.len())
            {
                *first = Some((property, state.trail.clone()));
            }
        }
        holds
    }

    pub fn ids(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.configs.iter().map(|c| c.id)
    }

    /// Every server starts with empty disks and looks for a leader.
    pub fn initial(&self) -> State {
        let mut state = State {
            nodes: self
                .configs
                .iter()
                .map(|c| Node {
                    server: None,
                    io: ServerIo::new(c.id),
                    disk: ServerDisk::default(),
                    unsynced: VecDeque::new(),
                    now_ms: 0,
                })
                .collect(),
            links: BTreeMap::new(),
            spent: Spent::default(),
            truth: GroundTruth::default(),
            established: BTreeMap::new(),
            breaches: Vec::new(),
            failures: Vec::new(),
            trail: Vec::new(),
        };
        for id in self.ids().collect::<Vec<_>>() {
            self.restart(&mut state, id);
        }
        if self.bounds.start == Start::Established {
            self.establish(&mut state);
        }
        state.trail.clear();
        state
    }

    /// Run `state` by a fixed policy until a leader is established, every server follows
    /// it, and nothing is in flight or unsynced (`Start::Established`).
    fn establish(&self, state: &mut State) {
        const STEPS_MAX: usize = 10_000;
        for _ in 0..STEPS_MAX {
            if settled(state) {
                state.spent = Spent::default();
                return;
            }
            let step = if let Some((from, to)) = state.links.keys().next() {
                Step::Deliver {
                    from: *from,
                    to: *to,
                }
            } else if let Some(n) = state.nodes.iter().find(|n| !n.unsynced.is_empty()) {
                Step::Fsync { server: n.io.id }
            } else {
                let next = state
                    .nodes
                    .iter()
                    .filter_map(|n| Some((n.server.as_ref()?.next_deadline()?, n.io.id)))
                    .min()
                    .expect("a server is up");
                Step::Timer { server: next.1 }
            };
            self.apply(state, step);
            assert!(
                state.failures.is_empty(),
                "the run to an established ensemble failed: {:?}",
                state.failures
            );
        }
        panic!("no established ensemble within {STEPS_MAX} steps");
    }

    /// The steps possible in `state`, in a fixed order.
    pub fn steps(&self, state: &State, steps: &mut Vec<Step>) {
        if !state.failures.is_empty() || self.stop.load(Ordering::Relaxed) {
            return;
        }
        let atomic = self.bounds.election == ElectionMode::Atomic;
        for ((from, to), queue) in &state.links {
            let Some(head) = queue.front() else { continue };
            if atomic && matches!(head, PeerMessage::Notification(_)) {
                continue;
            }
            steps.push(Step::Deliver {
                from: *from,
                to: *to,
            });
        }
        for id in self.ids() {
            let node = node(state, id);
            if node.server.is_some() && !node.unsynced.is_empty() {
                steps.push(Step::Fsync { server: id });
            }
        }
        if state.spent.timers < self.bounds.timers {
            for id in self.ids() {
                let Some(s) = node(state, id).server.as_ref() else {
                    continue;
                };
                if !(atomic && s.state() == PeerState::Looking) {
                    steps.push(Step::Timer { server: id });
                }
            }
        }
        if atomic {
            self.elections(state, steps);
        }
        if state.spent.writes < self.bounds.writes {
            if let Some((leader, via)) = write_target(state) {
                steps.push(Step::Write {
                    leader,
                    via,
                    n: state.spent.writes + 1,
                });
            }
        }
        if state.spent.partitions < self.bounds.partitions {
            for a in self.ids() {
                for b in self.ids().filter(|b| *b > a) {
                    if connected(state, a, b) {
                        steps.push(Step::Drop { a, b });
                    }
                }
            }
        }
        for id in self.ids() {
            let up = node(state, id).server.is_some();
            if up && state.spent.crashes < self.bounds.crashes {
                steps.push(Step::Crash { server: id });
            }
            if !up {
                steps.push(Step::Restart { server: id });
            }
        }
    }

    /// The state after `step`. A server that fails an assertion ends the run: the result is
    /// the state before the step with the failure recorded.
    pub fn after(&self, state: &State, step: Step) -> State {
        let mut next = state.clone();
        next.trail.push(step);
        let result = catch_unwind(AssertUnwindSafe(|| self.apply(&mut next, step)));
        match result {
            Ok(()) => next,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a panic".to_string());
                let mut failed = state.clone();
                failed.trail.push(step);
                failed
                    .failures
                    .push(format!("assertion failed at `{step}`: {why}"));
                failed
            }
        }
    }

    pub(crate) fn apply(&self, state: &mut State, step: Step) {
        match step {
            Step::Deliver { from, to } => {
                let queue = state
                    .links
                    .get_mut(&(from, to))
                    .expect("a message in flight");
                let msg = queue.pop_front().expect("a message in flight");
                if queue.is_empty() {
                    state.links.remove(&(from, to));
                }
                self.input(state, to, |s, now, out| {
                    s.on_peer_message(now, from, msg, out)
                });
            }
            Step::Drop { a, b } => {
                state.spent.partitions += 1;
                self.break_link(state, a, b);
            }
            Step::Fsync { server } => {
                let token = node_mut(state, server)
                    .unsynced
                    .pop_front()
                    .expect("an unsynced write");
                // An fsync only releases held sends: it asks for no disconnection.
                with_host(state, server, |io, disk, host| {
                    io.persisted(token, disk, host)
                });
                self.input(state, server, |s, now, out| s.on_persisted(now, token, out));
            }
            Step::Crash { server } => {
                state.spent.crashes += 1;
                self.crash(state, server);
            }
            Step::Restart { server } => self.restart(state, server),
            Step::Timer { server } => {
                state.spent.timers += 1;
                self.fire_timer(state, server);
            }
            Step::Elect { servers } => self.elect(state, servers),
            Step::Write { leader, via, n } => {
                state.spent.writes += 1;
                let msg = write_request(n);
                self.input(state, leader, |s, now, out| {
                    s.on_peer_message(now, via, msg, out)
                });
            }
        }
    }

    /// Server `id`'s next timer fires: its clock jumps to the deadline (safety never
    /// depends on how long that took).
    pub(crate) fn fire_timer(&self, state: &mut State, id: ServerId) {
        let n = node_mut(state, id);
        let deadline = n
            .server
            .as_ref()
            .and_then(Server::next_deadline)
            .unwrap_or(n.now_ms);
        n.now_ms = n.now_ms.max(deadline);
        self.input(state, id, |s, now, out| s.on_tick(now, out));
    }

    /// Hand one input to server `id` and carry out its effects.
    pub(crate) fn input(
        &self,
        state: &mut State,
        id: ServerId,
        f: impl FnOnce(&mut Server, i64, &mut Vec<Effect>),
    ) {
        let n = node_mut(state, id);
        let now = n.now_ms;
        let Some(server) = n.server.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        f(server, now, &mut out);
        self.carry_out(state, id, out);
    }

    /// Carry out effects through the harness's interpreter, then the disconnections they
    /// asked for (each peer hears of the close at once, and its effects follow in turn).
    fn carry_out(&self, state: &mut State, id: ServerId, effects: Vec<Effect>) {
        let mut work = VecDeque::from([(id, effects)]);
        while let Some((id, mut effects)) = work.pop_front() {
            let serving = node(state, id)
                .server
                .as_ref()
                .is_some_and(Server::is_serving);
            let disconnects = with_host(state, id, |io, disk, host| {
                io.carry_out(serving, &mut effects, disk, host)
            });
            for (from, peer) in disconnects {
                state.links.remove(&(from, peer));
                state.links.remove(&(peer, from));
                let p = node_mut(state, peer);
                let now = p.now_ms;
                if let Some(s) = p.server.as_mut() {
                    let mut out = Vec::new();
                    s.on_peer_disconnected(now, from, &mut out);
                    work.push_back((peer, out));
                }
            }
        }
    }

    fn break_link(&self, state: &mut State, a: ServerId, b: ServerId) {
        state.links.remove(&(a, b));
        state.links.remove(&(b, a));
        for (me, peer) in [(a, b), (b, a)] {
            self.input(state, me, |s, now, out| {
                s.on_peer_disconnected(now, peer, out)
            });
        }
    }

    fn crash(&self, state: &mut State, id: ServerId) {
        let n = node_mut(state, id);
        n.server = None;
        n.io.crash();
        n.disk.crash(None);
        n.unsynced.clear();
        for peer in self.ids().filter(|p| *p != id).collect::<Vec<_>>() {
            state.links.remove(&(id, peer));
            state.links.remove(&(peer, id));
            self.input(state, peer, |s, now, out| {
                s.on_peer_disconnected(now, id, out)
            });
        }
    }

    /// Start (or restart) a server from its disk, as the simulator's node `init` does.
    fn restart(&self, state: &mut State, id: ServerId) {
        let config = self.configs[index(id)].clone();
        let n = node_mut(state, id);
        n.disk.open();
        let mut server = match n.disk.recover() {
            Ok(durable) => {
                // QuorumPeer.loadDataBase refuses a currentEpoch above the acceptedEpoch.
                if durable.current_epoch > durable.accepted_epoch {
                    state.failures.push(format!(
                        "S{id} recovered currentEpoch {} above acceptedEpoch {}",
                        durable.current_epoch, durable.accepted_epoch
                    ));
                    return;
                }
                Server::recover(config, durable)
            }
            Err(_) => Server::repairing(config),
        };
        let now = n.now_ms;
        let mut out = Vec::new();
        server.start(now, &mut out);
        let base = server.tree().last_processed_zxid();
        n.server = Some(server);
        state.truth.start_segment(id, base);
        self.carry_out(state, id, out);
    }
}

pub(crate) fn bit(id: ServerId) -> u32 {
    1 << (id - 1)
}

/// Whether a link break between `a` and `b` changes anything: both are up, and a message
/// is in flight between them or one follows (or is being synced by) the other.
fn connected(state: &State, a: ServerId, b: ServerId) -> bool {
    let (Some(sa), Some(sb)) = (
        node(state, a).server.as_ref(),
        node(state, b).server.as_ref(),
    ) else {
        return false;
    };
    let traffic = [(a, b), (b, a)]
        .iter()
        .any(|k| state.links.get(k).is_some_and(|q| !q.is_empty()));
    traffic || sa.leader() == Some(b) || sb.leader() == Some(a)
}

/// A leader is established, every server serves it, and nothing is in flight or unsynced.
fn settled(state: &State) -> bool {
    let all_serving = state
        .nodes
        .iter()
        .all(|n| n.server.as_ref().is_some_and(Server::is_serving));
    all_serving
        && state.links.is_empty()
        && state
            .nodes
            .iter()
            .all(|n| n.unsynced.is_empty() && n.io.held() == 0)
}

/// The established leader, and a synced follower of it that forwards a client's write.
fn write_target(state: &State) -> Option<(ServerId, ServerId)> {
    fn up(n: &Node) -> Option<&Server> {
        n.server.as_ref().filter(|s| s.is_serving())
    }
    let leader = state
        .nodes
        .iter()
        .filter_map(up)
        .find(|s| s.state() == PeerState::Leading)?;
    let via = state
        .nodes
        .iter()
        .filter_map(up)
        .find(|s| s.state() == PeerState::Following && s.leader() == Some(leader.id()))?;
    Some((leader.id(), via.id()))
}

/// Write `n` as its follower forwards it (`Leader.REQUEST`): a create of `/w<n>`.
pub fn write_request(n: u8) -> PeerMessage {
    PeerMessage::Request {
        session_id: 0x100,
        cxid: i32::from(n),
        request: LearnerRequest::Client(zksim_core::request::Request::Create {
            path: format!("/w{n}"),
            data: Some(vec![n]),
            acl: zksim_core::acl::Acl::open_unsafe(),
            mode: zksim_core::request::CreateMode::Persistent,
            ttl: None,
        }),
        auth: Vec::new(),
    }
}

/// Run `f` on server `id`'s node with the harness host over the rest of the state;
/// the disconnections the effects asked for.
fn with_host(
    state: &mut State,
    id: ServerId,
    f: impl FnOnce(&mut ServerIo, &mut ServerDisk, &mut ModelHost<'_>),
) -> Vec<(ServerId, ServerId)> {
    let State {
        nodes,
        links,
        truth,
        established,
        breaches,
        ..
    } = state;
    let up = nodes.iter().map(|n| n.server.is_some()).collect();
    let n = &mut nodes[index(id)];
    let mut host = ModelHost {
        links,
        truth,
        established,
        breaches,
        unsynced: &mut n.unsynced,
        up,
        disconnects: Vec::new(),
    };
    f(&mut n.io, &mut n.disk, &mut host);
    host.disconnects
}

pub fn index(id: ServerId) -> usize {
    usize::try_from(id).expect("ids are small") - 1
}

pub fn node(state: &State, id: ServerId) -> &Node {
    &state.nodes[index(id)]
}

pub(crate) fn node_mut(state: &mut State, id: ServerId) -> &mut Node {
    &mut state.nodes[index(id)]
}

/// Every txn some replica applied (committed), by zxid: the ground truth's distinct txns.
pub fn committed(state: &State) -> impl Iterator<Item = (i64, &[Arc<Proposal>])> {
    state.truth.txns.iter().map(|(z, ps)| (*z, ps.as_slice()))
}
