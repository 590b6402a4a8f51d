use super::*;

fn sends(out: &[ElectionEffect]) -> Vec<(ServerId, Notification)> {
    out.iter()
        .filter_map(|e| match e {
            ElectionEffect::Send { to, notification } => Some((*to, *notification)),
            ElectionEffect::Decided { .. } | ElectionEffect::Breach { .. } => None,
        })
        .collect()
}

#[test]
fn vote_order_is_epoch_then_zxid_then_id() {
    // FastLeaderElection.totalOrderPredicate.
    assert!(is_better(1, 5, 2, 3, 9, 1));
    assert!(is_better(1, 9, 1, 3, 5, 1));
    assert!(is_better(3, 5, 1, 1, 5, 1));
    assert!(!is_better(1, 5, 1, 1, 5, 1));
}

#[test]
fn three_servers_elect_the_one_with_the_highest_zxid() {
    // Every server starts by voting for itself; the best vote wins a quorum, which
    // decides after the finalize wait.
    let q = QuorumVerifier::new([1, 2, 3]);
    let t = ElectionTiming::default();
    let mut out = Vec::new();
    let mut e1 = Election::start(0, 1, q.clone(), t, true, 0, 10, 1, &mut out);
    assert_eq!(sends(&out).len(), 2);
    out.clear();
    let n2 = Notification {
        leader: 2,
        zxid: 20,
        election_epoch: 1,
        state: PeerState::Looking,
        peer_epoch: 1,
    };
    e1.on_notification(5, 2, n2, &mut out);
    // Server 1 switches to server 2's better vote and tells everyone.
    assert!(sends(&out).iter().all(|(_, n)| n.leader == 2));
    assert_eq!(e1.proposal().leader, 2);
    out.clear();
    e1.on_tick(5 + 199, &mut out);
    assert!(
        !out.iter()
            .any(|e| matches!(e, ElectionEffect::Decided { .. }))
    );
    e1.on_tick(5 + 200, &mut out);
    assert!(out.contains(&ElectionEffect::Decided {
        vote: Vote {
            leader: 2,
            zxid: 20,
            election_epoch: 1,
            peer_epoch: 1
        }
    }));
}

#[test]
fn a_better_vote_during_the_finalize_wait_restarts_it() {
    let q = QuorumVerifier::new([1, 2, 3]);
    let mut out = Vec::new();
    let mut e = Election::start(0, 3, q, ElectionTiming::default(), true, 0, 10, 1, &mut out);
    e.on_notification(
        1,
        1,
        Notification {
            leader: 3,
            zxid: 10,
            election_epoch: 1,
            state: PeerState::Looking,
            peer_epoch: 1,
        },
        &mut out,
    );
    assert!(e.next_deadline() <= 201);
    e.on_notification(
        50,
        2,
        Notification {
            leader: 2,
            zxid: 30,
            election_epoch: 1,
            state: PeerState::Looking,
            peer_epoch: 1,
        },
        &mut out,
    );
    assert_eq!(e.proposal().leader, 2);
    out.clear();
    e.on_tick(201, &mut out);
    assert!(
        !out.iter()
            .any(|x| matches!(x, ElectionEffect::Decided { .. }))
    );
}

#[test]
fn joins_an_established_leader() {
    // A quorum FOLLOWING/LEADING server 2, and server 2 itself LEADING: follow it.
    let q = QuorumVerifier::new([1, 2, 3]);
    let mut out = Vec::new();
    let mut e = Election::start(0, 1, q, ElectionTiming::default(), true, 0, 5, 1, &mut out);
    out.clear();
    e.on_notification(
        1,
        3,
        Notification {
            leader: 2,
            zxid: 50,
            election_epoch: 7,
            state: PeerState::Following,
            peer_epoch: 2,
        },
        &mut out,
    );
    assert!(out.is_empty());
    e.on_notification(
        2,
        2,
        Notification {
            leader: 2,
            zxid: 50,
            election_epoch: 7,
            state: PeerState::Leading,
            peer_epoch: 2,
        },
        &mut out,
    );
    assert!(matches!(out.last(), Some(ElectionEffect::Decided { vote }) if vote.leader == 2));
    assert_eq!(e.logical_clock(), 7);
}

#[test]
fn non_voters_only_follow_established_leaders() {
    // An observer ignores LOOKING votes and never proposes itself.
    let q = QuorumVerifier::new([1, 2, 3]);
    let mut out = Vec::new();
    let mut e = Election::start(0, 9, q, ElectionTiming::default(), false, 0, 0, 0, &mut out);
    assert!(
        sends(&out)
            .iter()
            .all(|(_, n)| n.state == PeerState::Observing)
    );
    out.clear();
    for from in [1, 2, 3] {
        e.on_notification(
            1,
            from,
            Notification {
                leader: 3,
                zxid: 9,
                election_epoch: 1,
                state: PeerState::Looking,
                peer_epoch: 1,
            },
            &mut out,
        );
    }
    e.on_tick(10_000, &mut out);
    assert!(
        !out.iter()
            .any(|x| matches!(x, ElectionEffect::Decided { .. }))
    );
}

#[test]
fn resends_with_backoff_when_nothing_arrives() {
    let q = QuorumVerifier::new([1, 2, 3]);
    let mut out = Vec::new();
    let mut e = Election::start(0, 1, q, ElectionTiming::default(), true, 0, 0, 0, &mut out);
    out.clear();
    e.on_tick(200, &mut out);
    assert_eq!(sends(&out).len(), 2);
    assert_eq!(e.next_deadline(), 600);
}
