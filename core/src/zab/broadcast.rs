//! Zab phase 3, broadcast: the leader proposes txns in zxid order and commits each once a
//! quorum acknowledged it, in order; a follower logs proposals in order and applies the
//! commits of its oldest pending proposal.
//!
//! Map to zookeeper-specifications' system spec (ZkV3_7_0.tla): [`LeaderBroadcast::propose`]
//! is LeaderProcessRequest, [`LeaderBroadcast::ack`] LeaderProcessACK, and
//! [`LeaderBroadcast::next_committable`] its LeaderCommit step; [`is_next_zxid`] is
//! IsNextZxid, which FollowerProcessPROPOSAL checks, and [`FollowerBroadcast::commit`]
//! FollowerProcessCOMMIT. In ZooKeeper 3.8: `Leader.propose`, `Leader.processAck` and
//! `tryToCommit`, `FollowerZooKeeperServer.logRequest` and `commit`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::stat::Zxid;
use crate::txn::{Txn, TxnHeader};
use crate::zab::messages::Proposal;
use crate::zab::quorum::QuorumVerifier;
use crate::zab::{ServerId, counter_of, epoch_of, make_zxid};

/// Whether `next` is the zxid that follows `current` in a leader's stream: the next counter
/// of the same epoch, or the first counter of a later epoch (ZkV3_7_0.tla's IsNextZxid).
pub fn is_next_zxid(current: Zxid, next: Zxid) -> bool {
    if epoch_of(next) == epoch_of(current) {
        next == current + 1
    } else {
        counter_of(next) == 1
    }
}

#[derive(Clone, Debug)]
struct Outstanding {
    proposal: Arc<Proposal>,
    acks: BTreeSet<ServerId>,
}

/// The leader's side: the zxids it assigns and the proposals not yet committed.
#[derive(Clone, Debug)]
pub struct LeaderBroadcast {
    next_counter: u32,
    outstanding: BTreeMap<Zxid, Outstanding>,
    /// The last zxid committed in this term (0 before the first).
    last_committed: Zxid,
}

impl Default for LeaderBroadcast {
    fn default() -> Self {
        LeaderBroadcast {
            next_counter: 1,
            outstanding: BTreeMap::new(),
            last_committed: 0,
        }
    }
}

impl LeaderBroadcast {
    /// The zxid the next proposal of `epoch` gets.
    pub fn next_zxid(&self, epoch: u32) -> Zxid {
        make_zxid(epoch, self.next_counter)
    }

    /// Propose a txn at the next zxid of `epoch`: it is outstanding until committed.
    pub fn propose(&mut self, epoch: u32, hdr: TxnHeader, txn: Txn) -> Arc<Proposal> {
        // Every proposal of a term is in the term's epoch: the outstanding ones too.
        if let Some(last) = self.last_outstanding() {
            assert_eq!(
                epoch_of(last),
                epoch,
                "proposing in epoch {epoch} with {last:#x} outstanding"
            );
        }
        assert_eq!(
            hdr.zxid,
            self.next_zxid(epoch),
            "zxids are assigned in order"
        );
        self.next_counter = self
            .next_counter
            .checked_add(1)
            .expect("zxid counter overflow: a new epoch is needed");
        let proposal = Arc::new(Proposal { hdr, txn });
        let previous = self.outstanding.insert(
            hdr.zxid,
            Outstanding {
                proposal: Arc::clone(&proposal),
                acks: BTreeSet::new(),
            },
        );
        assert!(previous.is_none(), "zxid {:#x} proposed twice", hdr.zxid);
        proposal
    }

    /// The proposals not yet committed, in zxid order.
    pub fn outstanding(&self) -> impl Iterator<Item = &Arc<Proposal>> {
        self.outstanding.values().map(|o| &o.proposal)
    }

    /// The zxid of the last proposal not yet committed.
    pub fn last_outstanding(&self) -> Option<Zxid> {
        self.outstanding.keys().next_back().copied()
    }

    /// `from` acknowledged `zxid` (a voter whose ACK counts). False if `zxid` is not
    /// outstanding (committed already, or never proposed in this term).
    pub fn ack(&mut self, quorum: &QuorumVerifier, from: ServerId, zxid: Zxid) -> bool {
        // Leader.processAck: only a voter's ACK counts toward a quorum (observers and
        // servers repairing lost state never acknowledge).
        assert!(
            quorum.is_voter(from),
            "an ACK of {zxid:#x} from non-voter {from} counted"
        );
        match self.outstanding.get_mut(&zxid) {
            Some(o) => {
                o.acks.insert(from);
                true
            }
            None => false,
        }
    }

    /// Whether `zxid` is outstanding.
    pub fn is_outstanding(&self, zxid: Zxid) -> bool {
        self.outstanding.contains_key(&zxid)
    }

    /// The leader's own disk holds every txn up to `durable`: its ACKs.
    pub fn ack_durable(&mut self, me: ServerId, durable: Zxid) {
        // The leader's disk holds no zxid of its term that it has not proposed.
        if let Some(first) = self.outstanding.keys().next() {
            let epoch = epoch_of(*first);
            if epoch_of(durable) == epoch {
                assert!(
                    durable < self.next_zxid(epoch),
                    "leader {me}: durable {durable:#x} past its next zxid {:#x}",
                    self.next_zxid(epoch)
                );
            }
        }
        for (zxid, o) in self.outstanding.iter_mut() {
            if *zxid <= durable {
                o.acks.insert(me);
            }
        }
    }

    /// The oldest outstanding proposal, removed, once a quorum acknowledged it; later ones
    /// wait for it (commits go in zxid order). With `own_ack_commits` (the
    /// commit-before-quorum knob), the leader's own ACK is enough.
    pub fn next_committable(
        &mut self,
        quorum: &QuorumVerifier,
        own_ack_commits: Option<ServerId>,
    ) -> Option<Arc<Proposal>> {
        let (zxid, o) = self.outstanding.first_key_value()?;
        let own_only = own_ack_commits.is_some_and(|me| o.acks.contains(&me));
        if !quorum.contains_quorum(&o.acks) && !own_only {
            return None;
        }
        // Only a voter's ACK counts.
        assert!(
            o.acks.iter().all(|id| quorum.is_voter(*id)),
            "an ACK of a non-voter counted for {zxid:#x}"
        );
        let zxid = *zxid;
        // Leader.tryToCommit: commits leave in zxid order (ZkV3_7_0.tla LeaderCommit).
        assert!(
            zxid > self.last_committed,
            "committing {zxid:#x} after {:#x}",
            self.last_committed
        );
        self.last_committed = zxid;
        Some(
            self.outstanding
                .remove(&zxid)
                .expect("first entry exists")
                .proposal,
        )
    }
}

/// What a follower does with a COMMIT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitStep {
    /// Apply this proposal: the oldest pending one.
    Apply(Arc<Proposal>),
    /// Already committed here: nothing to do.
    Stale,
    /// Not the oldest pending proposal: the stream is not what Zab promises. ZooKeeper
    /// exits ("Committing zxid X, but next pending txn is Y", ZOOKEEPER-4418); the server
    /// resynchronizes instead.
    OutOfOrder,
}

/// The follower's side: proposals logged and waiting for their COMMIT, in zxid order.
#[derive(Clone, Debug, Default)]
pub struct FollowerBroadcast {
    pending: VecDeque<Arc<Proposal>>,
}

impl FollowerBroadcast {
    /// Start broadcast with the logged proposals not yet committed.
    pub fn with_pending(pending: impl IntoIterator<Item = Arc<Proposal>>) -> FollowerBroadcast {
        let pending: VecDeque<Arc<Proposal>> = pending.into_iter().collect();
        assert!(
            pending
                .iter()
                .zip(pending.iter().skip(1))
                .all(|(a, b)| a.hdr.zxid < b.hdr.zxid),
            "pending proposals in zxid order"
        );
        FollowerBroadcast { pending }
    }

    /// A proposal logged (its ACK on its way once durable).
    pub fn logged(&mut self, proposal: Arc<Proposal>) {
        if let Some(last) = self.pending.back() {
            assert!(
                proposal.hdr.zxid > last.hdr.zxid,
                "pending {:#x} after {:#x}",
                proposal.hdr.zxid,
                last.hdr.zxid
            );
        }
        self.pending.push_back(proposal);
    }

    /// The oldest pending proposal.
    pub fn oldest(&self) -> Option<&Arc<Proposal>> {
        self.pending.front()
    }

    /// COMMIT `zxid`, with `committed` the last zxid committed here.
    pub fn commit(&mut self, zxid: Zxid, committed: Zxid) -> CommitStep {
        // What is pending was logged after everything committed here.
        if let Some(oldest) = self.pending.front() {
            assert!(
                oldest.hdr.zxid > committed,
                "pending {:#x} at or below the committed {committed:#x}",
                oldest.hdr.zxid
            );
        }
        if zxid <= committed {
            return CommitStep::Stale;
        }
        match self.pending.front() {
            Some(p) if p.hdr.zxid == zxid => {
                CommitStep::Apply(self.pending.pop_front().expect("front exists"))
            }
            _ => CommitStep::OutOfOrder,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(zxid: Zxid) -> TxnHeader {
        TxnHeader {
            session_id: 1,
            cxid: 1,
            zxid,
            time: 0,
        }
    }

    fn txn() -> Txn {
        Txn::CreateSession { timeout_ms: 4000 }
    }

    #[test]
    fn the_next_zxid_is_the_next_counter_or_a_new_epochs_first() {
        assert!(is_next_zxid(make_zxid(1, 4), make_zxid(1, 5)));
        assert!(!is_next_zxid(make_zxid(1, 4), make_zxid(1, 6)));
        assert!(is_next_zxid(make_zxid(1, 4), make_zxid(2, 1)));
        assert!(!is_next_zxid(make_zxid(1, 4), make_zxid(2, 2)));
    }

    #[test]
    fn a_leader_commits_in_order_once_a_quorum_acknowledged() {
        let quorum = QuorumVerifier::new([1, 2, 3]);
        let mut b = LeaderBroadcast::default();
        let (z1, z2) = (b.next_zxid(1), make_zxid(1, 2));
        b.propose(1, hdr(z1), txn());
        b.propose(1, hdr(z2), txn());
        assert_eq!(b.last_outstanding(), Some(z2));
        // The second has a quorum first; it waits for the first (ZkV3_7_0.tla LeaderCommit).
        b.ack_durable(1, z2);
        assert!(b.ack(&quorum, 2, z2));
        assert_eq!(b.next_committable(&quorum, None), None);
        assert!(b.ack(&quorum, 3, z1));
        let first = b.next_committable(&quorum, None).expect("z1 commits");
        assert_eq!(first.hdr.zxid, z1);
        assert_eq!(
            b.next_committable(&quorum, None).map(|p| p.hdr.zxid),
            Some(z2)
        );
        assert!(
            !b.ack(&quorum, 2, z1),
            "an ACK of a committed zxid is no news"
        );
        // With the knob, the leader's own ACK is enough.
        let z3 = b.next_zxid(1);
        b.propose(1, hdr(z3), txn());
        b.ack_durable(1, z3);
        assert_eq!(b.next_committable(&quorum, None), None);
        assert!(b.next_committable(&quorum, Some(1)).is_some());
    }

    #[test]
    #[should_panic(expected = "zxids are assigned in order")]
    fn a_leader_proposes_only_its_next_zxid() {
        let mut b = LeaderBroadcast::default();
        b.propose(1, hdr(make_zxid(1, 2)), txn());
    }

    #[test]
    fn a_follower_applies_only_the_commit_of_its_oldest_pending_proposal() {
        let p = |z| {
            Arc::new(Proposal {
                hdr: hdr(z),
                txn: txn(),
            })
        };
        let (z1, z2) = (make_zxid(1, 1), make_zxid(1, 2));
        let mut f = FollowerBroadcast::with_pending([p(z1)]);
        f.logged(p(z2));
        assert_eq!(f.commit(z2, 0), CommitStep::OutOfOrder);
        assert_eq!(f.commit(z1, 0), CommitStep::Apply(p(z1)));
        assert_eq!(f.commit(z1, z1), CommitStep::Stale);
        assert_eq!(f.oldest().map(|q| q.hdr.zxid), Some(z2));
    }
}
