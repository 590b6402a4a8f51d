//! The shared state of one simulated run: each node's inbox of timed deliveries, the links
//! between servers and to clients (FIFO, breakable), network faults, clocks, the trace,
//! statistics and the ground truth of what every replica applied.
//!
//! madsim provides time, task scheduling, node kill/restart/pause and the random source;
//! zksim routes its own messages so that links behave like TCP connections: ordered; broken
//! with both ends told when a message is lost or a peer dies; silent while a partition cuts
//! them (what is sent waits, as TCP retransmits, until the cut heals or an end gives up).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};
use madsim::task::NodeId;
use madsim::time::{Instant, Sleep, sleep_until};
use zksim_checker::history::{Event, Micros, Outcome};
use zksim_core::proto::{ClientMessage, ConnId, ServerMessage};
use zksim_core::stat::Zxid;
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};
pub use zksim_harness::GroundTruth;

use crate::clock::ServerClock;
use crate::trace::Trace;

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

#[derive(Debug, Default)]
struct Inbox {
    queue: BTreeMap<(u64, u64), Item>,
    waker: Option<Waker>,
    /// The time the node sleeps until; a delivery due earlier wakes it.
    target: Option<u64>,
    /// Events of this node counted against the run's budget: deliveries it took, and
    /// wake-ups (a server's timer firing, a pass of the clients' loop).
    deliveries: u64,
    wakeups: u64,
}

/// Election notifications a link carries at once before its sender blocks (the socket's
/// buffer); see `transmit`.
const NOTIFICATION_WINDOW: usize = 8;

#[derive(Clone, Debug, Default)]
struct Link {
    epoch: u64,
    /// The connection is gone; the next send opens a new one.
    broken: bool,
    last_at: u64,
    /// The far end closed the connection and this end has not heard yet (the close is held
    /// up by a cut): what this end sends is lost.
    dead: bool,
    /// Messages sent, or in flight, while the link is cut: TCP retransmits them once the
    /// cut heals, in order, unless the connection is closed first.
    held: Vec<(u64, PeerMessage)>,
}

#[derive(Clone, Debug)]
struct Conn {
    client: u32,
    server: ServerId,
    open: bool,
    last_to_server: u64,
    last_to_client: u64,
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

/// Invariants breached under a bug knob: per invariant, the first breach and a count.
#[derive(Debug, Default)]
pub struct Breaches(BTreeMap<&'static str, (String, u64)>);

impl Breaches {
    pub fn push(&mut self, (invariant, detail): (&'static str, String)) {
        self.0.entry(invariant).or_insert((detail, 0)).1 += 1;
    }

    /// One line per invariant: its first breach, and how many more followed.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(invariant, (first, n))| match n {
                1 => format!("{invariant}: {first}"),
                _ => format!("{invariant}: {first} (and {} more)", n - 1),
            })
            .collect()
    }
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
    pub trace: Trace,
    pub stats: Stats,
    pub truth: GroundTruth,
    /// Invariants the servers breached under a bug knob (`Effect::Breach`): each one's
    /// first breach and how many there were.
    pub breaches: Breaches,
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

/// The run's budget. Of simulated events: every delivery a node takes and every wake-up
/// (a server's timer firing, a pass of the clients' loop) counts one. A service that
/// spins (a timer that fires again at the same instant, messages that bounce without
/// end) spends it in seconds of wall time, however little simulated time passes; the run
/// then stops with the reason instead of running for minutes. And of memory: what the
/// run keeps until it is judged (its history, and what the servers wrote to their disks)
/// grows with every event, by more with larger values and longer children lists. Both are
/// counted deterministically, so the same seed stops at the same event.
#[derive(Debug, Default)]
pub struct Budget {
    pub max_events: u64,
    pub events: u64,
    pub max_bytes: u64,
    /// Bytes the servers' disks hold (written, less the old snapshots dropped).
    pub disk_bytes: u64,
    /// What each server's tree holds in memory, estimated from its newest snapshot.
    pub tree_bytes: BTreeMap<ServerId, u64>,
    /// What the run last reported holding to the process's admission (`admission::hold`).
    pub admitted_bytes: u64,
    /// Why the run stopped, set once when the budget is spent.
    pub spent: Option<String>,
    /// The run's supervisor, woken when the budget is spent.
    supervisor: Option<Waker>,
}

/// The history as the run records it, with an estimate of the memory it holds.
#[derive(Debug, Default)]
pub struct Recorded {
    events: Vec<Event>,
    bytes: u64,
}

impl Recorded {
    pub fn push(&mut self, event: Event) {
        self.bytes += event_bytes(&event) as u64;
        self.events.push(event);
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The estimated bytes the recorded events hold.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The events, leaving the record empty.
    pub fn take(&mut self) -> Vec<Event> {
        self.bytes = 0;
        std::mem::take(&mut self.events)
    }
}

/// Roughly the bytes a history event holds: its own size and what its request or reply
/// holds on the heap (data, paths, children's names).
fn event_bytes(event: &Event) -> usize {
    let heap = match event {
        Event::Invoke { op, .. } => op.heap_bytes(),
        Event::Complete {
            outcome: Outcome::Reply(reply),
            ..
        } => reply.response.heap_bytes() + reply.message.as_ref().map_or(0, String::len),
        Event::Complete {
            outcome: Outcome::Unknown { reason },
            ..
        } => reason.len(),
        Event::Watch { path, .. } => path.len(),
        Event::Fault { kind, detail, .. } => kind.len() + detail.len(),
        _ => 0,
    };
    std::mem::size_of::<Event>() + heap
}

/// The clients' load as of their last pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientsBusy {
    pub sessions_open: usize,
    pub in_flight: usize,
    pub done: usize,
}

/// The world, shared by every node task of the run.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<World>>);

impl Shared {
    pub fn new(servers: &[ServerId], trace: Trace, max_events: u64, max_bytes: u64) -> Shared {
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
            trace,
            stats: Stats::default(),
            truth: GroundTruth::default(),
            breaches: Breaches::default(),
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

    /// Sleep until `until_ns` (or forever) unless a delivery for `addr` comes due first.
    pub fn wait(&self, addr: Addr, until_ns: Option<u64>) -> Wait {
        let start = self.lock().start;
        let sleep = until_ns.map(|t| Box::pin(sleep_until(start + Duration::from_nanos(t))));
        Wait {
            world: self.clone(),
            addr,
            until_ns,
            sleep,
        }
    }

    /// Sleep until `until`, or until the run's budget is spent, whichever comes first.
    pub fn sleep_within_budget(&self, until: Instant) -> BudgetSleep {
        BudgetSleep {
            world: self.clone(),
            sleep: Box::pin(sleep_until(until)),
        }
    }
}

/// The future behind [`Shared::sleep_within_budget`]. It adds no timer and wakes no task
/// of its own, so a run within its budget is scheduled exactly as with a plain sleep.
pub struct BudgetSleep {
    world: Shared,
    sleep: Pin<Box<Sleep>>,
}

impl Future for BudgetSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut w = self.world.lock();
            if w.budget.spent.is_some() {
                return Poll::Ready(());
            }
            w.budget.supervisor = Some(cx.waker().clone());
        }
        self.sleep.as_mut().poll(cx)
    }
}

/// The future behind [`Shared::wait`].
pub struct Wait {
    world: Shared,
    addr: Addr,
    until_ns: Option<u64>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut w = self.world.lock();
            let now = w.now_ns();
            let inbox = w.inboxes.get_mut(&self.addr).expect("known inbox");
            let first = inbox.queue.keys().next().map(|(t, _)| *t);
            if first.is_some_and(|t| t <= now || self.until_ns.is_none_or(|u| t < u)) {
                inbox.waker = None;
                inbox.target = None;
                return Poll::Ready(());
            }
            inbox.waker = Some(cx.waker().clone());
            inbox.target = self.until_ns;
        }
        match self.sleep.as_mut() {
            Some(s) => s.as_mut().poll(cx),
            None => Poll::Pending,
        }
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

    /// Queue an item for `to` at `at_ns`, waking it if it sleeps past then.
    pub fn deliver(&mut self, to: Addr, at_ns: u64, item: Item) {
        self.seq += 1;
        let seq = self.seq;
        let inbox = self.inboxes.get_mut(&to).expect("known inbox");
        inbox.queue.insert((at_ns, seq), item);
        if inbox.target.is_none_or(|t| at_ns < t) {
            if let Some(w) = inbox.waker.take() {
                w.wake();
            }
        }
    }

    /// Remove and return the items due by now for `addr`, in order; each counts against
    /// the run's budget.
    pub fn take_due(&mut self, addr: Addr) -> Vec<Item> {
        let now = self.now_ns();
        let inbox = self.inboxes.get_mut(&addr).expect("known inbox");
        let mut due = Vec::new();
        while let Some(entry) = inbox.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        inbox.deliveries += due.len() as u64;
        self.spend(due.len() as u64);
        due
    }

    /// A wake-up of `addr` that takes no delivery (a server's timer firing, a pass of the
    /// clients' loop), counted against the run's budget.
    pub fn wakeup(&mut self, addr: Addr) {
        self.inboxes.get_mut(&addr).expect("known inbox").wakeups += 1;
        self.spend(1);
    }

    /// Whether the run's budget is spent: every node stops at its next step.
    pub fn budget_spent(&self) -> bool {
        self.budget.spent.is_some()
    }

    /// What the run holds in memory until it is judged, in estimated bytes.
    pub fn held_bytes(&self) -> u64 {
        self.history.bytes() + self.budget.disk_bytes + self.budget.tree_bytes.values().sum::<u64>()
    }

    fn spend(&mut self, events: u64) {
        self.budget.events += events;
        let held = self.held_bytes();
        if held >= self.budget.admitted_bytes + crate::admission::STEP_BYTES {
            // Runs sharing the process share a bound: a later one may wait here (in wall
            // time only) for the runs before it.
            crate::admission::hold(held);
            self.budget.admitted_bytes = held;
        }
        let within = self.budget.events <= self.budget.max_events && held <= self.budget.max_bytes;
        if within || self.budget.spent.is_some() {
            return;
        }
        let memory = if held > self.budget.max_bytes {
            format!(
                ", holding {} MB, over its {} MB (a history of {} events, {} MB; disks {} MB; trees {} MB)",
                held >> 20,
                self.budget.max_bytes >> 20,
                self.history.len(),
                self.history.bytes() >> 20,
                self.budget.disk_bytes >> 20,
                self.budget.tree_bytes.values().sum::<u64>() >> 20
            )
        } else {
            String::new()
        };
        let reason = format!(
            "run budget exceeded after {} events{memory} at {} ms simulated: still busy: {}",
            self.budget.events,
            self.now_ns() / 1_000_000,
            self.busy()
        );
        self.budget.spent = Some(reason);
        // Every node and the supervisor hear of it now: the nodes stop at their next
        // step, and the supervisor ends the run.
        if let Some(w) = self.budget.supervisor.take() {
            w.wake();
        }
        for inbox in self.inboxes.values_mut() {
            if let Some(w) = inbox.waker.take() {
                w.wake();
            }
        }
    }

    /// What every node was doing when the budget ran out: each server's role, its events
    /// and what waits in its inbox, busiest first; the clients' sessions and requests.
    fn busy(&self) -> String {
        let mut servers: Vec<(u64, String)> = self
            .servers
            .iter()
            .map(|(id, s)| {
                let inbox = &self.inboxes[&Addr::Server(*id)];
                let role = if !s.alive {
                    "down".to_string()
                } else if s.paused {
                    "paused".to_string()
                } else {
                    format!(
                        "{} epoch {}{}",
                        s.state.name(),
                        s.epoch,
                        if s.serving { "" } else { " (not serving)" }
                    )
                };
                let events = inbox.deliveries + inbox.wakeups;
                let text = format!(
                    "S{id} {role}: {} deliveries, {} timer firings, {} queued",
                    inbox.deliveries,
                    inbox.wakeups,
                    inbox.queue.len()
                );
                (events, text)
            })
            .collect();
        servers.sort_by_key(|s| std::cmp::Reverse(s.0));
        let clients = &self.inboxes[&Addr::Clients];
        let c = self.clients_busy;
        let mut parts: Vec<String> = servers.into_iter().map(|(_, t)| t).collect();
        parts.push(format!(
            "clients: {} sessions open, {} requests in flight, {} done; {} deliveries, {} wake-ups, {} queued",
            c.sessions_open,
            c.in_flight,
            c.done,
            clients.deliveries,
            clients.wakeups,
            clients.queue.len()
        ));
        parts.join("; ")
    }

    pub fn next_due(&self, addr: Addr) -> Option<u64> {
        self.inboxes[&addr].queue.keys().next().map(|(t, _)| *t)
    }

    /// Drop everything queued for a server (it was killed: its memory is gone).
    pub fn clear_inbox(&mut self, id: ServerId) {
        if let Some(inbox) = self.inboxes.get_mut(&Addr::Server(id)) {
            inbox.queue.clear();
            inbox.waker = None;
            inbox.target = None;
        }
    }

    fn latency_ns(&self) -> u64 {
        thread_rng().gen_range(200_000..2_000_000) + self.extra_latency_ns
    }

    // ----- server links -----

    fn link(&mut self, from: ServerId, to: ServerId) -> &mut Link {
        self.links.entry((from, to)).or_default()
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

    /// Send over the FIFO link `from -> to`. On a cut link the message waits for the cut
    /// to heal; a dead peer or a lost message breaks the link instead of delivering; a
    /// connection the far end closed (this end not told yet) loses it.
    pub fn peer_send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        self.stats.peer_messages += 1;
        if self.link(from, to).dead {
            return;
        }
        if self.cut.contains(&(from, to)) {
            let link = self.link(from, to);
            link.broken = false;
            let epoch = link.epoch;
            link.held.push((epoch, msg));
            return;
        }
        let lost = self.loss_per_mille > 0 && thread_rng().gen_range(0..1000) < self.loss_per_mille;
        if !self.alive(to) || lost {
            self.break_link(from, to);
            return;
        }
        self.transmit(from, to, msg);
    }

    /// Put a message on the wire of the link `from -> to`, after whatever it carries.
    fn transmit(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        let now = self.now_ns();
        let at = now + self.latency_ns();
        let link = self.link(from, to);
        if link.broken {
            // A new connection replaces the broken one.
            link.broken = false;
        }
        let epoch = link.epoch;
        if self.trace.on() {
            let t = self.now_us();
            self.trace
                .line(t, &format!("S{from} -> S{to} {}", describe(&msg)));
        }
        // QuorumCnxManager keeps one election message queued per peer (SEND_CAPACITY = 1),
        // and a newer vote replaces the queued one. Its send worker takes each message off
        // that queue and writes it to the socket at once, so on a working connection
        // nothing is replaced: only once the socket's buffer is full (here, a window of
        // NOTIFICATION_WINDOW notifications in flight) does the worker block, and the
        // queue of one keeps just the newest vote. An election whose votes never settle
        // (ZOOKEEPER-1419) then swaps votes forever without multiplying messages.
        if let PeerMessage::Notification(_) = &msg {
            let inbox = self
                .inboxes
                .get_mut(&Addr::Server(to))
                .expect("known inbox");
            let mut votes = 0;
            let mut last = None;
            for item in inbox.queue.values_mut() {
                if let Item::Peer {
                    from: f,
                    link: e,
                    msg: m,
                } = item
                {
                    if *f == from && *e == epoch {
                        votes += usize::from(matches!(m, PeerMessage::Notification(_)));
                        last = Some(m);
                    }
                }
            }
            // Replace only the last message on the link, so the link stays FIFO.
            if let Some(queued @ PeerMessage::Notification(_)) = last {
                if votes >= NOTIFICATION_WINDOW {
                    *queued = msg;
                    return;
                }
            }
        }
        let link = self.link(from, to);
        let at = at.max(link.last_at + 1);
        link.last_at = at;
        self.deliver(
            Addr::Server(to),
            at,
            Item::Peer {
                from,
                link: epoch,
                msg,
            },
        );
    }

    /// Whether a delivery on link `from -> to` of `epoch` is still valid.
    pub fn link_current(&self, from: ServerId, to: ServerId, epoch: u64) -> bool {
        self.links
            .get(&(from, to))
            .is_some_and(|l| l.epoch == epoch && !l.broken)
    }

    /// Tell `me` that `peer`'s connection is gone, now, or when the cut from `peer` to
    /// `me` heals (the close cannot cross it either). Until then `me`'s sends are lost.
    fn tell_closed(&mut self, me: ServerId, peer: ServerId) {
        if !self.alive(me) {
            return;
        }
        if self.cut.contains(&(peer, me)) {
            self.link(me, peer).dead = true;
            if !self.held_closes.contains(&(me, peer)) {
                self.held_closes.push((me, peer));
            }
        } else {
            let at = self.now_ns();
            self.deliver(Addr::Server(me), at, Item::PeerDown { peer });
        }
    }

    /// `me` has heard that its connection to `peer` is gone: its next send opens a new one.
    pub fn close_heard(&mut self, me: ServerId, peer: ServerId) {
        let link = self.link(me, peer);
        link.dead = false;
        link.broken = true;
    }

    /// End the connection between two servers: what is in flight or held either way is
    /// dropped, and the next send opens a new connection.
    fn end_connection(&mut self, a: ServerId, b: ServerId) {
        for key in [(a, b), (b, a)] {
            let l = self.link(key.0, key.1);
            l.epoch += 1;
            l.broken = true;
            l.held.clear();
        }
    }

    /// `me` closes its connection to `peer` (it left the role that used it); `peer` hears
    /// of it when the network lets the close through.
    pub fn disconnect(&mut self, me: ServerId, peer: ServerId) {
        if self.trace.on() {
            let t = self.now_us();
            self.trace.line(t, &format!("S{me} closes S{peer}"));
        }
        self.end_connection(me, peer);
        self.tell_closed(peer, me);
    }

    /// Break the connection between two servers: both directions, both ends told.
    pub fn break_link(&mut self, a: ServerId, b: ServerId) {
        let already = self.links.get(&(a, b)).is_some_and(|l| l.broken)
            && self.links.get(&(b, a)).is_some_and(|l| l.broken);
        if already {
            return;
        }
        self.stats.link_breaks += 1;
        self.end_connection(a, b);
        // Both ends hear of the break now (or once a cut lets it through), before anything
        // a new connection could carry (every message takes some latency), so no end ever
        // sees a gap in one stream.
        self.tell_closed(a, b);
        self.tell_closed(b, a);
    }

    /// Apply a partition: cut every listed directed pair. Nobody is told; what is in
    /// flight on a cut link is held with what is sent later, until the cut heals.
    pub fn cut_links(&mut self, pairs: &[(ServerId, ServerId)]) {
        for (a, b) in pairs {
            if a == b || !self.cut.insert((*a, *b)) {
                continue;
            }
            let Some(inbox) = self.inboxes.get_mut(&Addr::Server(*b)) else {
                continue;
            };
            let in_flight: Vec<(u64, u64)> = inbox
                .queue
                .iter()
                .filter(|(_, item)| matches!(item, Item::Peer { from, .. } if from == a))
                .map(|(k, _)| *k)
                .collect();
            let mut moved = Vec::new();
            for k in in_flight {
                if let Some(Item::Peer { link, msg, .. }) = inbox.queue.remove(&k) {
                    moved.push((link, msg));
                }
            }
            let link = self.link(*a, *b);
            moved.append(&mut link.held);
            link.held = moved;
        }
    }

    /// Every cut heals: held messages go out in order, held closes are heard.
    pub fn heal_network(&mut self) {
        self.cut.clear();
        self.loss_per_mille = 0;
        self.extra_latency_ns = 0;
        let keys: Vec<(ServerId, ServerId)> = self
            .links
            .iter()
            .filter(|(_, l)| !l.held.is_empty())
            .map(|(k, _)| *k)
            .collect();
        for (from, to) in keys {
            let held = std::mem::take(&mut self.link(from, to).held);
            if !self.alive(to) {
                self.break_link(from, to);
                continue;
            }
            for (epoch, msg) in held {
                if self.link(from, to).epoch == epoch {
                    self.transmit(from, to, msg);
                }
            }
        }
        for (me, peer) in std::mem::take(&mut self.held_closes) {
            if self.alive(me) {
                let at = self.now_ns();
                self.deliver(Addr::Server(me), at, Item::PeerDown { peer });
            }
        }
    }

    pub fn set_loss(&mut self, per_mille: u32) {
        self.loss_per_mille = per_mille;
    }

    pub fn set_extra_latency_ms(&mut self, ms: u64) {
        self.extra_latency_ns = ms * 1_000_000;
    }

    // ----- client connections -----

    /// A client opens a connection to a server; it learns the outcome as ConnUp/ConnDown.
    pub fn client_connect(&mut self, client: u32, server: ServerId) -> ConnId {
        let conn = self.next_conn;
        self.next_conn += 1;
        let up = self.servers.get(&server).is_some_and(|s| s.alive);
        let at = self.now_ns() + self.latency_ns();
        self.conns.insert(
            conn,
            Conn {
                client,
                server,
                open: up,
                last_to_server: at,
                last_to_client: at,
            },
        );
        let item = if up {
            Item::ConnUp { conn }
        } else {
            Item::ConnDown { conn }
        };
        self.deliver(Addr::Clients, at, item);
        conn
    }

    pub fn conn_client(&self, conn: ConnId) -> Option<u32> {
        self.conns.get(&conn).map(|c| c.client)
    }

    pub fn client_send(&mut self, conn: ConnId, msg: ClientMessage) {
        self.stats.client_messages += 1;
        let at = self.now_ns() + self.latency_ns();
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.open) else {
            return;
        };
        let at = at.max(c.last_to_server + 1);
        c.last_to_server = at;
        let server = c.server;
        self.deliver(Addr::Server(server), at, Item::FromClient { conn, msg });
    }

    pub fn server_to_client(&mut self, conn: ConnId, msg: ServerMessage) {
        self.stats.client_messages += 1;
        let at = self.now_ns() + self.latency_ns();
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.open) else {
            return;
        };
        let at = at.max(c.last_to_client + 1);
        c.last_to_client = at;
        self.deliver(Addr::Clients, at, Item::ToClient { conn, msg });
    }

    /// The server closed the connection: the client hears of it after what was sent.
    pub fn close_by_server(&mut self, conn: ConnId) {
        let at = self.now_ns() + self.latency_ns();
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.open) else {
            return;
        };
        c.open = false;
        let at = at.max(c.last_to_client + 1);
        self.deliver(Addr::Clients, at, Item::ConnDown { conn });
    }

    /// The client closed the connection: the server hears of it after what was sent.
    pub fn close_by_client(&mut self, conn: ConnId) {
        let at = self.now_ns() + self.latency_ns();
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.open) else {
            return;
        };
        c.open = false;
        let at = at.max(c.last_to_server + 1);
        let server = c.server;
        self.deliver(Addr::Server(server), at, Item::ClientGone { conn });
    }

    /// Whether a server may still process a connection's message.
    pub fn conn_open(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.open)
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
        let t = self.now_us();
        self.trace.line(t, &format!("FAULT {kind} {detail}"));
        self.history.push(Event::Fault {
            t,
            kind: kind.to_string(),
            detail,
        });
    }
}

/// A compact description of a peer message for the trace.
pub fn describe(msg: &PeerMessage) -> String {
    match msg {
        PeerMessage::Notification(n) => format!(
            "NOTIFICATION leader S{} zxid {:#x} round {} {}",
            n.leader,
            n.zxid,
            n.election_epoch,
            n.state.name()
        ),
        PeerMessage::Propose(p) | PeerMessage::Inform(p) => {
            format!("{} {:#x}", msg.kind(), p.hdr.zxid)
        }
        PeerMessage::Ack { zxid }
        | PeerMessage::Commit { zxid }
        | PeerMessage::Diff { zxid }
        | PeerMessage::Trunc { zxid }
        | PeerMessage::NewLeader { zxid } => format!("{} {zxid:#x}", msg.kind()),
        PeerMessage::Snap { snapshot } => format!("SNAP {:#x}", snapshot.zxid),
        PeerMessage::LeaderInfo { new_epoch } => format!("LEADERINFO {new_epoch}"),
        PeerMessage::Ping { round, .. } => format!("PING {round}"),
        PeerMessage::Request {
            session_id, cxid, ..
        } => format!("REQUEST {session_id:#x}/{cxid}"),
        _ => msg.kind().to_string(),
    }
}
