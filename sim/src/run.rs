//! One simulated run: build the ensemble and the clients in a seeded madsim runtime, apply
//! the fault plan during the safety phase, heal everything, and require the liveness
//! phase to converge within its bound.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use madsim::runtime::{Handle, Runtime};
use madsim::time::{Duration, Instant, sleep};
use tracing::Instrument;
use zksim_checker::history::{Event, Phase};
use zksim_core::server::{Bugs, ServerConfig};
use zksim_core::zab::ServerId;
use zksim_scenarios::{Fault, FaultPlan, Scenario};

use crate::client_node::{ClientStats, run_clients};
use crate::disk::{DiskSim, Disks, SharedDisks, install};
use crate::faults::{Nodes, apply, run_plan};
use crate::recipes::{self, BuildClients};
use crate::server_node::run_server;
use crate::trace::Trace;
use crate::world::{Coverage, Published, Shared, Stats};

/// How much of the trace to produce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceMode {
    /// No trace (fastest).
    #[default]
    Off,
    /// Hash the trace lines without keeping them.
    Hash,
    /// Keep the lines too (for `--trace FILE`).
    Keep,
}

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub seed: u64,
    pub bugs: Bugs,
    pub trace: TraceMode,
    /// The command that reruns this run, for the history header.
    pub replay: Option<String>,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunReport {
    pub seed: u64,
    pub scenario: Scenario,
    pub plan: FaultPlan,
    pub history: Vec<Event>,
    pub trace_hash: Option<u64>,
    pub trace_lines: Vec<String>,
    pub trace_count: u64,
    pub stats: Stats,
    pub clients: ClientStats,
    /// Simulated time the whole run took.
    pub sim_ms: u64,
    /// Wall-clock time (measured by `run`, zero inside a caller's runtime).
    pub wall: std::time::Duration,
    /// Ok, or why the liveness phase did not converge (Ok, not judged, when the run's
    /// budget ran out first).
    pub liveness: Result<(), String>,
    /// Simulated events the run took (deliveries and wake-ups, `Scenario::max_events`).
    pub events: u64,
    /// What the run held until it was judged (its history and disks), estimated in bytes
    /// (`Scenario::memory_mb_max`).
    pub held_bytes: u64,
    /// Why the run stopped early: its budget (of simulated events, or of memory) ran out.
    pub budget_exceeded: Option<String>,
    /// Invariants the servers breached under a bug knob: each one's first breach, with the
    /// server and zxids, and how many more followed.
    pub breaches: Vec<String>,
    /// When the liveness phase converged, in simulated ms after it began.
    pub converged_after_ms: Option<u64>,
    /// The protocol transitions and fault timings the run reached.
    pub coverage: Coverage,
}

/// The linearizability search's budget when judging a simulated run. The search only runs
/// when the zxid order fails to explain the writes, which under a bug knob often happens
/// across a partition holding every create and delete (they all touch `/`'s children), where
/// a search is hopeless; the other properties name such a run's violation in milliseconds.
/// A search that runs out gives "unknown", never "holds", and a sweep counts an undecided
/// run as failed. `zksim check --max-steps` searches further on a saved history.
pub const RUN_SEARCH_STEPS: u64 = 10_000;

/// The options every simulated run is checked with (`zksim run`, `sweep`, `replay`, and a
/// user's recipe through `recipe_api`).
pub fn run_check_options() -> zksim_checker::Options {
    zksim_checker::Options {
        max_steps: RUN_SEARCH_STEPS,
    }
}

/// The target of the log spans a run opens (`run{seed}`, `server{id}`, `client{idx}`):
/// a subscriber enables it whatever else it filters, so that every event shows the node
/// it happened on. No event uses it.
pub const NODE_SPANS: &str = "zksim_sim::node";

/// Simulated time since the current madsim runtime began (`None` outside one): the
/// timestamp of log lines.
pub fn sim_elapsed() -> Option<Duration> {
    madsim::time::TimeHandle::try_current().map(|h| h.elapsed())
}

/// Run `scenario` with `options` in a fresh madsim runtime seeded with the run's seed.
pub fn run(scenario: &Scenario, options: &RunOptions) -> RunReport {
    run_with(scenario, options, Box::new(recipes::build))
}

/// Run `scenario` with `options`, its clients' agents made by `build` (a recipe of the
/// caller's, as `crate::recipe_api` runs one) instead of the scenario's own.
pub fn run_with(scenario: &Scenario, options: &RunOptions, build: BuildClients) -> RunReport {
    let rt = Runtime::with_seed_and_config(options.seed, madsim::Config::default());
    rt.add_simulator::<DiskSim>();
    let wall = std::time::Instant::now();
    let span = tracing::info_span!(target: NODE_SPANS, "run", seed = options.seed);
    let mut report =
        rt.block_on(simulate_with(scenario.clone(), options.clone(), build).instrument(span));
    report.wall = wall.elapsed();
    report
}

/// The run itself, inside a madsim runtime (ours, or a caller's such as madsim's test
/// harness with its determinism check).
pub async fn simulate(scenario: Scenario, options: RunOptions) -> RunReport {
    simulate_with(scenario, options, Box::new(recipes::build)).await
}

/// `simulate`, its clients' agents made by `build`.
async fn simulate_with(scenario: Scenario, options: RunOptions, build: BuildClients) -> RunReport {
    let seed = options.seed;
    let plan = scenario
        .plan
        .clone()
        .unwrap_or_else(|| FaultPlan::generate(&scenario, seed));
    let voters = scenario.server_ids();
    let observers = scenario.observer_ids();
    let all: Vec<ServerId> = voters.iter().chain(&observers).copied().collect();
    let trace = Trace::new(
        options.trace != TraceMode::Off,
        options.trace == TraceMode::Keep,
    );
    let world = Shared::new(
        &all,
        &voters,
        trace,
        crate::world::draws::Draws::new(seed, scenario.buggify),
        scenario.max_events(),
        scenario.memory_mb_max() << 20,
    );
    let disks: SharedDisks = Arc::new(Mutex::new(Disks::default()));
    install(&disks);
    let handle = Handle::current();
    let mut nodes: Nodes = BTreeMap::new();
    // Every node's log span is a child of the run's (`run{seed}`), whoever restarts it.
    let run_span = tracing::Span::current();
    for (i, id) in all.iter().enumerate() {
        let mut config = ServerConfig::new(*id, voters.clone(), observers.clone());
        config.tick_ms = scenario.tick_ms as i64;
        config.snap_count = scenario.snap_count;
        config.container_check_ms =
            i64::try_from(scenario.container_check_ms).expect("validated: at most an hour");
        config.bugs = options.bugs;
        let (w, d, parent) = (world.clone(), Arc::clone(&disks), run_span.clone());
        let node = handle
            .create_node()
            .name(format!("server-{id}"))
            .ip(std::net::IpAddr::V4(std::net::Ipv4Addr::new(
                10,
                0,
                0,
                i as u8 + 1,
            )))
            .init(move || {
                let span = tracing::info_span!(target: NODE_SPANS, parent: &parent, "server", id = config.id);
                run_server(w.clone(), Arc::clone(&d), config.clone()).instrument(span)
            })
            .build();
        nodes.insert(*id, node.id());
        world.lock().servers.get_mut(id).expect("known").node = Some(node.id());
    }
    let start = Instant::now();
    let client_node = handle.create_node().name("clients").build();
    let clients = client_node.spawn(
        run_clients(world.clone(), scenario.clone(), seed, build).instrument(run_span.clone()),
    );
    let faults = madsim::task::spawn(
        run_plan(
            world.clone(),
            Arc::clone(&disks),
            nodes.clone(),
            plan.clone(),
            start,
        )
        .instrument(run_span.clone()),
    );
    world
        .sleep_within_budget(start + Duration::from_millis(scenario.safety_ms))
        .await;
    faults.abort();
    // Liveness phase: every fault healed; the clients finish and close their sessions.
    for f in heal_all(&world, &all) {
        apply(&world, &disks, &nodes, &f);
    }
    {
        let mut w = world.lock();
        w.winding_down = true;
        w.hold_until_ns = w.now_ns() + scenario.liveness_hold_ms() * 1_000_000;
        let t = w.now_us();
        w.history.push(Event::Phase {
            t,
            phase: Phase::Liveness,
        });
    }
    let live_start = Instant::now();
    let bound = Duration::from_millis(scenario.liveness_ms);
    let mut clients = Some(clients);
    let mut client_stats = None;
    let liveness = loop {
        if world.lock().budget_spent() {
            // The clients stop at their next pass (the budget woke them); the liveness
            // phase is not judged, the spent budget is the run's failure.
            if let Some(h) = clients.take() {
                client_stats = Some(h.await.expect("the client task does not panic"));
            }
            break Ok(0);
        }
        if clients.as_ref().is_some_and(|h| h.is_finished()) {
            let h = clients.take().expect("checked above");
            client_stats = Some(h.await.expect("the client task does not panic"));
        }
        let state = match client_stats {
            None => Err("the clients still have operations in flight or sessions open".to_string()),
            Some(_) => converged(&world),
        };
        match state {
            Ok(()) => break Ok(live_start.elapsed().as_millis() as u64),
            Err(problem) if live_start.elapsed() >= bound => break Err(problem),
            Err(_) => sleep(Duration::from_millis(20)).await,
        }
    };
    let sim_ms = start.elapsed().as_millis() as u64;
    // Stop every server task, so that their state goes with this run (madsim keeps a
    // runtime's pending tasks, and a sweep runs many runtimes in one process).
    for node in nodes.values() {
        handle.kill(*node);
    }
    let mut w = world.lock();
    let held_bytes = w.held_bytes();
    if liveness.is_err() && !w.debug_trees.is_empty() {
        print_tree_differences(&w.debug_trees);
    }
    let bugs: Vec<String> = options.bugs.names().iter().map(|s| s.to_string()).collect();
    let mut history = vec![
        Event::header(
            Some(seed),
            Some(scenario.name.clone()),
            scenario.server_ids(),
            scenario.observer_ids(),
            options.replay.clone(),
            bugs,
        )
        .with_recipe(
            scenario.recipe.clone().filter(|r| r != "generic"),
            scenario.clients,
        )
        .with_timing(scenario.tick_ms, scenario.container_check_ms),
    ];
    history.append(&mut w.history.take());
    history.append(&mut w.truth.events());
    let budget_exceeded = w.budget.spent.clone();
    let breaches = std::mem::take(&mut w.breaches).lines();
    let events = w.budget.events;
    let trace_hash = w.trace.on().then(|| w.trace.hash());
    let trace_count = w.trace.count();
    let trace_lines = w.trace.take_lines();
    let stats = w.stats.clone();
    let coverage = std::mem::take(&mut w.coverage);
    // The nodes' tasks and the world refer to each other (wakers, queued items): break the
    // cycle so that a sweep of many runs in one process does not keep every run alive.
    w.release();
    RunReport {
        seed,
        plan,
        history,
        trace_hash,
        trace_count,
        trace_lines,
        stats,
        clients: client_stats.unwrap_or_default(),
        sim_ms,
        wall: std::time::Duration::ZERO,
        converged_after_ms: liveness
            .as_ref()
            .ok()
            .copied()
            .filter(|_| budget_exceeded.is_none()),
        liveness: liveness.map(|_| ()),
        events,
        held_bytes,
        budget_exceeded,
        breaches,
        scenario,
        coverage,
    }
}

/// For debugging a divergence: print the nodes on which the servers' trees differ.
fn print_tree_differences(trees: &BTreeMap<ServerId, zksim_core::tree::Snapshot>) {
    let mut all: BTreeMap<String, Vec<(ServerId, String)>> = BTreeMap::new();
    for (id, t) in trees {
        for n in &t.nodes {
            all.entry(n.path.clone()).or_default().push((
                *id,
                format!(
                    "{:?} {:?}",
                    n.stat,
                    n.data
                        .as_ref()
                        .map(|d| String::from_utf8_lossy(d).to_string())
                ),
            ));
        }
        eprintln!(
            "S{id}: zxid {:#x}, {} nodes, sessions {:?}",
            t.zxid,
            t.nodes.len(),
            t.sessions
        );
    }
    for (path, versions) in all {
        let first = &versions[0].1;
        if versions.len() != trees.len() || versions.iter().any(|(_, v)| v != first) {
            eprintln!("{path}:");
            for (id, v) in versions {
                eprintln!("  S{id}: {v}");
            }
        }
    }
}

/// Everything a liveness phase starts with: the network healed, every server up and
/// resumed, disks normal, clocks at the true rate (a skewed wall clock stays skewed, as
/// it would).
fn heal_all(world: &Shared, servers: &[ServerId]) -> Vec<Fault> {
    let mut faults = vec![Fault::HealNetwork, Fault::RestartAll];
    let w = world.lock();
    for s in servers {
        faults.push(Fault::Resume { server: *s });
        faults.push(Fault::DiskNormal { server: *s });
        if w.servers[s].clock.rate_percent() != 100 {
            faults.push(Fault::ClockRate {
                server: *s,
                percent: 100,
            });
        }
    }
    faults
}

/// Converged: one established leader, every server serving with the same last zxid and
/// tree digest, and no session or ephemeral left (every client closed its session; the
/// leader expired the rest).
fn converged(world: &Shared) -> Result<(), String> {
    let w = world.lock();
    let Some(leader) = w.leader() else {
        return Err("no established leader".into());
    };
    for (id, s) in &w.servers {
        if !s.alive || !s.serving {
            return Err(format!("server S{id} is not serving (leader S{leader})"));
        }
    }
    let reports: Vec<(ServerId, Option<Published>)> = w
        .servers
        .keys()
        .map(|id| (*id, w.published.get(id).cloned()))
        .collect();
    let Some(first) = reports[0].1.clone() else {
        return Err("no state published yet".into());
    };
    for (id, r) in &reports {
        let Some(r) = r else {
            return Err(format!("S{id} published no state"));
        };
        if r.last_zxid != first.last_zxid || r.digest != first.digest {
            return Err(format!(
                "replicas differ: S{} at {:#x}, S{id} at {:#x}",
                reports[0].0, first.last_zxid, r.last_zxid
            ));
        }
    }
    if first.sessions > 0 {
        return Err(format!("{} sessions still open", first.sessions));
    }
    if first.ephemerals > 0 {
        return Err(format!(
            "{} ephemerals outlive their sessions",
            first.ephemerals
        ));
    }
    Ok(())
}
