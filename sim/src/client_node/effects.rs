//! A client's effects carried out on the world (connect, send, close), and what it saw
//! recorded into the history and told to its agent: completions, watches, session events,
//! pings answered and the SetWatches sent after a reconnect.

use rand::Rng;
use zksim_checker::history::{Event, Outcome as HOutcome, SessionEvent as HSession};
use zksim_core::client::{ClientEffect, Outcome, SET_WATCHES_XID, SessionEvent};
use zksim_core::proto::{ClientMessage, ServerMessage};
use zksim_core::zab::{Hex, ServerId};
use zksim_scenarios::Stream;

use super::{Client, ClientStats};
use crate::recipes::{Clients, SessionNews, WatchNews};
use crate::world::{Shared, World};

/// Carry out a client's effects, record what it saw, and tell its agent.
pub(super) fn apply(
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
                let target = c
                    .rebalance
                    .take()
                    .and_then(|left| least_loaded(&w, left, &mut c.switch_rng));
                if let Some(target) = target {
                    // The session connects to the index its host list gives next; put the
                    // chosen server there (the list is a permutation either way).
                    if let Some(at) = c.servers.iter().position(|s| *s == target) {
                        c.servers.swap(server, at);
                    }
                }
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
                match &outcome {
                    HOutcome::Reply(r) => tracing::debug!(
                        xid,
                        err = r.err.name(),
                        zxid = %Hex(r.zxid),
                        "complete"
                    ),
                    HOutcome::Unknown { reason } => {
                        tracing::debug!(xid, %reason, "complete, outcome unknown")
                    }
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
                tracing::debug!(
                    session = %Hex(session),
                    event = event_type.name(),
                    %path,
                    zxid = %Hex(zxid),
                    "watch"
                );
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
                tracing::info!(session = %Hex(session), ?event, "session");
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

/// Record what the session is about to be told that it reports to no one: a ping
/// answered, and the reply to the SetWatches it sent after a reconnect.
pub(super) fn record_incoming(world: &Shared, c: &mut Client, msg: &ServerMessage) {
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

/// The serving server with the fewest client connections now, other than the one `left`;
/// ties broken by the client's switching stream.
fn least_loaded(w: &World, left: Option<ServerId>, rng: &mut Stream) -> Option<ServerId> {
    let load: Vec<(usize, ServerId)> = w
        .serving_by_load()
        .into_iter()
        .filter(|(_, id)| Some(*id) != left)
        .collect();
    let fewest = load.first()?.0;
    let ties: Vec<ServerId> = load
        .iter()
        .take_while(|(n, _)| *n == fewest)
        .map(|(_, id)| *id)
        .collect();
    Some(ties[rng.gen_range(0..ties.len())])
}
