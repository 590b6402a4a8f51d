//! The replicated service end to end on the in-test network: election, discovery,
//! synchronization and broadcast (Zab paper §IV), client sessions through followers, and
//! recovery after crashes and partitions.

mod net;

use net::Net;
use zksim_core::acl::Acl;
use zksim_core::error::ErrorCode;
use zksim_core::proto::ServerMessage;
use zksim_core::request::{CreateMode, Request, Response};
use zksim_core::zab::PeerState;

fn create(path: &str, data: &str) -> Request {
    Request::Create {
        path: path.to_string(),
        data: Some(data.as_bytes().to_vec()),
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
        ttl: None,
    }
}

#[test]
fn three_servers_elect_the_highest_id_and_serve() {
    // FastLeaderElection: with equal (epoch, zxid) the highest server id wins.
    let mut net = Net::new(&[1, 2, 3], &[], |_| {});
    let leader = net.settle(5_000);
    assert_eq!(leader, 3);
    for id in [1, 2] {
        assert_eq!(net.server(id).state(), PeerState::Following);
        assert_eq!(net.server(id).current_epoch(), 1);
    }
}

#[test]
fn a_write_through_a_follower_reaches_every_replica() {
    // Followers forward writes; the leader proposes, a quorum ACKs, all apply the COMMIT.
    let mut net = Net::new(&[1, 2, 3], &[], |_| {});
    net.settle(5_000);
    let conn = net.connect(1, 0, 0, 0);
    net.run_for(100);
    assert!(
        net.session_of(conn).is_some(),
        "session established: {:?}",
        net.conns[&conn].inbox
    );
    net.request(conn, 1, create("/a", "x"));
    net.request(
        conn,
        2,
        Request::GetData {
            path: "/a".into(),
            watch: false,
        },
    );
    net.run_for(100);
    let created = net.reply(conn, 1).expect("create answered");
    assert_eq!(created.err, ErrorCode::Ok);
    let read = net.reply(conn, 2).expect("read answered");
    // The read queued behind the session's write sees it (per-session FIFO).
    assert!(matches!(read.response, Response::GetData { data: Some(ref d), .. } if d == b"x"));
    let digests = net.digests();
    assert!(digests.values().all(|d| *d == digests[&3]), "{digests:?}");
    net.assert_replicas_agree();
}

#[test]
fn a_new_leader_keeps_committed_writes() {
    // Zab: a committed txn is in the history of every later leader.
    let mut net = Net::new(&[1, 2, 3], &[], |_| {});
    let first = net.settle(5_000);
    let conn = net.connect(1, 0, 0, 0);
    net.run_for(100);
    for i in 0..5 {
        net.request(conn, i + 1, create(&format!("/n{i}"), "v"));
    }
    net.run_for(200);
    assert!((1..=5).all(|x| net.reply(conn, x).is_some_and(|r| r.err == ErrorCode::Ok)));
    net.crash(first);
    let second = net.settle(10_000);
    assert_ne!(second, first);
    assert!(net.server(second).current_epoch() >= 2);
    for i in 0..5 {
        assert!(net.server(second).tree().get(&format!("/n{i}")).is_some());
    }
    net.restart(first);
    net.settle(10_000);
    let digests = net.digests();
    assert!(
        digests.values().all(|d| *d == digests[&second]),
        "{digests:?}"
    );
    net.assert_replicas_agree();
}

#[test]
fn a_minority_partition_stops_serving_and_rejoins() {
    // A leader that loses its quorum gives up (syncLimit); the majority elects anew.
    let mut net = Net::new(&[1, 2, 3, 4, 5], &[], |_| {});
    let first = net.settle(5_000);
    let others: Vec<u64> = [1, 2, 3, 4, 5]
        .into_iter()
        .filter(|x| *x != first)
        .collect();
    net.partition(&[first, others[0]]);
    net.run_for(3_000);
    assert!(!net.server(first).is_serving());
    let majority_leader = net.leader().expect("majority side has a leader");
    assert!(others[1..].contains(&majority_leader));
    net.heal();
    net.settle(10_000);
    net.assert_replicas_agree();
}

#[test]
fn sessions_expire_and_their_ephemerals_go() {
    // The leader expires a session nobody touches and its closeSession deletes ephemerals.
    let mut net = Net::new(&[1, 2, 3], &[], |_| {});
    net.settle(5_000);
    let conn = net.connect(2, 0, 0, 0);
    net.run_for(100);
    let eph = Request::Create {
        path: "/e".into(),
        data: None,
        acl: Acl::open_unsafe(),
        mode: CreateMode::Ephemeral,
        ttl: None,
    };
    net.request(conn, 1, eph);
    net.run_for(100);
    assert_eq!(net.reply(conn, 1).map(|r| r.err), Some(ErrorCode::Ok));
    // Silence: no pings. The negotiated timeout is 4000 ms (20 ticks of 200 ms max).
    net.run_for(6_000);
    for id in [1, 2, 3] {
        assert!(
            net.server(id).tree().get("/e").is_none(),
            "server {id} still has /e"
        );
    }
    assert!(net.conns[&conn].closed);
}

#[test]
fn a_client_ahead_of_a_server_is_refused() {
    // ZooKeeperServer refuses a session whose last seen zxid is ahead of its own.
    let mut net = Net::new(&[1, 2, 3], &[], |_| {});
    net.settle(5_000);
    let conn = net.connect(1, 0, 0, 0x7_0000_0000);
    net.run_for(100);
    assert!(net.conns[&conn].closed);
    assert!(
        !net.conns[&conn]
            .inbox
            .iter()
            .any(|m| matches!(m, ServerMessage::Connected(_)))
    );
}
