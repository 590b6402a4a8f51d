//! One client's pass: its session's start and restart, its timers, and its workload (what
//! its agent proposes, session churn, switching servers, pauses, closing its session).

use rand::Rng;
use zksim_checker::history::Event;
use zksim_core::client::{ClientEffect, ClientState};
use zksim_core::request::Request;
use zksim_core::zab::Hex;
use zksim_scenarios::Scenario;

use super::effects::apply;
use super::{Client, ClientStats, new_session};
use crate::recipes::{Clients, Proposal, SessionNews};
use crate::world::Shared;

/// Timers, session life and workload for one client.
#[allow(clippy::too_many_arguments)]
pub(super) fn step(
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
            // Balancing, it decides whatever it has in flight, lets that finish and
            // submits nothing meanwhile, then goes to the server that is least loaded
            // when it reconnects (a balancer answers then, not when the client left).
            let balanced = scenario.workload.switch_to_least_loaded;
            if !winding_down
                && switch > 0
                && (c.switch_pending
                    || ((c.in_flight.is_empty() || balanced)
                        && c.switch_rng.gen_range(0..100) < switch))
            {
                if !c.in_flight.is_empty() {
                    c.switch_pending = true;
                    return;
                }
                c.switch_pending = false;
                if balanced {
                    let own = c
                        .conn
                        .and_then(|_| c.servers.get(c.session.server()).copied());
                    c.rebalance = Some(own);
                }
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
            tracing::debug!(
                session = %Hex(session),
                xid,
                op = %request_name(&request),
                "invoke"
            );
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
        tracing::debug!(%why, "drops its connection");
        if w.trace.on() {
            w.trace.line(t, &format!("C{} {why}", c.idx));
        }
    }
    c.session.on_disconnected(now_ms, out);
    apply(world, c, out, stats, team);
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
