//! Client requests and sessions on the replicated service, as ZooKeeper 3.8 serves them:
//! writes forwarded by followers, reads served locally, per-session FIFO
//! (`CommitProcessor`), `sync` (Leader.processSync, with ZOOKEEPER-1675's quorum check),
//! the zxid check on connect, session timeout negotiation, expiry by the leader
//! (`SessionTrackerImpl`), touches from followers, session moves (`SessionMovedException`)
//! and reconnects.

mod net;

use net::{Net, create, data_of, ephemeral, get_data, set_data, sync};
use zksim_core::error::ErrorCode;
use zksim_core::proto::{ClientMessage, ConnId, ServerMessage};
use zksim_core::request::{Request, Response};
use zksim_core::server::Bugs;
use zksim_core::zab::ServerId;

fn three() -> Net {
    Net::new(&[1, 2, 3], &[], |_| {})
}

/// The xids of the replies on a connection, in the order they arrived.
fn reply_order(net: &Net, conn: ConnId) -> Vec<i32> {
    net.conns[&conn]
        .inbox
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Reply { xid, .. } => Some(*xid),
            _ => None,
        })
        .collect()
}

fn answered(net: &Net, conn: ConnId, xid: i32) -> bool {
    net.reply(conn, xid).is_some()
}

#[test]
fn a_write_through_a_follower_is_forwarded_and_answered_there() {
    // FollowerRequestProcessor forwards writes to the leader (REQUEST); the follower
    // answers once the COMMIT is applied, with the txn's zxid.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(1);
    let since = net.now_ms;
    net.request(c, 1, create("/w", "v"));
    assert!(net.run_until_true(1_000, |n| answered(n, c, 1)));
    assert!(net.has_sent(1, 3, "REQUEST", since));
    let reply = net.reply(c, 1).expect("answered");
    assert_eq!(reply.err, ErrorCode::Ok);
    assert_eq!(reply.zxid, net.server(1).last_committed_zxid());
    assert!(matches!(reply.response, Response::Create { ref path, .. } if path == "/w"));
}

#[test]
fn reads_are_served_locally_from_the_last_applied_state() {
    // ZooKeeper's reads are local: a follower answers from what it has applied, tagged with
    // its last applied zxid, and forwards nothing. Server 1 hears the leader 300 ms late.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let writer = net.open_session(2);
    net.request(writer, 1, create("/x", "old"));
    let reader = net.open_session(1);
    net.run_for(50);
    net.set_link_delay(3, 1, 300);
    net.request(writer, 2, set_data("/x", "new"));
    assert!(net.run_until_true(1_000, |n| answered(n, writer, 2)));
    let new_zxid = net.reply(writer, 2).expect("answered").zxid;
    let since = net.now_ms;
    net.request(reader, 1, get_data("/x", false));
    assert!(net.run_until_true(100, |n| answered(n, reader, 1)));
    let stale = net.reply(reader, 1).expect("answered");
    assert_eq!(data_of(&stale).as_deref(), Some("old"));
    assert!(stale.zxid < new_zxid);
    assert_eq!(stale.zxid, net.server(1).last_committed_zxid());
    assert!(
        !net.has_sent(1, 3, "REQUEST", since),
        "a read was forwarded"
    );
    net.run_for(400);
    net.request(reader, 2, get_data("/x", false));
    assert!(net.run_until_true(100, |n| answered(n, reader, 2)));
    let fresh = net.reply(reader, 2).expect("answered");
    assert_eq!(data_of(&fresh).as_deref(), Some("new"));
    assert!(fresh.zxid >= new_zxid);
}

#[test]
fn a_sessions_pipelined_reads_and_writes_are_answered_in_order() {
    // CommitProcessor: a session's requests complete in the order it sent them; a read
    // waits for the session's earlier writes and sees them.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(1);
    let requests = vec![
        create("/f", "0"),
        get_data("/f", false),
        set_data("/f", "1"),
        get_data("/f", false),
        Request::Exists {
            path: "/f".into(),
            watch: false,
        },
        set_data("/f", "2"),
        Request::Delete {
            path: "/f".into(),
            version: -1,
        },
        get_data("/f", false),
        create("/f", "3"),
        get_data("/f", false),
    ];
    for (i, r) in requests.iter().enumerate() {
        net.request(c, i as i32 + 1, r.clone());
    }
    assert!(net.run_until_true(2_000, |n| answered(n, c, 10)));
    assert_eq!(reply_order(&net, c), (1..=10).collect::<Vec<_>>());
    let data = |x: i32| data_of(&net.reply(c, x).expect("answered"));
    assert_eq!(data(2).as_deref(), Some("0"));
    assert_eq!(data(4).as_deref(), Some("1"));
    assert_eq!(net.reply(c, 8).map(|r| r.err), Some(ErrorCode::NoNode));
    assert_eq!(data(10).as_deref(), Some("3"));
    // Each reply's zxid is at least the one before it.
    let zxids: Vec<i64> = (1..=10)
        .map(|x| net.reply(c, x).expect("answered").zxid)
        .collect();
    assert!(zxids.windows(2).all(|w| w[0] <= w[1]), "{zxids:?}");
}

#[test]
fn sync_then_read_at_a_lagging_follower_sees_every_earlier_acknowledged_write() {
    // ZooKeeper's sync: the leader answers it after every proposal made before it is
    // committed, on the same FIFO link as the commits, so the follower has applied them
    // by the time it answers; a read after the sync sees them all.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let writer = net.open_session(2);
    let reader = net.open_session(1);
    net.request(writer, 1, create("/s", "0"));
    net.run_for(50);
    net.set_link_delay(3, 1, 500);
    for v in 1..=5 {
        net.request(writer, 1 + v, set_data("/s", &v.to_string()));
    }
    assert!(net.run_until_true(1_000, |n| answered(n, writer, 6)));
    net.request(reader, 1, get_data("/s", false));
    net.request(reader, 2, sync("/"));
    net.request(reader, 3, get_data("/s", false));
    assert!(net.run_until_true(3_000, |n| answered(n, reader, 3)));
    let before = net.reply(reader, 1).expect("answered");
    assert_eq!(data_of(&before).as_deref(), Some("0"), "the follower lags");
    assert_eq!(net.reply(reader, 2).map(|r| r.err), Some(ErrorCode::Ok));
    let after = net.reply(reader, 3).expect("answered");
    assert_eq!(data_of(&after).as_deref(), Some("5"));
    assert!(after.zxid >= net.reply(writer, 6).expect("answered").zxid);
}

/// ZOOKEEPER-1675: the leader of epoch 1 (server 3) is cut off without noticing (its
/// syncLimit is long), the others elect server 2 and write /x. A client of server 3 syncs
/// and reads: the sync must not complete, so it can never read the old /x as current.
/// Returns what the read after the sync returned, if anything.
fn scenario_1675(bugs: Bugs) -> Option<String> {
    let mut net = Net::new(&[1, 2, 3], &[], move |c| {
        c.bugs = bugs;
        if c.id == 3 {
            c.sync_limit = 50;
        }
    });
    assert_eq!(net.settle(5_000), 3);
    let old = net.open_session(3);
    net.request(old, 1, create("/x", "old"));
    assert!(net.run_until_true(1_000, |n| answered(n, old, 1)));
    net.run_for(50);
    net.drop_filter = Some(Box::new(|from, to, _| from == 3 || to == 3));
    let settled = net.run_until_true(5_000, |n| {
        n.server(2).state() == zksim_core::zab::PeerState::Leading && n.server(2).is_serving()
    });
    assert!(settled, "servers 1 and 2 elect a new leader");
    let c = net.open_session(1);
    net.request(c, 1, set_data("/x", "new"));
    assert!(net.run_until_true(1_000, |n| answered(n, c, 1)));
    assert!(
        net.server(3).is_serving(),
        "the old leader has not noticed yet"
    );
    net.request(old, 2, sync("/"));
    net.request(old, 3, get_data("/x", false));
    net.run_for(15_000);
    net.reply(old, 3).and_then(|r| data_of(&r))
}

#[test]
fn zookeeper_1675_a_sync_at_a_deposed_leader_does_not_complete() {
    // Leader.processSync waits for a quorum to answer a PING round started after the sync:
    // a leader that lost its followers cannot confirm it still leads.
    assert_eq!(scenario_1675(Bugs::default()), None);
    let bug = Bugs::default().with("sync-no-quorum").expect("a knob");
    assert_eq!(
        scenario_1675(bug).as_deref(),
        Some("old"),
        "the knob reads the past"
    );
}

#[test]
fn a_client_that_saw_a_later_zxid_is_refused_by_a_server_behind_it() {
    // ZooKeeperServer.processConnectRequest: "Refusing session request for client as it
    // has seen zxid ... our last zxid is ...": the client must try another server, or it
    // would read back in time. Once the server has caught up it accepts the session.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let c = net.open_session(2);
    let (session, password) = net.session_of(c).expect("session");
    net.run_for(50);
    net.set_link_delay(3, 1, 500);
    net.request(c, 1, create("/seen", "v"));
    assert!(net.run_until_true(1_000, |n| answered(n, c, 1)));
    let seen = net.reply(c, 1).expect("answered").zxid;
    net.disconnect(c);
    assert!(net.server(1).last_committed_zxid() < seen);
    let refused = net.connect(1, session, password, seen);
    net.run_for(20);
    assert!(net.conns[&refused].closed);
    assert_eq!(
        net.negotiated_timeout(refused),
        None,
        "no ConnectResponse at all"
    );
    net.run_for(600);
    assert!(net.server(1).last_committed_zxid() >= seen);
    let accepted = net.connect(1, session, password, seen);
    // The leader's REVALIDATE answer comes over the slow link.
    assert!(net.run_until_true(1_000, |n| n.session_of(accepted).is_some()));
    assert_eq!(net.session_of(accepted), Some((session, password)));
    net.request(accepted, 1, get_data("/seen", false));
    assert!(net.run_until_true(100, |n| answered(n, accepted, 1)));
    assert_eq!(net.reply(accepted, 1).map(|r| r.err), Some(ErrorCode::Ok));
}

#[test]
fn session_timeouts_are_negotiated_between_two_and_twenty_ticks() {
    // ZooKeeperServer: minSessionTimeout = 2 ticks, maxSessionTimeout = 20 ticks (a 200 ms
    // tick here), on the leader and on followers alike.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    for (server, asked, got) in [
        (1, 100, 400),
        (3, 100, 400),
        (2, 1_000_000, 4_000),
        (3, 1_000_000, 4_000),
        (1, 1_234, 1_234),
        (2, 400, 400),
        (3, 4_000, 4_000),
    ] {
        let c = net.connect_with_timeout(server, 0, 0, 0, asked);
        assert!(net.run_until_true(1_000, |n| n.session_of(c).is_some()));
        assert_eq!(
            net.negotiated_timeout(c),
            Some(got),
            "asked {asked} of {server}"
        );
    }
}

/// A session on `server` with `timeout_ms` and an ephemeral /e: (conn, session, password).
fn with_ephemeral(net: &mut Net, server: ServerId, timeout_ms: i32) -> (ConnId, i64, u64) {
    let c = net.connect_with_timeout(server, 0, 0, 0, timeout_ms);
    assert!(net.run_until_true(1_000, |n| n.session_of(c).is_some()));
    let (session, password) = net.session_of(c).expect("session");
    net.request(c, 1, ephemeral("/e"));
    assert!(net.run_until_true(1_000, |n| answered(n, c, 1)));
    net.run_for(20);
    (c, session, password)
}

fn ephemeral_everywhere(net: &Net, present: bool) -> bool {
    net.nodes
        .values()
        .filter_map(|n| n.server.as_ref())
        .all(|s| s.tree().get("/e").is_some() == present)
}

#[test]
fn the_leader_expires_an_idle_session_and_its_ephemerals() {
    // SessionTrackerImpl: a session not heard from for its timeout expires at the next tick
    // boundary; the leader proposes closeSession, whose txn deletes its ephemerals on every
    // replica, and the server holding its connection closes it. A reconnect then learns it
    // expired (a ConnectResponse with timeout 0).
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let (c, session, password) = with_ephemeral(&mut net, 1, 1_000);
    let idle_from = net.now_ms;
    net.run_for(700);
    assert!(
        ephemeral_everywhere(&net, true),
        "expired before its timeout"
    );
    assert!(!net.conns[&c].closed);
    net.run_for(900);
    assert!(
        ephemeral_everywhere(&net, false),
        "still there after {} ms",
        net.now_ms - idle_from
    );
    assert!(
        net.conns[&c].closed,
        "the connection closes with the session"
    );
    for id in [1, 2, 3] {
        assert!(!net.server(id).tree().sessions().contains_key(&session));
    }
    let again = net.connect(2, session, password, 0);
    net.run_for(20);
    assert_eq!(net.negotiated_timeout(again), Some(0));
    assert!(net.conns[&again].closed);
}

#[test]
fn pings_through_a_follower_keep_a_session_alive() {
    // LearnerSessionTracker: a follower reports the sessions its clients touched in its
    // PING answers, and the leader pushes their expiry back. Twenty seconds of pings every
    // 300 ms keep a 1000 ms session alive; silence then expires it.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let (c, _, _) = with_ephemeral(&mut net, 1, 1_000);
    for _ in 0..66 {
        net.client_send(c, ClientMessage::Ping);
        net.run_for(300);
    }
    assert!(ephemeral_everywhere(&net, true));
    let pongs = net.conns[&c]
        .inbox
        .iter()
        .filter(|m| matches!(m, ServerMessage::Pong { .. }))
        .count();
    assert_eq!(pongs, 66);
    net.run_for(2_000);
    assert!(ephemeral_everywhere(&net, false));
}

#[test]
fn a_closed_session_takes_its_ephemerals_at_once() {
    // ZooKeeper.close: closeSession is a txn like any write; its reply comes back, then the
    // connection closes, and every replica has dropped the ephemerals.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let (c, _, _) = with_ephemeral(&mut net, 2, 4_000);
    net.client_send(c, ClientMessage::CloseSession { xid: 2 });
    assert!(net.run_until_true(1_000, |n| answered(n, c, 2)));
    assert!(net.conns[&c].closed);
    net.run_for(20);
    assert!(ephemeral_everywhere(&net, false));
}

#[test]
fn a_request_forwarded_by_the_old_server_of_a_moved_session_gets_sessionmoved() {
    // SessionTrackerImpl.checkSession: a session belongs to the server the client last
    // connected to. The client moves to server 2 (revalidated by the leader) while its
    // old connection to server 1 is still open; a request sent on the old connection is
    // refused with SESSIONMOVED and the old connection closes. The session lives on.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let (old, session, password) = with_ephemeral(&mut net, 1, 4_000);
    let seen = net.reply(old, 1).expect("answered").zxid;
    let moved = net.connect(2, session, password, seen);
    net.run_for(50);
    assert_eq!(net.session_of(moved), Some((session, password)));
    assert!(net.has_sent(2, 3, "REVALIDATE", 0));
    net.request(old, 2, set_data("/e", "from the old server"));
    assert!(net.run_until_true(1_000, |n| answered(n, old, 2)));
    assert_eq!(
        net.reply(old, 2).map(|r| r.err),
        Some(ErrorCode::SessionMoved)
    );
    assert!(net.conns[&old].closed);
    net.request(moved, 1, set_data("/e", "from the new server"));
    assert!(net.run_until_true(1_000, |n| answered(n, moved, 1)));
    assert_eq!(net.reply(moved, 1).map(|r| r.err), Some(ErrorCode::Ok));
    net.run_for(20);
    let data = net.server(3).tree().get("/e").and_then(|n| n.data.clone());
    assert_eq!(data.as_deref(), Some(&b"from the new server"[..]));
}

#[test]
fn a_reconnect_to_another_server_within_the_timeout_keeps_the_session() {
    // ClientCnxn reconnects with its session id, password and last zxid: the new server
    // asks the leader to revalidate the session, which is still live, and the ephemerals
    // stay. The session then lives on as long as it is touched through the new server.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let (c, session, password) = with_ephemeral(&mut net, 1, 2_000);
    let seen = net.reply(c, 1).expect("answered").zxid;
    net.disconnect(c);
    net.run_for(1_200);
    let again = net.connect_with_timeout(2, session, password, seen, 2_000);
    net.run_for(20);
    assert_eq!(net.session_of(again), Some((session, password)));
    assert_eq!(net.negotiated_timeout(again), Some(2_000));
    for _ in 0..20 {
        net.client_send(again, ClientMessage::Ping);
        net.run_for(500);
    }
    assert!(ephemeral_everywhere(&net, true));
    let owner = net
        .server(2)
        .tree()
        .get("/e")
        .map(|n| n.stat.ephemeral_owner);
    assert_eq!(owner, Some(session));
    // A wrong password is refused without touching the session.
    let thief = net.connect(3, session, password ^ 1, seen);
    net.run_for(20);
    assert_eq!(net.negotiated_timeout(thief), Some(0));
    assert!(net.conns[&thief].closed);
    assert!(ephemeral_everywhere(&net, true));
}

#[test]
fn a_request_of_an_expired_session_through_a_follower_is_refused() {
    // PrepRequestProcessor.checkSession: once the leader expired a session, a request the
    // follower forwards for it anyway (its connection not closed yet, the closeSession
    // COMMIT still on its way) becomes an error txn (SESSIONEXPIRED) and changes nothing.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let (c, session, _) = with_ephemeral(&mut net, 1, 1_000);
    net.set_link_delay(3, 1, 600);
    assert!(net.run_until_true(3_000, |n| {
        !n.server(3).tree().sessions().contains_key(&session)
    }));
    assert!(
        !net.conns[&c].closed,
        "server 1 has not applied the closeSession yet"
    );
    net.request(c, 2, create("/late", "v"));
    net.run_for(1_000);
    for id in [1, 2, 3] {
        assert!(net.server(id).tree().get("/late").is_none());
    }
    assert!(net.conns[&c].closed);
    let refused = net.truth.current_segment(3).len();
    assert!(refused > 0);
}

#[test]
fn a_wall_clock_jump_moves_txn_stamps_but_not_session_expiry() {
    // Time.currentElapsedTime times SessionTrackerImpl's expiry; Time.currentWallTime
    // stamps a txn's header in PrepRequestProcessor (ctime, mtime). A wall clock an hour
    // ahead expires nothing early, and the next txn is stamped an hour ahead.
    let mut net = three();
    assert_eq!(net.settle(5_000), 3);
    let (c, _, _) = with_ephemeral(&mut net, 1, 1_000);
    let ctime = |net: &Net, path: &str| net.server(2).tree().get(path).map(|n| n.stat.ctime);
    let before = ctime(&net, "/e").expect("/e");
    assert!(
        (net.now_ms - 100..=net.now_ms).contains(&before),
        "{before}"
    );
    for node in net.nodes.values_mut() {
        if let Some(s) = node.server.as_mut() {
            s.set_wall_clock_offset(3_600_000);
        }
    }
    net.request(c, 2, create("/x", "x"));
    assert!(net.run_until_true(500, |n| answered(n, c, 2)));
    net.run_for(20);
    let stamped = ctime(&net, "/x").expect("/x");
    assert!(
        (net.now_ms + 3_600_000 - 100..=net.now_ms + 3_600_000).contains(&stamped),
        "{stamped} at {}",
        net.now_ms
    );
    assert!(
        ephemeral_everywhere(&net, true),
        "the jump expired the session"
    );
}
