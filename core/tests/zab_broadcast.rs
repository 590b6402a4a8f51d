//! Zab phase by phase, broadcast (phase 3) (Junqueira, Reed, Serafini, "Zab:
//! High-performance broadcast for primary-backup systems", DSN 2011, §IV and §V;
//! ZooKeeper 3.8's Leader, LearnerHandler and Learner): proposals, acknowledgements and
//! commits, observers and quorums, each rule shown by the messages and disk writes it
//! causes on the in-test network.

mod common_zab;
mod net;

use common_zab::recorded;
use net::{Net, create, paths};
use zksim_core::error::ErrorCode;
use zksim_core::log::DurableRecord;
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};

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
