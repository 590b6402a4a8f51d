//! Group commit and durability bookkeeping: at most one persist is in flight; records
//! asked for meanwhile wait and leave together, one fsync for the batch.

use std::collections::VecDeque;

use crate::log::DurableRecord;
use crate::stat::Zxid;

use super::{Effect, Effects};

#[derive(Clone, Debug)]
struct Batch {
    token: u64,
    records: Vec<DurableRecord>,
    /// Replace every file with these records (a repair), instead of appending.
    reset: bool,
    /// Nothing more joins this batch.
    sealed: bool,
}

#[derive(Clone, Debug)]
pub struct Durability {
    /// The batch being written, if any.
    in_flight: Option<Batch>,
    /// Batches waiting; their tokens are known before they leave so that messages can
    /// wait on them.
    queue: VecDeque<Batch>,
    next_token: u64,
    /// The epochs as they are on disk (the history holds the ones promised).
    durable_accepted_epoch: u32,
    durable_current_epoch: u32,
    /// The last txn zxid known to be on disk.
    durable_zxid: Zxid,
    last_completed: u64,
}

impl Durability {
    pub fn recovered(accepted_epoch: u32, current_epoch: u32, durable_zxid: Zxid) -> Durability {
        Durability {
            in_flight: None,
            queue: VecDeque::new(),
            next_token: 1,
            durable_accepted_epoch: accepted_epoch,
            durable_current_epoch: current_epoch,
            durable_zxid,
            last_completed: 0,
        }
    }

    pub fn durable_accepted_epoch(&self) -> u32 {
        self.durable_accepted_epoch
    }

    pub fn durable_current_epoch(&self) -> u32 {
        self.durable_current_epoch
    }

    pub fn durable_zxid(&self) -> Zxid {
        self.durable_zxid
    }

    /// After a truncation the durable log ends earlier.
    pub fn truncate_durable_zxid(&mut self, zxid: Zxid) {
        self.durable_zxid = self.durable_zxid.min(zxid);
    }

    /// Queue records for persistence (appended to the batch that will leave next);
    /// returns the token that completes when they are durable.
    pub fn persist(&mut self, records: Vec<DurableRecord>, out: &mut Effects) -> u64 {
        let token = match self.queue.back_mut() {
            Some(batch) if !batch.reset && !batch.sealed => {
                batch.records.extend(records);
                batch.token
            }
            _ => self.new_batch(records, false),
        };
        self.flush(out);
        // A token handed out is still to complete: a message waiting on it
        // (`SendAfterPersist`) leaves only once its records are durable.
        assert!(
            token > self.last_completed,
            "persist token {token} completed before it was handed out"
        );
        token
    }

    /// Replace every file with `records` in one atomic step (a server repairing lost or
    /// corrupt state writes its new snapshot, log and epochs this way).
    pub fn persist_reset(&mut self, records: Vec<DurableRecord>, out: &mut Effects) -> u64 {
        // A repair writes a whole history: at least the epochs.
        assert!(!records.is_empty(), "a reset persist with no records");
        let token = self.new_batch(records, true);
        self.flush(out);
        token
    }

    /// Persist records in a batch of their own, ahead of anything asked for later.
    pub fn persist_alone(&mut self, records: Vec<DurableRecord>, out: &mut Effects) -> u64 {
        // A batch of its own exists to put its records on disk ahead of later ones (the
        // epoch-before-txns knob's currentEpoch, ZOOKEEPER-4643): an empty one orders nothing.
        assert!(!records.is_empty(), "a batch of its own with no records");
        let token = self.new_batch(records, false);
        if let Some(batch) = self.queue.back_mut() {
            batch.sealed = true;
        }
        self.flush(out);
        token
    }

    fn new_batch(&mut self, records: Vec<DurableRecord>, reset: bool) -> u64 {
        let token = self.next_token;
        // Tokens are handed out in the order batches leave (`on_persisted` relies on it).
        if let Some(last) = self.queue.back() {
            assert!(
                last.token < token,
                "batch {token} queued behind {}",
                last.token
            );
        }
        self.next_token += 1;
        self.queue.push_back(Batch {
            token,
            records,
            reset,
            sealed: reset,
        });
        token
    }

    fn flush(&mut self, out: &mut Effects) {
        if self.in_flight.is_some() {
            return;
        }
        let Some(batch) = self.queue.pop_front() else {
            return;
        };
        // One batch at a time, in token order, each right after the last one completed:
        // the driver completes tokens in the order they were issued.
        assert_eq!(
            batch.token,
            self.last_completed + 1,
            "batch {} leaves after {} completed",
            batch.token,
            self.last_completed
        );
        out.push(Effect::Persist {
            token: batch.token,
            records: batch.records.clone(),
            reset: batch.reset,
        });
        self.in_flight = Some(batch);
    }

    /// The driver reports a token durable: account for it and send the next batch.
    pub fn on_persisted(&mut self, token: u64, out: &mut Effects) {
        let Some(batch) = self.in_flight.take() else {
            panic!("persisted token {token} with nothing in flight");
        };
        assert_eq!(batch.token, token, "tokens complete in order");
        assert!(token > self.last_completed, "token {token} completed twice");
        self.last_completed = token;
        if batch.reset {
            self.durable_zxid = 0;
        }
        for r in &batch.records {
            match r {
                DurableRecord::Txn(p) => self.durable_zxid = self.durable_zxid.max(p.hdr.zxid),
                DurableRecord::Truncate { zxid } => {
                    self.durable_zxid = self.durable_zxid.min(*zxid)
                }
                DurableRecord::Snapshot(s) => self.durable_zxid = self.durable_zxid.max(s.zxid),
                // The epoch files only move forward, but for a repair's rewrite.
                DurableRecord::AcceptedEpoch(e) => {
                    assert!(
                        batch.reset || *e >= self.durable_accepted_epoch,
                        "acceptedEpoch on disk goes back from {} to {e}",
                        self.durable_accepted_epoch
                    );
                    self.durable_accepted_epoch = *e
                }
                DurableRecord::CurrentEpoch(e) => {
                    assert!(
                        batch.reset || *e >= self.durable_current_epoch,
                        "currentEpoch on disk goes back from {} to {e}",
                        self.durable_current_epoch
                    );
                    self.durable_current_epoch = *e
                }
            }
        }
        self.flush(out);
    }

    /// The token of the last batch that has completed.
    pub fn last_completed(&self) -> u64 {
        self.last_completed
    }

    /// Whether everything asked for so far is durable.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_asked_for_while_a_write_is_in_flight_leave_together() {
        // Group commit: one fsync for every record queued behind the one in flight.
        let mut d = Durability::recovered(0, 0, 0);
        let mut out = Vec::new();
        let t1 = d.persist(vec![DurableRecord::AcceptedEpoch(1)], &mut out);
        let t2 = d.persist(vec![DurableRecord::CurrentEpoch(1)], &mut out);
        let t3 = d.persist(vec![DurableRecord::Truncate { zxid: 0 }], &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(t2, t3);
        assert_ne!(t1, t2);
        out.clear();
        d.on_persisted(t1, &mut out);
        assert!(
            matches!(&out[..], [Effect::Persist { token, records, reset: false }] if *token == t2 && records.len() == 2)
        );
        assert_eq!(d.durable_accepted_epoch(), 1);
        assert_eq!(d.durable_current_epoch(), 0);
        d.on_persisted(t2, &mut Vec::new());
        assert_eq!(d.durable_current_epoch(), 1);
        assert!(d.is_idle());
    }

    #[test]
    fn a_reset_batch_is_never_merged() {
        let mut d = Durability::recovered(0, 0, 0);
        let mut out = Vec::new();
        let t1 = d.persist(vec![DurableRecord::AcceptedEpoch(1)], &mut out);
        let t2 = d.persist_reset(vec![DurableRecord::AcceptedEpoch(2)], &mut out);
        let t3 = d.persist(vec![DurableRecord::CurrentEpoch(2)], &mut out);
        assert!(t1 < t2);
        assert!(t2 < t3);
    }
}
