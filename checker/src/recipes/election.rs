//! `election`: test-and-set master election with an ephemeral znode, the ZooKeeper paper's
//! "Simple Locks" (Hunt et al., ATC 2010, §2.4): "to acquire a lock, a client tries to create
//! the designated znode with the EPHEMERAL flag. If the create succeeds, the client holds
//! the lock. Otherwise, the client can read the znode with the watch flag set to be notified
//! if the current leader dies."
//!
//! Every client tries to create /master (ephemeral, data = its client id). The winner is
//! master: it reads /master now and then and resigns by closing its session after a while.
//! The others read /master with a watch and try again when it is deleted (or after a poll).
//!
//! Invariant `election-one-master`, in zxid order, not real time (ZooKeeper gives no
//! real-time exclusivity once sessions can expire unnoticed): the nodes /master ever had
//! live in disjoint zxid intervals, each from its create to its deletion (its owner's close
//! or expiry), and agree with the create that made them. From what clients observe:
//! - a node read with czxid c, owner X and session S was made by the create that was
//!   answered with zxid c, by client X in session S;
//! - a node created at c1 is not seen alive at any zxid >= c2, the zxid of a later
//!   successful create (which needed /master to be absent);
//! - a node is not seen alive at or after a zxid by which it was known dead: a deletion
//!   event for the node the session last read another's /master as (the read set the
//!   watch), its owner's close reply (`Closes`), or a read that found /master absent after
//!   the node's creation.
//!
//! Each fact is sound: a read reflects the state at its reply's zxid; a watch event
//! following a read of node c reports c's deletion (or, fired by SetWatches, a zxid after
//! it); a session's closeSession txn deletes its ephemerals.

use std::collections::BTreeMap;

use zksim_core::error::ErrorCode;
use zksim_core::request::Request;
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::watch::EventType;

use super::reply::{Got, data_of, got, z};
use super::{Feed, InvariantFindings, Judged, Tell, Told};
use crate::history::{ClientId, SessionEvent};
use crate::index::OpId;

pub const RECIPE: &str = "election";
pub const INVARIANT: &str = "election-one-master";

const MASTER: &str = "/master";

/// A node of /master seen alive (by its create's reply, or a read).
#[derive(Clone, Debug)]
struct Alive {
    czxid: Zxid,
    at: Zxid,
    /// The client id in the node's data.
    owner: String,
    session: SessionId,
    observer: u32,
    op: OpId,
}

/// A node known gone by a zxid, and how that is known.
#[derive(Clone, Debug)]
struct Dead {
    czxid: Zxid,
    by: Zxid,
    how: String,
    event: usize,
}

/// What a session believes: the node it created or read as its own, and the node its
/// watch is on.
#[derive(Clone, Copy, Debug, Default)]
struct Belief {
    mine: Option<Zxid>,
    watching: Option<Zxid>,
}

/// Everything observed about /master.
struct Seen {
    /// Acknowledged creates by their zxid: (client, session, op).
    creates: BTreeMap<Zxid, (u32, SessionId, OpId)>,
    alive: Vec<Alive>,
    dead_by: Vec<Dead>,
    /// A read found /master absent: (zxid, observer, op).
    absent: Vec<(Zxid, u32, OpId)>,
    findings: InvariantFindings,
}

pub fn judge(feed: &Feed) -> Judged {
    let mut seen = Seen {
        creates: BTreeMap::new(),
        alive: Vec::new(),
        dead_by: Vec::new(),
        absent: Vec::new(),
        findings: InvariantFindings::new(RECIPE, INVARIANT),
    };
    let mut beliefs: BTreeMap<ClientId, Belief> = BTreeMap::new();
    for tell in &feed.tells {
        let belief = beliefs.entry(tell.client).or_default();
        match tell.told {
            Told::Ended(id) => seen.on_complete(feed, tell, id, belief),
            Told::Notified(n) if n.path == MASTER => {
                // Any change takes the watch (a re-registered watch may report a new master
                // as a data change); only a deletion says the node is gone.
                let watched = belief.watching.take();
                if let Some(czxid) = watched.filter(|_| n.event_type == EventType::NodeDeleted) {
                    seen.dead_by.push(Dead {
                        czxid,
                        by: n.zxid,
                        how: format!("client {} was notified of its deletion", tell.run_client),
                        event: n.at,
                    });
                }
            }
            Told::Session(s) if matches!(s.event, SessionEvent::Closed) => {
                let answered = feed.closes.answered(s.session);
                if let (Some(at), Some(czxid)) = (answered, belief.mine.take()) {
                    seen.dead_by.push(Dead {
                        czxid,
                        by: at,
                        how: format!(
                            "client {} closed its session {:#x}",
                            tell.run_client, s.session
                        ),
                        event: s.at,
                    });
                }
            }
            _ => {}
        }
    }
    seen.check_owners();
    seen.check_intervals();
    Judged {
        counts: vec![
            ("election masters elected", seen.creates.len() as u64),
            ("election reads of /master", seen.alive.len() as u64),
            ("election deletions seen", seen.dead_by.len() as u64),
        ],
        outcomes: vec![seen.findings.outcome()],
    }
}

impl Seen {
    fn on_complete(&mut self, feed: &Feed, tell: &Tell, id: OpId, belief: &mut Belief) {
        let op = feed.op(id);
        let observer = tell.run_client;
        let session = op.session.unwrap_or(0);
        match (op.request, got(op)) {
            (Request::Create { path, .. }, Got::Ok(reply)) if path == MASTER => {
                self.created(observer, session, reply.zxid, id);
                *belief = Belief {
                    mine: Some(reply.zxid),
                    watching: None,
                };
            }
            (Request::GetData { path, .. }, g) if path == MASTER => match g {
                Got::Err(ErrorCode::NoNode, at) => {
                    self.absent.push((at, observer, id));
                    belief.mine = None;
                }
                Got::Ok(reply) => {
                    let Some((owner, stat)) = data_of(reply) else {
                        return;
                    };
                    self.alive.push(Alive {
                        czxid: stat.czxid,
                        at: reply.zxid,
                        owner,
                        session: stat.ephemeral_owner,
                        observer,
                        op: id,
                    });
                    // Its own node: master (again). Another's: watch it.
                    *belief = if stat.ephemeral_owner == session {
                        Belief {
                            mine: Some(stat.czxid),
                            watching: None,
                        }
                    } else {
                        Belief {
                            mine: None,
                            watching: Some(stat.czxid),
                        }
                    };
                }
                // It stops treating itself as master until a read says so again.
                _ => belief.mine = None,
            },
            _ => {}
        }
    }

    fn created(&mut self, client: u32, session: SessionId, czxid: Zxid, op: OpId) {
        if let Some((other, _, other_op)) = self.creates.insert(czxid, (client, session, op)) {
            self.findings.add(
                format!(
                    "clients {other} and {client} were both told they created /master at zxid {}",
                    z(czxid)
                ),
                vec![other_op, op],
                Vec::new(),
            );
        }
        self.alive.push(Alive {
            czxid,
            at: czxid,
            owner: client.to_string(),
            session,
            observer: client,
            op,
        });
    }

    /// The owner named by a read agrees with the create answered at that zxid.
    fn check_owners(&mut self) {
        for a in &self.alive {
            let Some(&(client, session, create)) = self.creates.get(&a.czxid) else {
                continue;
            };
            if a.owner != client.to_string() || a.session != session {
                self.findings.add(
                    format!(
                        "client {} read /master created at zxid {} as owned by client {} \
                         (session {:#x}), but client {client} was told it created it at that \
                         zxid in session {session:#x}",
                        a.observer,
                        z(a.czxid),
                        a.owner,
                        a.session
                    ),
                    vec![create, a.op],
                    Vec::new(),
                );
            }
        }
    }

    /// The latest zxid each node was seen alive at, with the fact that shows it.
    fn latest_alive(&self) -> BTreeMap<Zxid, &Alive> {
        let mut latest: BTreeMap<Zxid, &Alive> = BTreeMap::new();
        for a in &self.alive {
            let entry = latest.entry(a.czxid).or_insert(a);
            if a.at > entry.at {
                *entry = a;
            }
        }
        latest
    }

    /// No node is seen alive once a later create succeeded, or once it was known gone.
    fn check_intervals(&mut self) {
        let latest = self.latest_alive();
        let mut found: Vec<(String, Vec<OpId>, Vec<usize>)> = Vec::new();
        let nodes: Vec<Zxid> = latest.keys().copied().collect();
        for pair in nodes.windows(2) {
            let (c1, c2) = (pair[0], pair[1]);
            let a = latest[&c1];
            if a.at >= c2 {
                let winner = self.creates.get(&c2);
                found.push((
                    format!(
                        "two masters at zxid {}: client {}'s /master (created at zxid {}) was \
                         read alive by client {} at zxid {}, after /master was created again at \
                         zxid {} (by client {})",
                        z(c2),
                        a.owner,
                        z(c1),
                        a.observer,
                        z(a.at),
                        z(c2),
                        winner.map_or("?".to_string(), |(w, _, _)| w.to_string())
                    ),
                    [Some(a.op), winner.map(|(_, _, op)| *op)]
                        .into_iter()
                        .flatten()
                        .collect(),
                    Vec::new(),
                ));
            }
        }
        for d in &self.dead_by {
            if let Some(a) = latest.get(&d.czxid).filter(|a| a.at >= d.by) {
                found.push((
                    format!(
                        "client {} read /master created at zxid {} alive at zxid {}, but it was \
                         gone by zxid {} ({})",
                        a.observer,
                        z(d.czxid),
                        z(a.at),
                        z(d.by),
                        d.how
                    ),
                    vec![a.op],
                    vec![d.event],
                ));
            }
        }
        for &(at, observer, op) in &self.absent {
            let Some((&czxid, a)) = latest.range(..=at).next_back() else {
                continue;
            };
            if a.at >= at {
                found.push((
                    format!(
                        "client {observer} found /master absent at zxid {}, but client {} read \
                         the node created at zxid {} alive at the later zxid {}",
                        z(at),
                        a.observer,
                        z(czxid),
                        z(a.at)
                    ),
                    vec![op, a.op],
                    Vec::new(),
                ));
            }
        }
        for (sentence, ops, events) in found {
            self.findings.add(sentence, ops, events);
        }
    }
}
