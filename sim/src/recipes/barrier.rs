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
//! Its invariant, `barrier-all-entered` (no client passes the enter phase of a round at a
//! zxid before every client's first create of its node in that round), is judged by the
//! checker from the run's history (`zksim_checker::recipes::barrier`).

use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::watch::EventType;
use zksim_scenarios::Scenario;

use super::ops::{Got, children_of, create, delete, exists, get_children};
use super::recipe::{Pace, Recipe};
use super::{Cx, Proposal, SessionNews, WatchNews};

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
    pace: Pace,
    n: usize,
    round: u64,
    step: Step,
    passed: bool,
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
    fn on_leave_listing(&mut self, cx: &Cx, children: &[String]) {
        let mut process: Vec<&String> = children.iter().filter(|c| is_process(c)).collect();
        process.sort_by_key(|c| client_of(c));
        let me = format!("c{}", cx.client);
        let mine = process.iter().any(|c| **c == me);
        self.step = match process.as_slice() {
            [] => {
                self.round += 1;
                self.passed = false;
                self.pace.think(cx);
                Step::Parent
            }
            [only] if **only == me => Step::Delete,
            [lowest, .., highest] if **lowest == me => Step::Watch(highest.to_string()),
            _ if mine => Step::Delete,
            [lowest, ..] => Step::Watch(lowest.to_string()),
        };
    }
}

impl Recipe for BarrierAgent {
    type Shared = ();

    const STREAM: &'static str = "recipe-barrier";

    fn new(scenario: &Scenario, _client: u32, pace: Pace) -> BarrierAgent {
        BarrierAgent {
            pace,
            n: scenario.clients as usize,
            round: 0,
            step: Step::Parent,
            passed: false,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    fn next(&mut self, _shared: &mut (), cx: &Cx) -> Proposal {
        // A poll while waiting: go over the phase again (a watch may be gone with a
        // session).
        self.step = match self.step.clone() {
            Step::WaitReady => Step::Ready,
            Step::WaitGone(_) => Step::Leave,
            other => other,
        };
        Proposal::Requests(self.requests(cx))
    }

    fn on_reply(&mut self, _shared: &mut (), cx: &Cx, request: &Request, g: &Got) {
        let step = self.step.clone();
        match (step, g) {
            (Step::Parent, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                if request.path() != Some("/b") {
                    self.step = Step::Ready;
                }
            }
            (Step::Ready, Got::Ok(_)) => {
                self.passed = true;
                self.step = Step::Leave;
            }
            (Step::Ready, Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Create,
            (Step::Create, _) => {
                self.step = match g {
                    Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _) => Step::Count,
                    Got::Err(ErrorCode::NoNode, _) => Step::Parent,
                    _ => Step::Create,
                };
            }
            (Step::Count, Got::Ok(reply)) => {
                let children = children_of(reply);
                let me = format!("c{}", cx.client);
                let process = children.iter().filter(|c| is_process(c)).count();
                if !children.contains(&me) {
                    self.step = Step::Create;
                } else if process >= self.n {
                    self.passed = true;
                    self.step = Step::MakeReady;
                } else {
                    self.step = Step::WaitReady;
                    self.pace.after(cx, 300, 800);
                }
            }
            (Step::MakeReady, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                self.step = Step::Leave;
            }
            (Step::Leave, Got::Ok(reply)) => self.on_leave_listing(cx, children_of(reply)),
            (Step::Leave, Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Parent,
            (Step::Delete, Got::Ok(_) | Got::Err(..)) => self.step = Step::Leave,
            (Step::Watch(name), Got::Ok(_)) => {
                self.step = Step::WaitGone(name);
                self.pace.after(cx, 300, 800);
            }
            (Step::Watch(_), Got::Err(..)) => self.step = Step::Leave,
            // Unknown outcomes and surprises: go over the current phase again shortly.
            (_, _) => {
                self.step = if self.passed {
                    Step::Leave
                } else {
                    Step::Ready
                };
                self.pace.after(cx, 10, 50);
            }
        }
    }

    fn on_watch(&mut self, _shared: &mut (), cx: &Cx, event: &WatchNews) {
        match &self.step {
            Step::WaitReady
                if event.path == self.ready() && event.event_type == EventType::NodeCreated =>
            {
                self.passed = true;
                self.step = Step::Leave;
                self.pace.now(cx);
            }
            Step::WaitGone(name) if event.path == format!("{}/{name}", self.dir()) => {
                self.step = Step::Leave;
                self.pace.now(cx);
            }
            _ => {}
        }
    }

    fn on_session(&mut self, _shared: &mut (), cx: &Cx, news: &SessionNews) {
        if news == &SessionNews::Started {
            // A new session has no node and no watches: enter again, or go on leaving.
            self.step = if self.passed {
                Step::Leave
            } else {
                Step::Parent
            };
            self.pace.by_now(cx);
        }
    }
}
