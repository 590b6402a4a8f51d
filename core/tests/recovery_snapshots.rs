//! Durable state and recovery from snapshots: fuzzy snapshots (taken while txns keep being
//! applied, ZooKeeper's `FileTxnSnapLog.restore`) replay to the same tree as the other
//! replicas; a restore replays only the log after the snapshot's label; a SNAP never
//! confirmed, or a snapshot past the leader's history, still ends in the leader's state.

mod common_recovery;
mod net;

use common_recovery::{assert_intact, three};
use net::{Net, create, ephemeral, paths, set_data};
use zksim_core::error::ErrorCode;
use zksim_core::log::{self, DurableRecord, File};
use zksim_core::proto::{ClientMessage, ConnId, ServerMessage};
use zksim_core::request::{CreateMode, Request};
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::{PeerState, ServerId};

// ----- fuzzy snapshots -----

fn seq(path: &str) -> Request {
    Request::Create {
        path: path.to_string(),
        data: None,
        acl: zksim_core::acl::Acl::open_unsafe(),
        mode: CreateMode::PersistentSequential,
        ttl: None,
    }
}

/// A workload that touches every kind of txn: creates, sequential creates, setData,
/// deletes, a multi, and a session whose ephemerals go with its close.
fn mixed_workload(net: &mut Net, server: ServerId, first_xid: i32) {
    let c = net.open_session(server);
    let eph = net.open_session(server);
    let mut x = first_xid;
    let mut send = |net: &mut Net, conn: ConnId, r: Request| {
        net.request(conn, x, r);
        x += 1;
    };
    send(net, c, create("/q", "queue"));
    for i in 0..4 {
        send(net, c, seq("/q/item-"));
        send(net, c, create(&format!("/m{i}"), "v"));
        send(net, c, set_data(&format!("/m{i}"), "w"));
        send(net, c, set_data(&format!("/m{i}"), "x"));
    }
    send(net, eph, ephemeral("/lock"));
    send(net, eph, ephemeral("/q/eph"));
    send(
        net,
        c,
        Request::Delete {
            path: "/m1".into(),
            version: -1,
        },
    );
    send(
        net,
        c,
        Request::Multi(vec![
            create("/multi", "m"),
            Request::Delete {
                path: "/m2".into(),
                version: -1,
            },
        ]),
    );
    send(net, c, create("/m1", "again"));
    net.client_send(eph, ClientMessage::CloseSession { xid: 999 });
    assert!(net.run_until_true(3_000, |n| {
        n.conns[&eph]
            .inbox
            .iter()
            .any(|m| matches!(m, ServerMessage::Reply { xid: 999, .. }))
    }));
    net.run_for(100);
}

#[test]
fn a_fuzzy_snapshot_replays_to_the_same_tree() {
    // ZooKeeper's snapshots are fuzzy: taken while txns keep being applied, labelled with
    // the zxid at which they began, and made whole by replaying the log after the label
    // (FileTxnSnapLog.restore; ZOOKEEPER-3104's cversion fix for replayed creates). Server
    // 1's disk stalls while it applies commits, so the snapshot it decided is written
    // later, holding txns past its label; restarted from it, it reaches the same digest.
    let mut net = three(5);
    assert_eq!(net.settle(5_000), 3);
    net.stall_disk(1, true);
    mixed_workload(&mut net, 2, 1);
    assert!(
        net.server(1).last_committed_zxid()
            > net.recovered(1).expect("readable").last_logged_zxid()
    );
    net.stall_disk(1, false);
    net.run_for(100);
    net.crash(1);
    let disk = net.recovered(1).expect("readable");
    let snap = disk.snapshot.as_ref().expect("a snapshot was written");
    let newest = snap
        .nodes
        .iter()
        .map(|n| n.stat.mzxid.max(n.stat.pzxid))
        .max()
        .expect("nodes");
    assert!(
        newest > snap.zxid,
        "the snapshot is fuzzy: it holds txns past its label"
    );
    net.restart(1);
    net.settle(5_000);
    net.run_for(50);
    net.assert_converged();
    // The same with the leader's disk stalled, and then the whole ensemble from disk.
    net.stall_disk(3, true);
    mixed_workload(&mut net, 1, 1000);
    net.stall_disk(3, false);
    net.run_for(100);
    let before = net.digests()[&2];
    for id in [1, 2, 3] {
        net.crash(id);
    }
    for id in [1, 2, 3] {
        net.restart(id);
    }
    net.settle(10_000);
    for (id, d) in net.digests() {
        assert_eq!(d, before, "server {id}");
    }
}

#[test]
fn a_delete_replayed_over_a_fuzzy_snapshot_drops_the_later_incarnations_children() {
    // A fuzzy snapshot can hold a node deleted after its label and created again, with a
    // child. Replaying the log meets the delete while that node has the child: ZooKeeper's
    // DataTree.deleteNode unlinks the node without looking at its children (only prep
    // checks NotEmpty), and the replayed creates bring both back. Server 1's disk stalls
    // so that the snapshot it decides at the create of /p is written after the delete,
    // the second create and /p/c; restarted from it, it must replay to the others' tree.
    let mut net = three(2);
    assert_eq!(net.settle(5_000), 3);
    net.stall_disk(1, true);
    let c = net.open_session(2);
    net.request(c, 1, create("/p", "first"));
    net.request(
        c,
        2,
        Request::Delete {
            path: "/p".into(),
            version: -1,
        },
    );
    net.request(c, 3, create("/p", "second"));
    net.request(c, 4, create("/p/c", "child"));
    assert!(net.run_until_true(2_000, |n| n.reply(c, 4).is_some()));
    for x in 1..=4 {
        assert_eq!(
            net.reply(c, x).map(|r| r.err),
            Some(ErrorCode::Ok),
            "xid {x}"
        );
    }
    net.run_for(50);
    assert!(net.server(1).tree().get("/p/c").is_some());
    net.stall_disk(1, false);
    net.run_for(100);
    net.crash(1);
    let disk = net.recovered(1).expect("readable");
    let snap = disk.snapshot.as_ref().expect("a snapshot was written");
    let deleted_at = disk
        .log
        .iter()
        .find(|p| matches!(&p.txn, zksim_core::txn::Txn::Delete { path } if path == "/p"))
        .expect("the delete of /p is logged after the label")
        .hdr
        .zxid;
    assert!(snap.zxid < deleted_at);
    assert!(
        snap.nodes.iter().any(|n| n.path == "/p/c"),
        "the snapshot is fuzzy: it holds the child created after the delete"
    );
    net.restart(1);
    net.settle(5_000);
    net.run_for(50);
    net.assert_converged();
    assert!(net.server(1).tree().get("/p/c").is_some());
}

#[test]
fn a_snapshot_restore_replays_only_the_log_after_its_label() {
    // Server::recover: the tree comes from the newest snapshot; the txns logged after it are
    // kept but applied only once a leader confirms them (the follower may have logged
    // txns that are truncated away).
    let mut net = three(4);
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(2);
    net.create_all(c, 1, &paths("l", 10));
    net.run_for(50);
    net.crash(1);
    let disk = net.recovered(1).expect("readable");
    let snap = disk.snapshot.clone().expect("snapshot");
    assert!(disk.log.iter().all(|p| p.hdr.zxid > snap.zxid));
    let restored = zksim_core::server::Server::recover(net.nodes[&1].config.clone(), disk);
    assert_eq!(restored.last_committed_zxid(), snap.zxid);
    assert_eq!(restored.state(), PeerState::Looking);
    net.restart(1);
    net.settle(5_000);
    net.assert_converged();
}

#[test]
fn a_snap_never_confirmed_leaves_the_server_consistent() {
    // A learner writes the leader's SNAP when NEWLEADER arrives but installs it only at
    // UPTODATE. Server 1 takes a SNAP with its disk stalled (so it cannot ACK), loses that
    // leader, and is synchronized by the next one from the SNAP's zxid with a DIFF: its
    // tree must then start from the snapshot, not from the older tree it had.
    let mut net = three(5);
    assert_eq!(net.settle(5_000), 3);
    net.crash(1);
    let c = net.open_session(2);
    let acked = paths("n", 20);
    net.create_all(c, 1, &acked);
    net.run_for(50);
    net.stall_disk(1, true);
    let since = net.now_ms;
    net.restart(1);
    assert!(net.run_until_true(5_000, |n| n.has_sent(3, 1, "NEWLEADER", since)));
    net.run_for(20);
    assert!(!net.server(1).is_serving());
    net.crash(3);
    net.run_for(100);
    net.stall_disk(1, false);
    assert_eq!(net.settle(10_000), 2);
    net.run_for(50);
    assert_intact(&net, &acked, "after the unconfirmed SNAP");
    net.restart(3);
    net.settle(10_000);
    net.run_for(50);
    assert_intact(&net, &acked, "with server 3 back");
}

#[test]
fn a_follower_whose_snapshot_runs_past_the_leader_repairs_instead_of_truncating() {
    // A snapshot can hold txns that were never committed when it came from a SNAP that was
    // never confirmed. A leader whose committed history ends before it answers with TRUNC,
    // which the follower cannot obey (a snapshot cannot be cut): it must not acknowledge
    // the sync, and takes a full copy by SNAP as a repairing server does.
    let mut net = three(1000);
    net.record_messages = true;
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(2);
    let acked = paths("a", 3);
    net.create_all(c, 1, &acked);
    net.run_for(50);
    net.crash(1);
    // Server 1's disk: a snapshot one txn past the committed history, holding /ghost.
    let mut snap = net.server(2).tree().snapshot();
    snap.zxid += 1;
    let mut ghost = snap
        .nodes
        .iter()
        .find(|n| n.path == "/a0")
        .expect("node")
        .clone();
    ghost.path = "/ghost".to_string();
    ghost.stat.czxid = snap.zxid;
    ghost.stat.mzxid = snap.zxid;
    snap.nodes.push(ghost);
    let epoch = net.server(3).current_epoch();
    let files = &mut net.nodes.get_mut(&1).expect("known").disk.files;
    files.clear();
    let snapshot = DurableRecord::Snapshot(std::sync::Arc::new(snap.clone()));
    files.insert(File::Snapshots, log::encode(&snapshot));
    files.insert(
        File::AcceptedEpoch,
        log::encode(&DurableRecord::AcceptedEpoch(epoch)),
    );
    files.insert(
        File::CurrentEpoch,
        log::encode(&DurableRecord::CurrentEpoch(epoch)),
    );
    // The ensemble moves to a new epoch without server 1.
    net.crash(3);
    net.restart(3);
    let leader = net.settle(10_000);
    let new_epoch = net.server(leader).current_epoch();
    assert!(new_epoch > epoch);
    let since = net.now_ms;
    net.restart(1);
    assert!(net.server(1).tree().get("/ghost").is_some());
    net.settle(10_000);
    let to_1: Vec<&'static str> = net
        .messages_between(leader, 1, since)
        .into_iter()
        .map(|m| m.kind())
        .filter(|k| ["DIFF", "TRUNC", "SNAP"].contains(k))
        .collect();
    assert_eq!(to_1, vec!["TRUNC", "SNAP"]);
    let newleader_ack = PeerMessage::Ack {
        zxid: zksim_core::zab::make_zxid(new_epoch, 0),
    };
    let acks = net
        .messages_between(1, leader, since)
        .into_iter()
        .filter(|m| **m == newleader_ack)
        .count();
    assert_eq!(acks, 1, "only the SNAP sync was acknowledged");
    assert!(!net.server(1).is_repairing());
    net.run_for(50);
    for (id, node) in &net.nodes {
        let s = node.server.as_ref().expect("up");
        assert!(acked.iter().all(|p| s.tree().get(p).is_some()), "{id}");
    }
    net.assert_converged();
    assert!(net.server(1).tree().get("/ghost").is_none());
    // The planted snapshot is the one thing replica agreement sees: server 1 restarted
    // from a state no leader committed, and applied nothing from it before its repair.
    let found = net
        .replicas_agree()
        .expect_err("the planted snapshot is seen");
    let base = format!(
        "starts from the state at zxid {}:{}",
        zksim_core::zab::epoch_of(snap.zxid),
        zksim_core::zab::counter_of(snap.zxid)
    );
    assert_eq!(found.lines().count(), 1, "{found}");
    assert!(
        found.contains("server 1's segment") && found.contains(&base),
        "{found}"
    );
}
