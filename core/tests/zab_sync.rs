//! Zab phase by phase, synchronization (phase 2) (Junqueira, Reed, Serafini, "Zab:
//! High-performance broadcast for primary-backup systems", DSN 2011, §IV and §V;
//! ZooKeeper 3.8's Leader, LearnerHandler and Learner): DIFF, TRUNC and SNAP, and when
//! NEWLEADER's ACK and UPTODATE may go out, each rule shown by the messages and disk
//! writes it causes on the in-test network.

mod common_zab;
mod net;

use common_zab::{recorded, three};
use net::{Net, paths};
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId, make_zxid};

// ----- synchronization -----

/// The sync stream the leader sent `to` since `since_ms`: its kinds, in order, up to
/// NEWLEADER.
fn sync_kinds(net: &Net, leader: ServerId, to: ServerId, since_ms: i64) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    for m in net.messages_between(leader, to, since_ms) {
        if matches!(
            m,
            PeerMessage::Ping { .. }
                | PeerMessage::LeaderInfo { .. }
                | PeerMessage::Notification(_)
        ) {
            continue;
        }
        kinds.push(m.kind());
        if m.kind() == "NEWLEADER" {
            break;
        }
    }
    kinds
}

#[test]
fn sync_a_follower_a_few_txns_behind_gets_a_diff() {
    // LearnerHandler.syncFollower: the follower's last zxid is in the leader's committed
    // log, so DIFF and the missing PROPOSAL/COMMIT pairs, then NEWLEADER.
    let mut net = recorded(&[1, 2, 3], &[], 1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(2);
    net.create_all(c, 1, &paths("before", 1));
    net.run_for(20);
    net.crash(1);
    net.create_all(c, 2, &paths("d", 3));
    let since = net.now_ms;
    net.restart(1);
    net.settle(5_000);
    let mut expected = vec!["DIFF"];
    for _ in 0..3 {
        expected.extend(["PROPOSAL", "COMMIT"]);
    }
    expected.push("NEWLEADER");
    assert_eq!(sync_kinds(&net, 3, 1, since), expected);
    net.assert_converged();
}

#[test]
fn sync_a_follower_with_an_uncommitted_txn_gets_a_trunc() {
    // LearnerHandler.syncFollower: a follower whose log runs past the leader's committed
    // history (a txn only the old leader logged) is truncated to it (ZOOKEEPER-1154).
    let mut net = recorded(&[1, 2, 3], &[], 1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(1);
    net.create_all(c, 1, &paths("a", 2));
    net.orphan_write(3, "/ghost");
    net.crash(3);
    net.drop_filter = None;
    assert_eq!(net.settle(10_000), 2);
    let committed = net.server(2).last_committed_zxid();
    let since = net.now_ms;
    net.restart(3);
    net.settle(5_000);
    let stream: Vec<&PeerMessage> = net
        .messages_between(2, 3, since)
        .into_iter()
        .filter(|m| {
            matches!(
                m,
                PeerMessage::Trunc { .. } | PeerMessage::Diff { .. } | PeerMessage::Snap { .. }
            )
        })
        .collect();
    assert_eq!(stream, vec![&PeerMessage::Trunc { zxid: committed }]);
    assert!(net.server(3).tree().get("/ghost").is_none());
    let disk = net.recovered(3).expect("readable");
    assert_eq!(
        disk.last_logged_zxid(),
        committed,
        "the txn is gone from disk too"
    );
    net.assert_converged();
}

#[test]
fn sync_a_truncation_never_crosses_an_epoch_so_a_snap_is_sent() {
    // LearnerHandler.queueCommittedProposals: "Cannot send TRUNC to peer sid ... peer zxid
    // is from different epoch": the follower's extra txn is from epoch 1, the leader wrote
    // in epoch 2 since, so the follower gets a SNAP.
    let mut net = recorded(&[1, 2, 3], &[], 1000);
    assert_eq!(net.settle(5_000), 3);
    net.orphan_write(3, "/ghost");
    net.crash(3);
    net.drop_filter = None;
    assert_eq!(net.settle(10_000), 2);
    let c = net.open_session(1);
    net.create_all(c, 1, &paths("e2_", 2));
    let since = net.now_ms;
    net.restart(3);
    net.settle(5_000);
    assert_eq!(sync_kinds(&net, 2, 3, since), vec!["SNAP", "NEWLEADER"]);
    assert!(net.server(3).tree().get("/ghost").is_none());
    net.assert_converged();
}

#[test]
fn sync_a_follower_behind_the_leaders_log_gets_a_snap() {
    // LearnerHandler.syncFollower: the follower's last zxid is older than the oldest txn
    // the leader still logs (snapCount trimmed it), so the whole tree goes as a SNAP.
    let mut net = recorded(&[1, 2, 3], &[], 5);
    assert_eq!(net.settle(5_000), 3);
    net.crash(1);
    let c = net.open_session(2);
    net.create_all(c, 1, &paths("s", 20));
    let since = net.now_ms;
    net.restart(1);
    net.settle(5_000);
    assert_eq!(sync_kinds(&net, 3, 1, since), vec!["SNAP", "NEWLEADER"]);
    net.assert_converged();
    let disk = net.recovered(1).expect("readable");
    assert!(disk.snapshot.is_some(), "the SNAP is on server 1's disk");
}

#[test]
fn sync_the_newleader_ack_leaves_only_with_epoch_and_txns_on_disk() {
    // Zab phase 2 and ZOOKEEPER-3911/4643/4646: when a follower acknowledges NEWLEADER its
    // disk holds the new currentEpoch and every txn of the sync stream.
    let mut net = recorded(&[1, 2, 3], &[], 1000);
    assert_eq!(net.settle(5_000), 3);
    net.crash(1);
    let c = net.open_session(2);
    net.create_all(c, 1, &paths("n", 5));
    let leader_last = net.server(3).last_logged_zxid();
    let epoch = net.server(3).current_epoch();
    let since = net.now_ms;
    net.restart(1);
    let newleader_ack = PeerMessage::Ack {
        zxid: make_zxid(epoch, 0),
    };
    let acked = net.run_until_true(5_000, |n| {
        n.messages_between(1, 3, since).contains(&&newleader_ack)
    });
    assert!(acked);
    let disk = net.recovered(1).expect("readable");
    assert_eq!(disk.current_epoch, epoch);
    assert_eq!(disk.last_logged_zxid(), leader_last);
    net.settle(5_000);
}

#[test]
fn sync_uptodate_goes_out_only_once_a_quorum_acknowledged_newleader() {
    // Zab phase 2 (Leader.waitForNewLeaderAck): the leader is established, and sends
    // UPTODATE, only when a quorum (itself included) acknowledged NEWLEADER. Both
    // followers' disks stall during synchronization.
    let mut net = recorded(&[1, 2, 3], &[], 1000);
    assert!(
        net.run_until_true(5_000, |n| n.has_sent(1, 3, "ACKEPOCH", 0)
            && n.has_sent(2, 3, "ACKEPOCH", 0))
    );
    net.stall_disk(1, true);
    net.stall_disk(2, true);
    assert!(net.run_until_true(100, |n| n.has_sent(3, 1, "NEWLEADER", 0)
        && n.has_sent(3, 2, "NEWLEADER", 0)));
    net.run_for(1_000);
    assert!(!net.has_sent(3, 1, "UPTODATE", 0));
    assert!(!net.has_sent(3, 2, "UPTODATE", 0));
    assert!(!net.server(3).is_serving());
    net.stall_disk(1, false);
    assert!(net.run_until_true(100, |n| n.has_sent(3, 1, "UPTODATE", 0)));
    assert!(net.server(3).is_serving());
    net.run_for(200);
    assert!(
        !net.has_sent(3, 2, "UPTODATE", 0),
        "server 2 has not acknowledged"
    );
    net.stall_disk(2, false);
    assert!(net.run_until_true(100, |n| n.has_sent(3, 2, "UPTODATE", 0)));
    net.settle(1_000);
}

#[test]
fn sync_a_follower_that_left_on_its_own_is_synchronized_again() {
    // ZooKeeper's follower gives up on "Committing zxid X, but next pending txn is Y" and
    // connects again; the leader serves the new connection with a new LearnerHandler.
    // Here the link does not break: server 1 loses one COMMIT, sees the next one out of
    // order, goes LOOKING, follows server 3 again, and the leader must start it over on
    // its new FOLLOWERINFO instead of taking it for a stale repeat.
    let mut net = recorded(&[1, 2, 3], &[], 1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(2);
    net.create_all(c, 1, &paths("b", 2));
    let lost = net.server(3).last_committed_zxid() + 1;
    net.drop_filter = Some(Box::new(move |_, to, m| {
        to == 1 && *m == PeerMessage::Commit { zxid: lost }
    }));
    let since = net.now_ms;
    net.create_all(c, 10, &paths("c", 2));
    net.drop_filter = None;
    assert!(net.run_until_true(2_000, |n| n.has_sent(1, 3, "FOLLOWERINFO", since)));
    net.settle(5_000);
    assert!(
        net.has_sent(3, 1, "NEWLEADER", since),
        "server 1 was synchronized again"
    );
    net.run_for(50);
    net.assert_converged();
    for p in paths("c", 2) {
        assert!(net.server(1).tree().get(&p).is_some());
    }
}

#[test]
fn learner_only_messages_a_leader_sends_keep_it_following() {
    // Crossing notifications can leave two servers each following the other (swarm seed
    // 6632). A FOLLOWERINFO from the server we follow proves it is not leading, so it must
    // not reset the limit: the learner gives up as ZooKeeper's does when no leader answers
    // (Learner.connectToLeader stops retrying after initLimit ticks).
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let node = net.nodes.get_mut(&1).expect("known");
    let limit_ms = node.config.sync_limit.max(node.config.init_limit) * node.config.tick_ms;
    let tick_ms = node.config.tick_ms;
    let mut follower = node.server.take().expect("server 1 is up");
    assert_eq!(follower.leader(), Some(3));
    let start = net.now_ms;
    let mut now = start;
    let mut out = Vec::new();
    while now <= start + 2 * limit_ms && follower.state() == PeerState::Following {
        now += tick_ms;
        let info = PeerMessage::LearnerInfo {
            accepted_epoch: 1,
            last_zxid: 0,
            observer: false,
            repairing: false,
        };
        follower.on_peer_message(now, 3, info, &mut out);
        follower.on_tick(now, &mut out);
    }
    assert_eq!(
        follower.state(),
        PeerState::Looking,
        "a FOLLOWERINFO every tick kept server 1 following for {} ms",
        now - start
    );
    assert!(now - start <= limit_ms + tick_ms, "gave up after the limit");
}
