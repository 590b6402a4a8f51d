//! Zab phase 1, discovery: the prospective leader learns the accepted epochs of a quorum,
//! proposes an epoch above all of them, and waits for a quorum to accept it; a follower
//! accepts a new epoch only above every epoch it promised before.
//!
//! Map to zookeeper-specifications' system spec (ZkV3_7_0.tla):
//! [`LeaderDiscovery::follower_info`] and [`LeaderDiscovery::epoch_to_propose`] are
//! LeaderProcessFOLLOWERINFO (`Leader.getEpochToPropose`), [`leader_info_step`] is
//! FollowerProcessLEADERINFO (`Learner.registerWithLeader`), [`LeaderDiscovery::epoch_acked`],
//! [`LeaderDiscovery::epoch_quorum`] and [`follower_ahead`] are LeaderProcessACKEPOCH
//! (`Leader.waitForEpochAck`). In the Zab paper, Algorithm 1 and 2, phase 1.

use std::collections::{BTreeMap, BTreeSet};

use crate::stat::Zxid;
use crate::zab::ServerId;
use crate::zab::quorum::QuorumVerifier;

/// The leader's side of discovery.
#[derive(Clone, Debug)]
pub struct LeaderDiscovery {
    me: ServerId,
    /// (accepted epoch, last zxid) of each voter that connected, the leader included.
    infos: BTreeMap<ServerId, (u32, Zxid)>,
    /// The voters that acknowledged the proposed epoch (ACKEPOCH).
    epoch_acks: BTreeSet<ServerId>,
}

impl LeaderDiscovery {
    /// Discovery begins with the leader's own acceptedEpoch and last zxid.
    pub fn new(me: ServerId, accepted_epoch: u32, last_zxid: Zxid) -> LeaderDiscovery {
        LeaderDiscovery {
            me,
            infos: BTreeMap::from([(me, (accepted_epoch, last_zxid))]),
            epoch_acks: BTreeSet::new(),
        }
    }

    /// A voter with intact state sent FOLLOWERINFO.
    pub fn follower_info(&mut self, from: ServerId, accepted_epoch: u32, last_zxid: Zxid) {
        // The leader's own epoch and zxid are its history's, given at the start.
        assert_ne!(from, self.me, "the leader's FOLLOWERINFO from itself");
        self.infos.insert(from, (accepted_epoch, last_zxid));
    }

    /// Once a quorum of voters connected, the epoch to propose: one more than every
    /// acceptedEpoch among them (`Leader.getEpochToPropose`).
    pub fn epoch_to_propose(&self, quorum: &QuorumVerifier) -> Option<u32> {
        if !quorum.contains_quorum(self.infos.keys()) {
            return None;
        }
        // Leader.getEpochToPropose counts the leader among the connecting followers: the
        // epoch it proposes is above its own acceptedEpoch too.
        assert!(
            self.infos.contains_key(&self.me),
            "leader {}: choosing an epoch without its own",
            self.me
        );
        let max_accepted = self
            .infos
            .values()
            .map(|(e, _)| *e)
            .max()
            .expect("a quorum is not empty");
        Some(
            max_accepted
                .checked_add(1)
                .expect("epochs are below u32::MAX"),
        )
    }

    /// A voter with intact state acknowledged the proposed epoch.
    pub fn epoch_acked(&mut self, from: ServerId) {
        assert_ne!(from, self.me, "the leader's own acceptance is its disk's");
        self.epoch_acks.insert(from);
    }

    /// Whether a quorum, the leader included, accepted the epoch.
    pub fn epoch_quorum(&self, quorum: &QuorumVerifier) -> bool {
        quorum.contains_quorum(self.epoch_acks.iter().chain([&self.me]))
    }
}

/// `Leader.waitForEpochAck`: a follower whose (currentEpoch, last zxid) is past the
/// leader's has history the leader lacks, which Zab forbids the leader to drop: "Follower
/// is ahead of the leader". The leader gives up.
pub fn follower_ahead(follower: (u32, Zxid), leader: (u32, Zxid)) -> bool {
    follower > leader
}

/// What a follower does with LEADERINFO of `new_epoch` (`Learner.registerWithLeader`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderInfoStep {
    /// A new epoch: accept it durably, then ACKEPOCH with the current epoch.
    Accept,
    /// Accepted already (a second connection of the same term): ACKEPOCH at once.
    AckAgain,
    /// Below an epoch promised before: "Leaders epoch is less than accepted epoch".
    Refuse,
}

pub fn leader_info_step(accepted_epoch: u32, new_epoch: u32) -> LeaderInfoStep {
    match new_epoch.cmp(&accepted_epoch) {
        std::cmp::Ordering::Greater => LeaderInfoStep::Accept,
        std::cmp::Ordering::Equal => LeaderInfoStep::AckAgain,
        std::cmp::Ordering::Less => LeaderInfoStep::Refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::make_zxid;

    #[test]
    fn the_epoch_is_proposed_once_a_quorum_connected_above_all_accepted() {
        let quorum = QuorumVerifier::new([1, 2, 3, 4, 5]);
        let mut d = LeaderDiscovery::new(1, 3, make_zxid(3, 9));
        d.follower_info(2, 5, make_zxid(2, 4));
        assert_eq!(d.epoch_to_propose(&quorum), None, "two of five");
        d.follower_info(3, 1, 0);
        assert_eq!(d.epoch_to_propose(&quorum), Some(6));
    }

    #[test]
    fn the_epoch_is_established_by_a_quorum_with_the_leader() {
        let quorum = QuorumVerifier::new([1, 2, 3]);
        let mut d = LeaderDiscovery::new(1, 0, 0);
        assert!(!d.epoch_quorum(&quorum));
        d.epoch_acked(3);
        assert!(d.epoch_quorum(&quorum));
    }

    #[test]
    fn a_follower_ahead_of_the_leader_stops_it() {
        let leader = (2, make_zxid(2, 5));
        assert!(follower_ahead((2, make_zxid(2, 6)), leader));
        assert!(follower_ahead((3, 0), leader));
        assert!(!follower_ahead((2, make_zxid(2, 5)), leader));
        assert!(!follower_ahead((1, make_zxid(1, 90)), leader));
    }

    #[test]
    fn a_follower_accepts_only_a_later_epoch() {
        assert_eq!(leader_info_step(3, 4), LeaderInfoStep::Accept);
        assert_eq!(leader_info_step(4, 4), LeaderInfoStep::AckAgain);
        assert_eq!(leader_info_step(5, 4), LeaderInfoStep::Refuse);
    }
}
