//! Deliberate mistakes that re-create known ZooKeeper bugs, for proving that the testbed
//! finds them. All off by default; the default build behaves exactly as without them.
//!
//! Each knob is one [`Bug`] variant, and its code path is found by one grep of the variant
//! (`Bug::StaleRead`): the server asks `config.bugs.has(Bug::StaleRead)` where it
//! misbehaves.

/// One deliberate mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// A server accepts a client that has seen a later zxid than its own, and answers its
    /// reads from its older state (time travel).
    StaleRead,
    /// A watch notification is sent after the next reply on its connection instead of
    /// before it.
    WatchAfterRead,
    /// A learner forwards a session's pipelined writes with each pair swapped.
    FifoReorder,
    /// The leader commits a proposal on its own ACK.
    CommitBeforeQuorum,
    /// A follower ACKs a proposal before it is durable.
    AckBeforeFsync,
    /// ZOOKEEPER-3911/4646: NEWLEADER is ACKed before the synced txns are durable.
    NewleaderAckEarly,
    /// ZOOKEEPER-4643: currentEpoch is persisted before the synced txns.
    EpochBeforeTxns,
    /// ZOOKEEPER-3023: the txns a learner receives in its sync are logged only at UPTODATE,
    /// after its NEWLEADER ACK.
    SyncTxnsLoggedAfterAck,
    /// ZOOKEEPER-4685: a learner ACKs each synced txn ahead of its NEWLEADER ACK, and the
    /// leader takes the first ACK after NEWLEADER for the NEWLEADER ACK.
    AckOvertakesNewleaderAck,
    /// ZOOKEEPER-4394: a COMMIT that arrives between NEWLEADER and UPTODATE is dropped.
    CommitInSyncDropped,
    /// ZOOKEEPER-4925: txns a learner applies in its sync never enter the log it serves
    /// DIFFs from once it leads, which so has a hole that spreads.
    CommittedLogHole,
    /// ZOOKEEPER-1154: the leader sends DIFF where TRUNC is due.
    DiffInsteadOfTrunc,
    /// ZOOKEEPER-2845: a leader that loses its role keeps its uncommitted txns applied.
    OldLeaderKeepsState,
    /// ZOOKEEPER-4712: a learner's log writer outlives its role: the txns still waiting to
    /// be written are forgotten by the server, and written to its log all the same.
    StaleLogWriter,
    /// ZOOKEEPER-2355: a new leader only expires sessions created in its own epoch, so a
    /// session whose closeSession was lost keeps its ephemerals forever.
    LostCloseSession,
    /// ZOOKEEPER-1675: the leader answers sync without confirming it still leads a quorum.
    SyncNoQuorum,
    /// ZOOKEEPER-1419: a vote order that is not total.
    VoteOrderNotTotal,
    /// The leader's session tracker drops touches (a client's requests and pings, and the
    /// touches followers report), so a session expires one timeout after it was created
    /// or revalidated, however busy its client is.
    SessionTouchLost,
    /// The leader's container manager never deletes anything: empty containers and
    /// expired TTL nodes stay forever.
    NoContainerReaping,
    /// The leader stops pinging: once its ping timer is due it neither pings nor re-arms
    /// the timer, which so fires again at the same instant forever. A wedged service: the
    /// run's budget of simulated events ends the run.
    LeaderStopsPinging,
}

impl Bug {
    /// Every knob, in the order `zksim bugs` lists them.
    pub const ALL: [Bug; 20] = [
        Bug::StaleRead,
        Bug::WatchAfterRead,
        Bug::FifoReorder,
        Bug::CommitBeforeQuorum,
        Bug::AckBeforeFsync,
        Bug::NewleaderAckEarly,
        Bug::EpochBeforeTxns,
        Bug::SyncTxnsLoggedAfterAck,
        Bug::AckOvertakesNewleaderAck,
        Bug::CommitInSyncDropped,
        Bug::CommittedLogHole,
        Bug::DiffInsteadOfTrunc,
        Bug::OldLeaderKeepsState,
        Bug::StaleLogWriter,
        Bug::LostCloseSession,
        Bug::SyncNoQuorum,
        Bug::VoteOrderNotTotal,
        Bug::SessionTouchLost,
        Bug::NoContainerReaping,
        Bug::LeaderStopsPinging,
    ];

    /// The knob's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Bug::StaleRead => "stale-read",
            Bug::WatchAfterRead => "watch-after-read",
            Bug::FifoReorder => "fifo-reorder",
            Bug::CommitBeforeQuorum => "commit-before-quorum",
            Bug::AckBeforeFsync => "ack-before-fsync",
            Bug::NewleaderAckEarly => "newleader-ack-early",
            Bug::EpochBeforeTxns => "epoch-before-txns",
            Bug::SyncTxnsLoggedAfterAck => "sync-txns-logged-after-ack",
            Bug::AckOvertakesNewleaderAck => "ack-overtakes-newleader-ack",
            Bug::CommitInSyncDropped => "commit-in-sync-dropped",
            Bug::CommittedLogHole => "committed-log-hole",
            Bug::DiffInsteadOfTrunc => "diff-instead-of-trunc",
            Bug::OldLeaderKeepsState => "old-leader-keeps-state",
            Bug::StaleLogWriter => "stale-log-writer",
            Bug::LostCloseSession => "lost-close-session",
            Bug::SyncNoQuorum => "sync-no-quorum",
            Bug::VoteOrderNotTotal => "vote-order-not-total",
            Bug::SessionTouchLost => "session-touch-lost",
            Bug::NoContainerReaping => "no-container-reaping",
            Bug::LeaderStopsPinging => "leader-stops-pinging",
        }
    }

    /// What the knob re-creates, in one line.
    pub fn description(self) -> &'static str {
        match self {
            Bug::StaleRead => {
                "a server answers a client that has seen a later zxid from its older state"
            }
            Bug::WatchAfterRead => {
                "a watch notification is sent after the read reply it should precede"
            }
            Bug::FifoReorder => {
                "a learner forwards a session's pipelined writes with pairs swapped"
            }
            Bug::CommitBeforeQuorum => "the leader commits a proposal on its own ACK",
            Bug::AckBeforeFsync => "a follower ACKs a proposal before it is durable",
            Bug::NewleaderAckEarly => {
                "ZOOKEEPER-3911/4646: NEWLEADER is ACKed before the synced txns are durable"
            }
            Bug::EpochBeforeTxns => {
                "ZOOKEEPER-4643: currentEpoch is persisted before the synced txns"
            }
            Bug::SyncTxnsLoggedAfterAck => {
                "ZOOKEEPER-3023: the synced txns are logged at UPTODATE, after the NEWLEADER ACK"
            }
            Bug::AckOvertakesNewleaderAck => {
                "ZOOKEEPER-4685: a synced txn's ACK overtakes the NEWLEADER ACK, which is then lost"
            }
            Bug::CommitInSyncDropped => {
                "ZOOKEEPER-4394: a COMMIT between NEWLEADER and UPTODATE is dropped"
            }
            Bug::CommittedLogHole => {
                "ZOOKEEPER-4925: txns applied in sync miss the log a later leader DIFFs from"
            }
            Bug::DiffInsteadOfTrunc => "ZOOKEEPER-1154: the leader sends DIFF where TRUNC is due",
            Bug::OldLeaderKeepsState => {
                "ZOOKEEPER-2845: a deposed leader keeps its uncommitted txns applied"
            }
            Bug::StaleLogWriter => {
                "ZOOKEEPER-4712: a learner's unwritten txns are forgotten, then written after all"
            }
            Bug::LostCloseSession => {
                "ZOOKEEPER-2355: a session whose closeSession was lost keeps its ephemerals"
            }
            Bug::SyncNoQuorum => {
                "ZOOKEEPER-1675: the leader answers sync without a quorum, so sync+read is stale"
            }
            Bug::VoteOrderNotTotal => {
                "ZOOKEEPER-1419: leader election compares votes by an order that is not total"
            }
            Bug::SessionTouchLost => {
                "the leader drops session touches: busy sessions expire one timeout after they began"
            }
            Bug::NoContainerReaping => {
                "the leader never deletes empty containers or expired TTL nodes"
            }
            Bug::LeaderStopsPinging => {
                "the leader stops pinging and its ping timer fires at the same instant forever"
            }
        }
    }

    /// The knob with this command-line name.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of knobs; empty by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs(u32);

impl Bugs {
    /// The set holding only `bug`.
    pub fn only(bug: Bug) -> Bugs {
        Bugs(bug.bit())
    }

    /// Whether `bug` is on.
    pub fn has(self, bug: Bug) -> bool {
        self.0 & bug.bit() != 0
    }

    /// Whether no knob is on: the default build.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set with `bug` switched on as well.
    pub fn and(self, bug: Bug) -> Bugs {
        Bugs(self.0 | bug.bit())
    }

    /// The set with the knob named `name` switched on as well; `None` for an unknown name.
    pub fn with(self, name: &str) -> Option<Bugs> {
        Bug::from_name(name).map(|b| self.and(b))
    }

    /// The knobs that are on, in `Bug::ALL` order.
    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::ALL.into_iter().filter(move |b| self.has(*b))
    }

    /// The names of the knobs that are on.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Bug::name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_knob_round_trips_by_name_and_has_its_own_bit() {
        let mut all = Bugs::default();
        for (i, b) in Bug::ALL.into_iter().enumerate() {
            assert_eq!(b as usize, i, "ALL is in declaration order");
            assert_eq!(Bug::from_name(b.name()), Some(b));
            assert!(!all.has(b));
            all = all.and(b);
            assert!(all.has(b));
            assert_eq!(Bugs::only(b).names(), [b.name()]);
        }
        assert_eq!(all.iter().count(), Bug::ALL.len());
        assert_eq!(Bug::from_name("no-such-bug"), None);
        assert_eq!(Bugs::default().with("no-such-bug"), None);
        assert!(Bugs::default().is_empty());
    }
}
