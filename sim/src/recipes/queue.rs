//! `queue`: the distributed queue of ZooKeeper's recipes page ("Queues"): producers create
//! PERSISTENT_SEQUENTIAL nodes /q/item-; consumers list /q (with a watch), and take items
//! lowest first by deleting them. A consumer owns an item only when its delete succeeds.
//! Even clients produce, odd clients consume.
//!
//! Its invariants, `queue-consumed-once` and `queue-consumer-order`, are judged by the
//! checker from the run's history (`zksim_checker::recipes::queue`).

use std::collections::{BTreeSet, VecDeque};

use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::watch::EventType;
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{Got, children_of, create, delete, get_children, got, sequence, think_ms};
use super::{Agent, Cx, Proposal, SessionNews, Team, WatchNews};

const QUEUE: &str = "/q";

/// Items produced and not known consumed before producers pause.
const BACKLOG_MAX: u64 = 30;

/// How far the producers are ahead of the consumers.
#[derive(Debug, Default)]
pub struct Shared {
    /// Items consumed (acknowledged deletes).
    consumed: BTreeSet<String>,
    produced: u64,
}

pub struct QueueAgent {
    rng: Stream,
    think_ms_max: u64,
    producer: bool,
    setup_done: bool,
    produced: u64,
    /// A consumer's items to try, lowest first, from its last listing.
    candidates: VecDeque<String>,
    /// A consumer waits for its watch (or a poll) after an empty listing.
    waiting: bool,
    next_at_ms: i64,
}

pub fn team(scenario: &Scenario, seed: u64) -> Team<QueueAgent> {
    let agents = (0..scenario.clients)
        .map(|i| QueueAgent {
            rng: stream(seed, &format!("recipe-queue-{i}")),
            think_ms_max: scenario.workload.think_ms_max,
            producer: i % 2 == 0,
            setup_done: false,
            produced: 0,
            candidates: VecDeque::new(),
            waiting: false,
            next_at_ms: 0,
        })
        .collect();
    Team::new(Shared::default(), agents)
}

impl QueueAgent {
    fn after(&mut self, cx: &Cx, min_ms: u64, max_ms: u64) {
        self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, min_ms, max_ms);
    }

    fn propose_producer(&mut self, shared: &Shared, cx: &Cx) -> Proposal {
        if !self.setup_done {
            return Proposal::one(create(QUEUE, "", CreateMode::Persistent));
        }
        if shared.produced >= shared.consumed.len() as u64 + BACKLOG_MAX {
            self.after(cx, 20, 50);
            return Proposal::wait();
        }
        self.produced += 1;
        let data = format!("p{}-{}", cx.client, self.produced);
        Proposal::one(create(
            &format!("{QUEUE}/item-"),
            &data,
            CreateMode::PersistentSequential,
        ))
    }

    fn on_listing(&mut self, cx: &Cx, children: &[String]) {
        let mut items: Vec<&String> = children.iter().collect();
        items.sort_by_key(|c| sequence(c));
        self.candidates = items.into_iter().map(|c| format!("{QUEUE}/{c}")).collect();
        if self.candidates.is_empty() {
            self.waiting = true;
            self.after(cx, 200, 500);
        }
    }
}

impl Agent for QueueAgent {
    type Shared = Shared;

    fn propose(&mut self, shared: &mut Shared, cx: &Cx) -> Proposal {
        if cx.in_flight > 0 || cx.winding_down || cx.now_ms < self.next_at_ms {
            return Proposal::wait();
        }
        if self.producer {
            return self.propose_producer(shared, cx);
        }
        self.waiting = false;
        match self.candidates.front() {
            Some(item) => Proposal::one(delete(item, -1)),
            None => Proposal::one(get_children(QUEUE, true)),
        }
    }

    fn on_complete(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, outcome: &Outcome) {
        let g = got(outcome);
        match (request, &g) {
            (Request::Create { path, .. }, Got::Ok(_)) if path != QUEUE => {
                shared.produced += 1;
                self.after(cx, 0, self.think_ms_max);
            }
            (Request::Create { .. }, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                self.setup_done = true;
            }
            (Request::Create { .. }, Got::Err(ErrorCode::NoNode, _)) => self.setup_done = false,
            (Request::GetChildren { .. }, Got::Ok(reply)) => {
                let children = children_of(reply).expect("a listing").to_vec();
                self.on_listing(cx, &children);
            }
            (Request::Delete { path, .. }, Got::Ok(_)) => {
                shared.consumed.insert(path.clone());
                self.candidates.pop_front();
                self.after(cx, 0, self.think_ms_max);
            }
            // Taken by another consumer: try the next one.
            (Request::Delete { .. }, Got::Err(ErrorCode::NoNode, _)) => {
                self.candidates.pop_front();
            }
            // Unknown, or a surprise: list again before taking anything else.
            (Request::Delete { .. }, _) => self.candidates.clear(),
            _ => self.after(cx, 10, 50),
        }
    }

    fn on_watch(&mut self, _shared: &mut Shared, cx: &Cx, event: &WatchNews) {
        if self.waiting && event.path == QUEUE && event.event_type == EventType::NodeChildrenChanged
        {
            self.next_at_ms = cx.now_ms;
        }
    }

    fn on_session(&mut self, _shared: &mut Shared, _cx: &Cx, news: &SessionNews) {
        if news == &SessionNews::Started {
            self.candidates.clear();
        }
    }

    fn wake_at_ms(&self) -> Option<i64> {
        Some(self.next_at_ms)
    }
}
