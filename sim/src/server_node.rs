//! A server node: rebuilds its server from its disk (so a kill and restart is a crash),
//! then feeds it deliveries, disk completions and timer ticks, and carries out its effects.

use std::sync::Arc;

use madsim::rand::{Rng, thread_rng};
use zksim_core::server::{Effect, Server, ServerConfig};
use zksim_core::stat::NodeKind;
use zksim_core::zab::ServerId;
use zksim_core::zab::messages::PeerMessage;

use crate::disk::SharedDisks;
use crate::world::{Addr, Item, Published, Shared};

/// The body of a server node's init task.
pub async fn run_server(world: Shared, disks: SharedDisks, config: ServerConfig) {
    let id = config.id;
    let node = madsim::plugin::node();
    let incarnation = world.lock().server_started(id);
    let recovered = {
        let mut d = disks.lock().expect("disks");
        let disk = d.by_node.entry(node).or_default();
        disk.open();
        disk.recover()
    };
    let mut server = match recovered {
        Ok(state) => Server::recover(config, state),
        Err(e) => {
            let mut w = world.lock();
            let t = w.now_us();
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
        held: Vec::new(),
    };
    {
        let mut w = world.lock();
        let base = server.tree().last_processed_zxid();
        w.truth.start_segment(id, base);
        let t = w.now_us();
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
    loop {
        let items = {
            let mut w = world.lock();
            if w.budget_spent() {
                break;
            }
            w.take_due(Addr::Server(id))
        };
        for item in items {
            node_state.handle(&world, &disks, &mut server, item, &mut out);
        }
        publish(&world, &server);
        let now_ms = clocks(&world, &mut server);
        let deadline_ns = {
            let w = world.lock();
            server.next_deadline().map(|d| w.local_to_true_ns(id, d))
        };
        if server.next_deadline().is_some_and(|d| d <= now_ms) {
            world.lock().wakeup(Addr::Server(id));
            server.on_tick(now_ms, &mut out);
            node_state.effects(&world, &disks, &mut server, &mut out);
            continue;
        }
        let next_item = world.lock().next_due(Addr::Server(id));
        let until = match (deadline_ns, next_item) {
            (Some(d), Some(i)) => Some(d.min(i)),
            (d, i) => d.or(i),
        };
        world.wait(Addr::Server(id), until).await;
    }
    // The run's budget is spent: the server stops where it is, as if frozen, until the
    // run ends and kills its node.
    std::future::pending::<()>().await;
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
    /// Messages waiting for a persist token (SendAfterPersist).
    held: Vec<(u64, ServerId, PeerMessage)>,
}

impl NodeState {
    fn handle(
        &mut self,
        world: &Shared,
        disks: &SharedDisks,
        server: &mut Server,
        item: Item,
        out: &mut Vec<Effect>,
    ) {
        let now = clocks(world, server);
        match item {
            Item::Peer { from, link, msg } => {
                if !world.lock().link_current(from, self.id, link) {
                    return;
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
                let (dropped, tree_bytes) = {
                    let mut d = disks.lock().expect("disks");
                    let disk = d.by_node.entry(self.node).or_default();
                    (disk.sync(token), disk.newest_snapshot_bytes)
                };
                let (ready, held): (Vec<_>, Vec<_>) =
                    self.held.drain(..).partition(|(t, ..)| *t <= token);
                self.held = held;
                let mut w = world.lock();
                // The budget counts what the disks hold (old snapshots dropped are freed),
                // and each server's tree and its snapshot in memory, twice the newest
                // snapshot's size.
                w.budget.disk_bytes = w.budget.disk_bytes.saturating_sub(dropped);
                w.budget.tree_bytes.insert(self.id, 2 * tree_bytes);
                for (_, to, msg) in ready {
                    w.peer_send(self.id, to, msg);
                }
                drop(w);
                server.on_persisted(now, token, out);
            }
            Item::ToClient { .. } | Item::ConnUp { .. } | Item::ConnDown { .. } => {
                unreachable!("client items go to the client node")
            }
        }
        self.effects(world, disks, server, out);
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
        for e in out.drain(..) {
            match e {
                Effect::Send { to, msg } => w.peer_send(self.id, to, msg),
                Effect::Persist {
                    token,
                    records,
                    reset,
                } => {
                    let mut d = disks.lock().expect("disks");
                    let disk = d.by_node.entry(self.node).or_default();
                    w.budget.disk_bytes += disk.write(token, &records, reset);
                    let fsync_ns = match disk.slow_fsync_ms {
                        Some(ms) => ms * 1_000_000,
                        None => thread_rng().gen_range(100_000..1_500_000),
                    };
                    let at = w.now_ns() + fsync_ns;
                    w.deliver(
                        Addr::Server(self.id),
                        at,
                        Item::Persisted {
                            token,
                            incarnation: self.incarnation,
                        },
                    );
                }
                Effect::SendAfterPersist { token, to, msg } => self.held.push((token, to, msg)),
                Effect::ToClient { conn, msg } => w.server_to_client(conn, msg),
                Effect::CloseConn { conn } => w.close_by_server(conn),
                Effect::Disconnect { peer } => w.disconnect(self.id, peer),
                Effect::Role {
                    state,
                    epoch,
                    leader,
                } => {
                    let serving = server.is_serving();
                    w.record_role(self.id, state, epoch, leader, serving);
                }
                Effect::Applied(p) => {
                    if w.trace.on() {
                        let t = w.now_us();
                        w.trace
                            .line(t, &format!("S{} apply {:#x}", self.id, p.hdr.zxid));
                    }
                    let t = w.now_us();
                    w.truth.applied(self.id, &Arc::clone(&p), t);
                }
                Effect::InstalledSnapshot { zxid, .. } => w.truth.start_segment(self.id, zxid),
                Effect::Breach { invariant, detail } => {
                    let t = w.now_us();
                    w.trace
                        .line(t, &format!("S{} breach of {invariant}: {detail}", self.id));
                    w.breaches.push((invariant, detail));
                }
            }
        }
    }
}
