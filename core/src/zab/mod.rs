//! ZAB: fast leader election, discovery, synchronization and broadcast (Junqueira, Reed,
//! Serafini: "Zab: High-performance broadcast for primary-backup systems", DSN 2011; the
//! ZooKeeper 3.8 implementation; zookeeper-specifications' Zab.tla and ZkV3_7_0.tla).
//!
//! One file per phase, each naming the spec actions it carries out: [`election`] (phase 0,
//! FastLeaderElection), [`discovery`] (phase 1), [`sync`] (phase 2, the leader's
//! DIFF/TRUNC/SNAP decision), [`broadcast`] (phase 3); [`history`] is a server's log,
//! snapshot and epochs, whose methods assert the invariants the phases rely on. The server
//! (`crate::server`) drives them: its leader and learner roles hold the phases' state,
//! send and persist what they decide, and run ZooKeeper's request pipeline around them.

pub mod broadcast;
pub mod discovery;
pub mod election;
pub mod history;
pub mod messages;
pub mod quorum;
pub mod sync;

use crate::stat::Zxid;

/// A server's id (`myid`).
pub type ServerId = u64;

/// `zxid = epoch << 32 | counter` (ZxidUtils.makeZxid).
pub fn make_zxid(epoch: u32, counter: u32) -> Zxid {
    (i64::from(epoch) << 32) | i64::from(counter)
}

/// `ZxidUtils.getEpochFromZxid`.
pub fn epoch_of(zxid: Zxid) -> u32 {
    u32::try_from(zxid >> 32).expect("zxid epochs are non-negative 32-bit values")
}

/// `ZxidUtils.getCounterFromZxid`.
pub fn counter_of(zxid: Zxid) -> u32 {
    (zxid & 0xffff_ffff) as u32
}

/// A zxid as ZooKeeper's logs print it (`0x` and hex): for log fields.
#[derive(Clone, Copy, Debug)]
pub struct Hex(pub Zxid);

impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// The role a server plays (`QuorumPeer.ServerState`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl PeerState {
    pub fn name(self) -> &'static str {
        match self {
            PeerState::Looking => "LOOKING",
            PeerState::Following => "FOLLOWING",
            PeerState::Leading => "LEADING",
            PeerState::Observing => "OBSERVING",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_splits_into_epoch_and_counter() {
        // Zab paper §4: a zxid is an (epoch, counter) pair ordered lexicographically.
        let z = make_zxid(3, 7);
        assert_eq!(z, 0x3_0000_0007);
        assert_eq!(epoch_of(z), 3);
        assert_eq!(counter_of(z), 7);
        assert!(make_zxid(2, u32::MAX) < make_zxid(3, 0));
    }
}
