//! The leader's timers and session tracking: the initLimit and syncLimit checks, pings,
//! session touches, reconnects revalidated, sessions expired, and containers reaped.

use crate::bugs::Bug;

use super::pipeline::{propose, send_pings};
use super::{Leader, Phase, with_leader};
use crate::server::{Core, Effects, Server};
use crate::stat::SessionId;
use crate::txn::TxnHeader;
use crate::zab::ServerId;

/// Whether `session` may move to `owner` (a reconnect on this server).
pub(in crate::server) fn revalidate(s: &mut Server, now_ms: i64, session: SessionId) -> bool {
    let id = s.config.id;
    with_leader(s, |_, l| {
        // A client reconnects only to a serving server (`Server::zab_revalidate`), and a
        // leader serves once established (Leader.lead starts its ZooKeeperServer after
        // waitForNewLeaderAck): its session tracker answers from this term's sessions.
        assert_eq!(
            l.phase,
            Phase::Broadcast,
            "server {id}: a reconnect revalidated before establishment"
        );
        l.sessions.revalidate(session, id, now_ms)
    })
    .unwrap_or(false)
}

/// A client of this server touched its session.
pub(in crate::server) fn touch(s: &mut Server, now_ms: i64, session: SessionId) {
    let lost = s.config.bugs.has(Bug::SessionTouchLost);
    with_leader(s, |s, l| {
        // A client touches the session its connection here holds, which this leader
        // tracks (it created, inherited or revalidated it) until its closeSession commits,
        // the step that also closes the connection (SessionTrackerImpl.removeSession,
        // FinalRequestProcessor).
        assert!(
            l.sessions.tracks(session),
            "server {}: session {session:#x} touched, which it does not track",
            s.config.id
        );
        if !lost {
            l.sessions.touch(session, now_ms);
        }
    });
}

pub(in crate::server) fn on_tick(s: &mut Server, now_ms: i64, out: &mut Effects) {
    with_leader(s, |s, l| {
        // The term began at or before every later input.
        assert!(
            now_ms >= l.started_ms,
            "server {}: a tick at {now_ms} ms before its term began at {} ms",
            s.config.id,
            l.started_ms
        );
        let tick = s.config.tick_ms;
        if l.phase != Phase::Broadcast && now_ms - l.started_ms > s.config.init_limit * tick {
            // Discovery or synchronization took longer than initLimit.
            s.leave_role();
            return;
        }
        if now_ms >= l.next_ping_ms && s.config.bugs.has(Bug::LeaderStopsPinging) {
            // Bug knob: the timer stays due, and nothing is sent.
            return;
        }
        if now_ms >= l.next_ping_ms {
            l.next_ping_ms = now_ms + tick / 2;
            if l.phase == Phase::Broadcast && !quorum_alive(s, l, now_ms) {
                // Leader.lead: "Not sufficient followers synced".
                s.leave_role();
                return;
            }
            send_pings(l, out);
        }
        if l.phase != Phase::Broadcast {
            return;
        }
        for session in l.sessions.expire(now_ms) {
            let h = TxnHeader {
                session_id: session,
                cxid: 0,
                zxid: l.broadcast.next_zxid(l.new_epoch.expect("epoch")),
                time: s.wall_ms(now_ms),
            };
            let txn = s.prep.prep_close_session(&s.tree, &h);
            propose(s, l, h, txn, out);
        }
        if now_ms >= l.next_reap_ms {
            l.next_reap_ms = now_ms + s.config.container_check_ms;
            reap_containers(s, l, now_ms, out);
        }
    });
}

/// Every synced voter heard from within syncLimit, with the leader, must form a quorum.
fn quorum_alive(s: &Core, l: &Leader, now_ms: i64) -> bool {
    // The leader counts itself once, never as one of its learners.
    assert!(
        !l.learners.contains_key(&s.config.id),
        "server {}: a learner of itself",
        s.config.id
    );
    let limit = s.config.sync_limit * s.config.tick_ms;
    let mut alive: Vec<ServerId> = l
        .learners
        .iter()
        .filter(|(_, h)| h.counts() && now_ms - h.last_heard_ms <= limit)
        .map(|(id, _)| *id)
        .collect();
    alive.push(s.config.id);
    s.quorum.contains_quorum(&alive)
}

/// `ContainerManager.checkContainers`: one deleteContainer txn per candidate.
fn reap_containers(s: &mut Core, l: &mut Leader, now_ms: i64, out: &mut Effects) {
    if s.config.bugs.has(Bug::NoContainerReaping) {
        return;
    }
    // ContainerManager runs only on an established leader.
    assert_eq!(
        l.phase,
        Phase::Broadcast,
        "server {}: reaping containers before establishment",
        s.config.id
    );
    // ContainerManager.getElapsed: a TTL is measured by the wall clock against mtime.
    let wall_ms = s.wall_ms(now_ms);
    for path in s.tree.reap_candidates(wall_ms) {
        let h = TxnHeader {
            session_id: 0,
            cxid: 0,
            zxid: l.broadcast.next_zxid(l.new_epoch.expect("epoch")),
            time: wall_ms,
        };
        let txn = s.prep.prep_delete_container(&s.tree, &h, &path);
        propose(s, l, h, txn, out);
    }
}
