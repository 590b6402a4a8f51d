//! `Core`'s own steps: accessors, what role handlers ask of it (leave the role, syncs done,
//! reconnects answered), and logging, applying and snapshotting committed txns.

use std::sync::Arc;

use super::{Bug, Core, Effect, Effects, ServerConfig, clients};
use crate::stat::Zxid;
use crate::tree::DataTree;
use crate::watch::WatchEvent;
use crate::zab::ServerId;
use crate::zab::messages::Proposal;

impl Core {
    /// The wall clock when the elapsed clock reads `now_ms`.
    pub(super) fn wall_ms(&self, now_ms: i64) -> i64 {
        now_ms + self.wall_offset_ms
    }

    /// A role handler leaves its role: the server starts an election as soon as the
    /// handler returns (`Server::go_looking`). Handlers return right after asking.
    pub(super) fn leave_role(&mut self) {
        // A handler asks once, as its last step: one asking twice went on after leaving.
        assert!(
            !self.leaving,
            "server {}: asked twice to leave its role",
            self.config.id
        );
        self.leaving = true;
    }

    /// An invariant that one of `knobs` breaks on purpose does not hold. With none of them
    /// on, that is an assertion failure; with one, the server goes on as the knob's bug
    /// did, and the run reports the breach among its findings.
    pub(super) fn breach(
        &self,
        knobs: &[Bug],
        invariant: &'static str,
        detail: String,
        out: &mut Effects,
    ) {
        assert!(
            knobs.iter().any(|k| self.config.bugs.has(*k)),
            "{invariant}: {detail}"
        );
        out.push(Effect::breach(invariant, detail));
    }

    /// The clock of an input: the elapsed clock never goes back (the driver's promise,
    /// by which every timeout here is measured).
    pub(super) fn clock(&mut self, now_ms: i64) {
        assert!(
            now_ms >= self.now_ms,
            "server {}: input at {now_ms} ms after one at {} ms",
            self.config.id,
            self.now_ms
        );
        self.now_ms = now_ms;
    }

    /// Zab says a sync is done: every write committed before it has been applied here.
    /// The request pipeline answers it once the input is handled (`clients::release_syncs`).
    pub(super) fn sync_done(&mut self, session: crate::stat::SessionId, cxid: i32) {
        self.syncs_done.push((session, cxid));
    }

    /// The leader answered a reconnect; the request pipeline hears of it once the input is
    /// handled (`Server::settle`).
    pub(super) fn revalidated(&mut self, session: crate::stat::SessionId, valid: bool) {
        self.revalidations.push((session, valid));
    }

    pub fn is_repairing(&self) -> bool {
        self.repairing
    }

    pub fn id(&self) -> ServerId {
        self.config.id
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// The log, the snapshot, the epochs and how far they are committed (read-only, for
    /// drivers that judge replicas, such as the model checker).
    pub fn history(&self) -> &crate::zab::history::History {
        &self.history
    }

    pub fn accepted_epoch(&self) -> u32 {
        self.history.accepted_epoch()
    }

    pub fn current_epoch(&self) -> u32 {
        self.history.current_epoch()
    }

    /// The zxid of the last txn in the log (durable or not).
    pub fn last_logged_zxid(&self) -> Zxid {
        self.history.last_logged()
    }

    pub fn last_committed_zxid(&self) -> Zxid {
        self.history.committed()
    }

    /// The history's committed zxid is the tree's.
    pub(super) fn check_committed(&self) {
        assert_eq!(
            self.history.committed(),
            self.tree.last_processed_zxid(),
            "server {}: its history and its tree disagree on what is committed",
            self.config.id
        );
    }

    // ----- shared helpers -----

    /// Append a txn to the log and persist it (group commit).
    pub(super) fn log_proposal(&mut self, proposal: Arc<Proposal>, out: &mut Effects) -> u64 {
        // A server logs a txn only beyond what it committed: the committed prefix of the
        // log is final (Zab paper §4, integrity).
        assert!(
            proposal.hdr.zxid > self.history.committed(),
            "server {}: logging {:#x} at or below its committed {:#x}",
            self.config.id,
            proposal.hdr.zxid,
            self.history.committed()
        );
        let record = self.history.append(proposal);
        self.durable.persist(vec![record], out)
    }

    /// Apply a committed txn to the tree, hand its replies and watch events to clients, and
    /// record it as ground truth.
    pub(super) fn apply_committed(&mut self, proposal: &Arc<Proposal>, out: &mut Effects) {
        let last = self.tree.last_processed_zxid();
        assert!(
            proposal.hdr.zxid > last,
            "server {}: applying zxid {:#x} after {:#x}",
            self.config.id,
            proposal.hdr.zxid,
            last
        );
        self.history.commit(proposal.hdr.zxid);
        let mut events: Vec<WatchEvent> = Vec::new();
        let result = self.tree.apply(&proposal.hdr, &proposal.txn, &mut events);
        self.check_committed();
        self.prep.applied(proposal.hdr.zxid);
        out.push(Effect::Applied(Arc::clone(proposal)));
        clients::on_applied(self, proposal, &result, &events, out);
        self.maybe_snapshot(out);
    }

    /// `SyncRequestProcessor`: after `snapCount` txns, snapshot the committed tree and drop
    /// the log entries it covers.
    fn maybe_snapshot(&mut self, out: &mut Effects) {
        if self.snapshot_label.is_some()
            || self.history.txns_since_snapshot() < self.config.snap_count
        {
            return;
        }
        // A snapshot is decided at the committed tree, never behind the last one written
        // (FileTxnSnapLog restores from the newest): the same check `take_snapshot` makes
        // when it is written.
        if let Some(current) = self.history.snapshot() {
            assert!(
                self.tree.last_processed_zxid() >= current.zxid,
                "server {}: snapshot decided at {:#x}, behind the one at {:#x}",
                self.config.id,
                self.tree.last_processed_zxid(),
                current.zxid
            );
        }
        self.snapshot_label = Some(self.tree.last_processed_zxid());
        if self.durable.is_idle() {
            self.capture_snapshot(out);
        }
    }

    /// Write the snapshot decided earlier. Like ZooKeeper's, it is fuzzy: labelled with
    /// the zxid at which it was decided, it holds the tree as it is when the disk is free
    /// to take it, so txns applied in between are in it and are applied again, harmlessly,
    /// when the log after the label is replayed (FileTxnSnapLog.restore).
    pub(super) fn capture_snapshot(&mut self, out: &mut Effects) {
        let Some(label) = self.snapshot_label.take() else {
            return;
        };
        let mut snapshot = self.tree.snapshot();
        assert!(
            snapshot.zxid >= label,
            "server {}: snapshot content behind its label",
            self.config.id
        );
        snapshot.zxid = label;
        // Snapshots only move forward: recovery reads the last one written.
        let record = self.history.take_snapshot(Arc::new(snapshot));
        self.durable.persist(vec![record], out);
    }

    /// The logged txns after `zxid`, in order.
    pub(super) fn log_after(&self, zxid: Zxid) -> impl Iterator<Item = &Arc<Proposal>> {
        self.history.log_after(zxid)
    }

    /// The tree the log continues. A learner writes a leader's SNAP as its snapshot when
    /// NEWLEADER arrives but installs it only at UPTODATE; if it left that leader in
    /// between, the snapshot is ahead of its committed tree and the log continues the
    /// snapshot, not the tree.
    pub(super) fn history_base(&self) -> DataTree {
        match self.history.snapshot() {
            Some(snap) if snap.zxid > self.tree.last_processed_zxid() => {
                DataTree::from_snapshot(snap)
            }
            _ => self.tree.clone(),
        }
    }

    /// Once the history is known committed (UPTODATE, or establishing as leader), start the
    /// tree from a snapshot that is ahead of it (see `history_base`): applying the log after
    /// the older tree would skip every txn in between and leave a replica that claims the
    /// same last zxid as the others with a different tree.
    pub(super) fn catch_up_to_snapshot(&mut self, out: &mut Effects) {
        let Some(snap) = self.history.snapshot().cloned() else {
            return;
        };
        if snap.zxid <= self.tree.last_processed_zxid() {
            return;
        }
        self.tree = DataTree::from_snapshot(&snap);
        self.prep.clear();
        assert_eq!(self.tree.last_processed_zxid(), snap.zxid);
        self.history.committed_tree(snap.zxid);
        out.push(Effect::InstalledSnapshot {
            zxid: snap.zxid,
            digest: self.tree.digest(),
        });
    }
}
