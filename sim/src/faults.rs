//! Carrying out a fault plan: each planned fault at its time, against the live ensemble.

use madsim::runtime::Handle;
use madsim::task::NodeId;
use madsim::time::{Duration, sleep_until};
use zksim_core::zab::ServerId;
use zksim_scenarios::{Fault, FaultPlan};

use crate::disk::SharedDisks;
use crate::world::Shared;
use crate::world::aims::Aim;

/// The madsim nodes of the servers.
pub type Nodes = std::collections::BTreeMap<ServerId, NodeId>;

/// Apply the plan's faults at their times (relative to `start`), until the plan ends,
/// and the restarts of lagging followers when their time comes (a restart due at the same
/// moment as a planned fault comes first).
pub async fn run_plan(
    world: Shared,
    disks: SharedDisks,
    nodes: Nodes,
    plan: FaultPlan,
    start: madsim::time::Instant,
) {
    let mut planned = plan.faults.into_iter().peekable();
    // (due_ms, server): lagging followers to restart, earliest first.
    let mut restarts: std::collections::BTreeSet<(u64, ServerId)> = Default::default();
    loop {
        let next_restart = restarts.first().copied();
        match (planned.peek(), next_restart) {
            (None, None) => return,
            (p, Some((due, server))) if p.is_none_or(|p| due <= p.at_ms) => {
                restarts.pop_first();
                sleep_until(start + Duration::from_millis(due)).await;
                apply(&world, &disks, &nodes, &Fault::Restart { server });
            }
            _ => {
                let p = planned.next().expect("peeked");
                sleep_until(start + Duration::from_millis(p.at_ms)).await;
                if let Fault::LagFollower { server, down_ms } = p.fault {
                    if let Some(lagging) = lag_follower(&world, &disks, &nodes, server) {
                        restarts.insert((p.at_ms + down_ms, lagging));
                    }
                } else {
                    apply(&world, &disks, &nodes, &p.fault);
                }
            }
        }
    }
}

/// Crash a follower for `lag_follower`: `server` unless it leads or is down, else the
/// next voter after it in id order that is up and does not lead. Which one it was.
fn lag_follower(
    world: &Shared,
    disks: &SharedDisks,
    nodes: &Nodes,
    server: ServerId,
) -> Option<ServerId> {
    let chosen = {
        let mut w = world.lock();
        let leader = w.leader();
        let voters: Vec<ServerId> = w
            .voters
            .iter()
            .copied()
            .filter(|s| w.servers[s].alive && Some(*s) != leader)
            .collect();
        let chosen = voters
            .iter()
            .find(|s| **s >= server)
            .or(voters.first())
            .copied();
        if chosen.is_none() {
            w.fault("lag_follower", "no follower up to lag".into());
        }
        chosen
    };
    let lagging = chosen?;
    kill(
        world,
        disks,
        nodes,
        &Handle::current(),
        lagging,
        None,
        "lag_follower",
    );
    Some(lagging)
}

/// Apply one fault now.
pub fn apply(world: &Shared, disks: &SharedDisks, nodes: &Nodes, fault: &Fault) {
    let handle = Handle::current();
    let servers: Vec<ServerId> = nodes.keys().copied().collect();
    let detail = serde_json::to_string(fault).expect("faults serialize");
    match fault {
        Fault::Partition { side } => {
            let pairs = across(side, &servers);
            let mut w = world.lock();
            w.fault("partition", detail);
            w.cut_links(&pairs);
        }
        Fault::IsolateLeader => {
            let mut w = world.lock();
            let Some(leader) = w.leader() else {
                w.fault("isolate_leader", "no leader to isolate".into());
                return;
            };
            w.fault("isolate_leader", format!("leader S{leader}"));
            let pairs = across(&[leader], &servers);
            w.cut_links(&pairs);
        }
        Fault::Bridge { left, right, .. } => {
            let mut pairs = Vec::new();
            for a in left {
                for b in right {
                    pairs.push((*a, *b));
                    pairs.push((*b, *a));
                }
            }
            let mut w = world.lock();
            w.fault("bridge", detail);
            w.cut_links(&pairs);
        }
        Fault::OneWay { from, to } => {
            let mut w = world.lock();
            w.fault("one_way", detail);
            w.cut_links(&[(*from, *to)]);
        }
        Fault::Loss { per_mille } => {
            let mut w = world.lock();
            w.fault("loss", detail);
            w.set_loss(*per_mille);
        }
        Fault::Latency { extra_ms } => {
            let mut w = world.lock();
            w.fault("latency", detail);
            w.set_extra_latency_ms(*extra_ms);
        }
        Fault::HealNetwork => {
            let mut w = world.lock();
            w.fault("heal_network", String::new());
            w.heal_network();
        }
        Fault::Kill { server } => kill(world, disks, nodes, &handle, *server, None, "kill"),
        Fault::KillLeader => {
            let leader = world.lock().leader();
            match leader {
                Some(l) => kill(world, disks, nodes, &handle, l, None, "kill_leader"),
                None => world
                    .lock()
                    .fault("kill_leader", "no leader to kill".into()),
            }
        }
        Fault::LagFollower { server, .. } => {
            // Outside a plan nothing restarts it: a crash like `kill`, of a follower.
            lag_follower(world, disks, nodes, *server);
        }
        Fault::KillMany { servers } => {
            for s in servers {
                kill(world, disks, nodes, &handle, *s, None, "kill_many");
            }
        }
        Fault::TornWrite { server } => {
            let fraction = world.lock().draws.tear_fraction();
            kill(
                world,
                disks,
                nodes,
                &handle,
                *server,
                Some(fraction),
                "torn_write",
            );
        }
        Fault::Restart { server } => {
            // The heal of an aimed crash: the aim ends whether it fired or not.
            world.lock().aims.disarm(*server);
            restart(world, disks, nodes, &handle, *server)
        }
        Fault::RestartAll => {
            world.lock().aims.disarm_any();
            for s in &servers {
                restart(world, disks, nodes, &handle, *s);
            }
        }
        Fault::RestartAllButLeader => {
            let leader = {
                let mut w = world.lock();
                w.aims.disarm_any();
                let leader = w.last_leader;
                let detail = match leader {
                    Some(l) => format!("S{l} stays down"),
                    None => "no leader yet".to_string(),
                };
                w.fault("restart_all_but_leader", detail);
                leader
            };
            for s in servers.iter().filter(|s| Some(**s) != leader) {
                restart(world, disks, nodes, &handle, *s);
            }
        }
        Fault::PowerLoss => {
            for s in &servers {
                kill(world, disks, nodes, &handle, *s, None, "power_loss");
            }
        }
        Fault::Pause { server } => pause(world, nodes, &handle, *server, "pause"),
        Fault::PauseLeader => {
            let leader = world.lock().leader();
            match leader {
                Some(l) => pause(world, nodes, &handle, l, "pause_leader"),
                None => world
                    .lock()
                    .fault("pause_leader", "no leader to pause".into()),
            }
        }
        Fault::Resume { server } => {
            world.lock().aims.disarm(*server);
            resume(world, nodes, &handle, *server)
        }
        Fault::Aimed {
            server,
            leader,
            action,
            at,
            message,
        } => {
            let mut w = world.lock();
            let server = match (server, leader) {
                (None, true) => {
                    let Some(l) = w.leader() else {
                        w.fault("aimed", format!("{detail}: no leader, not armed"));
                        return;
                    };
                    Some(l)
                }
                (s, _) => *s,
            };
            if server.is_some_and(|s| !w.servers[&s].alive) {
                w.fault("aimed", format!("{detail}: the server is down, not armed"));
                return;
            }
            match (leader, server) {
                (true, Some(l)) => w.fault("aimed", format!("{detail} at leader S{l}")),
                _ => w.fault("aimed", detail),
            }
            w.aims.arm(
                server,
                Aim {
                    action: *action,
                    at: *at,
                    message: message.clone(),
                },
            );
        }
        Fault::ResumeAll => {
            world.lock().aims.disarm_any();
            for s in &servers {
                resume(world, nodes, &handle, *s);
            }
        }
        Fault::ClockSkew { server, offset_ms } => {
            let mut w = world.lock();
            w.fault("clock_skew", detail);
            w.servers
                .get_mut(server)
                .expect("known")
                .clock
                .set_wall_offset(*offset_ms);
        }
        Fault::ClockJump { server, delta_ms } => {
            let mut w = world.lock();
            w.fault("clock_jump", detail);
            w.servers
                .get_mut(server)
                .expect("known")
                .clock
                .jump_wall(*delta_ms);
        }
        Fault::ClockRate { server, percent } => {
            let mut w = world.lock();
            w.fault("clock_rate", detail);
            let now = w.now_ns();
            w.servers
                .get_mut(server)
                .expect("known")
                .clock
                .set_rate(now, *percent);
        }
        Fault::SlowLeader { percent } => {
            let mut w = world.lock();
            let Some(leader) = w.leader() else {
                w.fault("slow_leader", "no leader to slow".into());
                return;
            };
            w.fault("slow_leader", format!("leader S{leader} at {percent}%"));
            let now = w.now_ns();
            w.servers
                .get_mut(&leader)
                .expect("known")
                .clock
                .set_rate(now, *percent);
        }
        Fault::TrueClocks => {
            let mut w = world.lock();
            w.fault("true_clocks", String::new());
            let now = w.now_ns();
            for server in w.servers.values_mut() {
                server.clock.set_rate(now, 100);
            }
        }
        Fault::DiskSlow { server, fsync_ms } => {
            world.lock().fault("disk_slow", detail);
            set_fsync(disks, nodes[server], Some(*fsync_ms));
        }
        Fault::LeaderDiskSlow { fsync_ms } => {
            let leader = world.lock().leader();
            let Some(leader) = leader else {
                world
                    .lock()
                    .fault("leader_disk_slow", "no leader to slow".into());
                return;
            };
            world.lock().fault(
                "leader_disk_slow",
                format!("S{leader}: fsync takes {fsync_ms} ms"),
            );
            set_fsync(disks, nodes[&leader], Some(*fsync_ms));
        }
        Fault::DiskNormal { server } => {
            world.lock().fault("disk_normal", format!("S{server}"));
            set_fsync(disks, nodes[server], None);
        }
        Fault::DiskCorrupt { server } => {
            let alive = world.lock().servers[server].alive;
            if !alive {
                return;
            }
            let (pick, bit) = world.lock().draws.corruption();
            let hit = disks
                .lock()
                .expect("disks")
                .of(nodes[server])
                .corrupt(pick, bit);
            world
                .lock()
                .fault("disk_corrupt", format!("S{server} {hit:?}"));
            // The server notices when it next reads its files: crash and restart it.
            kill(
                world,
                disks,
                nodes,
                &handle,
                *server,
                None,
                "disk_corrupt_restart",
            );
            restart(world, disks, nodes, &handle, *server);
        }
    }
}

/// Every fsync of `node`'s disk takes `fsync_ms` from now on (`None`: its normal time).
fn set_fsync(disks: &SharedDisks, node: NodeId, fsync_ms: Option<u64>) {
    disks.lock().expect("disks").of(node).slow_fsync_ms = fsync_ms;
}

/// Stop a server's tasks (a long GC pause); its connections stay open and messages to it
/// wait in its inbox.
fn pause(world: &Shared, nodes: &Nodes, handle: &Handle, server: ServerId, kind: &str) {
    pause_node(world, handle, server, nodes[&server], kind);
}

/// Pause `server`, whose madsim node is `node` (its own node may call this: its tasks
/// stop at their next await).
pub fn pause_node(world: &Shared, handle: &Handle, server: ServerId, node: NodeId, kind: &str) {
    let mut w = world.lock();
    if w.servers[&server].alive && !w.servers[&server].paused {
        w.fault(kind, format!("S{server}"));
        w.servers.get_mut(&server).expect("known").paused = true;
        handle.pause(node);
    }
}

fn resume(world: &Shared, nodes: &Nodes, handle: &Handle, server: ServerId) {
    let mut w = world.lock();
    if w.servers[&server].paused {
        w.fault("resume", format!("S{server}"));
        w.servers.get_mut(&server).expect("known").paused = false;
        handle.resume(nodes[&server]);
    }
}

/// Directed pairs between `side` and every other server, both ways.
fn across(side: &[ServerId], servers: &[ServerId]) -> Vec<(ServerId, ServerId)> {
    let mut pairs = Vec::new();
    for a in side {
        for b in servers.iter().filter(|b| !side.contains(b)) {
            pairs.push((*a, *b));
            pairs.push((*b, *a));
        }
    }
    pairs
}

fn kill(
    world: &Shared,
    disks: &SharedDisks,
    nodes: &Nodes,
    handle: &Handle,
    server: ServerId,
    tear: Option<f64>,
    kind: &str,
) {
    crash_node(world, disks, handle, server, nodes[&server], tear, kind);
}

/// Crash `server`, whose madsim node is `node`: its disk loses what it had not synced
/// (tearing the first unsynced record with `tear`). Its own node may call this: the
/// node's tasks end at their next await, and nothing it does in between leaves it.
pub fn crash_node(
    world: &Shared,
    disks: &SharedDisks,
    handle: &Handle,
    server: ServerId,
    node: NodeId,
    tear: Option<f64>,
    kind: &str,
) {
    let mut w = world.lock();
    if !w.servers[&server].alive {
        return;
    }
    w.fault(kind, format!("S{server}"));
    w.server_killed(server);
    w.servers.get_mut(&server).expect("known").paused = false;
    drop(w);
    disks.lock().expect("disks").of(node).crash(tear);
    handle.kill(node);
}

fn restart(world: &Shared, disks: &SharedDisks, nodes: &Nodes, handle: &Handle, server: ServerId) {
    if world.lock().aims.thaw(server) {
        // A crash pair's sender still waiting for its recipient: it crashes now.
        crash_node(
            world,
            disks,
            handle,
            server,
            nodes[&server],
            None,
            "aimed_crash",
        );
    }
    let mut w = world.lock();
    if w.servers[&server].alive {
        return;
    }
    w.fault("restart", format!("S{server}"));
    drop(w);
    handle.restart(nodes[&server]);
}
