//! A server's Zab history: the txns it logged, the snapshot its log continues, the epochs it
//! promised (acceptedEpoch, currentEpoch), and how much of the history it knows committed.
//!
//! Every change goes through a method that asserts the invariants Zab's safety rests on, as
//! etcd-raft's raftLog does for Raft:
//! - zxids in the log strictly increase, and continue the snapshot (Zab paper §4: a
//!   follower accepts proposals in zxid order; ZooKeeper's FileTxnLog refuses an older one);
//! - nothing committed is truncated or dropped (Zab's integrity: a delivered txn is
//!   delivered by every server, so no TRUNC goes below it; Leader.syncFollower);
//! - a snapshot taken locally never moves back (FileTxnSnapLog restores from the newest);
//! - acceptedEpoch >= currentEpoch, and neither decreases (Zab paper Alg. 1/2; ZooKeeper
//!   refuses to start when "the current epoch is after the accepted epoch",
//!   QuorumPeer.loadDataBase; ZOOKEEPER-2307);
//! - a commit names the next txn: one the log holds, above the last committed
//!   (FollowerZooKeeperServer.commit; ZOOKEEPER-4418).
//!
//! It persists nothing itself: each change returns the [`DurableRecord`]s that make it
//! durable, which the server hands to its disk in the order it must.

use super::Hex;
use std::sync::Arc;

use crate::log::{DurableRecord, DurableState};
use crate::stat::Zxid;
use crate::tree::Snapshot;
use crate::zab::ServerId;
use crate::zab::messages::Proposal;

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct History {
    /// Whose history (for the assertions' messages).
    id: ServerId,
    /// Logged txns after the snapshot, durable or on their way (`log.*` files).
    log: Vec<Arc<Proposal>>,
    snapshot: Option<Arc<Snapshot>>,
    accepted_epoch: u32,
    current_epoch: u32,
    /// The last txn known committed and applied to the server's tree.
    committed: Zxid,
    /// Txns logged since the last snapshot (`SyncRequestProcessor`'s count toward
    /// `snapCount`).
    txns_since_snapshot: usize,
}

impl History {
    /// What the disks held (`QuorumPeer.loadDataBase`): nothing past the snapshot is known
    /// committed until a leader confirms it.
    pub fn recovered(id: ServerId, state: DurableState) -> History {
        let committed = state.snapshot.as_ref().map_or(0, |s| s.zxid);
        let txns_since_snapshot = state.log.len();
        let history = History {
            id,
            log: state.log,
            snapshot: state.snapshot,
            accepted_epoch: state.accepted_epoch,
            current_epoch: state.current_epoch,
            committed,
            txns_since_snapshot,
        };
        history.check_log();
        history
    }

    pub fn accepted_epoch(&self) -> u32 {
        self.accepted_epoch
    }

    pub fn current_epoch(&self) -> u32 {
        self.current_epoch
    }

    pub fn snapshot(&self) -> Option<&Arc<Snapshot>> {
        self.snapshot.as_ref()
    }

    pub fn log(&self) -> &[Arc<Proposal>] {
        &self.log
    }

    /// The last txn known committed.
    pub fn committed(&self) -> Zxid {
        self.committed
    }

    pub fn txns_since_snapshot(&self) -> usize {
        self.txns_since_snapshot
    }

    /// The zxid of the last txn on file: the log's last, else the snapshot's.
    pub fn last_on_file(&self) -> Zxid {
        crate::log::last_on_file(&self.log, self.snapshot.as_ref())
    }

    /// The zxid of the last txn this server has, logged or committed.
    pub fn last_logged(&self) -> Zxid {
        self.last_on_file().max(self.committed)
    }

    /// The logged txns after `zxid`, in order.
    pub fn log_after(&self, zxid: Zxid) -> impl Iterator<Item = &Arc<Proposal>> {
        self.log.iter().filter(move |p| p.hdr.zxid > zxid)
    }

    /// Whether the log holds the txn `zxid`.
    pub fn holds(&self, zxid: Zxid) -> bool {
        self.log.binary_search_by_key(&zxid, |p| p.hdr.zxid).is_ok()
    }

    /// Log a txn after every one on file. Returns the record that makes it durable.
    pub fn append(&mut self, proposal: Arc<Proposal>) -> DurableRecord {
        let zxid = proposal.hdr.zxid;
        let last = self.last_on_file();
        assert!(
            zxid > last,
            "server {}: logging zxid {zxid:#x} after {last:#x}",
            self.id
        );
        // Zab paper §4: a server accepts proposals only from the leader of an epoch it
        // accepted, whose history holds no txn of a later epoch.
        assert!(
            crate::zab::epoch_of(zxid) <= self.accepted_epoch,
            "server {}: logging zxid {zxid:#x} of an epoch past its acceptedEpoch {}",
            self.id,
            self.accepted_epoch
        );
        tracing::trace!(target: "zksim_core::zab::history", zxid = %Hex(zxid), "append");
        self.log.push(Arc::clone(&proposal));
        self.txns_since_snapshot += 1;
        DurableRecord::Txn(proposal)
    }

    /// TRUNC: forget every logged txn after `zxid`. Nothing committed is truncated (unless
    /// `breach_allowed`: a bug knob that re-creates that mistake; the caller reports it).
    /// Returns the record that makes it durable, and whether committed txns were cut.
    pub fn truncate(&mut self, zxid: Zxid, breach_allowed: bool) -> (DurableRecord, bool) {
        // A snapshot cannot be cut: a TRUNC below it is a SNAP's job (the learner
        // repairs instead, `learner::sync`).
        if let Some(snapshot) = &self.snapshot {
            assert!(
                snapshot.zxid <= zxid,
                "server {}: TRUNC to {zxid:#x} below its snapshot at {:#x}",
                self.id,
                snapshot.zxid
            );
        }
        let breach = zxid < self.committed && self.log.iter().any(|p| p.hdr.zxid > zxid);
        assert!(
            !breach || breach_allowed,
            "server {}: TRUNC to {zxid:#x} below its committed {:#x}",
            self.id,
            self.committed
        );
        let cut = self.log.iter().filter(|p| p.hdr.zxid > zxid).count();
        tracing::debug!(target: "zksim_core::zab::history", zxid = %Hex(zxid), cut, "truncate");
        self.log.retain(|p| p.hdr.zxid <= zxid);
        (DurableRecord::Truncate { zxid }, breach)
    }

    /// SNAP from a leader: the leader's snapshot replaces ours and the log restarts after
    /// it. Returns the records that make it durable.
    pub fn install_snapshot(&mut self, snapshot: Arc<Snapshot>) -> Vec<DurableRecord> {
        let zxid = snapshot.zxid;
        // A SNAP comes from the leader of an epoch this server accepted, whose history
        // holds nothing of a later epoch.
        assert!(
            crate::zab::epoch_of(zxid) <= self.accepted_epoch,
            "server {}: SNAP at {zxid:#x} past its acceptedEpoch {}",
            self.id,
            self.accepted_epoch
        );
        tracing::debug!(target: "zksim_core::zab::history", zxid = %Hex(zxid), "install snapshot");
        self.log.clear();
        self.snapshot = Some(Arc::clone(&snapshot));
        self.txns_since_snapshot = 0;
        vec![
            DurableRecord::Snapshot(snapshot),
            DurableRecord::Truncate { zxid },
        ]
    }

    /// A snapshot of this server's committed tree, labelled `snapshot.zxid`: the log it
    /// covers is dropped. Snapshots taken locally only move forward, and never past what
    /// is committed.
    pub fn take_snapshot(&mut self, snapshot: Arc<Snapshot>) -> DurableRecord {
        let label = snapshot.zxid;
        if let Some(current) = &self.snapshot {
            assert!(
                label >= current.zxid,
                "server {}: snapshot at {label:#x} behind the one at {:#x}",
                self.id,
                current.zxid
            );
        }
        assert!(
            label <= self.committed,
            "server {}: snapshot at {label:#x} past the committed {:#x}",
            self.id,
            self.committed
        );
        tracing::debug!(target: "zksim_core::zab::history", zxid = %Hex(label), "take snapshot");
        self.log.retain(|p| p.hdr.zxid > label);
        self.txns_since_snapshot = self.log.len();
        self.snapshot = Some(snapshot.clone());
        DurableRecord::Snapshot(snapshot)
    }

    /// Forget the snapshot and the log: a server whose history contradicts its leader's
    /// and cannot be rebuilt starts over empty (only a broken protocol gets here).
    pub fn forget(&mut self) {
        self.log.clear();
        self.snapshot = None;
    }

    /// Forget the logged txns after `zxid` without a record: the server's picture of its
    /// log goes back to what it believes is written, while the records already handed to
    /// the disk still land (only the stale-log-writer and sync-txns-logged-after-ack knobs
    /// do this; nothing committed is forgotten).
    pub fn forget_unwritten_after(&mut self, zxid: Zxid) {
        assert!(
            zxid >= self.committed,
            "server {}: forgetting txns after {zxid:#x}, below its committed {:#x}",
            self.id,
            self.committed
        );
        let forgotten = self.log.iter().filter(|p| p.hdr.zxid > zxid).count();
        tracing::debug!(target: "zksim_core::zab::history", zxid = %Hex(zxid), forgotten, "forget unwritten");
        self.log.retain(|p| p.hdr.zxid <= zxid);
        self.txns_since_snapshot = self.txns_since_snapshot.saturating_sub(forgotten);
    }

    /// Commit the next txn, `zxid`: one the log holds, above the last committed.
    pub fn commit(&mut self, zxid: Zxid) {
        assert!(
            zxid > self.committed,
            "server {}: committing zxid {zxid:#x} at or below the committed {:#x}",
            self.id,
            self.committed
        );
        assert!(
            self.holds(zxid),
            "server {}: committing zxid {zxid:#x}, which its log does not hold",
            self.id
        );
        tracing::trace!(target: "zksim_core::zab::history", zxid = %Hex(zxid), "commit");
        self.committed = zxid;
    }

    /// The tree was replaced (a snapshot installed, or rebuilt): it is committed up to
    /// `zxid`.
    pub fn committed_tree(&mut self, zxid: Zxid) {
        // The tree comes from this server's own snapshot and log: it is never committed
        // past the history on file.
        assert!(
            zxid <= self.last_on_file(),
            "server {}: a tree committed to {zxid:#x} past its history at {:#x}",
            self.id,
            self.last_on_file()
        );
        self.committed = zxid;
    }

    /// Accept a new epoch (LEADERINFO, or a leader choosing it): acceptedEpoch never goes
    /// back. Returns the record that makes it durable.
    pub fn accept_epoch(&mut self, epoch: u32) -> DurableRecord {
        assert!(
            epoch >= self.accepted_epoch,
            "server {}: acceptedEpoch goes back from {} to {epoch}",
            self.id,
            self.accepted_epoch
        );
        tracing::debug!(target: "zksim_core::zab::history", epoch, "acceptedEpoch");
        self.accepted_epoch = epoch;
        DurableRecord::AcceptedEpoch(epoch)
    }

    /// Take the epoch as current (NEWLEADER, or a leader's quorum of ACKEPOCH): currentEpoch
    /// never goes back nor passes acceptedEpoch. Returns the record that makes it durable.
    pub fn set_current_epoch(&mut self, epoch: u32) -> DurableRecord {
        assert!(
            epoch >= self.current_epoch,
            "server {}: currentEpoch goes back from {} to {epoch}",
            self.id,
            self.current_epoch
        );
        assert!(
            epoch <= self.accepted_epoch,
            "server {}: currentEpoch {epoch} past acceptedEpoch {}",
            self.id,
            self.accepted_epoch
        );
        tracing::debug!(target: "zksim_core::zab::history", epoch, "currentEpoch");
        self.current_epoch = epoch;
        DurableRecord::CurrentEpoch(epoch)
    }

    fn check_log(&self) {
        let base = self.snapshot.as_ref().map_or(0, |s| s.zxid);
        let mut last = base;
        for p in &self.log {
            assert!(
                p.hdr.zxid > last,
                "server {}: log zxid {:#x} after {last:#x}",
                self.id,
                p.hdr.zxid
            );
            last = p.hdr.zxid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnHeader};
    use crate::zab::make_zxid;

    fn txn(zxid: Zxid) -> Arc<Proposal> {
        Arc::new(Proposal {
            hdr: TxnHeader {
                session_id: 1,
                cxid: 1,
                zxid,
                time: 0,
            },
            txn: Txn::CreateSession { timeout_ms: 4000 },
        })
    }

    fn snapshot(zxid: Zxid) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            zxid,
            nodes: Vec::new(),
            sessions: Vec::new(),
        })
    }

    fn with_log(zxids: &[Zxid]) -> History {
        let mut h = History::recovered(1, DurableState::default());
        h.accept_epoch(1);
        h.set_current_epoch(1);
        for z in zxids {
            h.append(txn(*z));
        }
        h
    }

    fn panics(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let e = std::panic::catch_unwind(f).expect_err("the invariant's assertion fires");
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn a_history_logs_commits_snapshots_and_truncates_in_order() {
        let (a, b, c) = (make_zxid(1, 1), make_zxid(1, 2), make_zxid(1, 3));
        let mut h = with_log(&[a, b, c]);
        assert_eq!(h.last_logged(), c);
        h.commit(a);
        assert_eq!(h.committed(), a);
        assert!(matches!(
            h.take_snapshot(snapshot(a)),
            DurableRecord::Snapshot(_)
        ));
        assert_eq!(
            h.log_after(0).count(),
            2,
            "the log before the snapshot is dropped"
        );
        assert_eq!(h.txns_since_snapshot(), 2);
        let (record, breach) = h.truncate(b, false);
        assert_eq!(record, DurableRecord::Truncate { zxid: b });
        assert!(!breach);
        assert_eq!(h.last_logged(), b);
        // A new epoch's first txn follows the old epoch's last, once the epoch is accepted.
        h.accept_epoch(2);
        h.append(txn(make_zxid(2, 1)));
        assert_eq!(h.last_on_file(), make_zxid(2, 1));
    }

    #[test]
    fn zxids_strictly_increase_and_continue_the_snapshot() {
        let m = panics(|| {
            with_log(&[make_zxid(1, 2), make_zxid(1, 1)]);
        });
        assert!(
            m.contains("logging zxid 0x100000001 after 0x100000002"),
            "{m}"
        );
        let m = panics(|| {
            let mut h = with_log(&[]);
            h.install_snapshot(snapshot(make_zxid(1, 5)));
            h.append(txn(make_zxid(1, 5)));
        });
        assert!(m.contains("after 0x100000005"), "{m}");
    }

    #[test]
    fn nothing_committed_is_truncated() {
        let (a, b) = (make_zxid(1, 1), make_zxid(1, 2));
        let m = panics(|| {
            let mut h = with_log(&[a, b]);
            h.commit(a);
            h.commit(b);
            h.truncate(a, false);
        });
        assert!(
            m.contains("TRUNC to 0x100000001 below its committed 0x100000002"),
            "{m}"
        );
        // Under a knob that re-creates the mistake, the breach is returned, not asserted.
        let mut h = with_log(&[a, b]);
        h.commit(a);
        h.commit(b);
        assert!(h.truncate(a, true).1);
    }

    #[test]
    fn a_commit_names_the_next_txn_the_log_holds() {
        let (a, b) = (make_zxid(1, 1), make_zxid(1, 2));
        let m = panics(|| {
            let mut h = with_log(&[a]);
            h.commit(b);
        });
        assert!(m.contains("which its log does not hold"), "{m}");
        let m = panics(|| {
            let mut h = with_log(&[a, b]);
            h.commit(b);
            h.commit(a);
        });
        assert!(m.contains("at or below the committed"), "{m}");
    }

    #[test]
    fn a_local_snapshot_never_moves_back_nor_past_the_committed() {
        let (a, b) = (make_zxid(1, 1), make_zxid(1, 2));
        let m = panics(|| {
            let mut h = with_log(&[a, b]);
            h.commit(a);
            h.commit(b);
            h.take_snapshot(snapshot(b));
            h.take_snapshot(snapshot(a));
        });
        assert!(m.contains("behind the one at"), "{m}");
        let m = panics(|| {
            let mut h = with_log(&[a, b]);
            h.commit(a);
            h.take_snapshot(snapshot(b));
        });
        assert!(m.contains("past the committed"), "{m}");
    }

    #[test]
    fn epochs_never_go_back_and_current_never_passes_accepted() {
        let m = panics(|| {
            let mut h = with_log(&[]);
            h.accept_epoch(3);
            h.accept_epoch(2);
        });
        assert!(m.contains("acceptedEpoch goes back from 3 to 2"), "{m}");
        let m = panics(|| {
            let mut h = with_log(&[]);
            h.accept_epoch(3);
            h.set_current_epoch(3);
            h.set_current_epoch(2);
        });
        assert!(m.contains("currentEpoch goes back from 3 to 2"), "{m}");
        // ZOOKEEPER-2307: currentEpoch ahead of acceptedEpoch.
        let m = panics(|| {
            let mut h = with_log(&[]);
            h.set_current_epoch(2);
        });
        assert!(m.contains("currentEpoch 2 past acceptedEpoch 1"), "{m}");
    }

    #[test]
    fn forgetting_unwritten_txns_keeps_what_is_committed() {
        // The stale-log-writer and sync-txns-logged-after-ack knobs: the server's picture
        // of its log goes back to what is written, never below what it committed.
        let (a, b, c) = (make_zxid(1, 1), make_zxid(1, 2), make_zxid(1, 3));
        let mut h = with_log(&[a, b, c]);
        h.commit(a);
        h.forget_unwritten_after(b);
        assert_eq!(h.last_on_file(), b);
        assert_eq!(h.txns_since_snapshot(), 2);
        let m = panics(move || h.forget_unwritten_after(0));
        assert!(m.contains("below its committed 0x100000001"), "{m}");
    }

    #[test]
    fn a_recovered_log_out_of_order_is_refused() {
        let state = DurableState {
            snapshot: Some(snapshot(make_zxid(1, 3))),
            log: vec![txn(make_zxid(1, 2))],
            ..DurableState::default()
        };
        let m = panics(|| {
            History::recovered(1, state);
        });
        assert!(m.contains("log zxid 0x100000002 after 0x100000003"), "{m}");
    }
}
