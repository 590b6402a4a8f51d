//! Durable state and recovery after crashes: a server rebuilds itself from its disk image
//! (`Server::recover`, ZooKeeper's `FileTxnSnapLog.restore`) after crashes at any point;
//! a torn last record is what an interrupted append leaves and is dropped; a corrupt
//! record sends the server to repair by SNAP (Alagappan et al., "Protocol-Aware Recovery
//! for Consensus-Based Storage", FAST 2018), during which it neither votes nor counts
//! toward a quorum.

mod common_recovery;
mod net;

use std::collections::BTreeSet;

use common_recovery::{assert_intact, three};
use net::{Net, create, paths, set_data};
use zksim_core::error::ErrorCode;
use zksim_core::log::{self, DurableRecord, File};
use zksim_core::proto::ConnId;
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};

/// The paths whose create was answered OK on `conn`, given the xid each was sent with.
fn acknowledged(net: &Net, conn: ConnId, sent: &[(i32, String)]) -> Vec<String> {
    sent.iter()
        .filter(|(x, _)| net.reply(conn, *x).is_some_and(|r| r.err == ErrorCode::Ok))
        .map(|(_, p)| p.clone())
        .collect()
}

/// Flip one byte inside the first complete record of a file.
fn corrupt(net: &mut Net, id: ServerId, file: File) {
    let bytes = net
        .nodes
        .get_mut(&id)
        .expect("known")
        .disk
        .files
        .get_mut(&file)
        .expect("the file exists");
    assert!(bytes.len() > 12);
    bytes[10] ^= 0x20;
}

// ----- crashes at every point -----

/// Eight pipelined creates through server 2; the `victims` crash `offset_ms` after they are
/// sent (torn, when asked), restart 300 ms later, and every acknowledged create must
/// survive on every replica.
fn crash_during_workload(victims: &[ServerId], offset_ms: i64, torn: bool) {
    let mut net = three(1000);
    assert_eq!(net.settle(5_000), 3);
    let conn = net.open_session(2);
    let sent: Vec<(i32, String)> = paths("w", 8)
        .into_iter()
        .enumerate()
        .map(|(i, p)| (i as i32 + 1, p))
        .collect();
    for (x, p) in &sent {
        net.request(conn, *x, create(p, "v"));
    }
    net.run_for(offset_ms);
    for v in victims {
        if torn {
            net.crash_torn(*v);
        } else {
            net.crash(*v);
        }
    }
    net.run_for(300);
    for v in victims {
        let state = net.recovered(*v);
        assert!(state.is_ok(), "a crash left unreadable files: {state:?}");
        net.restart(*v);
    }
    net.settle(15_000);
    net.run_for(100);
    let acked = acknowledged(&net, conn, &sent);
    let what = format!("victims {victims:?} at {offset_ms} ms (torn: {torn})");
    assert_intact(&net, &acked, &what);
    // The ensemble still takes writes.
    let c2 = net.open_session(1);
    net.request(c2, 1, create("/after", "v"));
    assert!(
        net.run_until_true(2_000, |n| n.reply(c2, 1).is_some()),
        "{what}: no write after recovery"
    );
}

#[test]
fn a_crash_at_any_point_of_a_workload_loses_no_acknowledged_write() {
    // Zab's durability: a txn acknowledged to a client is on a quorum's disks and in every
    // later leader's history, whichever servers crash and whenever (Zab paper §III,
    // "integrity" and "agreement"; FileTxnSnapLog.restore after a crash).
    for offset_ms in 0..40 {
        let torn = offset_ms % 2 == 1;
        crash_during_workload(&[1], offset_ms, torn);
        crash_during_workload(&[3], offset_ms, torn);
        crash_during_workload(&[1, 3], offset_ms, torn);
        crash_during_workload(&[1, 2, 3], offset_ms, torn);
    }
}

#[test]
fn a_whole_ensemble_restarted_from_disk_has_the_state_it_had() {
    // Server::recover from every disk image: the recovered ensemble's tree is the one it
    // had when it went down, snapshots and logs included.
    let mut net = three(7);
    net.settle(5_000);
    let c = net.open_session(1);
    net.create_all(c, 1, &paths("r", 25));
    for (i, p) in paths("r", 25).iter().enumerate().step_by(3) {
        net.request(c, 100 + i as i32, set_data(p, "changed"));
    }
    net.run_for(200);
    let before = net.digests();
    let before = *before.values().next().expect("servers up");
    for id in [1, 2, 3] {
        net.crash(id);
    }
    for id in [1, 2, 3] {
        assert!(net.recovered(id).expect("readable").snapshot.is_some());
        net.restart(id);
    }
    net.settle(10_000);
    for (id, (zxid, digest)) in net.digests() {
        assert_eq!(zxid, before.0, "server {id}");
        assert_eq!(digest, before.1, "server {id}");
    }
}

// ----- torn and corrupt records -----

#[test]
fn a_torn_last_record_is_dropped_and_the_server_rejoins() {
    // A crash in the middle of an append leaves a partial frame at the end of the log:
    // log::recover drops it (the write never completed, so nothing acknowledged it), the
    // server starts normally, not in repair.
    let mut net = three(1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(2);
    net.create_all(c, 1, &paths("t", 3));
    net.request(c, 10, create("/torn", "v"));
    assert!(net.run_until_true(100, |n| n.server(1).last_logged_zxid()
        > n.recovered(1).expect("readable").last_logged_zxid()));
    assert!(net.crash_torn(1), "a write was in flight");
    let bytes = net.nodes[&1].disk.files[&File::TxnLog].clone();
    assert!(log::decode_all(&bytes, false).is_err(), "the log ends torn");
    let state = net.recovered(1).expect("a torn tail is not corruption");
    assert!(
        state
            .log
            .iter()
            .all(|p| p.hdr.zxid <= net.server(3).last_logged_zxid())
    );
    net.restart(1);
    assert!(!net.server(1).is_repairing());
    net.settle(5_000);
    net.run_for(50);
    assert_intact(&net, &paths("t", 3), "torn");
    assert!(net.server(1).tree().get("/torn").is_some());
}

#[test]
fn a_corrupt_record_sends_the_server_to_repair_by_snap() {
    // A complete record whose checksum fails is corruption: log::recover refuses the files,
    // the server starts as Server::repairing, takes a SNAP however close its log was,
    // replaces every file in one reset persist, and afterwards recovers normally.
    let mut net = three(1000);
    net.record_messages = true;
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(2);
    let acked = paths("c", 5);
    net.create_all(c, 1, &acked);
    net.run_for(50);
    net.crash(1);
    corrupt(&mut net, 1, File::TxnLog);
    let err = net.recovered(1).expect_err("the checksum fails");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    let since = net.now_ms;
    net.restart(1);
    assert!(net.server(1).is_repairing());
    net.settle(5_000);
    assert!(!net.server(1).is_repairing(), "the repair ended");
    let stream: Vec<&'static str> = net
        .messages_between(3, 1, since)
        .into_iter()
        .map(|m| m.kind())
        .filter(|k| ["DIFF", "TRUNC", "SNAP"].contains(k))
        .collect();
    assert_eq!(stream, vec!["SNAP"]);
    let resets: Vec<&Vec<DurableRecord>> = net
        .persists
        .iter()
        .filter(|(t, s, _, _, reset)| *t >= since && *s == 1 && *reset)
        .map(|(_, _, _, r, _)| r)
        .collect();
    assert_eq!(resets.len(), 1, "one reset persist");
    let files: BTreeSet<File> = resets[0].iter().map(DurableRecord::file).collect();
    assert_eq!(
        files,
        File::ALL.into_iter().collect(),
        "it rewrites every file"
    );
    let state = net.recovered(1).expect("the files are whole again");
    assert_eq!(state.current_epoch, net.server(3).current_epoch());
    assert_intact(&net, &acked, "after repair");
    // Afterwards a crash recovers normally.
    net.crash(1);
    net.restart(1);
    assert!(!net.server(1).is_repairing());
    net.settle(5_000);
    net.create_all(c, 10, &paths("later", 2));
    net.run_for(50);
    assert_intact(&net, &acked, "after a normal restart");
}

#[test]
fn a_flipped_length_bit_sends_the_server_to_repair_not_to_lead() {
    // Default seed 8326: a flipped bit in the length of a synced log record made the record
    // run past the end of the file, so recovery read it as a torn tail and dropped it with
    // every record after it. The server, its epoch files intact and the newest, then won
    // the election on its currentEpoch (FastLeaderElection.totalOrderPredicate) and
    // truncated committed txns on the server that had them. Such a log must be refused.
    let mut net = three(1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(3);
    let acked = paths("e", 5);
    net.create_all(c, 1, &acked);
    net.run_for(50);
    // Server 1 stays in the first epoch; servers 2 and 3 move on to a new one.
    net.crash(1);
    let epoch = net.server(3).current_epoch();
    net.crash(3);
    net.restart(3);
    net.settle(10_000);
    assert!(net.server(3).current_epoch() > epoch);
    // Server 2 goes down; server 3's first log record gets a length far past the file end.
    net.crash(2);
    net.crash(3);
    let log = net
        .nodes
        .get_mut(&3)
        .expect("known")
        .disk
        .files
        .get_mut(&File::TxnLog)
        .expect("the log exists");
    log[3] ^= 0x01;
    let err = net
        .recovered(3)
        .expect_err("a corrupt length is not a torn tail");
    assert!(
        err.to_string().contains("length checksum mismatch"),
        "{err}"
    );
    net.restart(3);
    net.restart(1);
    assert!(net.server(3).is_repairing());
    net.run_for(10_000);
    assert!(net.serving().is_empty(), "served: {:?}", net.serving());
    net.restart(2);
    net.settle(10_000);
    assert!(!net.server(3).is_repairing());
    net.run_for(50);
    assert_intact(&net, &acked, "after server 3's repair");
}

#[test]
fn a_repairing_server_never_votes_and_no_quorum_forms_with_it() {
    // Protocol-aware recovery: a server that lost its state has no vote. Servers 1 and 2
    // are down, server 1's log is corrupt; servers 3 and 1 (repairing) could be a quorum
    // of three only if server 1 counted. Nothing is elected until server 2 returns.
    let mut net = three(1000);
    net.record_messages = true;
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(3);
    let acked = paths("v", 4);
    net.create_all(c, 1, &acked);
    net.run_for(50);
    net.crash(1);
    net.crash(2);
    corrupt(&mut net, 1, File::TxnLog);
    let since = net.now_ms;
    net.restart(1);
    net.run_for(30_000);
    assert!(net.serving().is_empty(), "served: {:?}", net.serving());
    assert!(net.server(1).is_repairing());
    for (t, from, _, m) in &net.messages {
        if let PeerMessage::Notification(n) = m {
            if *t >= since && *from == 1 {
                assert_eq!(n.state, PeerState::Observing, "the repairing server voted");
            }
            if *t >= since && *from == 3 {
                assert_ne!(n.leader, 1, "server 3 voted for the repairing server");
            }
        }
    }
    net.restart(2);
    assert_eq!(net.settle(10_000), 3);
    assert!(!net.server(1).is_repairing());
    assert_intact(&net, &acked, "after server 2 returned");
}

#[test]
fn a_repairing_server_acks_count_for_nothing() {
    // Server 1 repairs with its disk stalled, so its repair cannot finish. Server 2
    // crashes: the leader has only server 1 left and must neither commit nor keep leading
    // (Leader.lead: "Not sufficient followers synced").
    let mut net = three(1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(3);
    net.create_all(c, 1, &paths("k", 2));
    net.run_for(50);
    net.crash(1);
    corrupt(&mut net, 1, File::TxnLog);
    net.restart(1);
    net.stall_disk(1, true);
    net.run_for(1_000);
    assert!(net.server(1).is_repairing());
    net.create_all(c, 10, &paths("with2", 1));
    net.crash(2);
    let c3 = net.connect(3, 0, 0, 0);
    net.run_for(2_000);
    assert!(net.serving().is_empty());
    assert!(
        net.session_of(c3).is_none(),
        "a session committed without a quorum"
    );
    net.stall_disk(1, false);
    net.restart(2);
    net.settle(10_000);
    net.run_for(50);
    assert_intact(&net, &paths("k", 2), "after server 2 returned");
}

#[test]
fn a_repaired_server_counts_again() {
    // Once its reset persist is durable, a repaired server holds the leader's history and
    // epoch like any follower: with server 2 gone, the leader and the repaired server 1
    // are a quorum and the leader keeps leading.
    let mut net = three(1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(3);
    net.create_all(c, 1, &paths("k", 2));
    net.run_for(50);
    net.crash(1);
    corrupt(&mut net, 1, File::TxnLog);
    net.restart(1);
    net.settle(5_000);
    assert!(!net.server(1).is_repairing());
    let roles = net.nodes[&3].roles.len();
    net.crash(2);
    net.run_for(3_000);
    assert_eq!(net.nodes[&3].roles.len(), roles, "the leader gave up");
    net.create_all(c, 10, &paths("without2", 2));
}

#[test]
fn non_voters_looking_together_do_not_answer_each_other_forever() {
    // FastLeaderElection answers a non-voter's notification with the receiver's vote, but a
    // server that cannot vote (repairing, or an observer) has no vote worth sending. Two
    // repairing servers and an observer cut off together must stay quiet, and after the
    // heal rejoin through the voters.
    let mut net = Net::new(&[1, 2, 3, 4, 5], &[6], |_| {});
    net.record_messages = true;
    assert_eq!(net.settle(5_000), 5);
    let c = net.open_session(3);
    let acked = paths("r", 3);
    net.create_all(c, 1, &acked);
    net.run_for(50);
    net.crash(1);
    net.crash(2);
    corrupt(&mut net, 1, File::TxnLog);
    corrupt(&mut net, 2, File::TxnLog);
    net.partition(&[1, 2, 6]);
    net.restart(1);
    net.restart(2);
    let since = net.now_ms;
    net.run_for(20_000);
    let among = net
        .messages
        .iter()
        .filter(|(t, f, d, _)| *t >= since && [1, 2, 6].contains(f) && [1, 2, 6].contains(d))
        .count();
    assert!(
        among < 100,
        "{among} notifications among the cut-off non-voters"
    );
    net.heal();
    net.settle(10_000);
    assert!(!net.server(1).is_repairing());
    assert!(!net.server(2).is_repairing());
    net.run_for(50);
    assert_intact(&net, &acked, "after the heal");
}

#[test]
fn a_repairing_server_does_not_hold_back_the_voters_election() {
    // Servers 2 and 3 cannot hear each other for 30 s while server 1, repairing, keeps
    // asking both for a leader. Its OBSERVING notifications must not count as election
    // traffic that postpones their own resends (FastLeaderElection's back-off), or once the
    // link returns they never speak again.
    let mut net = three(1000);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(3);
    let acked = paths("h", 2);
    net.create_all(c, 1, &acked);
    net.run_for(50);
    net.crash(1);
    corrupt(&mut net, 1, File::TxnLog);
    net.drop_filter = Some(Box::new(|from, to, _| {
        (from == 2 && to == 3) || (from == 3 && to == 2)
    }));
    net.run_for(3_000);
    assert!(net.serving().is_empty());
    net.restart(1);
    net.run_for(30_000);
    assert!(net.serving().is_empty());
    net.drop_filter = None;
    // Within one maximal back-off (maxNotificationInterval, 60 s) and an election.
    net.settle(65_000);
    assert!(!net.server(1).is_repairing());
    net.run_for(50);
    assert_intact(&net, &acked, "after the link returned");
}
