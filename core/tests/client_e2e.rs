//! The client session (`zksim_core::client`, ZooKeeper 3.8's `ClientCnxn`) driven end to
//! end against real servers on the in-test network: pipelining, connection loss and
//! reconnect with the same session, watches re-registered with SetWatches, expiry, and
//! pings through long idle periods.

mod net;

use net::{Net, create, data_of, ephemeral, get_data, set_data};
use zksim_core::client::{ClientConfig, ClientState, Outcome, SessionEvent};
use zksim_core::error::ErrorCode;
use zksim_core::request::Request;
use zksim_core::watch::EventType;
use zksim_core::zab::ServerId;

const SERVERS: [ServerId; 3] = [1, 2, 3];

fn three() -> Net {
    let mut net = Net::new(&SERVERS, &[], |_| {});
    assert_eq!(net.settle(5_000), 3);
    net
}

/// A client over servers 1, 2, 3 (indexes 0, 1, 2) starting at `first`, connected.
fn client(net: &mut Net, first: usize, timeout_ms: i32) -> usize {
    let c = net.add_client(ClientConfig::new(3, first, timeout_ms), &SERVERS);
    assert!(
        net.run_until_true(2_000, |n| n.clients[c].state() == ClientState::Connected),
        "client {c} did not connect"
    );
    c
}

fn ok(net: &Net, c: usize, xid: i32) -> bool {
    net.clients[c]
        .reply(xid)
        .is_some_and(|r| r.err == ErrorCode::Ok)
}

fn done(net: &Net, c: usize, xid: i32) -> bool {
    net.clients[c].outcome(xid).is_some()
}

#[test]
fn pipelined_requests_complete_in_the_order_they_were_sent() {
    // ClientCnxn.SendThread.readResponse: replies come in the order of the pending queue;
    // a server that answered out of order would be a protocol violation.
    let mut net = three();
    let c = client(&mut net, 0, 4_000);
    let mut xids = vec![net.client_submit(c, create("/p", "0"))];
    for i in 1..=8 {
        xids.push(net.client_submit(c, set_data("/p", &i.to_string())));
        xids.push(net.client_submit(c, get_data("/p", false)));
    }
    let last = *xids.last().expect("xids");
    assert!(net.run_until_true(2_000, |n| done(n, c, last)));
    let order: Vec<i32> = net.clients[c].completed.iter().map(|(x, _)| *x).collect();
    assert_eq!(order, xids);
    for (i, x) in xids.iter().enumerate().skip(2).step_by(2) {
        let got = data_of(net.clients[c].reply(*x).expect("reply"));
        assert_eq!(got, Some((i / 2).to_string()));
    }
    assert!(net.clients[c].violations.is_empty());
    assert!(net.clients[c].session.last_zxid_seen() >= net.server(1).last_committed_zxid());
}

#[test]
fn a_crashed_server_costs_in_flight_requests_but_not_the_session_or_its_watches() {
    // ClientCnxn: when the connection breaks, every request written and not answered
    // completes with CONNECTIONLOSS; the client reconnects to the next server with its
    // session id, password and last zxid, and re-registers its watches with SetWatches
    // relative to that zxid, so a change made while it was away fires at once.
    let mut net = three();
    let c = client(&mut net, 0, 4_000);
    let session = net.clients[c].session.session_id();
    let x1 = net.client_submit(c, create("/w", "0"));
    let x2 = net.client_submit(c, get_data("/w", true));
    let x3 = net.client_submit(
        c,
        Request::Exists {
            path: "/later".into(),
            watch: true,
        },
    );
    assert!(net.run_until_true(1_000, |n| done(n, c, x3)));
    assert!(ok(&net, c, x1) && ok(&net, c, x2));
    assert_eq!(
        net.clients[c].reply(x3).map(|r| r.err),
        Some(ErrorCode::NoNode)
    );
    let seen = net.clients[c].session.last_zxid_seen();
    // Two writes in flight when server 1 dies.
    let y1 = net.client_submit(c, create("/lost1", "v"));
    let y2 = net.client_submit(c, create("/lost2", "v"));
    net.run_for(1);
    net.crash(1);
    assert!(net.run_until_true(100, |n| done(n, c, y2)));
    assert_eq!(net.clients[c].outcome(y1), Some(&Outcome::ConnectionLoss));
    assert_eq!(net.clients[c].outcome(y2), Some(&Outcome::ConnectionLoss));
    assert!(net.clients[c].events.contains(&SessionEvent::Disconnected));
    // Another client changes both watched paths while the first is away.
    let other = client(&mut net, 2, 4_000);
    let z1 = net.client_submit(other, set_data("/w", "changed"));
    let z2 = net.client_submit(other, create("/later", "v"));
    assert!(net.run_until_true(500, |n| ok(n, other, z1) && ok(n, other, z2)));
    assert!(
        net.clients[c].watches.is_empty(),
        "no watch fires while disconnected"
    );
    // Reconnect to server 2 with the same session, then SetWatches fires both.
    assert!(net.run_until_true(3_000, |n| n.clients[c].watches.len() == 2));
    assert_eq!(net.clients[c].connected_to.last(), Some(&2));
    let connected: Vec<&SessionEvent> = net.clients[c]
        .events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Connected { .. }))
        .collect();
    assert_eq!(connected.len(), 2);
    for e in connected {
        assert!(matches!(e, SessionEvent::Connected { session_id, .. } if *session_id == session));
    }
    let fired: Vec<(EventType, &str)> = net.clients[c]
        .watches
        .iter()
        .map(|(t, p, _)| (*t, p.as_str()))
        .collect();
    assert!(
        fired.contains(&(EventType::NodeDataChanged, "/w")),
        "{fired:?}"
    );
    assert!(
        fired.contains(&(EventType::NodeCreated, "/later")),
        "{fired:?}"
    );
    assert!(
        net.clients[c].session.watches().is_empty(),
        "both one-shot watches fired"
    );
    // The reconnect named the session, its password and the last zxid the client saw.
    let (first_server, first) = net.clients[c].connects[0].clone();
    let (server, again) = net.clients[c]
        .connects
        .last()
        .cloned()
        .expect("a reconnect");
    assert_eq!((first_server, server), (1, 2));
    assert_eq!(first.session_id, 0);
    assert_eq!(again.session_id, session);
    assert_ne!(again.password, 0);
    assert_eq!(again.last_zxid_seen, seen);
    assert!(net.clients[c].session.last_zxid_seen() >= seen);
    // The session goes on: a request on the new connection succeeds.
    let x4 = net.client_submit(c, get_data("/w", false));
    assert!(net.run_until_true(500, |n| ok(n, c, x4)));
    assert_eq!(
        data_of(net.clients[c].reply(x4).expect("reply")).as_deref(),
        Some("changed")
    );
    assert!(net.clients[c].violations.is_empty());
}

#[test]
fn a_session_survives_the_crash_of_the_leader_it_was_connected_to() {
    // The client of a crashed leader reconnects while the others elect; servers that are
    // not serving yet close its attempts, and the first that serves takes the session
    // back. Its ephemeral survives: the session timeout outlasts the election.
    let mut net = three();
    let c = client(&mut net, 2, 4_000);
    let x = net.client_submit(c, ephemeral("/eph"));
    assert!(net.run_until_true(500, |n| ok(n, c, x)));
    let session = net.clients[c].session.session_id();
    net.crash(3);
    assert!(
        net.run_until_true(10_000, |n| n.clients[c].state() == ClientState::Connected
            && n.clients[c].events.len() >= 3)
    );
    assert_eq!(net.clients[c].session.session_id(), session);
    net.settle(5_000);
    let y = net.client_submit(c, get_data("/eph", false));
    assert!(net.run_until_true(500, |n| ok(n, c, y)));
    let owner = net.clients[c].reply(y).and_then(|r| match &r.response {
        zksim_core::request::Response::GetData { stat, .. } => Some(stat.ephemeral_owner),
        _ => None,
    });
    assert_eq!(owner, Some(session));
}

#[test]
fn an_expired_session_surfaces_as_session_expired() {
    // ClientCnxn.onConnected with a negotiated timeout of 0: the session expired while the
    // client could reach no server. The client emits Expired, fails what it queued with
    // SESSIONEXPIRED and is terminal. Its only server is down for longer than the timeout;
    // a request submitted meanwhile fails with CONNECTIONLOSS at the next failed attempt
    // (cleanup() empties the outgoing queue too).
    let mut net = three();
    let c = net.add_client(ClientConfig::new(1, 0, 1_000), &[1]);
    assert!(net.run_until_true(2_000, |n| n.clients[c].state() == ClientState::Connected));
    let x = net.client_submit(c, ephemeral("/gone"));
    assert!(net.run_until_true(500, |n| ok(n, c, x)));
    net.crash(1);
    net.run_for(100);
    let queued = net.client_submit(c, get_data("/gone", false));
    net.run_for(3_000);
    assert!(
        net.server(3).tree().get("/gone").is_none(),
        "the leader expired the session"
    );
    net.restart(1);
    assert!(net.run_until_true(10_000, |n| n.clients[c].state() == ClientState::Expired));
    assert!(net.clients[c].events.contains(&SessionEvent::Expired));
    assert_eq!(
        net.clients[c].outcome(queued),
        Some(&Outcome::ConnectionLoss)
    );
    let after = net.client_submit(c, get_data("/", false));
    assert_eq!(
        net.clients[c].outcome(after),
        Some(&Outcome::SessionExpired)
    );
}

#[test]
fn pings_keep_an_idle_session_alive_for_minutes() {
    // SendThread.run pings after readTimeout/2 of silence; the follower reports the touch
    // to the leader in its PING answer. Five idle minutes later the session, its connection
    // and its ephemeral are all still there.
    let mut net = three();
    let c = client(&mut net, 0, 2_000);
    let x = net.client_submit(c, ephemeral("/alive"));
    assert!(net.run_until_true(500, |n| ok(n, c, x)));
    net.run_for(300_000);
    assert_eq!(net.clients[c].state(), ClientState::Connected);
    assert_eq!(
        net.clients[c].events.len(),
        1,
        "{:?}",
        net.clients[c].events
    );
    for id in SERVERS {
        assert!(net.server(id).tree().get("/alive").is_some());
    }
    let y = net.client_submit(c, get_data("/alive", false));
    assert!(net.run_until_true(500, |n| ok(n, c, y)));
}

#[test]
fn close_ends_the_session_everywhere() {
    // ZooKeeper.close: closeSession goes behind the session's pending requests; its reply
    // ends the session and the ephemerals are gone from every replica.
    let mut net = three();
    let c = client(&mut net, 1, 4_000);
    let x = net.client_submit(c, ephemeral("/bye"));
    let y = net.client_submit(c, create("/stays", "v"));
    let z = net.client_close(c);
    assert!(net.run_until_true(1_000, |n| n.clients[c].state() == ClientState::Closed));
    assert!(ok(&net, c, x) && ok(&net, c, y) && ok(&net, c, z));
    let order: Vec<i32> = net.clients[c].completed.iter().map(|(x, _)| *x).collect();
    assert_eq!(order, vec![x, y, z]);
    net.run_for(20);
    for id in SERVERS {
        assert!(net.server(id).tree().get("/bye").is_none());
        assert!(net.server(id).tree().get("/stays").is_some());
    }
}
