//! `counter`: a shared counter incremented with a versioned read-modify-write, as the
//! ZooKeeper paper's example of conditional updates (Hunt et al., ATC 2010, §2.2: "setData
//! ... the update is conditional on the version"; §2.4 builds its recipes on it): read
//! /counter (value v, version n), then setData(/counter, v+1, n); BADVERSION means another
//! client won the race, so read again. While the run winds down, once no increment is in
//! flight, one client does the final read: sync, then getData.
//!
//! Invariants:
//! - `counter-acked-bounds`: the final read (a getData sent right after a sync answered OK)
//!   sees a value f with acked <= f <= acked + unknown, and f at least every acknowledged
//!   value. Sound: a conditional set applies only to the version it read, so every applied
//!   set adds exactly one; every applied set is either acknowledged or had an unknown
//!   outcome (an error reply means not applied); the acknowledged ones that ended before the
//!   final sync was invoked (all of them, as the recipe runs) are reflected by the synced
//!   read.
//! - `counter-unique-acks`: no two acknowledged increments wrote the same value (each was
//!   conditional on a distinct version).

use std::collections::BTreeMap;

use zksim_core::request::Request;
use zksim_core::stat::Zxid;

use super::reply::{Got, data_of, got, text, z};
use super::{Feed, InvariantFindings, Judged, Told};
use crate::index::{End, OpId};

pub const RECIPE: &str = "counter";
pub const BOUNDS: &str = "counter-acked-bounds";
pub const UNIQUE: &str = "counter-unique-acks";

const COUNTER: &str = "/counter";

/// An acknowledged increment: who, at which zxid, by which request, completed where.
#[derive(Clone, Copy, Debug)]
struct Ack {
    client: u32,
    zxid: Zxid,
    op: OpId,
    end_at: usize,
}

/// The final read: its value, zxid and op, and where its sync was invoked.
#[derive(Clone, Copy, Debug)]
struct FinalRead {
    value: u64,
    zxid: Zxid,
    op: OpId,
    sync_at: usize,
}

/// Every increment's fate, and the final read.
#[derive(Debug)]
struct Tally {
    /// Acknowledged increments, in completion order, with the value each wrote.
    acks: Vec<(u64, Ack)>,
    /// The latest acknowledged increment to each value.
    by_value: BTreeMap<u64, Ack>,
    unknown: u64,
    final_read: Option<FinalRead>,
    unique: InvariantFindings,
}

pub fn judge(feed: &Feed) -> Judged {
    let mut tally = Tally {
        acks: Vec::new(),
        by_value: BTreeMap::new(),
        unknown: 0,
        final_read: None,
        unique: InvariantFindings::new(RECIPE, UNIQUE),
    };
    for tell in &feed.tells {
        if let Told::Ended(id) = tell.told {
            tally.on_complete(feed, id);
        }
    }
    // A set the history leaves in flight may have been applied, as an unknown outcome.
    tally.unknown += feed
        .h
        .ops
        .iter()
        .filter(|op| op.xid >= 0 && is_increment(op.request) && matches!(op.end, End::Open))
        .count() as u64;
    let bounds = tally.check_final();
    Judged {
        outcomes: vec![bounds.outcome(), tally.unique.outcome()],
        counts: vec![
            ("counter increments acknowledged", tally.acks.len() as u64),
            ("counter increments unknown", tally.unknown),
            ("counter final reads", u64::from(tally.final_read.is_some())),
        ],
    }
}

fn is_increment(request: &Request) -> bool {
    matches!(request, Request::SetData { path, .. } if path == COUNTER)
}

impl Tally {
    fn on_complete(&mut self, feed: &Feed, id: OpId) {
        let op = feed.op(id);
        match (op.request, got(op)) {
            (Request::SetData { path, data, .. }, Got::Ok(reply)) if path == COUNTER => {
                let (Ok(value), Some(end_at)) = (text(data).parse(), op.end_at()) else {
                    return;
                };
                let client = feed.run_client(op.client);
                let zxid = reply.zxid;
                self.acked(
                    value,
                    Ack {
                        client,
                        zxid,
                        op: id,
                        end_at,
                    },
                );
            }
            (Request::SetData { path, .. }, Got::Unknown) if path == COUNTER => self.unknown += 1,
            (Request::GetData { path, .. }, Got::Ok(reply)) if path == COUNTER => {
                let Some(sync) = feed.synced_by(id) else {
                    return;
                };
                let value = data_of(reply).and_then(|(t, _)| t.parse().ok());
                if let (Some(value), None) = (value, self.final_read) {
                    self.final_read = Some(FinalRead {
                        value,
                        zxid: reply.zxid,
                        op: id,
                        sync_at: feed.op(sync).invoke_at,
                    });
                }
            }
            _ => {}
        }
    }

    /// An acknowledged increment wrote `value`.
    fn acked(&mut self, value: u64, ack: Ack) {
        self.acks.push((value, ack));
        if let Some(other) = self.by_value.insert(value, ack) {
            self.unique.add(
                format!(
                    "clients {} and {} were both told that their increment to {value} was \
                     applied (zxids {} and {})",
                    other.client,
                    ack.client,
                    z(other.zxid),
                    z(ack.zxid)
                ),
                vec![other.op, ack.op],
                Vec::new(),
            );
        }
    }

    /// The bounds, given the final read: at least the increments acknowledged before its
    /// sync was invoked, at most every increment that may have been applied.
    fn check_final(&self) -> InvariantFindings {
        let mut bounds = InvariantFindings::new(RECIPE, BOUNDS);
        let Some(read) = self.final_read else {
            return bounds;
        };
        let f = read.value;
        let before: Vec<&(u64, Ack)> = self
            .acks
            .iter()
            .filter(|(_, a)| a.end_at < read.sync_at)
            .collect();
        let unknown = self.unknown;
        let (low, high) = (before.len() as u64, self.acks.len() as u64);
        assert!(low <= high, "the acks before the sync are some of the acks");
        let acked = if f < low {
            Some(low)
        } else {
            (f > high + unknown).then_some(high)
        };
        if let Some(acked) = acked {
            bounds.add(
                format!(
                    "the final read at zxid {} found /counter = {f}, but {acked} increments were \
                     acknowledged and {unknown} had an unknown outcome",
                    z(read.zxid)
                ),
                vec![read.op],
                Vec::new(),
            );
        }
        if let Some((max, ack)) = before
            .iter()
            .max_by_key(|(v, _)| *v)
            .filter(|(v, _)| *v > f)
        {
            bounds.add(
                format!(
                    "the final read at zxid {} found /counter = {f}, below the value {max} \
                     client {} was told it wrote at zxid {}",
                    z(read.zxid),
                    ack.client,
                    z(ack.zxid)
                ),
                vec![read.op, ack.op],
                Vec::new(),
            );
        }
        bounds
    }
}
