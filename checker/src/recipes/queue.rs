//! `queue`: the distributed queue of ZooKeeper's recipes page ("Queues"): producers create
//! PERSISTENT_SEQUENTIAL nodes /q/item-; consumers list /q (with a watch), and take items
//! lowest first by deleting them. A consumer owns an item only when its delete succeeds.
//! Even clients produce, odd clients consume.
//!
//! Invariants:
//! - `queue-consumed-once`: no item is consumed twice (two acknowledged deletes of one
//!   path). Sound: sequential names are never reused, and a node is deleted once.
//! - `queue-consumer-order`: each consumer's acknowledged deletes, over all its sessions,
//!   come in increasing sequence order. Sound for this consumer: it tries a listing's items
//!   in order and lists again after an unknown outcome, so when it takes item p every lower
//!   item of its listing was already gone (NONODE) or absent from the listing (deleted
//!   before it, since lower items were created before p); such an item cannot be deleted
//!   successfully later.

use std::collections::BTreeMap;

use zksim_core::request::Request;
use zksim_core::stat::Zxid;

use super::reply::{Got, got, sequence, z};
use super::{Feed, InvariantFindings, Judged, Told};
use crate::index::OpId;

pub const RECIPE: &str = "queue";
pub const ONCE: &str = "queue-consumed-once";
pub const ORDER: &str = "queue-consumer-order";

const QUEUE: &str = "/q";

/// An acknowledged delete: who took the item, at which zxid, by which request.
#[derive(Clone, Copy, Debug)]
struct Take {
    client: u32,
    zxid: Zxid,
    op: OpId,
}

struct Takes {
    /// Acknowledged deletes by item path.
    consumed: BTreeMap<String, Take>,
    /// Each consumer's last acknowledged item: (sequence, path, take).
    last: BTreeMap<u32, (u64, String, Take)>,
    once: InvariantFindings,
    order: InvariantFindings,
}

pub fn judge(feed: &Feed) -> Judged {
    let mut takes = Takes {
        consumed: BTreeMap::new(),
        last: BTreeMap::new(),
        once: InvariantFindings::new(RECIPE, ONCE),
        order: InvariantFindings::new(RECIPE, ORDER),
    };
    let mut produced = 0;
    for tell in &feed.tells {
        let Told::Ended(id) = tell.told else {
            continue;
        };
        let op = feed.op(id);
        match (op.request, got(op)) {
            (Request::Create { path, .. }, Got::Ok(_)) if path != QUEUE => produced += 1,
            (Request::Delete { path, .. }, Got::Ok(reply)) => {
                let take = Take {
                    client: tell.run_client,
                    zxid: reply.zxid,
                    op: id,
                };
                takes.took(path, take);
            }
            _ => {}
        }
    }
    Judged {
        counts: vec![
            ("queue items produced", produced),
            ("queue items consumed", takes.consumed.len() as u64),
        ],
        outcomes: vec![takes.once.outcome(), takes.order.outcome()],
    }
}

impl Takes {
    /// A consumer was told its delete of `path` succeeded.
    fn took(&mut self, path: &str, take: Take) {
        let client = take.client;
        if let Some(other) = self.consumed.insert(path.to_string(), take) {
            self.once.add(
                format!(
                    "{path} was consumed twice: client {}'s delete succeeded at zxid {} and \
                     client {client}'s at zxid {}",
                    other.client,
                    z(other.zxid),
                    z(take.zxid)
                ),
                vec![other.op, take.op],
                Vec::new(),
            );
        }
        let Some(seq) = sequence(path) else {
            return;
        };
        if let Some((last_seq, last_path, last)) = self.last.get(&client) {
            if *last_seq >= seq {
                self.order.add(
                    format!(
                        "client {client} consumed {path} at zxid {} after {last_path} at zxid {}",
                        z(take.zxid),
                        z(last.zxid)
                    ),
                    vec![last.op, take.op],
                    Vec::new(),
                );
            }
        }
        self.last.insert(client, (seq, path.to_string(), take));
    }
}
