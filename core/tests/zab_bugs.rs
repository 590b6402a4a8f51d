//! The windows behind known ZooKeeper bugs, each driven through the in-test network with
//! the fault schedule of its bug report, and the assertion that committed history stays
//! intact. Each scenario also runs with the bug re-created by its knob (`Bugs`) and must
//! then fail: the test can tell the bug from the fix.

mod net;

use net::Net;
use zksim_core::acl::Acl;
use zksim_core::error::ErrorCode;
use zksim_core::log;
use zksim_core::proto::ConnId;
use zksim_core::request::{CreateMode, Request};
use zksim_core::server::Bugs;
use zksim_core::txn::Txn;
use zksim_core::zab::ServerId;
use zksim_core::zab::election::{Election, ElectionEffect, ElectionTiming, is_better};
use zksim_core::zab::messages::PeerMessage;
use zksim_core::zab::quorum::QuorumVerifier;

type Outcome = Result<(), String>;

fn create(path: &str) -> Request {
    Request::Create {
        path: path.to_string(),
        data: Some(b"v".to_vec()),
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
        ttl: None,
    }
}

fn cluster(bugs: Bugs, snap_count: usize) -> Net {
    Net::new(&[1, 2, 3], &[], move |c| {
        c.bugs = bugs;
        c.snap_count = snap_count;
    })
}

fn knob(name: &str) -> Bugs {
    Bugs::default().with(name).expect("a known knob")
}

/// Open a session on `server` and wait for it.
fn session(net: &mut Net, server: ServerId) -> ConnId {
    let conn = net.connect(server, 0, 0, 0);
    assert!(
        net.run_until_true(2_000, |n| n.session_of(conn).is_some()),
        "no session on server {server}"
    );
    conn
}

/// Write `paths` through `conn` and require every one acknowledged.
fn write_all(net: &mut Net, conn: ConnId, first_xid: i32, paths: &[String]) {
    for (i, p) in paths.iter().enumerate() {
        net.request(conn, first_xid + i as i32, create(p));
    }
    let last = first_xid + paths.len() as i32 - 1;
    assert!(
        net.run_until_true(3_000, |n| n.reply(conn, last).is_some()),
        "writes not acknowledged"
    );
    for x in first_xid..=last {
        assert_eq!(net.reply(conn, x).map(|r| r.err), Some(ErrorCode::Ok));
    }
}

fn paths(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/{prefix}{i}")).collect()
}

fn settle(net: &mut Net, within_ms: i64) -> Result<ServerId, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| net.settle(within_ms)))
        .map_err(|_| "no leader settled".to_string())
}

/// Every acknowledged path is on every up server, every digest agrees, and the applied
/// sequences agree where they overlap.
fn intact(net: &Net, acknowledged: &[String], absent: &[&str]) -> Outcome {
    let digests = net.digests();
    let first = digests.values().next().ok_or("no server is up")?;
    if digests.values().any(|d| d != first) {
        return Err(format!("replicas differ: {digests:?}"));
    }
    for (id, node) in &net.nodes {
        let Some(s) = &node.server else { continue };
        for p in acknowledged {
            if s.tree().get(p).is_none() {
                return Err(format!("server {id} lost acknowledged {p}"));
            }
        }
        for p in absent {
            if s.tree().get(p).is_some() {
                return Err(format!("server {id} still has {p}, which must be gone"));
            }
        }
    }
    net.replicas_agree()
}

fn check(ok: bool, what: &str) -> Outcome {
    if ok { Ok(()) } else { Err(what.to_string()) }
}

/// A write that the leader logs but no follower receives (its PROPOSAL is lost).
fn orphan_write(net: &mut Net, leader: ServerId, path: &str) {
    let conn = session(net, leader);
    net.drop_filter = Some(Box::new(move |from, _, m| {
        from == leader && matches!(m, PeerMessage::Propose(_))
    }));
    net.request(conn, 1, create(path));
    let logged = net.run_until_true(500, |n| {
        n.server(leader).last_logged_zxid() > n.server(leader).last_committed_zxid()
    });
    assert!(logged, "the leader logged the orphan proposal");
    net.run_for(20);
}

/// ZOOKEEPER-1154: a server whose last txn was never committed rejoined with DIFF where
/// TRUNC was due and kept the txn. The old leader logs /ghost alone, crashes, the others
/// elect a leader that writes nothing, and the old leader returns: it must be truncated.
fn scenario_1154(bugs: Bugs) -> Outcome {
    let mut net = cluster(bugs, 1000);
    let old = net.settle(5_000);
    let c = session(&mut net, 1);
    let acked = paths("a", 3);
    write_all(&mut net, c, 1, &acked);
    orphan_write(&mut net, old, "/ghost");
    net.crash(old);
    net.drop_filter = None;
    settle(&mut net, 10_000)?;
    net.restart(old);
    settle(&mut net, 10_000)?;
    intact(&net, &acked, &["/ghost"])?;
    // Its log on disk lost the txn too: after another restart it still agrees.
    net.crash(old);
    net.restart(old);
    settle(&mut net, 10_000)?;
    intact(&net, &acked, &["/ghost"])
}

#[test]
fn zookeeper_1154_a_rejoining_server_with_an_extra_txn_is_truncated() {
    scenario_1154(Bugs::default()).expect("history intact");
    assert!(
        scenario_1154(knob("diff-instead-of-trunc")).is_err(),
        "the DIFF knob must lose the fix"
    );
}

/// ZOOKEEPER-2845: after losing leadership, a leader kept txns in memory that the new
/// leader's history lacks. The leader logs /ghost while partitioned from both followers,
/// and rejoins without restarting: /ghost must not be in its tree.
fn scenario_2845(bugs: Bugs) -> Outcome {
    let mut net = cluster(bugs, 1000);
    let old = net.settle(5_000);
    let others: Vec<ServerId> = [1, 2, 3].into_iter().filter(|x| *x != old).collect();
    let c = session(&mut net, others[0]);
    let acked = paths("a", 3);
    write_all(&mut net, c, 1, &acked);
    let mine = session(&mut net, old);
    net.partition(&[old]);
    net.request(mine, 1, create("/ghost"));
    net.run_for(3_000);
    check(!net.server(old).is_serving(), "the isolated leader gave up")?;
    net.heal();
    settle(&mut net, 10_000)?;
    intact(&net, &acked, &["/ghost"])?;
    // The ensemble goes on: later writes reach everyone.
    let c2 = session(&mut net, others[0]);
    let later = paths("b", 3);
    write_all(&mut net, c2, 1, &later);
    net.run_for(200);
    intact(&net, &[acked, later].concat(), &["/ghost"])
}

#[test]
fn zookeeper_2845_a_deposed_leader_keeps_no_uncommitted_state() {
    scenario_2845(Bugs::default()).expect("history intact");
    assert!(
        scenario_2845(knob("old-leader-keeps-state")).is_err(),
        "the knob must lose the fix"
    );
}

/// The ZOOKEEPER-3911/4643/4646 schedule: server 1 is behind; the leader of epoch 1 dies;
/// server 2 (which has every committed txn) leads epoch 2 and synchronizes server 1,
/// whose disk stalls just as the DIFF arrives. Returns the acknowledged paths and the time
/// NEWLEADER went to server 1.
fn stalled_newleader_setup(net: &mut Net) -> (Vec<String>, i64) {
    net.settle(5_000);
    assert_eq!(net.leader(), Some(3));
    net.crash(1);
    let c = session(net, 2);
    let acked = paths("t", 5);
    write_all(net, c, 1, &acked);
    net.crash(3);
    net.restart(1);
    let since = net.now_ms;
    assert!(
        net.run_until_true(5_000, |n| n.has_sent(1, 2, "ACKEPOCH", since)),
        "server 1 acknowledged the epoch"
    );
    net.stall_disk(1, true);
    assert!(
        net.run_until_true(5_000, |n| n.has_sent(2, 1, "NEWLEADER", since)),
        "server 2 synced server 1"
    );
    let at = net.now_ms;
    net.run_for(100);
    (acked, at)
}

/// ZOOKEEPER-3911 and 4646: a follower ACKed NEWLEADER before the txns of the DIFF were on
/// disk; crashing then lost txns a quorum had "acknowledged". With server 1's disk stalled
/// it must not ACK, so server 2 cannot establish epoch 2 with it.
fn scenario_3911(bugs: Bugs) -> Outcome {
    let mut net = cluster(bugs, 1000);
    let (acked, synced_at) = stalled_newleader_setup(&mut net);
    check(
        !net.has_sent(1, 2, "ACK", synced_at),
        "server 1 acknowledged NEWLEADER with its disk stalled",
    )?;
    check(
        !net.server(2).is_serving(),
        "epoch 2 established without server 1's durable ACK",
    )?;
    net.crash(1);
    net.nodes.get_mut(&1).expect("server 1").stalled = false;
    net.restart(3);
    net.restart(1);
    settle(&mut net, 15_000)?;
    intact(&net, &acked, &[])
}

#[test]
fn zookeeper_3911_4646_no_newleader_ack_before_the_synced_txns_are_durable() {
    scenario_3911(Bugs::default()).expect("history intact");
    assert!(
        scenario_3911(knob("newleader-ack-early")).is_err(),
        "the knob must lose the fix"
    );
}

/// ZOOKEEPER-4643: a follower wrote currentEpoch before the synced txns; a crash in
/// between left a server whose epoch claimed a history it did not have. Server 1 crashes
/// at every point of its sync; whenever its disk says currentEpoch 2, its log must hold
/// every synced txn, and the ensemble must keep every acknowledged write.
fn scenario_4643(bugs: Bugs) -> Outcome {
    for crash_after_ms in [0, 1, 2, 3, 4, 5, 6, 8, 13] {
        let mut net = cluster(bugs, 1000);
        let (acked, _) = stalled_newleader_setup(&mut net);
        net.stall_disk(1, false);
        net.run_for(crash_after_ms);
        net.crash(1);
        let files = net.nodes[&1].disk.files.clone();
        let state = log::recover(|f| files.get(&f).cloned()).map_err(|e| e.to_string())?;
        if state.current_epoch >= 2 && state.last_logged_zxid() < net.server(2).last_logged_zxid() {
            return Err(format!(
                "epoch 2 on disk without the synced txns (crash after {crash_after_ms} ms)"
            ));
        }
        net.restart(3);
        net.restart(1);
        settle(&mut net, 15_000)?;
        intact(&net, &acked, &[])?;
    }
    Ok(())
}

#[test]
fn zookeeper_4643_current_epoch_is_never_durable_before_the_synced_txns() {
    scenario_4643(Bugs::default()).expect("history intact");
    assert!(
        scenario_4643(knob("epoch-before-txns")).is_err(),
        "the knob must lose the fix"
    );
}

/// ZOOKEEPER-3023: the txns of a DIFF were logged and committed only at UPTODATE, after
/// the NEWLEADER ACK (ZOOKEEPER-2678 skipped the snapshot that used to hold them). Server 1
/// logs a few txns, falls behind, and is brought up to date by DIFF from server 2; when it
/// ACKs NEWLEADER, its disk must already hold every txn of the sync.
fn scenario_3023(bugs: Bugs) -> Outcome {
    let mut net = cluster(bugs, 1000);
    net.settle(5_000);
    assert_eq!(net.leader(), Some(3));
    let c = session(&mut net, 2);
    write_all(&mut net, c, 1, &paths("early", 2));
    net.run_for(100);
    net.crash(1);
    write_all(&mut net, c, 3, &paths("late", 5));
    net.crash(3);
    net.restart(1);
    let since = net.now_ms;
    check(
        net.run_until_true(5_000, |n| n.has_sent(2, 1, "DIFF", since)),
        "server 2 synced server 1 by DIFF",
    )?;
    check(
        net.run_until_true(5_000, |n| n.has_sent(1, 2, "ACK", since)),
        "server 1 acknowledged NEWLEADER",
    )?;
    let files = net.nodes[&1].disk.files.clone();
    let state = log::recover(|f| files.get(&f).cloned()).map_err(|e| e.to_string())?;
    check(
        state.last_logged_zxid() >= net.server(2).last_logged_zxid(),
        "NEWLEADER acknowledged before the synced txns were on disk",
    )
}

#[test]
fn zookeeper_3023_the_synced_txns_are_on_disk_before_the_newleader_ack() {
    scenario_3023(Bugs::default()).expect("the synced txns are durable at the ACK");
    assert!(
        scenario_3023(knob("sync-txns-logged-after-ack")).is_err(),
        "the knob must lose the fix"
    );
}

/// ZOOKEEPER-4925 (the regression of 4394's fix in 3.9.3): a learner applied the txns of
/// its sync without adding them to the committed log it serves DIFFs from; leading later,
/// it DIFFed a server that was further behind past them. Five servers: 1 goes down, then
/// 4; 4 returns and catches up by DIFF; the leader and 3 go down and 1 returns, so 4 (as
/// far along as 2, with the higher id) leads and brings 1 up to date. Nothing may be lost.
fn scenario_4925(bugs: Bugs) -> Outcome {
    let mut net = Net::new(&[1, 2, 3, 4, 5], &[], move |c| {
        c.bugs = bugs;
        c.snap_count = 1000;
    });
    let leader = net.settle(5_000);
    assert_eq!(leader, 5);
    let c = session(&mut net, 2);
    net.crash(1);
    let before = paths("before", 3);
    write_all(&mut net, c, 1, &before);
    net.crash(4);
    let hole = paths("hole", 3);
    write_all(&mut net, c, 4, &hole);
    net.restart(4);
    net.settle(5_000);
    net.crash(5);
    net.crash(3);
    net.restart(1);
    check(settle(&mut net, 15_000)? == 4, "server 4 leads")?;
    let acked: Vec<String> = before.into_iter().chain(hole).collect();
    intact(&net, &acked, &[])
}

#[test]
fn zookeeper_4925_a_leader_serves_diffs_with_every_txn_it_applied_in_its_own_sync() {
    scenario_4925(Bugs::default()).expect("history intact");
    assert!(
        scenario_4925(knob("committed-log-hole")).is_err(),
        "the knob must lose the fix"
    );
}

/// Servers with a small snapCount, and server 1 left so far behind that it needs a SNAP.
fn snap_setup(net: &mut Net) -> Vec<String> {
    let leader = net.settle(5_000);
    assert_eq!(leader, 3);
    net.crash(1);
    let c = session(net, 2);
    let acked = paths("s", 30);
    write_all(net, c, 1, &acked);
    acked
}

/// ZOOKEEPER-3104: NEWLEADER went out before the SNAP's content was persisted, so a
/// follower that crashed right after its ACK came back without the snapshot. Server 1 is
/// synced by SNAP and crashes the moment its ACK leaves: its disk must hold the snapshot.
fn scenario_3104(bugs: Bugs) -> Outcome {
    let mut net = cluster(bugs, 8);
    let acked = snap_setup(&mut net);
    net.restart(1);
    let since = net.now_ms;
    check(
        net.run_until_true(5_000, |n| n.has_sent(1, 3, "ACK", since)),
        "server 1 acknowledged NEWLEADER",
    )?;
    check(
        net.sent
            .iter()
            .any(|(t, f, d, k)| *t >= since && *f == 3 && *d == 1 && *k == "SNAP"),
        "server 1 was synced by SNAP",
    )?;
    net.crash(1);
    let files = net.nodes[&1].disk.files.clone();
    let state = log::recover(|f| files.get(&f).cloned()).map_err(|e| e.to_string())?;
    check(
        state.snapshot.is_some(),
        "the SNAP was not on disk when the ACK left",
    )?;
    net.crash(3);
    net.restart(1);
    settle(&mut net, 15_000)?;
    net.restart(3);
    settle(&mut net, 15_000)?;
    intact(&net, &acked, &[])
}

#[test]
fn zookeeper_3104_a_snap_synced_follower_acks_only_once_the_snapshot_is_on_disk() {
    scenario_3104(Bugs::default()).expect("history intact");
    assert!(
        scenario_3104(knob("newleader-ack-early")).is_err(),
        "the knob must lose the fix"
    );
}

#[test]
fn zookeeper_3642_a_snap_without_newleader_changes_nothing_durable() {
    // ZOOKEEPER-3642: the leader crashed right after sending a SNAP; the follower had
    // replaced its state and went on as if synced. Here the leader dies after the SNAP and
    // before NEWLEADER: server 1 keeps its old durable state and epoch, and the ensemble
    // elects from the servers that hold the committed txns.
    let mut net = cluster(Bugs::default(), 8);
    let acked = snap_setup(&mut net);
    let before = net.nodes[&1].disk.files.clone();
    net.drop_filter = Some(Box::new(|from, to, m| {
        from == 3 && to == 1 && matches!(m, PeerMessage::NewLeader { .. } | PeerMessage::UpToDate)
    }));
    net.restart(1);
    let since = net.now_ms;
    assert!(
        net.run_until_true(5_000, |n| n.has_sent(3, 1, "SNAP", since)),
        "SNAP sent"
    );
    net.run_for(20);
    net.crash(3);
    net.drop_filter = None;
    assert_eq!(
        net.nodes[&1].disk.files.get(&log::File::CurrentEpoch),
        before.get(&log::File::CurrentEpoch)
    );
    assert_eq!(
        net.nodes[&1].disk.files.get(&log::File::Snapshots),
        before.get(&log::File::Snapshots)
    );
    let leader = net.settle(15_000);
    assert_eq!(leader, 2, "the server with the committed txns leads");
    net.restart(3);
    net.settle(15_000);
    intact(&net, &acked, &[]).expect("history intact");
}

/// ZOOKEEPER-2355: a closeSession proposal was lost with its leader and the ephemeral
/// stayed forever. The leader expires a session, its closeSession PROPOSAL reaches nobody,
/// and the leader crashes: the next leader must expire the session again.
fn scenario_2355(bugs: Bugs) -> Outcome {
    let mut net = cluster(bugs, 1000);
    let leader = net.settle(5_000);
    let conn = session(&mut net, 1);
    let eph = Request::Create {
        path: "/lock".into(),
        data: None,
        acl: Acl::open_unsafe(),
        mode: CreateMode::Ephemeral,
        ttl: None,
    };
    net.request(conn, 1, eph);
    check(
        net.run_until_true(1_000, |n| n.reply(conn, 1).is_some()),
        "ephemeral created",
    )?;
    // The client goes silent; the leader's expiry proposes closeSession, which is lost.
    net.drop_filter = Some(Box::new(move |from, _, m| {
        from == leader
            && matches!(m, PeerMessage::Propose(p) if matches!(p.txn, Txn::CloseSession { .. }))
    }));
    let proposed = net.run_until_true(10_000, |n| {
        n.server(leader).last_logged_zxid() > n.server(leader).last_committed_zxid()
    });
    check(proposed, "the leader proposed the closeSession")?;
    net.crash(leader);
    net.drop_filter = None;
    settle(&mut net, 10_000)?;
    net.run_for(10_000);
    net.restart(leader);
    settle(&mut net, 10_000)?;
    intact(&net, &[], &["/lock"])
}

#[test]
fn zookeeper_2355_an_ephemeral_does_not_outlive_a_lost_close_session() {
    scenario_2355(Bugs::default()).expect("history intact");
    assert!(
        scenario_2355(knob("lost-close-session")).is_err(),
        "the knob must lose the fix"
    );
}

/// ZOOKEEPER-1419: the vote comparison ignored the epoch when zxids were equal, so a
/// server with a stale epoch but a higher id could win. Server 1 has currentEpoch 2 and
/// server 3 currentEpoch 1, both at zxid (1, 5); server 2 is down. Returns who each elects.
fn scenario_1419(vote_order_bug: bool) -> (u64, u64) {
    let q = QuorumVerifier::new([1, 2, 3]);
    let t = ElectionTiming::default();
    let mut out1 = Vec::new();
    let mut out3 = Vec::new();
    let mut e1 = Election::start(0, 1, q.clone(), t, true, 0, 0x1_0000_0005, 2, &mut out1);
    let mut e3 = Election::start(0, 3, q, t, true, 0, 0x1_0000_0005, 1, &mut out3);
    e1.vote_order_bug = vote_order_bug;
    e3.vote_order_bug = vote_order_bug;
    let (mut d1, mut d3) = (None, None);
    let mut now = 0;
    while (d1.is_none() || d3.is_none()) && now < 20_000 {
        now += 5;
        let to3 = std::mem::take(&mut out1);
        let to1 = std::mem::take(&mut out3);
        for e in to3 {
            match e {
                ElectionEffect::Send {
                    to: 3,
                    notification,
                } => e3.on_notification(now, 1, notification, &mut out3),
                ElectionEffect::Decided { vote } => d1 = Some(vote.leader),
                ElectionEffect::Send { .. } | ElectionEffect::Breach { .. } => {}
            }
        }
        for e in to1 {
            match e {
                ElectionEffect::Send {
                    to: 1,
                    notification,
                } => e1.on_notification(now, 3, notification, &mut out1),
                ElectionEffect::Decided { vote } => d3 = Some(vote.leader),
                ElectionEffect::Send { .. } | ElectionEffect::Breach { .. } => {}
            }
        }
        e1.on_tick(now, &mut out1);
        e3.on_tick(now, &mut out3);
    }
    (d1.unwrap_or(0), d3.unwrap_or(0))
}

#[test]
fn zookeeper_1419_votes_are_totally_ordered_and_the_newer_epoch_wins() {
    assert!(is_better(1, 0x1_0000_0005, 2, 3, 0x1_0000_0005, 1));
    assert!(!is_better(3, 0x1_0000_0005, 1, 1, 0x1_0000_0005, 2));
    assert_eq!(
        scenario_1419(false),
        (1, 1),
        "both elect the server with the newer epoch"
    );
    assert_ne!(
        scenario_1419(true),
        (1, 1),
        "the pre-1419 order elects the stale server"
    );
}
