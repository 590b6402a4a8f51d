//! The leader's request pipeline and broadcast: requests from its own clients and its
//! learners prepped into txns (`PrepRequestProcessor`), proposed, acknowledged and
//! committed in zxid order (`Leader.tryToCommit`), and syncs answered once committed and
//! confirmed by a quorum's PING answers.

use crate::bugs::Bug;
use std::sync::Arc;

use super::{Leader, LearnerHandle, LearnerPhase, Origin, Phase, try_establish, with_leader};
use crate::acl::Id;
use crate::request::Request;
use crate::server::{Core, Effect, Effects, Server};
use crate::stat::{SessionId, Zxid};
use crate::txn::{Txn, TxnHeader};
use crate::zab::messages::{LearnerRequest, PeerMessage, Proposal};
use crate::zab::{Hex, ServerId, epoch_of, make_zxid};

pub(super) fn on_ack(
    s: &mut Core,
    l: &mut Leader,
    now_ms: i64,
    from: ServerId,
    zxid: Zxid,
    out: &mut Effects,
) {
    let Some(epoch) = l.new_epoch else { return };
    if zxid == make_zxid(epoch, 0) {
        // NEWLEADER ACK: the learner has the leader's history and the new epoch on disk.
        newleader_acked(s, l, now_ms, from, true, out);
        return;
    }
    if s.config.bugs.has(Bug::AckOvertakesNewleaderAck)
        && l.learners
            .get(&from)
            .is_some_and(|h| h.phase == LearnerPhase::Syncing)
    {
        // ZOOKEEPER-4685: LearnerHandler reads the first ACK after NEWLEADER as the
        // NEWLEADER ACK. Leader.waitForNewLeaderAck refuses one of another zxid ("is from
        // a different epoch") without counting it, and the handler goes on as if the
        // learner had acknowledged; its real NEWLEADER ACK is ignored when it comes.
        newleader_acked(s, l, now_ms, from, false, out);
        return;
    }
    on_proposal_ack(s, l, from, zxid, out);
}

/// A learner acknowledged NEWLEADER (`counted`: its ACK counts toward establishing the
/// leader, which only the ack-overtakes-newleader-ack knob ever refuses).
fn newleader_acked(
    s: &mut Core,
    l: &mut Leader,
    now_ms: i64,
    from: ServerId,
    counted: bool,
    out: &mut Effects,
) {
    let Some(h) = l.learners.get_mut(&from) else {
        return;
    };
    if h.phase != LearnerPhase::Syncing {
        return;
    }
    h.phase = LearnerPhase::Synced;
    if counted && !h.observer && !h.repairing {
        l.newleader_acks.insert(from);
    }
    // A repairing learner acknowledges NEWLEADER only once the reset persist that
    // rewrote its files with our history is durable, which ends its repair: from now
    // on its ACKs count like any follower's (it took no part in choosing the epoch, so
    // it still does not help establish it). Without this the leader ignored it until
    // it reconnected, and lost its quorum when any other follower left.
    h.repairing = false;
    if l.phase == Phase::Broadcast {
        h.phase = LearnerPhase::UpToDate;
        out.push(Effect::Send {
            to: from,
            msg: PeerMessage::UpToDate,
        });
    } else {
        try_establish(s, l, now_ms, out);
    }
}

/// A learner acknowledged a proposal: count it, and commit what a quorum now holds.
fn on_proposal_ack(s: &mut Core, l: &mut Leader, from: ServerId, zxid: Zxid, out: &mut Effects) {
    let epoch = l
        .new_epoch
        .expect("a proposal ACK once the epoch is chosen");
    // A learner ACKs only what this leader sent it: in this leader's epoch, a zxid it
    // proposed (Leader.processAck).
    if epoch_of(zxid) == epoch {
        assert!(
            zxid < l.broadcast.next_zxid(epoch),
            "server {}: ACK from {from} of {zxid:#x}, never proposed",
            s.config.id
        );
    }
    let counts = l.learners.get(&from).is_some_and(LearnerHandle::counts);
    if l.broadcast.is_outstanding(zxid) {
        if counts {
            l.broadcast.ack(&s.quorum, from, zxid);
        }
        try_commit(s, l, out);
    }
}

/// A write, sync or session change, from this server's client or a learner's.
pub(in crate::server) fn submit(
    s: &mut Server,
    now_ms: i64,
    session_id: SessionId,
    cxid: i32,
    request: LearnerRequest,
    auth: Vec<Id>,
    out: &mut Effects,
) {
    with_leader(s, |s, l| {
        // A leader serves its own clients only once established (Leader.lead starts its
        // ZooKeeperServer after waitForNewLeaderAck).
        assert_eq!(
            l.phase,
            Phase::Broadcast,
            "server {}: a local client's request before establishment",
            s.config.id
        );
        l.sessions.touch(session_id, now_ms);
        process_request(
            s,
            l,
            now_ms,
            Origin::Local,
            session_id,
            cxid,
            request,
            auth,
            out,
        );
    });
}

#[allow(clippy::too_many_arguments)]
pub(super) fn process_request(
    s: &mut Core,
    l: &mut Leader,
    now_ms: i64,
    origin: Origin,
    session_id: SessionId,
    cxid: i32,
    request: LearnerRequest,
    auth: Vec<Id>,
    out: &mut Effects,
) {
    assert_eq!(
        l.phase,
        Phase::Broadcast,
        "requests only after establishment"
    );
    let owner = match origin {
        Origin::Local => s.config.id,
        Origin::Learner(id) => id,
    };
    // A forwarded request comes over a registered learner's link (`on_message`).
    if let Origin::Learner(id) = origin {
        assert!(
            l.learners.contains_key(&id),
            "server {}: a request from unregistered {id}",
            s.config.id
        );
    }
    let time = s.wall_ms(now_ms);
    let hdr = |l: &Leader| TxnHeader {
        session_id,
        cxid,
        zxid: l.broadcast.next_zxid(l.new_epoch.expect("epoch")),
        time,
    };
    match request {
        LearnerRequest::CreateSession { timeout_ms } => {
            // PrepRequestProcessor, createSession: track the session as soon as it is prepped.
            l.sessions.add(session_id, timeout_ms, Some(owner), now_ms);
            let txn = s.prep.prep_create_session(timeout_ms);
            propose(s, l, hdr(l), txn, out);
        }
        LearnerRequest::CloseSession => {
            l.sessions.set_closing(session_id);
            let h = hdr(l);
            let txn = s.prep.prep_close_session(&s.tree, &h);
            propose(s, l, h, txn, out);
        }
        LearnerRequest::Client(Request::Sync { .. }) => {
            // Leader.processSync answers after every proposal made so far is committed.
            // That alone lets a deposed leader that has not noticed yet answer from stale
            // state (ZOOKEEPER-1675), so the leader also waits for a quorum to answer a
            // PING round started after the sync arrived.
            let round = if s.config.bugs.has(Bug::SyncNoQuorum) {
                0
            } else {
                send_pings(l, out);
                l.ping_round
            };
            // With the knob, as in ZooKeeper 3.8: a local client's sync is not matched
            // against proposals at all (LeaderZooKeeperServer builds its CommitProcessor
            // with matchSyncs false), so it is answered from the leader's state at once.
            let wait_zxid = if s.config.bugs.has(Bug::SyncNoQuorum) && origin == Origin::Local {
                None
            } else {
                l.broadcast.last_outstanding()
            };
            l.pending_syncs.push(PendingSync {
                wait_zxid,
                round,
                origin,
                session_id,
                cxid,
            });
            complete_syncs(s, l, out);
        }
        LearnerRequest::Client(req) => {
            let h = hdr(l);
            let txn = match l.sessions.check(session_id, owner) {
                Err(err) => Txn::Error { err },
                Ok(()) => s.prep.prep_write(&s.tree, &h, &auth, &req).txn,
            };
            propose(s, l, h, txn, out);
        }
    }
}

fn sync_done(s: &mut Core, origin: Origin, session_id: SessionId, cxid: i32, out: &mut Effects) {
    match origin {
        Origin::Local => s.sync_done(session_id, cxid),
        Origin::Learner(id) => {
            // Leader.processSync answers a learner's sync over its LearnerHandler; the
            // leader's own clients' syncs are local. A server never sends to itself
            // (`Server::input_peer_message` refuses that on the receiving side).
            assert_ne!(
                id, s.config.id,
                "server {}: a SYNC answer to itself",
                s.config.id
            );
            out.push(Effect::Send {
                to: id,
                msg: PeerMessage::Sync { session_id, cxid },
            })
        }
    }
}

/// Zab phase 3: log the proposal (group commit) and send it to every forwarding follower.
pub(super) fn propose(s: &mut Core, l: &mut Leader, hdr: TxnHeader, txn: Txn, out: &mut Effects) {
    let epoch = l.new_epoch.expect("epoch");
    // Zab phase 3: a leader proposes only once established, in the epoch it holds as
    // current (Leader.propose; ZkV3_7_0.tla LeaderProcessRequest requires the leader
    // to be in BROADCAST).
    assert_eq!(
        l.phase,
        Phase::Broadcast,
        "server {}: proposing {:#x} before establishment",
        s.config.id,
        hdr.zxid
    );
    assert_eq!(
        s.history.current_epoch(),
        epoch,
        "server {}: proposing {:#x} outside its current epoch",
        s.config.id,
        hdr.zxid
    );
    let proposal = l.broadcast.propose(epoch, hdr, txn);
    tracing::trace!(target: "zksim_core::zab::broadcast", zxid = %Hex(proposal.hdr.zxid), "propose");
    s.log_proposal(Arc::clone(&proposal), out);
    for (id, h) in &l.learners {
        if h.forwarding() && !h.observer {
            out.push(Effect::Send {
                to: *id,
                msg: PeerMessage::Propose(Arc::clone(&proposal)),
            });
        }
    }
    // A one-voter ensemble commits as soon as its own disk has the txn.
    try_commit(s, l, out);
}

/// `Leader.tryToCommit`: commit proposals in zxid order, each once a quorum acknowledged.
pub(super) fn try_commit(s: &mut Core, l: &mut Leader, out: &mut Effects) {
    let own_ack_commits = s
        .config
        .bugs
        .has(Bug::CommitBeforeQuorum)
        .then_some(s.config.id);
    while let Some(proposal) = l.broadcast.next_committable(&s.quorum, own_ack_commits) {
        commit(s, l, &proposal, out);
    }
    // What stays outstanding is above what was committed: commits take the oldest first.
    if let Some(oldest) = l.broadcast.outstanding().next() {
        assert!(
            oldest.hdr.zxid > s.history.committed(),
            "server {}: {:#x} outstanding at or below its committed {:#x}",
            s.config.id,
            oldest.hdr.zxid,
            s.history.committed()
        );
    }
}

fn commit(s: &mut Core, l: &mut Leader, proposal: &Arc<Proposal>, out: &mut Effects) {
    let zxid = proposal.hdr.zxid;
    // Zab phase 3: only an established leader commits, and only txns of its own epoch
    // (earlier epochs' txns were committed at establishment).
    assert_eq!(
        l.phase,
        Phase::Broadcast,
        "server {}: committing {zxid:#x} before establishment",
        s.config.id
    );
    assert_eq!(
        Some(epoch_of(zxid)),
        l.new_epoch,
        "server {}: committing {zxid:#x} outside its epoch",
        s.config.id
    );
    // Leader.commit: the next zxid committed follows the last one applied here.
    assert!(
        zxid > s.history.committed(),
        "server {}: committing {zxid:#x} at or below its committed {:#x}",
        s.config.id,
        s.history.committed()
    );
    tracing::debug!(
        target: "zksim_core::zab::broadcast",
        zxid = %Hex(zxid),
        session = %Hex(proposal.hdr.session_id),
        "commit"
    );
    for (id, h) in &l.learners {
        if !h.forwarding() {
            continue;
        }
        let msg = if h.observer {
            PeerMessage::Inform(Arc::clone(proposal))
        } else {
            PeerMessage::Commit { zxid }
        };
        out.push(Effect::Send { to: *id, msg });
    }
    if let Txn::CloseSession { .. } = proposal.txn {
        l.sessions.remove(proposal.hdr.session_id);
    }
    s.apply_committed(proposal, out);
    complete_syncs(s, l, out);
}

/// A sync waiting for the commit of `wait_zxid` and a quorum's answer to PING `round`.
#[derive(Clone, Debug)]
pub(super) struct PendingSync {
    wait_zxid: Option<Zxid>,
    round: u64,
    origin: Origin,
    session_id: SessionId,
    cxid: i32,
}

pub(super) fn send_pings(l: &mut Leader, out: &mut Effects) {
    l.ping_round += 1;
    let round = l.ping_round;
    // A term's rounds count up from (acceptedEpoch + 1) << 32 (`become_leader`) and stay
    // below the next term's, so an answer to an earlier term's PING never confirms a sync
    // of this one (ZOOKEEPER-1675's fix waits for a quorum's answer to a new round).
    assert_ne!(
        round & 0xffff_ffff,
        0,
        "PING round {round:#x} ran into the next term's rounds"
    );
    for (id, h) in &l.learners {
        if h.forwarding() {
            out.push(Effect::Send {
                to: *id,
                msg: PeerMessage::Ping {
                    round,
                    touches: Vec::new(),
                },
            });
        }
    }
}

/// Answer the syncs whose proposals are committed and whose ping round a quorum answered.
pub(super) fn complete_syncs(s: &mut Core, l: &mut Leader, out: &mut Effects) {
    let committed = s.tree.last_processed_zxid();
    let mut ready = Vec::new();
    let mut waiting = Vec::new();
    for p in l.pending_syncs.drain(..) {
        let mut confirmed: Vec<ServerId> = l
            .learners
            .iter()
            .filter(|(_, h)| h.counts() && h.acked_round >= p.round)
            .map(|(id, _)| *id)
            .collect();
        confirmed.push(s.config.id);
        if p.wait_zxid.is_none_or(|z| z <= committed) && s.quorum.contains_quorum(&confirmed) {
            ready.push(p);
        } else {
            waiting.push(p);
        }
    }
    l.pending_syncs = waiting;
    // Leader.processSync: syncs are answered only by an established leader.
    if !ready.is_empty() {
        assert_eq!(
            l.phase,
            Phase::Broadcast,
            "server {}: a sync answered before establishment",
            s.config.id
        );
    }
    for p in ready {
        sync_done(s, p.origin, p.session_id, p.cxid, out);
    }
}
