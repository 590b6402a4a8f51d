//! The client node: every simulated client runs the real client session (core's
//! `ClientSession`) against the servers it picks and switches between, asks its agent (the
//! generic workload or a recipe, see `recipes`) what to do next, tells it what happened,
//! and records what it invoked and saw into the history.

mod effects;
mod step;

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;
use rand::seq::SliceRandom;
use zksim_core::client::{ClientConfig, ClientSession};
use zksim_core::proto::ConnId;
use zksim_core::request::Request;
use zksim_core::zab::ServerId;
use zksim_scenarios::{Scenario, Stream, stream};

use crate::recipes::{BuildClients, Cx};
use crate::world::{Addr, ClientsBusy, Item, Shared};
use effects::{apply, record_incoming};
use step::step;

struct Client {
    idx: u32,
    session: ClientSession,
    /// The servers in this client's order: the session's index `i` is `servers[i]`.
    servers: Vec<ServerId>,
    conn: Option<(ConnId, bool)>,
    rng: Stream,
    /// Draws whether to switch servers (a separate stream, so that scenarios without
    /// switching draw exactly as before it existed).
    switch_rng: Stream,
    /// A balancing switch (`workload.switch_to_least_loaded`) is under way: the next
    /// connection goes to the least loaded serving server other than this one (the server
    /// left, if any), whatever the session's host list says.
    rebalance: Option<Option<ServerId>>,
    /// A balancing switch waits for the requests in flight.
    switch_pending: bool,
    /// Requests proposed and not yet submitted (a sync and its read go together).
    queued: VecDeque<Request>,
    /// Submitted user requests not yet completed, by xid.
    in_flight: BTreeMap<i32, Request>,
    /// How many requests the client keeps in flight at most.
    pipeline: usize,
    /// Start (or restart with a new session) at this time.
    start_at_ns: u64,
    started: bool,
    closing: bool,
    done: bool,
    sessions_opened: u32,
    /// How many clients the run has.
    clients: u32,
    /// The xid of this session's closeSession, whose reply is not a workload operation.
    close_xid: Option<i32>,
    /// The closeSession reply's zxid, once it came.
    close_zxid: Option<i64>,
    /// The client is paused (its agent asked for it) until this time.
    away_until_ns: u64,
    /// A SetWatches the session sent after a reconnect is not answered yet.
    set_watches_open: bool,
    /// When each ping on this connection not yet answered was sent (µs): a server
    /// answers pings in order.
    pings_sent: VecDeque<u64>,
    /// The client's log span (`client{idx}`): what it does is logged inside it.
    span: tracing::Span,
}

impl Client {
    /// The client's name in the history: one per session it opened, so that xids (which
    /// restart with every session) stay unique per history client.
    fn history_id(&self) -> u32 {
        self.idx + (self.sessions_opened - 1) * self.clients
    }

    /// Whether the current session is being closed (no more work for it).
    fn session_closing(&self) -> bool {
        self.close_xid.is_some()
    }

    /// What the agent is told of its client.
    fn cx(&self, now_ms: i64, winding_down: bool) -> Cx {
        Cx {
            client: self.idx,
            now_ms,
            session: self.session.session_id(),
            winding_down,
            in_flight: self.in_flight.len(),
            room: self.pipeline.saturating_sub(self.in_flight.len()),
        }
    }
}

/// What the clients did, for the summary.
#[derive(Clone, Debug, Default)]
pub struct ClientStats {
    pub ops_completed: u64,
    pub ops_unknown: u64,
    pub sessions: u64,
    pub expired: u64,
    pub protocol_violations: Vec<String>,
}

/// Run the clients of `scenario`, whose agents `build` makes (from the scenario and the
/// seed) when the client node starts.
pub async fn run_clients(
    world: Shared,
    scenario: Scenario,
    seed: u64,
    build: BuildClients,
) -> ClientStats {
    let servers: Vec<ServerId> = scenario
        .server_ids()
        .into_iter()
        .chain(scenario.observer_ids())
        .collect();
    let mut team = build(&scenario, seed);
    let team = team.as_mut();
    let mut clients: Vec<Client> = (0..scenario.clients)
        .map(|i| {
            let mut rng = stream(seed, &format!("client-{i}"));
            let mut order = servers.clone();
            order.shuffle(&mut rng);
            let start_at_ns = rng.gen_range(0..100_000_000);
            Client {
                idx: i,
                session: new_session(&scenario, order.len(), i),
                servers: order,
                conn: None,
                rng,
                switch_rng: stream(seed, &format!("switch-{i}")),
                rebalance: None,
                switch_pending: false,
                queued: VecDeque::new(),
                in_flight: BTreeMap::new(),
                pipeline: scenario.workload.pipeline as usize,
                start_at_ns,
                started: false,
                closing: false,
                done: false,
                sessions_opened: 1,
                clients: scenario.clients,
                close_xid: None,
                close_zxid: None,
                away_until_ns: 0,
                set_watches_open: false,
                pings_sent: VecDeque::new(),
                span: tracing::info_span!(target: crate::run::NODE_SPANS, "client", idx = i),
            }
        })
        .collect();
    let mut stats = ClientStats::default();
    let mut out = Vec::new();
    loop {
        let items = {
            let mut w = world.lock();
            if w.budget_spent() {
                // The run's budget is spent: the clients stop where they are.
                return stats;
            }
            w.wakeup(Addr::Clients);
            w.take_due(Addr::Clients)
        };
        let now_ns = world.lock().now_ns();
        let now_ms = (now_ns / 1_000_000) as i64;
        for item in items {
            let (conn, kind) = match &item {
                Item::ConnUp { conn } => (*conn, 0),
                Item::ConnDown { conn } => (*conn, 1),
                Item::ToClient { conn, .. } => (*conn, 2),
                _ => unreachable!("server items go to server nodes"),
            };
            let Some(idx) = world.lock().conn_client(conn) else {
                continue;
            };
            let c = &mut clients[idx as usize];
            let span = c.span.clone();
            let _in_span = span.enter();
            let Some((current, up)) = c.conn else {
                continue;
            };
            if current != conn || c.session.state().is_terminal() {
                continue;
            }
            match (kind, item) {
                (0, _) => {
                    c.conn = Some((conn, true));
                    c.session.on_connected(now_ms, &mut out);
                }
                (1, _) => {
                    c.conn = None;
                    if up {
                        c.session.on_disconnected(now_ms, &mut out);
                    } else {
                        c.session.on_connect_failed(now_ms, &mut out);
                    }
                }
                (_, Item::ToClient { msg, .. }) => {
                    record_incoming(&world, c, &msg);
                    c.session.on_message(now_ms, msg, &mut out)
                }
                _ => {}
            }
            apply(&world, c, &mut out, &mut stats, team);
        }
        let winding_down = world.lock().winding_down;
        let mut next: Option<u64> = None;
        let mut all_done = true;
        let mut busy = ClientsBusy::default();
        for c in clients.iter_mut() {
            let span = c.span.clone();
            let _in_span = span.enter();
            step(
                &world,
                &scenario,
                c,
                now_ns,
                now_ms,
                winding_down,
                &mut out,
                &mut stats,
                team,
            );
            all_done &= c.done;
            busy.done += usize::from(c.done);
            busy.in_flight += c.in_flight.len();
            busy.sessions_open +=
                usize::from(c.started && !c.done && !c.session.state().is_terminal());
            let d = if !c.started || (c.session.state().is_terminal() && !c.done) {
                Some(c.start_at_ns)
            } else if c.away_until_ns > now_ns {
                Some(c.away_until_ns)
            } else {
                c.session
                    .next_deadline()
                    .map(|d| (d.max(0) as u64) * 1_000_000)
            };
            // The agent's own wake-up (a think time, a poll), while it has a session.
            // A wake-up in the past waits for the next event instead (the agent is asked
            // again when its client connects or a request completes).
            let wake = team
                .wake_at_ms(c.idx)
                .filter(|ms| *ms > now_ms && c.started && !c.session.state().is_terminal())
                .map(|ms| (ms as u64) * 1_000_000);
            let hold_until = world.lock().hold_until_ns;
            let hold = (winding_down && hold_until > now_ns).then_some(hold_until);
            if !c.done {
                for d in [d, wake, hold] {
                    next = match (next, d) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
        }
        world.lock().clients_busy = busy;
        if all_done && winding_down {
            return stats;
        }
        let due = world.lock().next_due(Addr::Clients);
        let until = match (next, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        world
            .wait(Addr::Clients, until.map(|u| u.max(now_ns + 1)))
            .await;
    }
}

fn new_session(scenario: &Scenario, servers: usize, idx: u32) -> ClientSession {
    let mut config = ClientConfig::new(servers, 0, scenario.workload.session_timeout_ms);
    config.client_id = Some(u64::from(idx));
    // Reconnect quickly: the simulated network has no reason to back off for a second.
    config.reconnect_delay_ms = 50;
    config.spin_delay_ms = 200;
    ClientSession::new(config)
}
