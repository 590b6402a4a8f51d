//! `lock`: the lock of ZooKeeper's recipes page ("Locks", and the ZooKeeper paper's "Simple
//! Locks without Herd Effect", Hunt et al., ATC 2010, §2.4): create an EPHEMERAL_SEQUENTIAL
//! node under /lock; getChildren; hold the lock when the node is the lowest; otherwise watch
//! the next lower node with exists and check again when it goes. A holder does a few writes
//! to /lock-data, each a multi that first checks its lock node exists, and releases the lock
//! by deleting its node. Names carry the client and session ("c3-1a2b-0000000012"), the
//! recipes page's guard against a create whose outcome is unknown: the client finds its
//! node by that prefix, and deletes any second one.
//!
//! Invariant `lock-mutual-exclusion`, in zxid order: the intervals in which a lock node is
//! known to be the lowest child of /lock do not overlap. A node's interval runs from the
//! zxid of a getChildren that listed it lowest to its deletion: the zxid of an
//! acknowledged delete when there is one, else just past the last zxid at which anyone saw
//! it alive (a listing, an exists, a holder's checked write, its create). Sound: a read
//! reflects the state at its zxid; sequence numbers grow with each create, so a node that
//! is the lowest stays the lowest until it is deleted; two nodes cannot both be the lowest
//! at one zxid. When a node's deletion is unknown (a lost release, a session that expired)
//! its interval ends at the last sighting, which only weakens the check. A node seen alive
//! at or after its acknowledged delete breaks it too.

use std::collections::BTreeMap;

use zksim_core::request::{CreateMode, Request};
use zksim_core::stat::{SessionId, Zxid};

use super::reply::{Got, children_of, created_path, got, sequence, z};
use super::{Feed, InvariantFindings, Judged, Tell, Told};
use crate::history::ClientId;
use crate::index::OpId;

pub const RECIPE: &str = "lock";
pub const INVARIANT: &str = "lock-mutual-exclusion";

const LOCK_PREFIX: &str = "/lock/";
const LOCK: &str = "/lock";

/// What is known of one lock node; each fact with the op that shows it.
#[derive(Clone, Copy, Debug, Default)]
struct NodeFacts {
    /// The first zxid at which a listing showed it lowest, and who saw it.
    lowest_at: Option<(Zxid, u32, OpId)>,
    /// The last zxid at which it was seen alive.
    alive_max: Option<(Zxid, OpId)>,
    /// The zxid of the acknowledged delete that removed it.
    deleted_at: Option<(Zxid, OpId)>,
}

/// A node's interval as lowest: [from, to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Interval<'n> {
    from: Zxid,
    to: Zxid,
    name: &'n str,
    observer: u32,
    listing: OpId,
}

#[derive(Default)]
struct Nodes {
    /// By node name (relative to /lock).
    nodes: BTreeMap<String, NodeFacts>,
    acquisitions: u64,
    writes: u64,
}

pub fn judge(feed: &Feed) -> Judged {
    let mut nodes = Nodes::default();
    // Each session's own lock node, as its client knows it (for the acquisitions count).
    let mut mine: BTreeMap<ClientId, Option<String>> = BTreeMap::new();
    for tell in &feed.tells {
        if let Told::Ended(id) = tell.told {
            let mine = mine.entry(tell.client).or_default();
            nodes.on_complete(feed, tell, id, mine);
        }
    }
    let judged = nodes
        .nodes
        .values()
        .filter(|f| f.lowest_at.is_some())
        .count();
    Judged {
        outcomes: vec![nodes.check().outcome()],
        counts: vec![
            ("lock acquisitions", nodes.acquisitions),
            ("lock writes while holding", nodes.writes),
            ("lock nodes judged", judged as u64),
        ],
    }
}

fn name_of(path: &str) -> Option<&str> {
    path.strip_prefix(LOCK_PREFIX)
}

/// The prefix of a client's lock nodes in a session.
fn prefix(client: u32, session: SessionId) -> String {
    format!("c{client}-{session:x}-")
}

impl Nodes {
    fn on_complete(&mut self, feed: &Feed, tell: &Tell, id: OpId, mine: &mut Option<String>) {
        let op = feed.op(id);
        let (request, g) = (op.request, got(op));
        match (request, g) {
            (Request::Create { mode, .. }, Got::Ok(reply))
                if *mode == CreateMode::EphemeralSequential =>
            {
                let Some(name) = created_path(reply).and_then(name_of) else {
                    return;
                };
                self.alive(name, reply.zxid, id);
                *mine = Some(name.to_string());
            }
            (Request::GetChildren { path, .. }, Got::Ok(reply)) if path == LOCK => {
                let children = children_of(reply).unwrap_or_default();
                self.listed(tell.run_client, children, reply.zxid, id);
                let own = prefix(tell.run_client, op.session.unwrap_or(0));
                if acquires(mine, children, &own) {
                    self.acquisitions += 1;
                }
            }
            (Request::Exists { path, .. }, Got::Ok(reply)) => {
                if let Some(name) = name_of(path) {
                    self.alive(name, reply.zxid, id);
                }
            }
            (Request::Multi(ops), Got::Ok(reply)) => {
                if let Some(Request::Check { path, .. }) = ops.first() {
                    if let Some(name) = name_of(path) {
                        self.writes += 1;
                        self.alive(name, reply.zxid, id);
                    }
                }
            }
            // The check failed: the node is gone, and so is the lock.
            (Request::Multi(_), Got::Err(..)) => *mine = None,
            (Request::Delete { path, .. }, g) => {
                let Some(name) = name_of(path) else {
                    return;
                };
                if let Got::Ok(reply) = g {
                    self.deleted(name, reply.zxid, id);
                }
                // A release, answered either way, leaves the client without a node.
                if mine.as_deref() == Some(name) && g != Got::Unknown {
                    *mine = None;
                }
            }
            _ => {}
        }
    }

    fn alive(&mut self, name: &str, at: Zxid, op: OpId) {
        let facts = self.nodes.entry(name.to_string()).or_default();
        if facts.alive_max.is_none_or(|(m, _)| at > m) {
            facts.alive_max = Some((at, op));
        }
    }

    fn deleted(&mut self, name: &str, at: Zxid, op: OpId) {
        self.nodes.entry(name.to_string()).or_default().deleted_at = Some((at, op));
    }

    /// A listing of /lock at `at`: every child alive, the lowest one lowest.
    fn listed(&mut self, observer: u32, children: &[String], at: Zxid, op: OpId) {
        for c in children {
            self.alive(c, at, op);
        }
        if let Some(lowest) = children.iter().min_by_key(|c| sequence(c)) {
            let facts = self.nodes.entry(lowest.clone()).or_default();
            if facts.lowest_at.is_none_or(|(l, _, _)| at < l) {
                facts.lowest_at = Some((at, observer, op));
            }
        }
    }

    /// Each node known lowest, in order.
    fn intervals(&self) -> Vec<Interval<'_>> {
        let mut out: Vec<Interval> = self
            .nodes
            .iter()
            .filter_map(|(name, f)| {
                let (from, observer, listing) = f.lowest_at?;
                let to = match (f.deleted_at, f.alive_max) {
                    (Some((d, _)), _) => d,
                    (None, Some((a, _))) => a + 1,
                    (None, None) => from + 1,
                };
                Some(Interval {
                    from,
                    to: to.max(from + 1),
                    name: name.as_str(),
                    observer,
                    listing,
                })
            })
            .collect();
        out.sort();
        for i in &out {
            assert!(i.to > i.from, "lock node {}: an empty interval", i.name);
        }
        out
    }

    fn check(&self) -> InvariantFindings {
        let mut findings = InvariantFindings::new(RECIPE, INVARIANT);
        for (name, f) in &self.nodes {
            if let (Some((alive, seen)), Some((deleted, delete))) = (f.alive_max, f.deleted_at) {
                if alive >= deleted {
                    findings.add(
                        format!(
                            "lock node {name} was seen alive at zxid {} after its delete was \
                             acknowledged at zxid {}",
                            z(alive),
                            z(deleted)
                        ),
                        vec![delete, seen],
                        Vec::new(),
                    );
                }
            }
        }
        let mut widest: Option<Interval> = None;
        for i in self.intervals() {
            if let Some(w) = widest.filter(|w| i.from < w.to) {
                findings.add(
                    format!(
                        "lock nodes {} and {} were both the lowest: client {} listed {} lowest \
                         at zxid {} and it lived until at least zxid {}, and client {} listed \
                         {} lowest at zxid {}",
                        w.name,
                        i.name,
                        w.observer,
                        w.name,
                        z(w.from),
                        z(w.to - 1),
                        i.observer,
                        i.name,
                        z(i.from)
                    ),
                    vec![w.listing, i.listing],
                    Vec::new(),
                );
            }
            if widest.is_none_or(|w| i.to > w.to) {
                widest = Some(i);
            }
        }
        findings
    }
}

/// Whether a session's listing gives it the lock, as its client decides: its node (the
/// one it made, else the lowest with its prefix) is listed, no second node of its is, and
/// no listed node is lower.
fn acquires(mine: &mut Option<String>, children: &[String], own: &str) -> bool {
    let mut ours: Vec<&String> = children.iter().filter(|c| c.starts_with(own)).collect();
    ours.sort_by_key(|c| sequence(c));
    if mine.is_none() {
        *mine = ours.first().map(|c| c.to_string());
    }
    let Some(m) = mine.clone() else {
        return false;
    };
    if ours.iter().any(|c| **c != m) {
        return false;
    }
    if !children.contains(&m) {
        *mine = None;
        return false;
    }
    !children.iter().any(|c| sequence(c) < sequence(&m))
}
