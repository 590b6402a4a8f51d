//! `queue`: the distributed queue of ZooKeeper's recipes page ("Queues"): producers create
//! PERSISTENT_SEQUENTIAL nodes /q/item-; consumers list /q (with a watch), and take items
//! lowest first by deleting them. A consumer owns an item only when its delete succeeds.
//! Even clients produce, odd clients consume.
//!
//! Its invariants, `queue-consumed-once` and `queue-consumer-order`, are judged by the
//! checker from the run's history (`zksim_checker::recipes::queue`).

use std::collections::{BTreeSet, VecDeque};

use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::watch::EventType;
use zksim_scenarios::Scenario;

use super::ops::{Got, children_of, create, delete, get_children, in_sequence};
use super::recipe::{Pace, Recipe};
use super::{Cx, Proposal, SessionNews, WatchNews};

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
    pace: Pace,
    producer: bool,
    setup_done: bool,
    produced: u64,
    /// A consumer's items to try, lowest first, from its last listing.
    candidates: VecDeque<String>,
    /// A consumer waits for its watch (or a poll) after an empty listing.
    waiting: bool,
}

impl QueueAgent {
    fn propose_producer(&mut self, shared: &Shared, cx: &Cx) -> Proposal {
        if !self.setup_done {
            return Proposal::one(create(QUEUE, "", CreateMode::Persistent));
        }
        if shared.produced >= shared.consumed.len() as u64 + BACKLOG_MAX {
            self.pace.after(cx, 20, 50);
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
        let items = in_sequence(children.iter());
        self.candidates = items.into_iter().map(|c| format!("{QUEUE}/{c}")).collect();
        if self.candidates.is_empty() {
            self.waiting = true;
            self.pace.after(cx, 200, 500);
        }
    }
}

impl Recipe for QueueAgent {
    type Shared = Shared;

    const STREAM: &'static str = "recipe-queue";

    fn new(_scenario: &Scenario, client: u32, pace: Pace) -> QueueAgent {
        QueueAgent {
            pace,
            producer: client.is_multiple_of(2),
            setup_done: false,
            produced: 0,
            candidates: VecDeque::new(),
            waiting: false,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    fn next(&mut self, shared: &mut Shared, cx: &Cx) -> Proposal {
        if self.producer {
            return self.propose_producer(shared, cx);
        }
        self.waiting = false;
        match self.candidates.front() {
            Some(item) => Proposal::one(delete(item, -1)),
            None => Proposal::one(get_children(QUEUE, true)),
        }
    }

    fn on_reply(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, g: &Got) {
        match (request, g) {
            (Request::Create { path, .. }, Got::Ok(_)) if path != QUEUE => {
                shared.produced += 1;
                self.pace.think(cx);
            }
            (Request::Create { .. }, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                self.setup_done = true;
            }
            (Request::Create { .. }, Got::Err(ErrorCode::NoNode, _)) => self.setup_done = false,
            (Request::GetChildren { .. }, Got::Ok(reply)) => {
                self.on_listing(cx, children_of(reply))
            }
            (Request::Delete { path, .. }, Got::Ok(_)) => {
                shared.consumed.insert(path.clone());
                self.candidates.pop_front();
                self.pace.think(cx);
            }
            // Taken by another consumer: try the next one.
            (Request::Delete { .. }, Got::Err(ErrorCode::NoNode, _)) => {
                self.candidates.pop_front();
            }
            // Unknown, or a surprise: list again before taking anything else.
            (Request::Delete { .. }, _) => self.candidates.clear(),
            _ => self.pace.after(cx, 10, 50),
        }
    }

    fn on_watch(&mut self, _shared: &mut Shared, cx: &Cx, event: &WatchNews) {
        if self.waiting && event.path == QUEUE && event.event_type == EventType::NodeChildrenChanged
        {
            self.pace.now(cx);
        }
    }

    fn on_session(&mut self, _shared: &mut Shared, _cx: &Cx, news: &SessionNews) {
        if news == &SessionNews::Started {
            self.candidates.clear();
        }
    }
}
