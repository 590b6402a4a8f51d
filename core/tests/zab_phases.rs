//! Zab phase by phase (Junqueira, Reed, Serafini, "Zab: High-performance broadcast for
//! primary-backup systems", DSN 2011, §IV and §V; ZooKeeper 3.8's FastLeaderElection,
//! Leader, LearnerHandler and Learner): fast leader election, discovery (phase 1),
//! synchronization (phase 2) and broadcast (phase 3), each rule shown by the messages
//! and disk writes it causes on the in-test network.

mod net;

use net::{Net, create, paths};
use zksim_core::error::ErrorCode;
use zksim_core::log::{self, DurableRecord};
use zksim_core::zab::election::{Election, ElectionEffect, ElectionTiming, is_better};
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::quorum::QuorumVerifier;
use zksim_core::zab::{PeerState, ServerId, epoch_of, make_zxid};

fn three() -> Net {
    Net::new(&[1, 2, 3], &[], |_| {})
}

fn recorded(voters: &[ServerId], observers: &[ServerId], snap_count: usize) -> Net {
    let mut net = Net::new(voters, observers, move |c| c.snap_count = snap_count);
    net.record_messages = true;
    net
}

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

// ----- broadcast -----

/// The zxids `from` acknowledged to `to` since `since_ms`, NEWLEADER ACKs left out.
fn acks(net: &Net, from: ServerId, to: ServerId, since_ms: i64) -> Vec<i64> {
    net.messages_between(from, to, since_ms)
        .into_iter()
        .filter_map(|m| match m {
            PeerMessage::Ack { zxid } if zxid & 0xffff_ffff != 0 => Some(*zxid),
            _ => None,
        })
        .collect()
}

#[test]
fn broadcast_a_follower_acks_a_proposal_only_once_it_is_durable() {
    // Zab phase 3 (SyncRequestProcessor before SendAckRequestProcessor): no ACK while the
    // follower's disk has not synced the proposal; the leader commits with the other
    // follower meanwhile.
    let mut net = recorded(&[1, 2, 3], &[], 1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(3);
    net.stall_disk(1, true);
    let since = net.now_ms;
    net.request(c, 1, create("/x", "1"));
    assert!(net.run_until_true(1_000, |n| n.reply(c, 1).is_some()));
    assert!(net.has_sent(3, 1, "PROPOSAL", since));
    net.run_for(500);
    assert!(
        acks(&net, 1, 3, since).is_empty(),
        "server 1 acked with its disk stalled"
    );
    let zxid = net.reply(c, 1).expect("answered").zxid;
    net.stall_disk(1, false);
    assert!(net.run_until_true(100, |n| acks(n, 1, 3, since) == vec![zxid]));
    let disk = net.recovered(1).expect("readable");
    assert!(disk.log.iter().any(|p| p.hdr.zxid == zxid));
}

#[test]
fn broadcast_commits_only_on_a_quorum_and_in_zxid_order() {
    // Zab phase 3 (Leader.tryToCommit): a proposal commits once a quorum acknowledged it,
    // and never before the proposals ahead of it. The leader's own disk is stalled, and
    // both followers' ACKs for the first of two proposals are lost: the second has a
    // quorum of ACKs but must wait behind the first.
    let mut net = recorded(&[1, 2, 3], &[], 1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(3);
    let base = net.server(3).last_committed_zxid();
    let first = base + 1;
    net.stall_disk(3, true);
    net.drop_filter = Some(Box::new(move |_, to, m| {
        to == 3 && *m == PeerMessage::Ack { zxid: first }
    }));
    // The session's own COMMIT left at this very millisecond.
    let since = net.now_ms + 1;
    net.request(c, 1, create("/p1", "1"));
    net.request(c, 2, create("/p2", "2"));
    net.run_for(500);
    for f in [1, 2] {
        assert_eq!(acks(&net, f, 3, since), vec![first, first + 1]);
    }
    for id in [1, 2, 3] {
        assert_eq!(
            net.server(id).last_committed_zxid(),
            base,
            "server {id} applied"
        );
    }
    assert!(!net.has_sent(3, 1, "COMMIT", since));
    assert!(net.reply(c, 2).is_none());
    // The leader's own ACK is no quorum for the first proposal: still nothing commits.
    net.stall_disk(3, false);
    net.drop_filter = None;
    net.run_for(100);
    assert_eq!(net.server(3).last_committed_zxid(), base);
    assert!(!net.has_sent(3, 1, "COMMIT", since));
    // A lost message breaks its FIFO link (TCP): server 1 resynchronizes, gets the
    // outstanding proposals again and acknowledges them; both commit, first first.
    net.partition(&[1]);
    net.heal();
    net.settle(5_000);
    assert!(net.run_until_true(1_000, |n| n.reply(c, 2).is_some()));
    let commits: Vec<i64> = net
        .messages_between(3, 2, since)
        .into_iter()
        .filter_map(|m| match m {
            PeerMessage::Commit { zxid } => Some(*zxid),
            _ => None,
        })
        .collect();
    assert_eq!(commits, vec![first, first + 1]);
    net.assert_converged();
}

#[test]
fn broadcast_proposals_queued_behind_a_write_in_flight_share_one_persist() {
    // Group commit (SyncRequestProcessor flushes a batch with one fsync): six pipelined
    // writes arrive together; the first is written alone, the other five wait for it and
    // leave in one persist, on the leader and on each follower, whose ACKs for the five
    // then leave together.
    let mut net = recorded(&[1, 2, 3], &[], 1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(3);
    let since = net.now_ms;
    for x in 1..=6 {
        net.request(c, x, create(&format!("/g{x}"), "v"));
    }
    assert!(net.run_until_true(1_000, |n| n.reply(c, 6).is_some()));
    for id in [1, 2, 3] {
        let batches: Vec<usize> = net
            .persists
            .iter()
            .filter(|(t, s, ..)| *t >= since && *s == id)
            .map(|(.., records, _)| {
                records
                    .iter()
                    .filter(|r| matches!(r, DurableRecord::Txn(_)))
                    .count()
            })
            .collect();
        assert_eq!(batches, vec![1, 5], "server {id}'s persists");
    }
    let ack_times: Vec<i64> = net
        .messages
        .iter()
        .filter(|(t, f, _, m)| *t >= since && *f == 1 && matches!(m, PeerMessage::Ack { .. }))
        .map(|(t, ..)| *t)
        .collect();
    assert_eq!(ack_times.len(), 6);
    assert!(
        ack_times[1..].iter().all(|t| *t == ack_times[1]),
        "{ack_times:?}"
    );
    assert!(ack_times[0] < ack_times[1]);
    net.run_for(20);
    net.assert_converged();
}

#[test]
fn broadcast_observers_get_inform_and_never_ack() {
    // Observers (ZooKeeper's Observer and Leader.sendObserverPacket): a committed txn goes
    // to them as one INFORM; they get no PROPOSAL or COMMIT and send no ACK for txns.
    let mut net = recorded(&[1, 2, 3], &[4], 1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(4);
    let since = net.now_ms;
    net.create_all(c, 1, &paths("o", 4));
    net.run_for(50);
    let to_observer: Vec<&'static str> = net
        .messages_between(3, 4, since)
        .into_iter()
        .map(|m| m.kind())
        .filter(|k| *k != "PING")
        .collect();
    assert!(
        to_observer
            .iter()
            .all(|k| ["INFORM", "SYNC", "REVALIDATE_REPLY"].contains(k))
    );
    assert_eq!(to_observer.iter().filter(|k| **k == "INFORM").count(), 4);
    assert!(
        acks(&net, 4, 3, 0).is_empty(),
        "the observer acknowledged a txn"
    );
    assert_eq!(net.server(4).state(), PeerState::Observing);
    net.assert_converged();
}

#[test]
fn broadcast_five_servers_work_with_two_down_and_stop_with_three_down() {
    // A quorum of five voters is three (QuorumMaj).
    let mut net = Net::new(&[1, 2, 3, 4, 5], &[], |_| {});
    assert_eq!(net.settle(5_000), 5);
    net.crash(5);
    net.crash(4);
    let leader = net.settle(10_000);
    assert_eq!(leader, 3);
    let c = net.open_session(1);
    net.create_all(c, 1, &paths("q", 3));
    net.crash(3);
    net.run_for(20_000);
    assert!(
        net.serving().is_empty(),
        "two of five served: {:?}",
        net.serving()
    );
    let c2 = net.connect(1, 0, 0, 0);
    net.run_for(500);
    assert!(net.session_of(c2).is_none());
    net.restart(4);
    // Server 4 missed epoch 2: server 2 has the newest history and the higher id.
    assert_eq!(net.settle(10_000), 2);
    let c3 = net.open_session(2);
    net.request(c3, 1, create("/after", "v"));
    assert!(net.run_until_true(1_000, |n| {
        n.reply(c3, 1).is_some_and(|r| r.err == ErrorCode::Ok)
    }));
    net.run_for(50);
    for p in paths("q", 3) {
        assert!(net.server(4).tree().get(&p).is_some());
    }
    net.assert_converged();
}
