//! Zab phase by phase, up to an established epoch (Junqueira, Reed, Serafini, "Zab:
//! High-performance broadcast for primary-backup systems", DSN 2011, §IV and §V;
//! ZooKeeper 3.8's FastLeaderElection, Leader, LearnerHandler and Learner): fast leader
//! election and discovery (phase 1), each rule shown by the messages and disk writes it
//! causes on the in-test network.

mod common_zab;
mod net;

use common_zab::{recorded, three};
use net::{Net, paths};
use zksim_core::log::{self, DurableRecord};
use zksim_core::zab::election::{Election, ElectionEffect, ElectionTiming, is_better};
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::quorum::QuorumVerifier;
use zksim_core::zab::{PeerState, ServerId, epoch_of};

/// Replace a crashed server's epoch file (as a node that took part in an unfinished
/// discovery would have left it).
fn set_epoch_file(net: &mut Net, id: ServerId, record: DurableRecord) {
    assert!(!net.is_up(id));
    let file = record.file();
    net.nodes
        .get_mut(&id)
        .expect("known")
        .disk
        .files
        .insert(file, log::encode(&record));
}

// ----- fast leader election -----

#[test]
fn election_ties_in_epoch_and_zxid_go_to_the_highest_server_id() {
    // FastLeaderElection.totalOrderPredicate: equal (epoch, zxid), the larger sid wins.
    assert!(is_better(5, 7, 1, 4, 7, 1));
    assert!(!is_better(4, 7, 1, 5, 7, 1));
    let mut net = Net::new(&[1, 2, 3, 4, 5], &[], |_| {});
    assert_eq!(net.settle(5_000), 5);
    for id in 1..=4 {
        assert_eq!(net.server(id).state(), PeerState::Following);
        assert_eq!(net.server(id).leader(), Some(5));
    }
}

#[test]
fn election_a_later_epoch_beats_a_higher_zxid() {
    // Votes compare currentEpoch before zxid (ZOOKEEPER-1419's total order): server 3
    // logged a txn of epoch 1 that was never committed and has the highest id, but servers
    // 1 and 2 went on to epoch 2. When all restart, epoch 2 wins and the txn is dropped.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(1);
    let acked = paths("a", 3);
    net.create_all(c, 1, &acked);
    net.orphan_write(3, "/ghost");
    net.crash(3);
    net.drop_filter = None;
    assert_eq!(net.settle(10_000), 2);
    assert_eq!(net.server(2).current_epoch(), 2);
    let last_of_1_2 = net.server(2).last_logged_zxid();
    assert_eq!(epoch_of(last_of_1_2), 1, "epoch 2 has written nothing yet");
    for id in [1, 2] {
        net.crash(id);
    }
    let ghost = net.recovered(3).expect("readable").last_logged_zxid();
    assert!(ghost > last_of_1_2, "server 3 has the higher zxid");
    for id in [1, 2, 3] {
        net.restart(id);
    }
    assert_eq!(
        net.settle(10_000),
        2,
        "the epoch-2 server with the higher id leads"
    );
    for id in [1, 2, 3] {
        assert!(net.server(id).tree().get("/ghost").is_none());
        for p in &acked {
            assert!(net.server(id).tree().get(p).is_some());
        }
    }
    net.assert_converged();
}

#[test]
fn election_notifications_back_off_exponentially_while_no_one_answers() {
    // FastLeaderElection.lookForLeader: with no notification received, notTimeout doubles
    // up to maxNotificationInterval; an answer ends the election at once, not at the next
    // resend.
    let mut net = three();
    net.settle(5_000);
    net.crash(2);
    net.crash(3);
    let since = net.now_ms;
    net.run_for(300_000);
    let times: Vec<i64> = net
        .sent
        .iter()
        .filter(|(t, f, d, k)| *t >= since && *f == 1 && *d == 2 && *k == "NOTIFICATION")
        .map(|(t, ..)| *t)
        .collect();
    let gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(&gaps[..6], &[200, 400, 800, 1600, 3200, 6400], "{gaps:?}");
    assert!(gaps.iter().all(|g| *g <= 60_000), "{gaps:?}");
    assert_eq!(
        gaps.last(),
        Some(&60_000),
        "capped at maxNotificationInterval"
    );
    let before = net.now_ms;
    net.restart(2);
    net.settle(2_000);
    assert!(net.now_ms - before < 1_000, "an answer ends the back-off");
}

#[test]
fn election_a_restarted_server_joins_the_established_leader() {
    // FastLeaderElection: a LOOKING server that hears a quorum FOLLOWING/LEADING the same
    // leader, and that leader LEADING, follows it; the ensemble holds no new election.
    let mut net = three();
    let leader = net.settle(5_000);
    let epoch = net.server(leader).current_epoch();
    net.crash(1);
    let roles_of = |n: &Net, id: ServerId| n.nodes[&id].roles.len();
    let (r2, r3) = (roles_of(&net, 2), roles_of(&net, 3));
    net.restart(1);
    net.settle(5_000);
    assert_eq!(net.leader(), Some(leader));
    assert_eq!(net.server(1).leader(), Some(leader));
    assert_eq!(net.server(1).current_epoch(), epoch, "no new epoch");
    assert_eq!(roles_of(&net, 2), r2, "server 2 kept following");
    assert_eq!(roles_of(&net, 3), r3, "server 3 kept leading");
}

#[test]
fn election_observers_never_vote_and_are_never_elected() {
    // Observers (ZooKeeper's OBSERVING peers) announce themselves as such, are not counted
    // by anyone's election, and never lead, even with the highest ids.
    let mut net = recorded(&[1, 2, 3], &[8, 9], 1000);
    assert_eq!(net.settle(5_000), 3);
    for id in [8, 9] {
        assert_eq!(net.server(id).state(), PeerState::Observing);
    }
    net.crash(3);
    net.crash(2);
    net.run_for(20_000);
    assert!(
        net.serving().is_empty(),
        "one voter and two observers are no quorum"
    );
    for (_, from, _, m) in &net.messages {
        if let PeerMessage::Notification(n) = m {
            if [8, 9].contains(from) {
                assert_eq!(n.state, PeerState::Observing, "observer {from} voted");
            } else {
                assert!(![8, 9].contains(&n.leader), "server {from} voted for {n:?}");
            }
        }
    }
    net.restart(2);
    assert_eq!(net.settle(10_000), 2);
    assert_eq!(net.server(9).leader(), Some(2));
}

#[test]
fn election_a_non_voter_never_proposes_itself() {
    // The election of an observer (or of a server repairing its files) starts with no
    // vote to give: its notifications say OBSERVING and a quorum of LOOKING votes for it
    // decides nothing.
    let q = QuorumVerifier::new([1, 2, 3]);
    let mut out = Vec::new();
    let mut e = Election::start(
        0,
        3,
        q,
        ElectionTiming::default(),
        false,
        0,
        99,
        9,
        &mut out,
    );
    for eff in &out {
        if let ElectionEffect::Send { notification, .. } = eff {
            assert_eq!(notification.state, PeerState::Observing);
        }
    }
    out.clear();
    let vote_for_3 = zksim_core::zab::messages::Notification {
        leader: 3,
        zxid: 99,
        election_epoch: 1,
        state: PeerState::Looking,
        peer_epoch: 9,
    };
    e.on_notification(1, 1, vote_for_3, &mut out);
    e.on_notification(1, 2, vote_for_3, &mut out);
    e.on_tick(60_000, &mut out);
    assert!(
        !out.iter()
            .any(|x| matches!(x, ElectionEffect::Decided { .. }))
    );
}

// ----- discovery -----

#[test]
fn discovery_the_accepted_epoch_is_durable_before_ackepoch_leaves() {
    // Zab phase 1 (Learner.registerWithLeader): a follower writes acceptedEpoch before it
    // acknowledges the new epoch. With server 1's disk stalled, its ACKEPOCH is held.
    let mut net = three();
    net.stall_disk(1, true);
    net.run_until_true(5_000, |n| n.has_sent(3, 1, "LEADERINFO", 0));
    net.run_for(500);
    assert!(
        !net.has_sent(1, 3, "ACKEPOCH", 0),
        "ACKEPOCH before acceptedEpoch is durable"
    );
    assert_eq!(net.recovered(1).expect("readable").accepted_epoch, 0);
    assert!(net.server(3).is_serving(), "servers 2 and 3 are a quorum");
    net.stall_disk(1, false);
    assert!(net.run_until_true(1_000, |n| n.has_sent(1, 3, "ACKEPOCH", 0)));
    assert_eq!(net.recovered(1).expect("readable").accepted_epoch, 1);
    net.settle(5_000);
}

#[test]
fn discovery_the_new_epoch_is_one_past_the_highest_accepted_epoch_of_the_quorum() {
    // Leader.getEpochToPropose: epoch = max(acceptedEpoch of the connected quorum) + 1.
    // Server 1 had accepted epoch 7 in a discovery that never finished.
    let mut net = three();
    net.settle(5_000);
    for id in [1, 2, 3] {
        net.crash(id);
    }
    set_epoch_file(&mut net, 1, DurableRecord::AcceptedEpoch(7));
    for id in [1, 2, 3] {
        net.restart(id);
    }
    net.settle(10_000);
    for id in [1, 2, 3] {
        assert_eq!(net.server(id).accepted_epoch(), 8);
        assert_eq!(net.server(id).current_epoch(), 8);
    }
    // An accepted epoch is a promise that outlives the leader that asked for it: server 3
    // accepted epoch 20 and is down while 1 and 2 choose epoch 9. It refuses a leader of
    // epoch 9 (Learner.registerWithLeader: "Leaders epoch is less than accepted epoch"),
    // and the next discovery that includes it moves past 20.
    for id in [1, 2, 3] {
        net.crash(id);
    }
    set_epoch_file(&mut net, 3, DurableRecord::AcceptedEpoch(20));
    net.restart(1);
    net.restart(2);
    let leader9 = net.settle(10_000);
    assert_eq!(net.server(leader9).current_epoch(), 9);
    let since = net.now_ms;
    net.restart(3);
    net.run_for(3_000);
    assert!(!net.has_sent(3, leader9, "ACKEPOCH", since));
    assert!(!net.server(3).is_serving());
    assert_eq!(net.server(3).accepted_epoch(), 20);
    net.crash(leader9);
    net.settle(10_000);
    assert_eq!(net.server(3).current_epoch(), 21);
}

#[test]
fn discovery_a_leader_behind_a_follower_gives_up() {
    // Zab phase 1 / Leader.waitForEpochAck: "Follower is ahead of the leader". Server 5
    // logged /ghost (never committed) and crashed; server 4 is elected by 1..4 and waits
    // for their ACKEPOCH (their disks are stalled). Server 5 returns, joins server 4 and
    // reports a longer history of the same epoch: server 4 must not synchronize it (that
    // would cut a txn that may be committed) and gives up; the next election picks 5.
    let mut net = Net::new(&[1, 2, 3, 4, 5], &[], |_| {});
    assert_eq!(net.settle(5_000), 5);
    let c = net.open_session(1);
    let acked = paths("a", 3);
    net.create_all(c, 1, &acked);
    net.orphan_write(5, "/ghost");
    net.crash(5);
    net.drop_filter = None;
    for id in [1, 2, 3] {
        net.stall_disk(id, true);
    }
    let since = net.now_ms;
    assert!(
        net.run_until_true(5_000, |n| [1, 2, 3].iter().all(|f| n.has_sent(
            4,
            *f,
            "LEADERINFO",
            since
        )))
    );
    net.restart(5);
    assert!(net.run_until_true(5_000, |n| n.has_sent(5, 4, "ACKEPOCH", since)));
    net.run_for(10);
    assert_ne!(
        net.server(4).state(),
        PeerState::Leading,
        "the leader behind gave up"
    );
    for kind in ["DIFF", "TRUNC", "SNAP", "NEWLEADER"] {
        assert!(
            !net.has_sent(4, 5, kind, since),
            "server 4 sent {kind} to server 5"
        );
    }
    for id in [1, 2, 3] {
        net.stall_disk(id, false);
    }
    assert_eq!(net.settle(20_000), 5);
    for id in 1..=5 {
        assert!(net.server(id).tree().get("/ghost").is_some());
    }
    net.assert_converged();
    net.assert_replicas_agree();
}
