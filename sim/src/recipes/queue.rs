//! `queue`: the distributed queue of ZooKeeper's recipes page ("Queues"): producers create
//! PERSISTENT_SEQUENTIAL nodes /q/item-; consumers list /q (with a watch), and take items
//! lowest first by deleting them. A consumer owns an item only when its delete succeeds.
//! Even clients produce, odd clients consume.
//!
//! Invariants:
//! - `queue-consumed-once`: no item is consumed twice (two acknowledged deletes of one
//!   path). Sound: sequential names are never reused, and a node is deleted once.
//! - `queue-consumer-order`: each consumer's acknowledged deletes come in increasing
//!   sequence order. Sound for this consumer: it tries a listing's items in order and lists
//!   again after an unknown outcome, so when it takes item p every lower item of its
//!   listing was already gone (NONODE) or absent from the listing (deleted before it, since
//!   lower items were created before p); such an item cannot be deleted successfully later.

use std::collections::{BTreeMap, VecDeque};

use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::stat::Zxid;
use zksim_core::watch::EventType;
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{Got, children_of, create, delete, get_children, got, sequence, think_ms, z};
use super::{Agent, Cx, Findings, Observer, Proposal, SessionNews, Team, WatchNews};

const QUEUE: &str = "/q";

pub const ONCE: &str = "queue-consumed-once";
pub const ORDER: &str = "queue-consumer-order";

/// Items produced and not known consumed before producers pause.
const BACKLOG_MAX: u64 = 30;

#[derive(Debug, Default)]
pub struct Shared {
    findings: Findings,
    /// Acknowledged deletes: item path -> (consumer, zxid).
    pub consumed: BTreeMap<String, (u32, Zxid)>,
    /// Each consumer's last acknowledged item: (sequence, path, zxid).
    pub last: BTreeMap<u32, (u64, String, Zxid)>,
    produced: u64,
}

impl Shared {
    /// Consumer `client` was told its delete of `path` succeeded at `zxid`.
    pub fn took(&mut self, client: u32, path: &str, zxid: Zxid) {
        if let Some((other, at)) = self.consumed.insert(path.to_string(), (client, zxid)) {
            self.findings.report(
                ONCE,
                format!(
                    "{path} was consumed twice: client {other}'s delete succeeded at zxid {} and \
                     client {client}'s at zxid {}",
                    z(at),
                    z(zxid)
                ),
            );
        }
        let seq = sequence(path).expect("queue items are sequential");
        if let Some((last_seq, last_path, last_at)) = self.last.get(&client) {
            if *last_seq >= seq {
                self.findings.report(
                    ORDER,
                    format!(
                        "client {client} consumed {path} at zxid {} after {last_path} at zxid {}",
                        z(zxid),
                        z(*last_at)
                    ),
                );
            }
        }
        self.last.insert(client, (seq, path.to_string(), zxid));
    }
}

impl Observer for Shared {
    fn findings(&mut self) -> &mut Findings {
        &mut self.findings
    }

    fn counts(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("queue items produced", self.produced),
            ("queue items consumed", self.consumed.len() as u64),
        ]
    }
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
            (Request::Delete { path, .. }, Got::Ok(reply)) => {
                shared.took(cx.client, path, reply.zxid);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_consumed_twice_is_a_violation() {
        let mut s = Shared::default();
        s.took(1, "/q/item-0000000004", 10);
        s.took(3, "/q/item-0000000004", 12);
        let found = s.findings.take();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].invariant, ONCE);
        assert!(
            found[0].sentence.contains("clients 1") || found[0].sentence.contains("client 1's")
        );
    }

    #[test]
    fn a_consumer_taking_a_lower_item_later_is_a_violation() {
        let mut s = Shared::default();
        s.took(1, "/q/item-0000000007", 10);
        s.took(1, "/q/item-0000000005", 12);
        let found = s.findings.take();
        assert_eq!(found[0].invariant, ORDER);
        assert!(found[0].sentence.contains("consumed /q/item-0000000005"));
    }

    #[test]
    fn consumers_taking_in_order_hold() {
        let mut s = Shared::default();
        s.took(1, "/q/item-0000000001", 10);
        s.took(3, "/q/item-0000000002", 11);
        s.took(1, "/q/item-0000000003", 12);
        assert!(s.findings.take().is_empty());
    }
}
