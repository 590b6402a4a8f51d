//! The LOOKING role: fast leader election, answering other servers' notifications, and
//! the way into it (`go_looking`) and out of it (`decided`, to lead or to learn).

use std::sync::Arc;

use super::{Bug, Effect, Effects, Role, Server, leader, learner};
use crate::stat::Zxid;
use crate::zab::election::{Election, ElectionEffect, Vote};
use crate::zab::messages::{Notification, PeerMessage, Proposal};
use crate::zab::{Hex, PeerState, ServerId};

impl Server {
    pub(super) fn on_notification(
        &mut self,
        now_ms: i64,
        from: ServerId,
        n: Notification,
        out: &mut Effects,
    ) {
        // FastLeaderElection.WorkerReceiver: answer a peer that is looking (or cannot vote)
        // with our vote, so that it can catch up or learn the leader.
        let state = self.state();
        // A server that cannot vote has no vote to give: its answer would be an OBSERVING
        // notification, which another non-voter would answer in turn, forever.
        let voting = !self.config.is_observer() && !self.repairing;
        match &mut self.role {
            Role::Looking(election) => {
                let from_non_voter =
                    !self.core.quorum.is_voter(from) || n.state == PeerState::Observing;
                let behind =
                    n.state == PeerState::Looking && n.election_epoch < election.logical_clock();
                if voting && (from_non_voter || behind) {
                    out.push(Effect::Send {
                        to: from,
                        msg: PeerMessage::Notification(election.notification()),
                    });
                }
                let mut eff = Vec::new();
                election.on_notification(now_ms, from, n, &mut eff);
                self.on_election_effects(now_ms, eff, out);
            }
            _ => {
                if matches!(n.state, PeerState::Looking | PeerState::Observing) {
                    let v = self.current_vote;
                    // A server leads or learns only after deciding on a vote, for a voter:
                    // that is the vote it answers with (WorkerReceiver sends current_vote).
                    assert!(
                        self.core.quorum.is_voter(v.leader),
                        "server {}: answering with a vote for non-voter {}",
                        self.config.id,
                        v.leader
                    );
                    let reply = Notification {
                        leader: v.leader,
                        zxid: v.zxid,
                        election_epoch: v.election_epoch,
                        state,
                        peer_epoch: v.peer_epoch,
                    };
                    out.push(Effect::Send {
                        to: from,
                        msg: PeerMessage::Notification(reply),
                    });
                }
            }
        }
    }

    pub(super) fn on_election_effects(
        &mut self,
        now_ms: i64,
        effects: Vec<ElectionEffect>,
        out: &mut Effects,
    ) {
        // Only a looking server's election speaks.
        assert!(
            matches!(self.role, Role::Looking(_)),
            "server {}: election effects outside the looking role",
            self.config.id
        );
        for e in effects {
            match e {
                ElectionEffect::Send { to, notification } => out.push(Effect::Send {
                    to,
                    msg: PeerMessage::Notification(notification),
                }),
                ElectionEffect::Decided { vote } => {
                    self.decided(now_ms, vote, out);
                    return;
                }
                ElectionEffect::Breach { invariant, detail } => {
                    self.breach(&[Bug::VoteOrderNotTotal], invariant, detail, out)
                }
            }
        }
    }

    fn decided(&mut self, now_ms: i64, vote: Vote, out: &mut Effects) {
        if let Role::Looking(e) = &self.role {
            self.logical_clock = e.logical_clock();
        }
        // FastLeaderElection counts only voters' notifications for voters: the leader it
        // decides on is a voter.
        assert!(
            self.core.quorum.is_voter(vote.leader),
            "server {}: decided on non-voter {}",
            self.config.id,
            vote.leader
        );
        self.current_vote = vote;
        tracing::debug!(
            target: "zksim_core::zab::election",
            leader = vote.leader,
            zxid = %Hex(vote.zxid),
            round = vote.election_epoch,
            peer_epoch = vote.peer_epoch,
            "decided"
        );
        if vote.leader == self.config.id {
            leader::become_leader(self, now_ms, out);
        } else {
            learner::become_learner(self, now_ms, vote.leader, out);
        }
    }

    /// A learner leaves its role: with the knobs that re-create them, what it had not yet
    /// written is forgotten by the server (`first_deferred`: the first txn the
    /// sync-txns-logged-after-ack knob held back for UPTODATE).
    fn forget_unwritten(&mut self, first_deferred: Option<Zxid>) {
        if let Some(first) = first_deferred {
            // ZOOKEEPER-3023: the txns held back for UPTODATE die with the sync; they were
            // never handed to the disk.
            self.history.forget_unwritten_after(first - 1);
        } else if self.config.bugs.has(Bug::StaleLogWriter) && !self.repairing {
            // ZOOKEEPER-4712: Learner.shutdown leaves the SyncRequestProcessor running,
            // and the server's database is fast-forwarded from the log as it is on disk:
            // the txns still queued for the log are forgotten, yet the writer goes on and
            // appends them to the log afterwards.
            let written = self.durable.durable_zxid().max(self.history.committed());
            self.history.forget_unwritten_after(written);
        }
    }

    /// Leave any role and start an election. Client connections close: a server that is not
    /// synced with a leader serves nobody.
    pub(super) fn go_looking(&mut self, now_ms: i64, out: &mut Effects) {
        self.core.leaving = false;
        if let Role::Learning(l) = &self.role {
            self.forget_unwritten(l.first_deferred());
        }
        for peer in std::mem::take(&mut self.role_peers) {
            out.push(Effect::Disconnect { peer });
        }
        let core = &mut self.core;
        core.clients.close_all(&mut core.tree, out);
        self.prep.clear();
        if self.config.bugs.has(Bug::OldLeaderKeepsState) && self.was_leading {
            // ZOOKEEPER-2845: the deposed leader keeps its uncommitted proposals applied.
            let tail: Vec<Arc<Proposal>> = self
                .log_after(self.tree.last_processed_zxid())
                .cloned()
                .collect();
            for p in &tail {
                self.apply_committed(p, out);
            }
        }
        self.was_leading = false;
        let voting = !self.config.is_observer() && !self.repairing;
        let mut eff = Vec::new();
        let mut election = Election::start(
            now_ms,
            self.config.id,
            self.quorum.clone(),
            self.config.election,
            voting,
            self.logical_clock,
            self.last_logged_zxid(),
            self.history.current_epoch(),
            &mut eff,
        );
        election.vote_order_bug = self.config.bugs.has(Bug::VoteOrderNotTotal);
        // FastLeaderElection.lookForLeader: every election is a new round.
        assert!(
            election.logical_clock() > self.logical_clock,
            "server {}: election round {} after round {}",
            self.config.id,
            election.logical_clock(),
            self.logical_clock
        );
        self.logical_clock = election.logical_clock();
        self.role = Role::Looking(election);
        out.push(Effect::role(
            PeerState::Looking,
            self.history.current_epoch(),
            None,
            "election",
        ));
        self.on_election_effects(now_ms, eff, out);
    }
}
