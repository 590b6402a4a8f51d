//! Zab phase 2, synchronization, the leader's decision: how to bring a learner whose last
//! zxid is `peer_last` to the leader's history (`LearnerHandler.syncFollower` and
//! `queueCommittedProposals` in ZooKeeper 3.8; LeaderSyncFollower and its SyncFollower in
//! zookeeper-specifications' ZkV3_7_0.tla). The learner's side (FollowerProcessSyncMessage,
//! FollowerProcessNEWLEADER, FollowerProcessUPTODATE) is in `server::learner`.

use crate::stat::Zxid;
use crate::zab::epoch_of;

/// What the leader sends first, and from where the txns of its history follow (each as a
/// PROPOSAL and its COMMIT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPlan {
    /// DIFF: the learner's log is a prefix of the leader's history; the txns after
    /// `txns_after` follow (none when it is `None`).
    Diff {
        zxid: Zxid,
        txns_after: Option<Zxid>,
    },
    /// TRUNC: the learner cuts its log back to `zxid`, then the txns after `txns_after`.
    Trunc {
        zxid: Zxid,
        txns_after: Option<Zxid>,
    },
    /// SNAP: the leader's tree, then the rest of its history.
    Snap,
}

/// The plan for a learner at `peer_last`, over the leader's logged history up to
/// `max_committed` (`history`: its zxids in order, the log after its snapshot). A
/// `force_snap` learner (repairing lost state) always gets SNAP. With
/// `diff_instead_of_trunc` (ZOOKEEPER-1154's knob), DIFF goes where TRUNC is due.
pub fn plan_sync(
    history: &[Zxid],
    peer_last: Zxid,
    max_committed: Zxid,
    force_snap: bool,
    diff_instead_of_trunc: bool,
) -> SyncPlan {
    debug_assert!(history.windows(2).all(|w| w[0] < w[1]));
    assert!(
        history.last().is_none_or(|z| *z <= max_committed),
        "a sync plan over txns past the leader's committed {max_committed:#x}"
    );
    let plan = decide(
        history,
        peer_last,
        max_committed,
        force_snap,
        diff_instead_of_trunc,
    );
    match plan {
        SyncPlan::Trunc { zxid, txns_after } => {
            // LearnerHandler.syncFollower: TRUNC cuts the learner's log back to a txn of
            // the leader's committed history, never forward.
            assert!(
                zxid < peer_last,
                "TRUNC to {zxid:#x} for a learner at {peer_last:#x}"
            );
            assert!(
                zxid <= max_committed,
                "TRUNC to {zxid:#x} past the leader's committed {max_committed:#x}"
            );
            if let Some(after) = txns_after {
                assert_eq!(after, zxid, "the txns after a TRUNC follow its zxid");
            }
        }
        SyncPlan::Diff {
            zxid,
            txns_after: Some(after),
        } if !diff_instead_of_trunc => {
            // A DIFF continues the learner's log from a txn the leader's history holds,
            // up to the leader's committed zxid (queueCommittedProposals).
            assert!(
                history.binary_search(&after).is_ok(),
                "DIFF after {after:#x}, which the leader's history lacks"
            );
            assert_eq!(
                zxid, max_committed,
                "a DIFF brings the learner to the leader's committed"
            );
        }
        SyncPlan::Diff {
            zxid,
            txns_after: None,
        } if !diff_instead_of_trunc => {
            // An empty DIFF only for a learner already at the leader's committed zxid.
            assert_eq!(
                zxid, max_committed,
                "an empty DIFF for a learner at {peer_last:#x}, not at {max_committed:#x}"
            );
        }
        SyncPlan::Diff { .. } | SyncPlan::Snap => {}
    }
    plan
}

/// `plan_sync`'s decision, before its postconditions are checked.
fn decide(
    history: &[Zxid],
    peer_last: Zxid,
    max_committed: Zxid,
    force_snap: bool,
    diff_instead_of_trunc: bool,
) -> SyncPlan {
    if force_snap {
        return SyncPlan::Snap;
    }
    let min_committed = history.first().copied().unwrap_or(max_committed);
    // A learner whose last zxid is a new epoch's zero saw that epoch's NEWLEADER and
    // nothing of it: it has nothing to cut off.
    let is_new_epoch_zxid = peer_last & 0xffff_ffff == 0;
    if peer_last == max_committed {
        return SyncPlan::Diff {
            zxid: peer_last,
            txns_after: None,
        };
    }
    if peer_last > max_committed && !is_new_epoch_zxid {
        if diff_instead_of_trunc {
            // ZOOKEEPER-1154: a DIFF lets the learner keep txns the leader never had.
            return SyncPlan::Diff {
                zxid: peer_last,
                txns_after: None,
            };
        }
        // The learner has txns the leader never saw: cut them off.
        return SyncPlan::Trunc {
            zxid: max_committed,
            txns_after: None,
        };
    }
    if !history.is_empty() && min_committed <= peer_last && peer_last <= max_committed {
        if history.contains(&peer_last) {
            return SyncPlan::Diff {
                zxid: max_committed,
                txns_after: Some(peer_last),
            };
        }
        // The learner's last txn is not in our history: truncate to the last txn we share,
        // but never across an epoch boundary (queueCommittedProposals).
        let prev = history.iter().rev().copied().find(|z| *z < peer_last);
        let next = history.iter().copied().find(|z| *z > peer_last);
        if let (Some(prev), Some(next)) = (prev, next) {
            if epoch_of(next) == epoch_of(peer_last) {
                if diff_instead_of_trunc {
                    return SyncPlan::Diff {
                        zxid: peer_last,
                        txns_after: Some(peer_last),
                    };
                }
                return SyncPlan::Trunc {
                    zxid: prev,
                    txns_after: Some(prev),
                };
            }
        }
    }
    SyncPlan::Snap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::make_zxid;

    fn z(e: u32, c: u32) -> Zxid {
        make_zxid(e, c)
    }

    #[test]
    fn a_learner_at_the_leaders_last_zxid_gets_an_empty_diff() {
        let h = [z(1, 1), z(1, 2)];
        assert_eq!(
            plan_sync(&h, z(1, 2), z(1, 2), false, false),
            SyncPlan::Diff {
                zxid: z(1, 2),
                txns_after: None
            }
        );
    }

    #[test]
    fn a_learner_behind_within_the_log_gets_the_txns_it_lacks() {
        let h = [z(1, 1), z(1, 2), z(1, 3)];
        assert_eq!(
            plan_sync(&h, z(1, 1), z(1, 3), false, false),
            SyncPlan::Diff {
                zxid: z(1, 3),
                txns_after: Some(z(1, 1))
            }
        );
    }

    #[test]
    fn a_learner_ahead_is_truncated_unless_the_knob_sends_diff() {
        let h = [z(1, 1), z(1, 2)];
        assert_eq!(
            plan_sync(&h, z(1, 5), z(1, 2), false, false),
            SyncPlan::Trunc {
                zxid: z(1, 2),
                txns_after: None
            }
        );
        // ZOOKEEPER-1154.
        assert_eq!(
            plan_sync(&h, z(1, 5), z(1, 2), false, true),
            SyncPlan::Diff {
                zxid: z(1, 5),
                txns_after: None
            }
        );
        // A new epoch's zero is not ahead of anything it holds.
        assert_eq!(
            plan_sync(&h, z(2, 0), z(1, 2), false, false),
            SyncPlan::Snap
        );
    }

    #[test]
    fn a_learner_with_a_txn_the_leader_lacks_is_truncated_to_the_last_shared_one() {
        // The learner logged 1:3 of a proposal that never committed; the leader's history
        // went on in epoch 1 without it (a gap: 1:2 then 1:4).
        let h = [z(1, 1), z(1, 2), z(1, 4)];
        assert_eq!(
            plan_sync(&h, z(1, 3), z(1, 4), false, false),
            SyncPlan::Trunc {
                zxid: z(1, 2),
                txns_after: Some(z(1, 2))
            }
        );
        // Across an epoch boundary TRUNC is never used: SNAP.
        let h = [z(1, 1), z(1, 2), z(2, 1)];
        assert_eq!(
            plan_sync(&h, z(1, 3), z(2, 1), false, false),
            SyncPlan::Snap
        );
    }

    #[test]
    fn a_learner_before_the_log_or_repairing_gets_a_snapshot() {
        let h = [z(1, 5), z(1, 6)];
        assert_eq!(
            plan_sync(&h, z(1, 2), z(1, 6), false, false),
            SyncPlan::Snap
        );
        assert_eq!(plan_sync(&h, z(1, 6), z(1, 6), true, false), SyncPlan::Snap);
        assert_eq!(
            plan_sync(&[], z(1, 2), z(1, 6), false, false),
            SyncPlan::Snap
        );
    }
}
