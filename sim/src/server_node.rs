//! A server node: rebuilds its server from its disk (so a kill and restart is a crash),
//! then feeds it deliveries, disk completions and timer ticks, and carries out its effects.

use std::sync::Arc;

use zksim_checker::history::Micros;
use zksim_core::log::{DurableRecord, File};
use zksim_core::proto::{ConnId, ServerMessage};
use zksim_core::server::{Effect, Server, ServerConfig};
use zksim_core::stat::NodeKind;
use zksim_core::zab::messages::{PeerMessage, Proposal};
use zksim_core::zab::{Hex, PeerState, ServerId, counter_of};
use zksim_harness::{GroundTruth, Host, ServerDisk, ServerIo};
use zksim_scenarios::{AimAction, AimPoint};

use crate::disk::SharedDisks;
use crate::faults::{crash_node, pause_node};
use crate::world::draws::Site;
use crate::world::{Addr, Item, Published, Shared, World};

/// The body of a server node's init task.
pub async fn run_server(world: Shared, disks: SharedDisks, config: ServerConfig) {
    let id = config.id;
    let node = madsim::plugin::node();
    let incarnation = world.lock().server_started(id);
    let recovered = {
        let mut d = disks.lock().expect("disks");
        let disk = d.of(node);
        disk.open();
        disk.recover()
    };
    let mut server = match recovered {
        Ok(state) => Server::recover(config, state),
        Err(e) => {
            let mut w = world.lock();
            let t = w.now_us();
            tracing::warn!(error = %e, "disk refused; repairing from the leader");
            w.trace.line(
                t,
                &format!("S{id} disk refused: {e}; repairing from the leader"),
            );
            drop(w);
            Server::repairing(config)
        }
    };
    let mut node_state = NodeState {
        id,
        node,
        incarnation,
        io: ServerIo::new(id),
    };
    {
        let mut w = world.lock();
        let base = server.tree().last_processed_zxid();
        w.truth.start_segment(id, base);
        let t = w.now_us();
        tracing::info!(
            incarnation,
            last_zxid = %Hex(server.last_logged_zxid()),
            "start"
        );
        w.trace.line(
            t,
            &format!(
                "S{id} start (incarnation {incarnation}, last zxid {:#x})",
                server.last_logged_zxid()
            ),
        );
    }
    let mut out = Vec::new();
    let now = clocks(&world, &mut server);
    server.start(now, &mut out);
    node_state.effects(&world, &disks, &mut server, &mut out);
    let mut crashed = node_state.aimed(&world, &disks);
    let mut late = None;
    while !crashed {
        let items = {
            let mut w = world.lock();
            if w.budget_spent() {
                break;
            }
            w.take_due(Addr::Server(id))
        };
        for item in items {
            node_state.handle(&world, &disks, &mut server, item, &mut out);
            crashed = node_state.aimed(&world, &disks);
            if crashed {
                break;
            }
        }
        if crashed {
            break;
        }
        publish(&world, &server);
        let now_ms = clocks(&world, &mut server);
        let deadline_ns = {
            let w = world.lock();
            server.next_deadline().map(|d| w.local_to_true_ns(id, d))
        };
        let due = server.next_deadline().filter(|d| *d <= now_ms);
        let held = due.and_then(|d| late_timer(&world, id, d, &mut late));
        if due.is_some() && held.is_none() {
            world.lock().wakeup(Addr::Server(id));
            server.on_tick(now_ms, &mut out);
            node_state.effects(&world, &disks, &mut server, &mut out);
            crashed = node_state.aimed(&world, &disks);
            continue;
        }
        let deadline_ns = held.or(deadline_ns);
        let next_item = world.lock().next_due(Addr::Server(id));
        let until = match (deadline_ns, next_item) {
            (Some(d), Some(i)) => Some(d.min(i)),
            (d, i) => d.or(i),
        };
        world.wait(Addr::Server(id), until).await;
    }
    // The run's budget is spent (the server stops where it is, as if frozen, until the
    // run ends and kills its node), or an aimed fault crashed it (its node was killed:
    // this task ends at this await).
    std::future::pending::<()>().await;
}

/// BUGGIFY's late timer: now and then a due deadline fires late (a GC pause, a starved
/// timer thread). Drawn once per deadline; the true time until which it is held, if it is.
fn late_timer(
    world: &Shared,
    id: ServerId,
    deadline_ms: i64,
    late: &mut Option<(i64, u64)>,
) -> Option<u64> {
    let mut w = world.lock();
    let now = w.now_ns();
    if late.is_none_or(|(d, _)| d != deadline_ms) {
        let mut until = now;
        if w.draws.buggify(Site::LateTimer) {
            let ns = w.draws.buggify_ms(20, 500);
            let detail = format!("S{id} timer fires {} ms late", ns / 1_000_000);
            w.fault(Site::LateTimer.fault_kind(), detail);
            until = now + ns;
        }
        *late = Some((deadline_ms, until));
    }
    let (_, until) = late.expect("drawn above");
    (until > now).then_some(until)
}

/// The server's elapsed clock now; its wall clock is set on the server as well.
fn clocks(world: &Shared, server: &mut Server) -> i64 {
    let w = world.lock();
    let clock = w.servers[&server.id()].clock;
    server.set_wall_clock_offset(clock.wall_offset_ms());
    clock.elapsed_ms(w.now_ns())
}

/// During the liveness phase, tell the run what this server holds.
fn publish(world: &Shared, server: &Server) {
    let mut w = world.lock();
    if !w.winding_down {
        return;
    }
    let tree = server.tree();
    // Only a new zxid can change the content; pings and reads do not.
    if w.published
        .get(&server.id())
        .is_some_and(|p| p.last_zxid == tree.last_processed_zxid())
    {
        return;
    }
    let ephemerals = tree
        .nodes()
        .filter(|(_, n)| matches!(n.stat.kind(), NodeKind::Ephemeral(_)))
        .count();
    let p = Published {
        last_zxid: tree.last_processed_zxid(),
        digest: tree.digest(),
        sessions: tree.sessions().len(),
        ephemerals,
    };
    w.published.insert(server.id(), p);
    if std::env::var_os("ZKSIM_DEBUG_DIVERGENCE").is_some() {
        w.debug_trees.insert(server.id(), tree.snapshot());
    }
}

struct NodeState {
    id: ServerId,
    node: madsim::task::NodeId,
    incarnation: u64,
    /// The effect interpreter's side of this server (messages held for a persist).
    io: ServerIo,
}

/// The name an aimed fault knows a message by: its kind, but `NEWLEADER_ACK` for the ACK
/// of a NEWLEADER (whose zxid is an epoch's zero; a proposal's never is).
fn aim_name(msg: &PeerMessage) -> &'static str {
    match msg {
        PeerMessage::Ack { zxid } if counter_of(*zxid) == 0 => "NEWLEADER_ACK",
        m => m.kind(),
    }
}

/// The world as the effect interpreter sees it for one server.
struct SimHost<'a> {
    w: &'a mut World,
    id: ServerId,
    incarnation: u64,
}

impl Host for SimHost<'_> {
    fn send(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        let kind = aim_name(&msg);
        self.w.peer_send(from, to, msg);
        if self.w.aims.reached(from, AimPoint::Sent, kind) {
            self.w.aims.sent(from, to, kind);
        }
    }

    fn durable(&mut self, server: ServerId, files: &[File]) {
        let last_leader = self.w.last_leader;
        for file in files {
            if self.w.aims.reached_synced(server, file.name(), last_leader) {
                break;
            }
        }
    }

    fn syncing(&mut self, server: ServerId, files: &[File]) {
        for file in files {
            if self.w.aims.reached(server, AimPoint::Unsynced, file.name()) {
                break;
            }
        }
    }

    fn releasing(&mut self, server: ServerId, msg: &PeerMessage) {
        self.w.aims.reached(server, AimPoint::Held, aim_name(msg));
    }

    fn halted(&self) -> bool {
        self.w.aims.crashed(self.id)
    }

    fn persist(
        &mut self,
        server: ServerId,
        token: u64,
        _records: &[DurableRecord],
        _reset: bool,
        written: u64,
        disk: &ServerDisk,
    ) {
        self.w.budget.disk_bytes += written;
        let fsync_ns = match disk.slow_fsync_ms {
            Some(ms) => ms * 1_000_000,
            None if self.w.draws.buggify(Site::SlowFsync) => {
                let ns = self.w.draws.buggify_ms(20, 400);
                let kind = Site::SlowFsync.fault_kind();
                let detail = format!("S{server} fsync takes {} ms", ns / 1_000_000);
                self.w.fault(kind, detail);
                ns
            }
            None => self.w.draws.fsync_ns(server),
        };
        let at = self.w.now_ns() + fsync_ns;
        self.w.deliver(
            Addr::Server(server),
            at,
            Item::Persisted {
                token,
                incarnation: self.incarnation,
            },
        );
    }

    fn synced(&mut self, server: ServerId, dropped: u64, disk: &ServerDisk) {
        // The budget counts what the disks hold (old snapshots dropped are freed), and
        // each server's tree and its snapshot in memory, twice the newest snapshot's size.
        let w = &mut *self.w;
        w.budget.disk_bytes = w.budget.disk_bytes.saturating_sub(dropped);
        w.budget
            .tree_bytes
            .insert(server, 2 * disk.newest_snapshot_bytes);
    }

    fn to_client(&mut self, conn: ConnId, msg: ServerMessage) {
        self.w.server_to_client(conn, msg);
    }

    fn close_conn(&mut self, conn: ConnId) {
        self.w.close_by_server(conn);
    }

    fn disconnect(&mut self, from: ServerId, peer: ServerId) {
        self.w.disconnect(from, peer);
    }

    fn role(
        &mut self,
        server: ServerId,
        state: PeerState,
        epoch: u32,
        leader: Option<ServerId>,
        serving: bool,
    ) {
        self.w.record_role(server, state, epoch, leader, serving);
    }

    fn breach(&mut self, server: ServerId, invariant: &'static str, detail: String) {
        let t = self.w.now_us();
        self.w
            .trace
            .line(t, &format!("S{server} breach of {invariant}: {detail}"));
        self.w.breaches.push((invariant, detail));
    }

    fn on_apply(&mut self, server: ServerId, p: &Arc<Proposal>) {
        if self.w.trace.on() {
            let t = self.w.now_us();
            self.w
                .trace
                .line(t, &format!("S{server} apply {:#x}", p.hdr.zxid));
        }
    }

    fn truth(&mut self) -> &mut GroundTruth {
        &mut self.w.truth
    }

    fn now_us(&self) -> Micros {
        self.w.now_us()
    }
}

impl NodeState {
    /// Carry out an aimed fault that fired in the last step (`Fault::Aimed`); true when
    /// it crashed the server, which then does nothing more.
    fn aimed(&self, world: &Shared, disks: &SharedDisks) -> bool {
        let fired = world.lock().aims.take_fired(self.id);
        let Some(aim) = fired else {
            return false;
        };
        let handle = madsim::runtime::Handle::current();
        match aim.action {
            AimAction::CrashPair if aim.at == AimPoint::Synced => {
                // The server and the leader it last followed, at once.
                let leader = {
                    let w = world.lock();
                    w.last_leader
                        .filter(|l| *l != self.id && w.servers[l].alive)
                        .and_then(|l| w.servers[&l].node.map(|node| (l, node)))
                };
                crash_node(
                    world,
                    disks,
                    &handle,
                    self.id,
                    self.node,
                    None,
                    "aimed_crash",
                );
                if let Some((l, node)) = leader {
                    crash_node(world, disks, &handle, l, node, None, "aimed_crash");
                }
                true
            }
            AimAction::CrashPair => {
                // Stopped, not yet crashed: what it sent stays in flight until the
                // recipient has handled it; then both crash (`handle`).
                let mut w = world.lock();
                w.aims.freeze(self.id);
                let t = w.now_us();
                w.trace
                    .line(t, &format!("S{} stops for its crash pair", self.id));
                true
            }
            AimAction::Crash => {
                crash_node(
                    world,
                    disks,
                    &handle,
                    self.id,
                    self.node,
                    None,
                    "aimed_crash",
                );
                true
            }
            AimAction::Pause => {
                pause_node(world, &handle, self.id, self.node, "aimed_pause");
                false
            }
        }
    }

    fn handle(
        &mut self,
        world: &Shared,
        disks: &SharedDisks,
        server: &mut Server,
        item: Item,
        out: &mut Vec<Effect>,
    ) {
        let now = clocks(world, server);
        let mut handled = None;
        match item {
            Item::Peer { from, link, msg } => {
                handled = Some((from, aim_name(&msg)));
                {
                    let mut w = world.lock();
                    if !w.link_current(from, self.id, link) {
                        return;
                    }
                    w.coverage
                        .message(server.state(), server.is_serving(), msg.kind());
                }
                server.on_peer_message(now, from, msg, out);
            }
            Item::PeerDown { peer } => {
                world.lock().close_heard(self.id, peer);
                server.on_peer_disconnected(now, peer, out)
            }
            Item::FromClient { conn, msg } => {
                if world.lock().conn_open(conn) {
                    server.on_client_message(now, conn, msg, out);
                }
            }
            Item::ClientGone { conn } => server.on_client_disconnected(now, conn),
            Item::Persisted { token, incarnation } => {
                if incarnation != self.incarnation {
                    return;
                }
                {
                    let mut d = disks.lock().expect("disks");
                    let disk = d.of(self.node);
                    let mut w = world.lock();
                    let mut host = SimHost {
                        w: &mut w,
                        id: self.id,
                        incarnation: self.incarnation,
                    };
                    self.io.persisted(token, disk, &mut host);
                    if host.halted() {
                        // Crashed at the fsync (an aimed fault): the server never hears of it.
                        return;
                    }
                }
                server.on_persisted(now, token, out);
            }
            Item::ToClient { .. } | Item::ConnUp { .. } | Item::ConnDown { .. } => {
                unreachable!("client items go to the client node")
            }
        }
        self.effects(world, disks, server, out);
        if let Some((from, kind)) = handled {
            let sender = world.lock().aims.handled(self.id, from, kind);
            if let Some(sender) = sender {
                let node = world.lock().servers[&sender].node;
                if let Some(node) = node {
                    let handle = madsim::runtime::Handle::current();
                    crash_node(world, disks, &handle, sender, node, None, "aimed_crash");
                }
            }
        }
    }

    /// Carry out effects in order.
    fn effects(
        &mut self,
        world: &Shared,
        disks: &SharedDisks,
        server: &mut Server,
        out: &mut Vec<Effect>,
    ) {
        if out.is_empty() {
            return;
        }
        let mut w = world.lock();
        let mut d = disks.lock().expect("disks");
        let disk = d.of(self.node);
        let mut host = SimHost {
            w: &mut w,
            id: self.id,
            incarnation: self.incarnation,
        };
        self.io.carry_out(server.is_serving(), out, disk, &mut host);
    }
}
