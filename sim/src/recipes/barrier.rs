//! `barrier`: the double barrier of ZooKeeper's recipes page ("Double Barriers"; the
//! ZooKeeper paper's "Double Barrier", Hunt et al., ATC 2010, §2.4), used round after round
//! by every client, with the round's barrier at /b/r<k>.
//!
//! Enter: exists(/b/r<k>/ready, watch); create the ephemeral /b/r<k>/c<client>;
//! getChildren(/b/r<k>); with all N clients' nodes there, create /b/r<k>/ready and go
//! through, else wait for the watch. Leave: getChildren; no process node left: done; only
//! our own: delete it, done; ours the lowest: wait on the highest; else delete ours and wait
//! on the lowest.
//!
//! Invariant `barrier-all-entered`: no client passes the enter phase of a round before all
//! N clients have entered it, judged from zxids: a client passes at the zxid of what let it
//! through (a read showing ready, the notification of ready's creation, or a listing of all
//! N nodes), and every client's first create of its node in that round must have a zxid no
//! later than that. Sound: ready is created only after some client listed all N nodes, each
//! made by its own client's create. A create with an unknown outcome leaves that client's
//! entry zxid open, which skips it (weakens) unless a later acknowledged create bounds it.

use std::collections::BTreeMap;

use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::stat::Zxid;
use zksim_core::watch::EventType;
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{Got, children_of, create, delete, exists, get_children, got, think_ms, z};
use super::{Agent, Cx, Findings, Observer, Proposal, SessionNews, Team, WatchNews};

pub const INVARIANT: &str = "barrier-all-entered";

/// How a create of a client's node in a round ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    Acked(Zxid),
    Unknown,
}

/// A client through the enter phase of a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pass {
    pub round: u64,
    pub client: u32,
    pub at: Zxid,
    pub how: &'static str,
}

#[derive(Debug, Default)]
pub struct Shared {
    findings: Findings,
    pub n: u32,
    /// Creates that may have made a client's node, in order, by (round, client).
    pub creates: BTreeMap<(u64, u32), Vec<Attempt>>,
    pub passes: Vec<Pass>,
    rounds_done: u64,
}

impl Shared {
    /// Whether `client`'s entry into `round` is known to be after `at` (None when it
    /// cannot be told).
    fn entered_after(&self, round: u64, client: u32, at: Zxid) -> Option<String> {
        let Some(attempts) = self.creates.get(&(round, client)) else {
            return Some("never created its node".to_string());
        };
        match attempts.first() {
            Some(Attempt::Acked(c)) if *c > at => {
                Some(format!("created its node at zxid {}", z(*c)))
            }
            _ => None,
        }
    }

    fn check(&mut self) {
        let mut sentences = Vec::new();
        for p in &self.passes {
            for j in 0..self.n {
                if let Some(late) = self.entered_after(p.round, j, p.at) {
                    sentences.push(format!(
                        "client {} passed the round-{} barrier at zxid {} ({}), but client {j} {late}",
                        p.client,
                        p.round,
                        z(p.at),
                        p.how
                    ));
                }
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
        vec![
            ("barrier passes", self.passes.len() as u64),
            ("barrier rounds completed", self.rounds_done),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Create /b and the round's node.
    Parent,
    /// exists(ready, watch).
    Ready,
    /// Create this client's node.
    Create,
    /// List the round's nodes to see whether all are in.
    Count,
    /// Create ready (all are in).
    MakeReady,
    /// Wait for ready (or a poll).
    WaitReady,
    /// Leave: list the round's nodes.
    Leave,
    /// Leave: delete this client's node.
    Delete,
    /// Leave: watch a node with exists.
    Watch(String),
    /// Leave: wait for it to go (or a poll).
    WaitGone(String),
}

pub struct BarrierAgent {
    rng: Stream,
    think_ms_max: u64,
    n: usize,
    round: u64,
    step: Step,
    passed: bool,
    next_at_ms: i64,
}

pub fn team(scenario: &Scenario, seed: u64) -> Team<BarrierAgent> {
    let agents = (0..scenario.clients)
        .map(|i| BarrierAgent {
            rng: stream(seed, &format!("recipe-barrier-{i}")),
            think_ms_max: scenario.workload.think_ms_max,
            n: scenario.clients as usize,
            round: 0,
            step: Step::Parent,
            passed: false,
            next_at_ms: 0,
        })
        .collect();
    let shared = Shared {
        n: scenario.clients,
        ..Shared::default()
    };
    Team::new(shared, agents)
}

fn is_process(name: &str) -> bool {
    name != "ready"
}

/// Process nodes are named c<client>; their order is the clients'.
fn client_of(name: &str) -> u32 {
    name.trim_start_matches('c').parse().unwrap_or(u32::MAX)
}

impl BarrierAgent {
    fn dir(&self) -> String {
        format!("/b/r{}", self.round)
    }

    fn ready(&self) -> String {
        format!("{}/ready", self.dir())
    }

    fn node(&self, client: u32) -> String {
        format!("{}/c{client}", self.dir())
    }

    fn after(&mut self, cx: &Cx, min_ms: u64, max_ms: u64) {
        self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, min_ms, max_ms);
    }

    fn pass(&mut self, shared: &mut Shared, cx: &Cx, at: Zxid, how: &'static str) {
        shared.passes.push(Pass {
            round: self.round,
            client: cx.client,
            at,
            how,
        });
        self.passed = true;
    }

    fn requests(&self, cx: &Cx) -> Vec<Request> {
        match &self.step {
            Step::Parent => vec![
                create("/b", "", CreateMode::Persistent),
                create(&self.dir(), "", CreateMode::Persistent),
            ],
            Step::Ready | Step::WaitReady => vec![exists(&self.ready(), true)],
            Step::Create => vec![create(&self.node(cx.client), "", CreateMode::Ephemeral)],
            Step::Count | Step::Leave | Step::WaitGone(_) => {
                vec![get_children(&self.dir(), false)]
            }
            Step::MakeReady => vec![create(&self.ready(), "", CreateMode::Persistent)],
            Step::Delete => vec![delete(&self.node(cx.client), -1)],
            Step::Watch(name) => vec![exists(&format!("{}/{name}", self.dir()), true)],
        }
    }

    /// The recipe's leave step on a listing.
    fn on_leave_listing(&mut self, shared: &mut Shared, cx: &Cx, children: &[String]) {
        let mut process: Vec<&String> = children.iter().filter(|c| is_process(c)).collect();
        process.sort_by_key(|c| client_of(c));
        let me = format!("c{}", cx.client);
        let mine = process.iter().any(|c| **c == me);
        self.step = match process.as_slice() {
            [] => {
                shared.rounds_done += 1;
                self.round += 1;
                self.passed = false;
                self.after(cx, 0, self.think_ms_max);
                Step::Parent
            }
            [only] if **only == me => Step::Delete,
            [lowest, .., highest] if **lowest == me => Step::Watch(highest.to_string()),
            _ if mine => Step::Delete,
            [lowest, ..] => Step::Watch(lowest.to_string()),
        };
    }

    fn on_reply(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, g: &Got) {
        let step = self.step.clone();
        match (step, g) {
            (Step::Parent, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                if request.path() != Some("/b") {
                    self.step = Step::Ready;
                }
            }
            (Step::Ready, Got::Ok(reply)) => {
                self.pass(shared, cx, reply.zxid, "it read ready");
                self.step = Step::Leave;
            }
            (Step::Ready, Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Create,
            (Step::Create, _) => {
                let attempt = match g {
                    Got::Ok(reply) => Some(Attempt::Acked(reply.zxid)),
                    Got::Unknown => Some(Attempt::Unknown),
                    Got::Err(..) => None,
                };
                if let Some(a) = attempt {
                    let key = (self.round, cx.client);
                    shared.creates.entry(key).or_default().push(a);
                }
                self.step = match g {
                    Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _) => Step::Count,
                    Got::Err(ErrorCode::NoNode, _) => Step::Parent,
                    _ => Step::Create,
                };
            }
            (Step::Count, Got::Ok(reply)) => {
                let children = children_of(reply).expect("a listing");
                let me = format!("c{}", cx.client);
                let process = children.iter().filter(|c| is_process(c)).count();
                if !children.contains(&me) {
                    self.step = Step::Create;
                } else if process >= self.n {
                    self.pass(shared, cx, reply.zxid, "it listed every client's node");
                    self.step = Step::MakeReady;
                } else {
                    self.step = Step::WaitReady;
                    self.after(cx, 300, 800);
                }
            }
            (Step::MakeReady, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                self.step = Step::Leave;
            }
            (Step::Leave, Got::Ok(reply)) => {
                let children = children_of(reply).expect("a listing").to_vec();
                self.on_leave_listing(shared, cx, &children);
            }
            (Step::Leave, Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Parent,
            (Step::Delete, Got::Ok(_) | Got::Err(..)) => self.step = Step::Leave,
            (Step::Watch(name), Got::Ok(_)) => {
                self.step = Step::WaitGone(name);
                self.after(cx, 300, 800);
            }
            (Step::Watch(_), Got::Err(..)) => self.step = Step::Leave,
            // Unknown outcomes and surprises: go over the current phase again shortly.
            (_, _) => {
                self.step = if self.passed {
                    Step::Leave
                } else {
                    Step::Ready
                };
                self.after(cx, 10, 50);
            }
        }
    }
}

impl Agent for BarrierAgent {
    type Shared = Shared;

    fn propose(&mut self, _shared: &mut Shared, cx: &Cx) -> Proposal {
        if cx.in_flight > 0 || cx.winding_down || cx.now_ms < self.next_at_ms {
            return Proposal::wait();
        }
        // A poll while waiting: go over the phase again (a watch may be gone with a
        // session).
        self.step = match self.step.clone() {
            Step::WaitReady => Step::Ready,
            Step::WaitGone(_) => Step::Leave,
            other => other,
        };
        Proposal::Requests(self.requests(cx))
    }

    fn on_complete(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, outcome: &Outcome) {
        let g = got(outcome);
        self.on_reply(shared, cx, request, &g);
    }

    fn on_watch(&mut self, shared: &mut Shared, cx: &Cx, event: &WatchNews) {
        match &self.step {
            Step::WaitReady
                if event.path == self.ready() && event.event_type == EventType::NodeCreated =>
            {
                self.pass(shared, cx, event.zxid, "it was notified of ready");
                self.step = Step::Leave;
                self.next_at_ms = cx.now_ms;
            }
            Step::WaitGone(name) if event.path == format!("{}/{name}", self.dir()) => {
                self.step = Step::Leave;
                self.next_at_ms = cx.now_ms;
            }
            _ => {}
        }
    }

    fn on_session(&mut self, _shared: &mut Shared, cx: &Cx, news: &SessionNews) {
        if news == &SessionNews::Started {
            // A new session has no node and no watches: enter again, or go on leaving.
            self.step = if self.passed {
                Step::Leave
            } else {
                Step::Parent
            };
            self.next_at_ms = self.next_at_ms.min(cx.now_ms);
        }
    }

    fn wake_at_ms(&self) -> Option<i64> {
        Some(self.next_at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(n: u32) -> Shared {
        Shared {
            n,
            ..Shared::default()
        }
    }

    #[test]
    fn passing_before_a_client_entered_is_a_violation() {
        // Client 0 read ready at zxid 20, but client 2's node was created only at zxid 25.
        let mut s = shared(3);
        s.creates.insert((0, 0), vec![Attempt::Acked(10)]);
        s.creates.insert((0, 1), vec![Attempt::Acked(11)]);
        s.creates.insert((0, 2), vec![Attempt::Acked(25)]);
        s.passes.push(Pass {
            round: 0,
            client: 0,
            at: 20,
            how: "it read ready",
        });
        s.finish();
        let found = s.findings.take();
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .sentence
                .contains("client 2 created its node at zxid 0x19")
        );
    }

    #[test]
    fn a_client_that_never_entered_is_a_violation() {
        let mut s = shared(2);
        s.creates.insert((3, 0), vec![Attempt::Acked(10)]);
        s.passes.push(Pass {
            round: 3,
            client: 0,
            at: 20,
            how: "it read ready",
        });
        s.finish();
        assert!(
            s.findings.take()[0]
                .sentence
                .contains("client 1 never created its node")
        );
    }

    #[test]
    fn an_unknown_first_create_is_not_judged() {
        // Client 1's first create may have been applied before zxid 20.
        let mut s = shared(2);
        s.creates.insert((0, 0), vec![Attempt::Acked(10)]);
        s.creates
            .insert((0, 1), vec![Attempt::Unknown, Attempt::Acked(30)]);
        s.passes.push(Pass {
            round: 0,
            client: 0,
            at: 20,
            how: "it read ready",
        });
        s.finish();
        assert!(s.findings.take().is_empty());
    }
}
