//! `session_expiry`: sessions that expire, and the ephemerals that go with them. The
//! ZooKeeper paper (Hunt et al., ATC 2010, §2.1, §4.3) ties ephemeral znodes to sessions:
//! "ephemeral znodes are removed when the session that creates them terminates", a session
//! expires when the ensemble does not hear from it within its timeout, and an expired
//! session cannot be used again. With short session timeouts, partitions and paused
//! clients, sessions expire while their clients are cut off; each client keeps an ephemeral
//! /e/c<client> and creates it again in every new session, writes /e-data/c<client>, and
//! reads other clients' ephemerals with a watch.
//!
//! Invariants:
//! - `session-ended-stays-silent`: a client told that its session expired gets no
//!   successful reply on it afterwards; and no write of a session succeeds at a zxid at or
//!   after one by which the session had ended (its close reply, or the deletion of one of
//!   its ephemerals, which only the end of the session removes here). Sound: the leader
//!   refuses a closed session's writes.
//! - `ephemeral-owner-live`: a read of /e/c<j> names as owner one of client j's sessions,
//!   and one not known to have ended by the read's zxid. Sound: only client j creates
//!   /e/c<j>; a session's ephemerals are deleted by the txn that ends it.
//!
//! A session is known to have ended by zxid e when its close was answered at e (`Closes`),
//! or one of its ephemerals was gone by e: a deletion event for the node the session last
//! read at that path (the read set the watch), a read finding the path empty at e after it
//! was made, or a later node at the same path made at e.

use std::collections::{BTreeMap, BTreeSet};

use zksim_core::error::ErrorCode;
use zksim_core::request::Request;
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::watch::EventType;

use super::reply::{Got, data_of, got, z};
use super::{Feed, InvariantFindings, Judged, Tell, Told};
use crate::history::{ClientId, SessionEvent};
use crate::index::OpId;

pub const RECIPE: &str = "session_expiry";
pub const SILENT: &str = "session-ended-stays-silent";
pub const OWNER: &str = "ephemeral-owner-live";

/// An ephemeral seen alive.
#[derive(Clone, Debug)]
struct Sighting {
    path: String,
    czxid: Zxid,
    owner: SessionId,
    at: Zxid,
    observer: u32,
    op: OpId,
}

/// A node (path, czxid) known gone by a zxid: how it is known, and the evidence.
#[derive(Clone, Debug)]
struct Gone {
    by: Zxid,
    how: String,
    ops: Vec<OpId>,
    events: Vec<usize>,
}

/// An acknowledged write: the session, zxid, client and op.
#[derive(Clone, Copy, Debug)]
struct Write {
    session: SessionId,
    zxid: Zxid,
    client: u32,
    op: OpId,
}

#[derive(Default)]
struct Facts {
    /// Every session each client established.
    sessions_of: BTreeMap<u32, BTreeSet<SessionId>>,
    /// Sessions whose client was told they expired.
    told_expired: BTreeSet<SessionId>,
    /// Answered closes: session -> (zxid, client, event).
    closed: BTreeMap<SessionId, (Zxid, u32, usize)>,
    sightings: Vec<Sighting>,
    /// (path, czxid) -> gone: from deletion notifications.
    gone: Vec<(String, Zxid, Gone)>,
    /// (path, zxid, observer, op): a read found no node there.
    absent: Vec<(String, Zxid, u32, OpId)>,
    writes: Vec<Write>,
    /// The node each session's watch on a path is on (by history client).
    watching: BTreeMap<(ClientId, String), Zxid>,
    expired: u64,
}

pub fn judge(feed: &Feed) -> Judged {
    let mut facts = Facts::default();
    let mut silent = InvariantFindings::new(RECIPE, SILENT);
    for tell in &feed.tells {
        match tell.told {
            Told::Ended(id) => facts.on_complete(feed, tell, id, &mut silent),
            Told::Notified(n) => {
                let watched = facts.watching.remove(&(tell.client, n.path.to_string()));
                if let Some(czxid) = watched.filter(|_| n.event_type == EventType::NodeDeleted) {
                    let gone = Gone {
                        by: n.zxid,
                        how: format!("client {} was notified of its deletion", tell.run_client),
                        ops: Vec::new(),
                        events: vec![n.at],
                    };
                    facts.gone.push((n.path.to_string(), czxid, gone));
                }
            }
            Told::Session(s) => match s.event {
                SessionEvent::Connected { .. } => {
                    let known = facts.sessions_of.entry(tell.run_client).or_default();
                    known.insert(s.session);
                }
                SessionEvent::Expired => {
                    facts.expired += 1;
                    facts.told_expired.insert(s.session);
                }
                SessionEvent::Closed => {
                    if let Some(at) = feed.closes.answered(s.session) {
                        facts.closed.insert(s.session, (at, tell.run_client, s.at));
                    }
                }
                _ => {}
            },
            Told::Sent(_) => {}
        }
    }
    let mut owner = InvariantFindings::new(RECIPE, OWNER);
    facts.check(&mut silent, &mut owner);
    Judged {
        counts: vec![
            ("session_expiry sessions expired", facts.expired),
            (
                "session_expiry ephemerals read",
                facts.sightings.len() as u64,
            ),
            (
                "session_expiry ephemerals seen gone",
                facts.gone.len() as u64,
            ),
            ("session_expiry writes", facts.writes.len() as u64),
        ],
        outcomes: vec![silent.outcome(), owner.outcome()],
    }
}

fn path_of(client: u32) -> String {
    format!("/e/c{client}")
}

impl Facts {
    fn on_complete(&mut self, feed: &Feed, tell: &Tell, id: OpId, silent: &mut InvariantFindings) {
        let op = feed.op(id);
        let session = op.session.unwrap_or(0);
        let g = got(op);
        if let (Some(r), true) = (op.reply(), self.told_expired.contains(&session)) {
            silent.add(
                format!(
                    "client {} got a reply ({} at zxid {}) in session {session:#x} after it was \
                     told the session expired",
                    tell.run_client,
                    r.err.name(),
                    z(r.zxid)
                ),
                vec![id],
                Vec::new(),
            );
        }
        match (op.request, g) {
            (Request::Create { path, .. }, Got::Ok(reply)) if *path == path_of(tell.run_client) => {
                self.sightings.push(Sighting {
                    path: path.clone(),
                    czxid: reply.zxid,
                    owner: session,
                    at: reply.zxid,
                    observer: tell.run_client,
                    op: id,
                });
            }
            (Request::SetData { .. }, Got::Ok(reply)) => self.writes.push(Write {
                session,
                zxid: reply.zxid,
                client: tell.run_client,
                op: id,
            }),
            (Request::GetData { path, .. }, Got::Ok(reply)) => {
                let Some((_, stat)) = data_of(reply) else {
                    return;
                };
                self.sightings.push(Sighting {
                    path: path.clone(),
                    czxid: stat.czxid,
                    owner: stat.ephemeral_owner,
                    at: reply.zxid,
                    observer: tell.run_client,
                    op: id,
                });
                self.watching
                    .insert((tell.client, path.clone()), stat.czxid);
            }
            (Request::GetData { path, .. }, Got::Err(ErrorCode::NoNode, at)) => {
                self.absent.push((path.clone(), at, tell.run_client, id));
                self.watching.remove(&(tell.client, path.clone()));
            }
            _ => {}
        }
    }

    /// When each node (path, czxid) is known gone, and how.
    fn gone_by(&self) -> BTreeMap<(String, Zxid), Gone> {
        let mut gone: BTreeMap<(String, Zxid), Gone> = BTreeMap::new();
        let mut note = |key: (String, Zxid), g: Gone| {
            let e = gone.entry(key).or_insert(g.clone());
            if g.by < e.by {
                *e = g;
            }
        };
        for (path, czxid, g) in &self.gone {
            note((path.clone(), *czxid), g.clone());
        }
        // The nodes each path had, by czxid, each with a sighting.
        let mut nodes: BTreeMap<&str, BTreeMap<Zxid, OpId>> = BTreeMap::new();
        for s in &self.sightings {
            nodes
                .entry(&s.path)
                .or_default()
                .entry(s.czxid)
                .or_insert(s.op);
        }
        for (path, czxids) in &nodes {
            let list: Vec<(Zxid, OpId)> = czxids.iter().map(|(c, op)| (*c, *op)).collect();
            for pair in list.windows(2) {
                let how = format!("{path} was made again at zxid {}", z(pair[1].0));
                let g = Gone {
                    by: pair[1].0,
                    how,
                    ops: vec![pair[1].1],
                    events: Vec::new(),
                };
                note((path.to_string(), pair[0].0), g);
            }
            for (apath, at, observer, op) in &self.absent {
                if apath != path {
                    continue;
                }
                if let Some((&c, _)) = czxids.range(..=*at).next_back() {
                    let how = format!("client {observer} found {path} absent at zxid {}", z(*at));
                    let g = Gone {
                        by: *at,
                        how,
                        ops: vec![*op],
                        events: Vec::new(),
                    };
                    note((path.to_string(), c), g);
                }
            }
        }
        gone
    }

    /// By when each session is known to have ended, and how.
    fn ended_by(&self) -> BTreeMap<SessionId, Gone> {
        let mut ended: BTreeMap<SessionId, Gone> = BTreeMap::new();
        let mut note = |session: SessionId, g: Gone| {
            let e = ended.entry(session).or_insert(g.clone());
            if g.by < e.by {
                *e = g;
            }
        };
        for (session, (at, client, event)) in &self.closed {
            let g = Gone {
                by: *at,
                how: format!("client {client} closed it at zxid {}", z(*at)),
                ops: Vec::new(),
                events: vec![*event],
            };
            note(*session, g);
        }
        let owners: BTreeMap<(&str, Zxid), SessionId> = self
            .sightings
            .iter()
            .map(|s| ((s.path.as_str(), s.czxid), s.owner))
            .collect();
        for ((path, czxid), g) in self.gone_by() {
            if let Some(owner) = owners.get(&(path.as_str(), czxid)) {
                let how = format!(
                    "its ephemeral {path} made at zxid {} was gone: {}",
                    z(czxid),
                    g.how
                );
                note(*owner, Gone { how, ..g });
            }
        }
        ended
    }

    fn check(&self, silent: &mut InvariantFindings, owner: &mut InvariantFindings) {
        let owners: BTreeMap<SessionId, u32> = self
            .sessions_of
            .iter()
            .flat_map(|(c, ss)| ss.iter().map(move |s| (*s, *c)))
            .collect();
        for s in &self.sightings {
            let named = s
                .path
                .strip_prefix("/e/c")
                .and_then(|c| c.parse::<u32>().ok());
            let Some(named) = named.filter(|n| owners.get(&s.owner) != Some(n)) else {
                continue;
            };
            owner.add(
                format!(
                    "client {} read {} (made at zxid {}) at zxid {} owned by session {:#x}, \
                     which is not a session of client {named}",
                    s.observer,
                    s.path,
                    z(s.czxid),
                    z(s.at),
                    s.owner
                ),
                vec![s.op],
                Vec::new(),
            );
        }
        let ended = self.ended_by();
        for s in &self.sightings {
            let Some(g) = ended.get(&s.owner).filter(|g| s.at >= g.by) else {
                continue;
            };
            owner.add(
                format!(
                    "client {} read {} at zxid {} owned by session {:#x}, which had ended by \
                     zxid {} ({})",
                    s.observer,
                    s.path,
                    z(s.at),
                    s.owner,
                    z(g.by),
                    g.how
                ),
                [s.op].into_iter().chain(g.ops.iter().copied()).collect(),
                g.events.clone(),
            );
        }
        for w in &self.writes {
            let Some(g) = ended.get(&w.session).filter(|g| w.zxid >= g.by) else {
                continue;
            };
            silent.add(
                format!(
                    "client {}'s write in session {:#x} succeeded at zxid {}, but the session \
                     had ended by zxid {} ({})",
                    w.client,
                    w.session,
                    z(w.zxid),
                    z(g.by),
                    g.how
                ),
                [w.op].into_iter().chain(g.ops.iter().copied()).collect(),
                g.events.clone(),
            );
        }
    }
}
