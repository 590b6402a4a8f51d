//! Group commit and durability bookkeeping: at most one persist is in flight; records
//! asked for meanwhile wait and leave together, one fsync for the batch.

use crate::log::DurableRecord;
use crate::stat::Zxid;

use super::{Effect, Effects};

#[derive(Debug)]
struct Batch {
    token: u64,
    records: Vec<DurableRecord>,
}

#[derive(Debug)]
pub struct Durability {
    /// The batch being written, if any.
    in_flight: Option<Batch>,
    /// The next batch; its token is known before it leaves so that messages can wait on it.
    pending: Batch,
    accepted_epoch: u32,
    current_epoch: u32,
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
            pending: Batch {
                token: 1,
                records: Vec::new(),
            },
            accepted_epoch,
            current_epoch,
            durable_accepted_epoch: accepted_epoch,
            durable_current_epoch: current_epoch,
            durable_zxid,
            last_completed: 0,
        }
    }

    pub fn accepted_epoch(&self) -> u32 {
        self.accepted_epoch
    }

    pub fn current_epoch(&self) -> u32 {
        self.current_epoch
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

    /// Queue records for persistence; returns the token that completes when they are
    /// durable.
    pub fn persist(&mut self, records: Vec<DurableRecord>, out: &mut Effects) -> u64 {
        for r in &records {
            match r {
                DurableRecord::AcceptedEpoch(e) => {
                    assert!(
                        *e >= self.accepted_epoch,
                        "acceptedEpoch goes back from {} to {e}",
                        self.accepted_epoch
                    );
                    self.accepted_epoch = *e;
                }
                DurableRecord::CurrentEpoch(e) => {
                    assert!(
                        *e >= self.current_epoch,
                        "currentEpoch goes back from {} to {e}",
                        self.current_epoch
                    );
                    self.current_epoch = *e;
                }
                _ => {}
            }
        }
        self.pending.records.extend(records);
        let token = self.pending.token;
        if self.in_flight.is_none() {
            self.flush(out);
        }
        token
    }

    fn flush(&mut self, out: &mut Effects) {
        assert!(self.in_flight.is_none(), "one persist at a time");
        if self.pending.records.is_empty() {
            return;
        }
        let next = Batch {
            token: self.pending.token + 1,
            records: Vec::new(),
        };
        let batch = std::mem::replace(&mut self.pending, next);
        out.push(Effect::Persist {
            token: batch.token,
            records: batch.records.clone(),
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
        for r in &batch.records {
            match r {
                DurableRecord::Txn(p) => self.durable_zxid = self.durable_zxid.max(p.hdr.zxid),
                DurableRecord::Truncate { zxid } => {
                    self.durable_zxid = self.durable_zxid.min(*zxid)
                }
                DurableRecord::Snapshot(s) => self.durable_zxid = self.durable_zxid.max(s.zxid),
                DurableRecord::AcceptedEpoch(e) => self.durable_accepted_epoch = *e,
                DurableRecord::CurrentEpoch(e) => self.durable_current_epoch = *e,
            }
        }
        self.flush(out);
    }

    /// Whether everything asked for so far is durable.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.pending.records.is_empty()
    }
}
