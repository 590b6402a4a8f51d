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
//! it alive (a listing, an exists, a holder's checked write). Sound: a read reflects the
//! state at its zxid; sequence numbers grow with each create, so a node that is the lowest
//! stays the lowest until it is deleted; two nodes cannot both be the lowest at one zxid.
//! When a node's deletion is unknown (a lost release, a session that expired) its interval
//! ends at the last sighting, which only weakens the check.

use std::collections::BTreeMap;

use rand::Rng;
use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::watch::EventType;
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{
    Got, children_of, create, created_path, delete, exists, get_children, got, sequence, set_data,
    think_ms, z,
};
use super::{Agent, Cx, Findings, Observer, Proposal, SessionNews, Team, WatchNews};

const LOCK: &str = "/lock";
const LOCK_DATA: &str = "/lock-data";

pub const INVARIANT: &str = "lock-mutual-exclusion";

/// What is known of one lock node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// The first zxid at which a listing showed it lowest, and who saw it.
    pub lowest_at: Option<(Zxid, u32)>,
    /// The last zxid at which it was seen alive.
    pub alive_max: Option<Zxid>,
    /// The zxid of the acknowledged delete that removed it.
    pub deleted_at: Option<Zxid>,
}

#[derive(Debug, Default)]
pub struct Shared {
    findings: Findings,
    /// By node name (relative to /lock).
    pub nodes: BTreeMap<String, NodeFacts>,
    acquisitions: u64,
    writes: u64,
}

impl Shared {
    pub fn alive(&mut self, name: &str, at: Zxid) {
        let facts = self.nodes.entry(name.to_string()).or_default();
        facts.alive_max = Some(facts.alive_max.map_or(at, |m| m.max(at)));
    }

    pub fn deleted(&mut self, name: &str, at: Zxid) {
        self.nodes.entry(name.to_string()).or_default().deleted_at = Some(at);
    }

    /// A listing of /lock at `at`: every child alive, the lowest one lowest.
    pub fn listed(&mut self, observer: u32, children: &[String], at: Zxid) {
        for c in children {
            self.alive(c, at);
        }
        if let Some(lowest) = children.iter().min_by_key(|c| sequence(c)) {
            let facts = self.nodes.entry(lowest.clone()).or_default();
            if facts.lowest_at.is_none_or(|(l, _)| at < l) {
                facts.lowest_at = Some((at, observer));
            }
        }
    }

    /// Each node known lowest: (from, to) with `to` exclusive.
    fn intervals(&self) -> Vec<(Zxid, Zxid, &str, u32)> {
        let mut out: Vec<(Zxid, Zxid, &str, u32)> = self
            .nodes
            .iter()
            .filter_map(|(name, f)| {
                let (from, observer) = f.lowest_at?;
                let to = f
                    .deleted_at
                    .unwrap_or_else(|| f.alive_max.unwrap_or(from) + 1)
                    .max(from + 1);
                Some((from, to, name.as_str(), observer))
            })
            .collect();
        out.sort();
        out
    }

    fn check(&mut self) {
        let mut sentences = Vec::new();
        for (name, f) in &self.nodes {
            if let (Some(alive), Some(deleted)) = (f.alive_max, f.deleted_at) {
                if alive >= deleted {
                    sentences.push(format!(
                        "lock node {name} was seen alive at zxid {} after its delete was \
                         acknowledged at zxid {}",
                        z(alive),
                        z(deleted)
                    ));
                }
            }
        }
        let intervals = self.intervals();
        let mut widest: Option<(Zxid, Zxid, &str, u32)> = None;
        for &(from, to, name, observer) in &intervals {
            if let Some((wfrom, wto, wname, wobserver)) = widest {
                if from < wto {
                    sentences.push(format!(
                        "lock nodes {wname} and {name} were both the lowest: client {wobserver} \
                         listed {wname} lowest at zxid {} and it lived until at least zxid {}, \
                         and client {observer} listed {name} lowest at zxid {}",
                        z(wfrom),
                        z(wto - 1),
                        z(from)
                    ));
                }
            }
            if widest.is_none_or(|(_, wto, _, _)| to > wto) {
                widest = Some((from, to, name, observer));
            }
        }
        for s in sentences {
            self.findings.report(INVARIANT, s);
        }
    }
}

impl Observer for Shared {
    fn findings(&mut self) -> &mut Findings {
        &mut self.findings
    }

    fn finish(&mut self) {
        self.check();
    }

    fn counts(&self) -> Vec<(&'static str, u64)> {
        let judged = self
            .nodes
            .values()
            .filter(|f| f.lowest_at.is_some())
            .count();
        vec![
            ("lock acquisitions", self.acquisitions),
            ("lock writes while holding", self.writes),
            ("lock nodes judged", judged as u64),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Create /lock and /lock-data.
    Setup,
    /// Create this session's lock node.
    Create,
    /// List /lock: find this client's node, see whether it is lowest.
    Check,
    /// Watch the next lower node.
    Watch(String),
    /// Wait for its deletion (or a poll).
    Wait(String),
    /// Holding: this many checked writes left.
    Hold(u32),
    /// Delete this client's node.
    Release,
    /// Delete a second node of this session (left by a create with an unknown outcome).
    Clean(String),
    /// Nothing until `next_at_ms`, then `Create`.
    Idle,
}

pub struct LockAgent {
    rng: Stream,
    think_ms_max: u64,
    step: Step,
    setup_done: bool,
    /// This session's lock node (name relative to /lock).
    mine: Option<String>,
    next_at_ms: i64,
    writes: u64,
}

pub fn team(scenario: &Scenario, seed: u64) -> Team<LockAgent> {
    let agents = (0..scenario.clients)
        .map(|i| LockAgent {
            rng: stream(seed, &format!("recipe-lock-{i}")),
            think_ms_max: scenario.workload.think_ms_max,
            step: Step::Setup,
            setup_done: false,
            mine: None,
            next_at_ms: 0,
            writes: 0,
        })
        .collect();
    Team::new(Shared::default(), agents)
}

/// The prefix of a client's lock nodes in a session.
fn prefix(client: u32, session: SessionId) -> String {
    format!("c{client}-{session:x}-")
}

fn full(name: &str) -> String {
    format!("{LOCK}/{name}")
}

impl LockAgent {
    fn after(&mut self, cx: &Cx, min_ms: u64, max_ms: u64) {
        self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, min_ms, max_ms);
    }

    fn request(&mut self, cx: &Cx) -> Request {
        match &self.step {
            Step::Setup => create(LOCK, "", CreateMode::Persistent),
            Step::Create | Step::Idle => {
                let path = full(&prefix(cx.client, cx.session));
                create(
                    &path,
                    &cx.client.to_string(),
                    CreateMode::EphemeralSequential,
                )
            }
            Step::Check => get_children(LOCK, false),
            Step::Watch(pred) | Step::Wait(pred) => exists(&full(pred), true),
            Step::Hold(_) => {
                let mine = self.mine.as_deref().expect("a holder has a node");
                self.writes += 1;
                Request::Multi(vec![
                    Request::Check {
                        path: full(mine),
                        version: -1,
                    },
                    set_data(LOCK_DATA, &format!("c{}-{}", cx.client, self.writes), -1),
                ])
            }
            Step::Release => delete(&full(self.mine.as_deref().expect("a node")), -1),
            Step::Clean(name) => delete(&full(name), -1),
        }
    }

    fn on_listing(&mut self, shared: &mut Shared, cx: &Cx, children: &[String], at: Zxid) {
        shared.listed(cx.client, children, at);
        let own = prefix(cx.client, cx.session);
        let mut ours: Vec<&String> = children.iter().filter(|c| c.starts_with(&own)).collect();
        ours.sort_by_key(|c| sequence(c));
        if self.mine.is_none() {
            self.mine = ours.first().map(|c| c.to_string());
        }
        let Some(mine) = self.mine.clone() else {
            self.step = Step::Create;
            return;
        };
        if let Some(orphan) = ours.iter().find(|c| **c != &mine) {
            self.step = Step::Clean(orphan.to_string());
            return;
        }
        if !children.contains(&mine) {
            self.mine = None;
            self.step = Step::Create;
            return;
        }
        let lower = children
            .iter()
            .filter(|c| sequence(c) < sequence(&mine))
            .max_by_key(|c| sequence(c));
        match lower {
            None => {
                shared.acquisitions += 1;
                self.step = Step::Hold(self.rng_writes());
            }
            Some(pred) => self.step = Step::Watch(pred.clone()),
        }
    }

    fn rng_writes(&mut self) -> u32 {
        self.rng.gen_range(1..=3)
    }

    fn on_reply(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, g: &Got) {
        let step = self.step.clone();
        match (step, g) {
            (Step::Setup, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                if request.path() == Some(LOCK) {
                    self.step = Step::Setup;
                    return;
                }
                self.setup_done = true;
                self.step = Step::Create;
            }
            (Step::Create, Got::Ok(reply)) => {
                let path = created_path(reply).expect("a create reply names its node");
                let name = path.trim_start_matches("/lock/").to_string();
                shared.alive(&name, reply.zxid);
                self.mine = Some(name);
                self.step = Step::Check;
            }
            // Perhaps created: look for it by this session's prefix.
            (Step::Create, Got::Unknown) => self.step = Step::Check,
            (Step::Create, Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Setup,
            (Step::Check, Got::Ok(reply)) => {
                let children = children_of(reply).expect("a listing").to_vec();
                self.on_listing(shared, cx, &children, reply.zxid);
            }
            (Step::Watch(pred), Got::Ok(reply)) => {
                shared.alive(&pred, reply.zxid);
                self.step = Step::Wait(pred);
                self.after(cx, 1000, 2000);
            }
            (Step::Watch(_), Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Check,
            (Step::Hold(left), Got::Ok(reply)) => {
                shared.writes += 1;
                shared.alive(self.mine.as_deref().expect("a holder's node"), reply.zxid);
                self.step = if left > 1 {
                    Step::Hold(left - 1)
                } else {
                    Step::Release
                };
                self.after(cx, 5, 30);
            }
            // The check failed: the node is gone, and so is the lock.
            (Step::Hold(_), Got::Err(..)) => {
                self.mine = None;
                self.step = Step::Create;
            }
            (Step::Release, Got::Ok(reply)) => {
                shared.deleted(self.mine.as_deref().expect("a node"), reply.zxid);
                self.released(cx);
            }
            (Step::Release, Got::Err(..)) => self.released(cx),
            (Step::Release, Got::Unknown) => {}
            (Step::Clean(name), Got::Ok(reply)) => {
                shared.deleted(&name, reply.zxid);
                self.step = Step::Check;
            }
            (Step::Clean(_), _) => self.step = Step::Check,
            // Anything else unknown or failed: stop holding, look again shortly.
            (Step::Hold(_) | Step::Watch(_) | Step::Check | Step::Wait(_), _) => {
                self.step = Step::Check;
                self.after(cx, 10, 50);
            }
            (_, _) => self.after(cx, 10, 50),
        }
    }

    fn released(&mut self, cx: &Cx) {
        self.mine = None;
        self.step = Step::Idle;
        self.after(cx, 0, self.think_ms_max);
    }
}

impl Agent for LockAgent {
    type Shared = Shared;

    fn propose(&mut self, _shared: &mut Shared, cx: &Cx) -> Proposal {
        if cx.in_flight > 0 {
            return Proposal::wait();
        }
        if cx.winding_down {
            // A holder releases before its session closes; everyone else just stops.
            return match self.step {
                Step::Hold(_) | Step::Release => {
                    self.step = Step::Release;
                    Proposal::one(self.request(cx))
                }
                _ => Proposal::wait(),
            };
        }
        if cx.now_ms < self.next_at_ms {
            return Proposal::wait();
        }
        if let Step::Wait(_) = self.step {
            // The poll: check again, the watch may be gone with a connection.
            self.step = Step::Check;
        }
        if self.step == Step::Idle {
            self.step = Step::Create;
        }
        if self.step == Step::Setup && self.setup_done {
            self.step = Step::Create;
        }
        let mut requests = vec![self.request(cx)];
        if self.step == Step::Setup {
            requests.push(create(LOCK_DATA, "", CreateMode::Persistent));
        }
        Proposal::Requests(requests)
    }

    fn on_complete(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, outcome: &Outcome) {
        let g = got(outcome);
        self.on_reply(shared, cx, request, &g);
    }

    fn on_watch(&mut self, _shared: &mut Shared, cx: &Cx, event: &WatchNews) {
        let Step::Wait(pred) = &self.step else {
            return;
        };
        if event.path == full(pred) && event.event_type == EventType::NodeDeleted {
            self.step = Step::Check;
            self.next_at_ms = cx.now_ms;
        }
    }

    fn on_session(&mut self, _shared: &mut Shared, cx: &Cx, news: &SessionNews) {
        match news {
            SessionNews::Started => {
                self.mine = None;
                self.step = if self.setup_done {
                    Step::Create
                } else {
                    Step::Setup
                };
            }
            // A holder that loses its connection is no longer sure it holds the lock.
            SessionNews::Disconnected => {
                if matches!(self.step, Step::Hold(_) | Step::Wait(_)) {
                    self.step = Step::Check;
                }
            }
            SessionNews::Connected { .. } => self.next_at_ms = self.next_at_ms.min(cx.now_ms),
            _ => {}
        }
    }

    fn wake_at_ms(&self) -> Option<i64> {
        Some(self.next_at_ms)
    }

    fn done(&self, _shared: &Shared, _cx: &Cx) -> bool {
        !matches!(self.step, Step::Hold(_) | Step::Release)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ns: &[&str]) -> Vec<String> {
        ns.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn two_nodes_lowest_at_once_is_a_violation() {
        // Client 1 saw its node lowest at 10 and wrote under the lock at 15; client 2 saw
        // its later node lowest at 12: both held the lock at zxids 12..15.
        let mut s = Shared::default();
        s.listed(1, &names(&["c1-a-0000000001", "c2-b-0000000002"]), 10);
        s.alive("c1-a-0000000001", 15);
        s.listed(2, &names(&["c2-b-0000000002"]), 12);
        s.finish();
        let found = s.findings.take();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].sentence.contains("were both the lowest"),
            "{}",
            found[0].sentence
        );
    }

    #[test]
    fn a_node_seen_after_its_acknowledged_delete_is_a_violation() {
        let mut s = Shared::default();
        s.listed(1, &names(&["c1-a-0000000001"]), 10);
        s.deleted("c1-a-0000000001", 12);
        s.alive("c1-a-0000000001", 13);
        s.finish();
        assert!(s.findings.take()[0].sentence.contains("after its delete"));
    }

    #[test]
    fn holders_one_after_another_hold() {
        let mut s = Shared::default();
        s.listed(1, &names(&["c1-a-0000000001", "c2-b-0000000002"]), 10);
        s.alive("c1-a-0000000001", 11);
        s.deleted("c1-a-0000000001", 12);
        s.listed(2, &names(&["c2-b-0000000002"]), 12);
        // A stale listing by a third client: it still shows node 1 lowest at 11.
        s.listed(3, &names(&["c1-a-0000000001", "c2-b-0000000002"]), 11);
        s.finish();
        assert!(s.findings.take().is_empty());
    }
}
