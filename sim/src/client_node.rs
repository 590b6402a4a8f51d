//! The client node: every simulated client runs the real client session (core's
//! `ClientSession`) against the servers it picks and switches between, asks its agent (the
//! generic workload or a recipe, see `recipes`) what to do next, tells it what happened,
//! and records what it invoked and saw into the history.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;
use rand::seq::SliceRandom;
use zksim_checker::history::{Event, Outcome as HOutcome, SessionEvent as HSession};
use zksim_core::client::{
    ClientConfig, ClientEffect, ClientSession, ClientState, Outcome, SET_WATCHES_XID, SessionEvent,
};
use zksim_core::proto::{ClientMessage, ConnId, ServerMessage};
use zksim_core::request::Request;
use zksim_core::zab::ServerId;
use zksim_scenarios::{Scenario, Stream, stream};

use crate::recipes::{self, Clients, Cx, Proposal, SessionNews, WatchNews};
use crate::world::{Addr, ClientsBusy, Item, Shared};

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

pub async fn run_clients(world: Shared, scenario: Scenario, seed: u64) -> ClientStats {
    let servers: Vec<ServerId> = scenario
        .server_ids()
        .into_iter()
        .chain(scenario.observer_ids())
        .collect();
    let mut team = recipes::build(&scenario, seed);
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

/// Timers, session life and workload for one client.
#[allow(clippy::too_many_arguments)]
fn step(
    world: &Shared,
    scenario: &Scenario,
    c: &mut Client,
    now_ns: u64,
    now_ms: i64,
    winding_down: bool,
    out: &mut Vec<ClientEffect>,
    stats: &mut ClientStats,
    team: &mut dyn Clients,
) {
    if c.done {
        return;
    }
    if !c.started {
        if now_ns < c.start_at_ns {
            return;
        }
        if winding_down {
            c.done = true;
            return;
        }
        c.started = true;
        stats.sessions += 1;
        team.on_session(&c.cx(now_ms, winding_down), &SessionNews::Started);
        c.session.start(now_ms, out);
        apply(world, c, out, stats, team);
    }
    if c.session.state().is_terminal() {
        if winding_down || c.closing {
            c.done = true;
            return;
        }
        // A new session, as an application does after expiry or a deliberate close.
        if now_ns >= c.start_at_ns {
            c.session = new_session(scenario, c.servers.len(), c.idx);
            c.sessions_opened += 1;
            c.in_flight.clear();
            c.queued.clear();
            c.conn = None;
            c.close_xid = None;
            c.close_zxid = None;
            c.started = false;
            c.start_at_ns = now_ns;
        }
        return;
    }
    if winding_down {
        c.away_until_ns = 0;
    }
    if now_ns < c.away_until_ns {
        // Paused: no timers, no work (the connection is gone, so nothing arrives).
        return;
    }
    if c.session.next_deadline().is_some_and(|d| d <= now_ms) {
        c.session.on_tick(now_ms, out);
        apply(world, c, out, stats, team);
    }
    // While the run winds down the agent may still have work (a release, a final read);
    // once it has none, the client closes its session when its requests are answered.
    if winding_down && team.done(&c.cx(now_ms, winding_down)) {
        // The hold: an idle session the service must keep alive while its client pings.
        // Every other client closes at once instead, while the ensemble may still be
        // settling after the heal (where a close can get lost, ZOOKEEPER-2355).
        if c.idx.is_multiple_of(2) && now_ns < world.lock().hold_until_ns && !c.session_closing() {
            return;
        }
        if !c.closing && c.in_flight.is_empty() && !c.session_closing() {
            c.closing = true;
            close_session(world, c, now_ms, out);
            apply(world, c, out, stats, team);
        }
        return;
    }
    if c.session.state() != ClientState::Connected || c.session_closing() {
        return;
    }
    let churn = scenario.workload.session_churn_percent;
    let switch = scenario.workload.switch_percent;
    while c.in_flight.len() < c.pipeline {
        if c.queued.is_empty() {
            // Session churn: sometimes an application ends its session and starts anew.
            if !winding_down
                && churn > 0
                && c.rng.gen_range(0..10_000) < churn * 10
                && c.in_flight.is_empty()
            {
                close_session(world, c, now_ms, out);
                c.start_at_ns = now_ns + c.rng.gen_range(0..500_000_000);
                apply(world, c, out, stats, team);
                return;
            }
            // Switching: the client drops its connection and reconnects to its next
            // server, so the session moves (and reads may land on a lagging follower).
            if !winding_down
                && switch > 0
                && c.in_flight.is_empty()
                && c.switch_rng.gen_range(0..100) < switch
            {
                drop_connection(world, c, now_ms, "switch", out, stats, team);
                return;
            }
            match team.propose(&c.cx(now_ms, winding_down)) {
                Proposal::Requests(requests) if requests.is_empty() => return,
                Proposal::Requests(requests) => c.queued.extend(requests),
                Proposal::Pause { for_ms } => {
                    c.away_until_ns = now_ns + for_ms * 1_000_000;
                    let why = format!("pause {for_ms} ms");
                    drop_connection(world, c, now_ms, &why, out, stats, team);
                    return;
                }
                Proposal::CloseSession { restart_after_ms } => {
                    if winding_down {
                        c.closing = true;
                    }
                    close_session(world, c, now_ms, out);
                    c.start_at_ns = now_ns + restart_after_ms * 1_000_000;
                    apply(world, c, out, stats, team);
                    return;
                }
            }
        }
        let request = c.queued.pop_front().expect("queued");
        let session = c.session.session_id();
        let xid = c.session.submit(now_ms, request.clone(), out);
        c.in_flight.insert(xid, request.clone());
        {
            let mut w = world.lock();
            let t = w.now_us();
            if w.trace.on() {
                w.trace.line(
                    t,
                    &format!("C{} invoke {xid} {}", c.idx, request_name(&request)),
                );
            }
            w.history.push(Event::Invoke {
                t,
                client: c.history_id(),
                session: (session != 0).then_some(session),
                xid,
                op: request,
            });
        }
        apply(world, c, out, stats, team);
    }
}

/// `ZooKeeper.close`: send closeSession and record it (its reply, which carries the
/// closeSession txn's zxid, is recorded as its completion).
fn close_session(world: &Shared, c: &mut Client, now_ms: i64, out: &mut Vec<ClientEffect>) {
    let session = c.session.session_id();
    let xid = c.session.close(now_ms, out);
    c.close_xid = Some(xid);
    let mut w = world.lock();
    let t = w.now_us();
    w.history.push(Event::Close {
        t,
        client: c.history_id(),
        session: (session != 0).then_some(session),
        xid,
    });
}

/// Record what the session is about to be told that it reports to no one: a ping
/// answered, and the reply to the SetWatches it sent after a reconnect.
fn record_incoming(world: &Shared, c: &mut Client, msg: &ServerMessage) {
    let session = c.session.session_id();
    match msg {
        ServerMessage::Pong { .. } if session != 0 => {
            let mut w = world.lock();
            let t = w.now_us();
            let sent_t = c.pings_sent.pop_front();
            w.history.push(Event::Ping {
                t,
                client: c.history_id(),
                session,
                sent_t,
            });
        }
        ServerMessage::Reply { xid, reply } if *xid == SET_WATCHES_XID && c.set_watches_open => {
            c.set_watches_open = false;
            let mut w = world.lock();
            let t = w.now_us();
            w.history.push(Event::Complete {
                t,
                client: c.history_id(),
                xid: SET_WATCHES_XID,
                outcome: HOutcome::Reply(reply.clone()),
            });
        }
        _ => {}
    }
}

/// The connection ended with the SetWatches unanswered: it may or may not have run.
fn end_set_watches(w: &mut crate::world::World, c: &mut Client, t: u64) {
    if !c.set_watches_open {
        return;
    }
    c.set_watches_open = false;
    w.history.push(Event::Complete {
        t,
        client: c.history_id(),
        xid: SET_WATCHES_XID,
        outcome: HOutcome::Unknown {
            reason: "CONNECTIONLOSS".into(),
        },
    });
}

/// Drop the connection on purpose (to switch servers, or to pause); the session
/// reconnects to its next server when its timers run.
#[allow(clippy::too_many_arguments)]
fn drop_connection(
    world: &Shared,
    c: &mut Client,
    now_ms: i64,
    why: &str,
    out: &mut Vec<ClientEffect>,
    stats: &mut ClientStats,
    team: &mut dyn Clients,
) {
    assert!(
        c.in_flight.is_empty(),
        "client {}: dropping its connection with requests in flight",
        c.idx
    );
    {
        let mut w = world.lock();
        if let Some((conn, _)) = c.conn.take() {
            w.close_by_client(conn);
        }
        let t = w.now_us();
        if w.trace.on() {
            w.trace.line(t, &format!("C{} {why}", c.idx));
        }
    }
    c.session.on_disconnected(now_ms, out);
    apply(world, c, out, stats, team);
}

/// A completion as the history records it.
fn history_outcome(outcome: Outcome) -> HOutcome {
    let reason = match outcome {
        Outcome::Reply(r) => return HOutcome::Reply(r),
        Outcome::ConnectionLoss => "CONNECTIONLOSS",
        Outcome::SessionExpired => "SESSIONEXPIRED",
        Outcome::AuthFailed => "AUTHFAILED",
        Outcome::Closed => "CLOSED",
    };
    HOutcome::Unknown {
        reason: reason.into(),
    }
}

fn request_name(r: &Request) -> String {
    let name = match r {
        Request::Create { .. } => "create",
        Request::Delete { .. } => "delete",
        Request::Exists { .. } => "exists",
        Request::GetData { .. } => "get_data",
        Request::SetData { .. } => "set_data",
        Request::GetChildren { .. } => "get_children",
        Request::Sync { .. } => "sync",
        Request::Multi(_) => "multi",
        _ => "request",
    };
    format!("{name} {}", r.path().unwrap_or(""))
}

/// Carry out a client's effects, record what it saw, and tell its agent.
fn apply(
    world: &Shared,
    c: &mut Client,
    out: &mut Vec<ClientEffect>,
    stats: &mut ClientStats,
    team: &mut dyn Clients,
) {
    for e in out.drain(..) {
        let mut w = world.lock();
        let t = w.now_us();
        let now_ms = (w.now_ns() / 1_000_000) as i64;
        let winding_down = w.winding_down;
        match e {
            ClientEffect::Connect { server } => {
                let id = c.servers[server];
                let conn = w.client_connect(c.idx, id);
                c.conn = Some((conn, false));
                c.pings_sent.clear();
            }
            ClientEffect::Send(msg) => {
                if let ClientMessage::Request { xid, request } = &msg {
                    if *xid == SET_WATCHES_XID {
                        c.set_watches_open = true;
                        let session = c.session.session_id();
                        w.history.push(Event::Invoke {
                            t,
                            client: c.history_id(),
                            session: (session != 0).then_some(session),
                            xid: *xid,
                            op: request.clone(),
                        });
                    }
                }
                if let Some((conn, true)) = c.conn {
                    if matches!(msg, ClientMessage::Ping) {
                        c.pings_sent.push_back(t);
                    }
                    w.client_send(conn, msg);
                }
            }
            ClientEffect::Close => {
                if let Some((conn, _)) = c.conn.take() {
                    w.close_by_client(conn);
                }
            }
            ClientEffect::Completed { xid, outcome } => {
                // The SetWatches was sent first on the connection: it ends first.
                if !matches!(outcome, Outcome::Reply(_)) {
                    end_set_watches(&mut w, c, t);
                }
                if c.close_xid == Some(xid) {
                    if let Outcome::Reply(r) = &outcome {
                        c.close_zxid = Some(r.zxid);
                    }
                    w.history.push(Event::Complete {
                        t,
                        client: c.history_id(),
                        xid,
                        outcome: history_outcome(outcome),
                    });
                    continue;
                }
                if xid < 0 {
                    continue;
                }
                let request = c.in_flight.remove(&xid).unwrap_or_else(|| {
                    panic!(
                        "client {}: completion of xid {xid}, which is not in flight ({:?}, close {:?})",
                        c.idx,
                        c.in_flight.keys(),
                        c.close_xid
                    )
                });
                team.on_complete(&c.cx(now_ms, winding_down), &request, &outcome);
                let outcome = history_outcome(outcome);
                if matches!(outcome, HOutcome::Unknown { .. }) {
                    stats.ops_unknown += 1;
                } else {
                    stats.ops_completed += 1;
                }
                if w.trace.on() {
                    let summary = match &outcome {
                        HOutcome::Reply(r) => format!("{} zxid {:#x}", r.err.name(), r.zxid),
                        HOutcome::Unknown { reason } => reason.clone(),
                    };
                    w.trace
                        .line(t, &format!("C{} complete {xid} {summary}", c.idx));
                }
                w.history.push(Event::Complete {
                    t,
                    client: c.history_id(),
                    xid,
                    outcome,
                });
            }
            ClientEffect::Watch {
                event_type,
                path,
                zxid,
            } => {
                let session = c.session.session_id();
                if w.trace.on() {
                    w.trace.line(
                        t,
                        &format!("C{} watch {} {path} {zxid:#x}", c.idx, event_type.name()),
                    );
                }
                w.history.push(Event::Watch {
                    t,
                    client: c.history_id(),
                    session,
                    event_type,
                    path: path.clone(),
                    zxid,
                });
                let news = WatchNews {
                    event_type,
                    path,
                    zxid,
                };
                team.on_watch(&c.cx(now_ms, winding_down), &news);
            }
            ClientEffect::Session(ev) => {
                if !matches!(ev, SessionEvent::Connected { .. }) {
                    end_set_watches(&mut w, c, t);
                }
                let session = c.session.session_id();
                let (event, news) = match ev {
                    SessionEvent::Connected {
                        session_id,
                        timeout_ms,
                    } => (
                        HSession::Connected {
                            server: c.servers[c.session.server()],
                            timeout_ms,
                        },
                        SessionNews::Connected {
                            session: session_id,
                            timeout_ms,
                        },
                    ),
                    SessionEvent::Disconnected => {
                        (HSession::Disconnected, SessionNews::Disconnected)
                    }
                    SessionEvent::Expired => {
                        stats.expired += 1;
                        (HSession::Expired, SessionNews::Expired { session })
                    }
                    SessionEvent::AuthFailed => (HSession::AuthFailed, SessionNews::AuthFailed),
                    SessionEvent::Closed => (
                        HSession::Closed,
                        SessionNews::Closed {
                            session,
                            zxid: c.close_zxid,
                        },
                    ),
                };
                if w.trace.on() {
                    w.trace
                        .line(t, &format!("C{} session {session:#x} {event:?}", c.idx));
                }
                w.history.push(Event::Session {
                    t,
                    client: c.history_id(),
                    session,
                    event,
                });
                team.on_session(&c.cx(now_ms, winding_down), &news);
            }
            ClientEffect::ProtocolViolation(msg) => {
                let detail = format!("client {}: {msg}", c.idx);
                stats.protocol_violations.push(detail.clone());
                w.fault("protocol_violation", detail);
            }
        }
    }
}
