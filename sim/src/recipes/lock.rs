//! `lock`: the lock of ZooKeeper's recipes page ("Locks", and the ZooKeeper paper's "Simple
//! Locks without Herd Effect", Hunt et al., ATC 2010, §2.4): create an EPHEMERAL_SEQUENTIAL
//! node under /lock; getChildren; hold the lock when the node is the lowest; otherwise watch
//! the next lower node with exists and check again when it goes. A holder does a few writes
//! to /lock-data, each a multi that first checks its lock node exists, and releases the lock
//! by deleting its node. Names carry the client and session ("c3-1a2b-0000000012"), the
//! recipes page's guard against a create whose outcome is unknown: the client finds its
//! node by that prefix, and deletes any second one.
//!
//! Its invariant, `lock-mutual-exclusion` (the zxid intervals in which lock nodes are known
//! to be the lowest child do not overlap), is judged by the checker from the run's history
//! (`zksim_checker::recipes::lock`).

use rand::Rng;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::stat::SessionId;
use zksim_core::watch::EventType;
use zksim_scenarios::Scenario;

use super::ops::{
    Got, children_of, create, created_path, delete, exists, get_children, in_sequence, sequence,
    set_data,
};
use super::recipe::{Pace, Recipe};
use super::{Cx, Proposal, SessionNews, WatchNews};

const LOCK: &str = "/lock";
const LOCK_DATA: &str = "/lock-data";

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
    pace: Pace,
    step: Step,
    setup_done: bool,
    /// This session's lock node (name relative to /lock).
    mine: Option<String>,
    writes: u64,
}

/// The prefix of a client's lock nodes in a session.
fn prefix(client: u32, session: SessionId) -> String {
    format!("c{client}-{session:x}-")
}

fn full(name: &str) -> String {
    format!("{LOCK}/{name}")
}

impl LockAgent {
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

    fn on_listing(&mut self, cx: &Cx, children: &[String]) {
        let own = prefix(cx.client, cx.session);
        let ours = in_sequence(children.iter().filter(|c| c.starts_with(&own)));
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
            None => self.step = Step::Hold(self.rng_writes()),
            Some(pred) => self.step = Step::Watch(pred.clone()),
        }
    }

    fn rng_writes(&mut self) -> u32 {
        self.pace.rng.gen_range(1..=3)
    }

    fn released(&mut self, cx: &Cx) {
        self.mine = None;
        self.step = Step::Idle;
        self.pace.think(cx);
    }
}

impl Recipe for LockAgent {
    type Shared = ();

    const STREAM: &'static str = "recipe-lock";

    fn new(_scenario: &Scenario, _client: u32, pace: Pace) -> LockAgent {
        LockAgent {
            pace,
            step: Step::Setup,
            setup_done: false,
            mine: None,
            writes: 0,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    fn next(&mut self, _shared: &mut (), cx: &Cx) -> Proposal {
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

    /// A holder releases before its session closes; everyone else just stops.
    fn wind_down(&mut self, _shared: &mut (), cx: &Cx) -> Proposal {
        match self.step {
            Step::Hold(_) | Step::Release => {
                self.step = Step::Release;
                Proposal::one(self.request(cx))
            }
            _ => Proposal::wait(),
        }
    }

    fn on_reply(&mut self, _shared: &mut (), cx: &Cx, request: &Request, g: &Got) {
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
                let path = created_path(reply);
                self.mine = Some(path.trim_start_matches("/lock/").to_string());
                self.step = Step::Check;
            }
            // Perhaps created: look for it by this session's prefix.
            (Step::Create, Got::Unknown) => self.step = Step::Check,
            (Step::Create, Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Setup,
            (Step::Check, Got::Ok(reply)) => self.on_listing(cx, children_of(reply)),
            (Step::Watch(pred), Got::Ok(_)) => {
                self.step = Step::Wait(pred);
                self.pace.after(cx, 1000, 2000);
            }
            (Step::Watch(_), Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Check,
            (Step::Hold(left), Got::Ok(_)) => {
                self.step = if left > 1 {
                    Step::Hold(left - 1)
                } else {
                    Step::Release
                };
                self.pace.after(cx, 5, 30);
            }
            // The check failed: the node is gone, and so is the lock.
            (Step::Hold(_), Got::Err(..)) => {
                self.mine = None;
                self.step = Step::Create;
            }
            (Step::Release, Got::Ok(_) | Got::Err(..)) => self.released(cx),
            (Step::Release, Got::Unknown) => {}
            (Step::Clean(_), _) => self.step = Step::Check,
            // Anything else unknown or failed: stop holding, look again shortly.
            (Step::Hold(_) | Step::Watch(_) | Step::Check | Step::Wait(_), _) => {
                self.step = Step::Check;
                self.pace.after(cx, 10, 50);
            }
            (_, _) => self.pace.after(cx, 10, 50),
        }
    }

    fn on_watch(&mut self, _shared: &mut (), cx: &Cx, event: &WatchNews) {
        let Step::Wait(pred) = &self.step else {
            return;
        };
        if event.path == full(pred) && event.event_type == EventType::NodeDeleted {
            self.step = Step::Check;
            self.pace.now(cx);
        }
    }

    fn on_session(&mut self, _shared: &mut (), cx: &Cx, news: &SessionNews) {
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
            SessionNews::Connected { .. } => self.pace.by_now(cx),
            _ => {}
        }
    }

    fn done(&self, _shared: &(), _cx: &Cx) -> bool {
        !matches!(self.step, Step::Hold(_) | Step::Release)
    }
}
