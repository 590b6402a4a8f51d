//! Fast leader election (ZooKeeper 3.8's `FastLeaderElection.lookForLeader`), as a state
//! machine: notifications in, notifications and a decision out.
//!
//! A LOOKING server proposes the best vote it knows, ordered by (epoch, zxid, server id),
//! sends it to every voter, and decides once a quorum holds the same vote and no better one
//! arrives within `finalize_wait_ms`. It also joins an existing leader when a quorum of
//! FOLLOWING/LEADING servers report the same leader and that leader reports LEADING.

use std::collections::BTreeMap;

use super::messages::Notification;
use super::quorum::QuorumVerifier;
use super::{PeerState, ServerId};
use crate::stat::Zxid;

/// A vote: (leader, its last zxid, its current epoch) in an election round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vote {
    pub leader: ServerId,
    pub zxid: Zxid,
    pub election_epoch: u64,
    pub peer_epoch: u32,
}

/// `FastLeaderElection.totalOrderPredicate`: is the new vote better than the current one?
/// Votes are ordered by (epoch, zxid, server id) lexicographically: a total order, which
/// ZOOKEEPER-1419 showed the pre-3.4.4 comparison was not.
pub fn is_better(
    new_leader: ServerId,
    new_zxid: Zxid,
    new_epoch: u32,
    cur_leader: ServerId,
    cur_zxid: Zxid,
    cur_epoch: u32,
) -> bool {
    (new_epoch, new_zxid, new_leader) > (cur_epoch, cur_zxid, cur_leader)
}

/// Timing of an election (ZooKeeper's `finalizeWait`, `minNotificationInterval` and
/// `maxNotificationInterval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionTiming {
    pub finalize_wait_ms: i64,
    pub min_notification_interval_ms: i64,
    pub max_notification_interval_ms: i64,
}

impl Default for ElectionTiming {
    fn default() -> Self {
        ElectionTiming {
            finalize_wait_ms: 200,
            min_notification_interval_ms: 200,
            max_notification_interval_ms: 60_000,
        }
    }
}

/// What an election step asks of its server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElectionEffect {
    /// Send this notification to `to`.
    Send {
        to: ServerId,
        notification: Notification,
    },
    /// The election is over: follow (or lead, when the leader is this server).
    Decided { vote: Vote },
    /// An invariant was breached that the vote-order knob breaks on purpose (see
    /// `server::Effect::Breach`).
    Breach {
        invariant: &'static str,
        detail: String,
    },
}

/// One run of `lookForLeader`.
#[derive(Clone, Debug)]
pub struct Election {
    id: ServerId,
    quorum: QuorumVerifier,
    timing: ElectionTiming,
    /// Observers and servers repairing lost state never vote: they only learn the leader
    /// from servers already FOLLOWING or LEADING.
    voting: bool,
    logical_clock: u64,
    init_zxid: Zxid,
    init_epoch: u32,
    proposal: Vote,
    recvset: BTreeMap<ServerId, Vote>,
    outofelection: BTreeMap<ServerId, (Vote, PeerState)>,
    /// A non-voter's record of the last LOOKING vote each voter sent it.
    looking_seen: BTreeMap<ServerId, Vote>,
    notification_timeout_ms: i64,
    resend_at_ms: i64,
    /// Set once a quorum agrees: decide at this time unless a better vote arrives.
    finalize_at_ms: Option<i64>,
    /// The reference bug ZOOKEEPER-1419: a vote order that is not total.
    pub vote_order_bug: bool,
    /// Whether this round reported its proposal's breach of the vote order already.
    order_breached: bool,
}

impl Election {
    /// Start an election round: bump the logical clock, vote for ourselves, notify every
    /// voter (`lookForLeader`'s preamble).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        now_ms: i64,
        id: ServerId,
        quorum: QuorumVerifier,
        timing: ElectionTiming,
        voting: bool,
        previous_clock: u64,
        last_zxid: Zxid,
        current_epoch: u32,
        out: &mut Vec<ElectionEffect>,
    ) -> Election {
        // Only a voter votes (FastLeaderElection: observers and non-voting members send
        // OBSERVING notifications and never propose themselves).
        if voting {
            assert!(
                quorum.is_voter(id),
                "server {id}: voting in an ensemble whose voters are {:?}",
                quorum.voters()
            );
        }
        let logical_clock = previous_clock + 1;
        let mut e = Election {
            id,
            quorum,
            timing,
            voting,
            logical_clock,
            init_zxid: last_zxid,
            init_epoch: current_epoch,
            proposal: Vote {
                leader: id,
                zxid: last_zxid,
                election_epoch: logical_clock,
                peer_epoch: current_epoch,
            },
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            looking_seen: BTreeMap::new(),
            notification_timeout_ms: timing.min_notification_interval_ms,
            resend_at_ms: now_ms + timing.min_notification_interval_ms,
            finalize_at_ms: None,
            vote_order_bug: false,
            order_breached: false,
        };
        e.send_notifications(out);
        // An ensemble of one: our own vote is already a quorum.
        if voting && e.quorum.contains_quorum(&[id]) {
            e.finalize_at_ms = Some(now_ms + timing.finalize_wait_ms);
        }
        e
    }

    pub fn logical_clock(&self) -> u64 {
        self.logical_clock
    }

    /// The vote this server currently proposes, as it would send it.
    pub fn proposal(&self) -> Vote {
        self.proposal
    }

    /// The state this server reports while looking.
    fn state(&self) -> PeerState {
        if self.voting {
            PeerState::Looking
        } else {
            PeerState::Observing
        }
    }

    pub fn notification(&self) -> Notification {
        Notification {
            leader: self.proposal.leader,
            zxid: self.proposal.zxid,
            election_epoch: self.logical_clock,
            state: self.state(),
            peer_epoch: self.proposal.peer_epoch,
        }
    }

    fn send_notifications(&self, out: &mut Vec<ElectionEffect>) {
        // FastLeaderElection.sendNotifications: the vote sent is of the current round.
        assert_eq!(
            self.proposal.election_epoch, self.logical_clock,
            "server {}: notifying a vote of another round",
            self.id
        );
        let n = self.notification();
        for to in self.quorum.voters() {
            if *to != self.id {
                out.push(ElectionEffect::Send {
                    to: *to,
                    notification: n,
                });
            }
        }
    }

    fn better(&self, leader: ServerId, zxid: Zxid, epoch: u32, cur: &Vote) -> bool {
        // Only a voter is ever voted for (FastLeaderElection.validVoter).
        assert!(
            self.quorum.is_voter(leader),
            "server {}: comparing a vote for non-voter {leader}",
            self.id
        );
        if self.vote_order_bug {
            // Pre-ZOOKEEPER-1419: the last clause ignores the epoch, so the order is not
            // total and servers can disagree forever or elect a stale leader.
            return epoch > cur.peer_epoch
                || (epoch == cur.peer_epoch && zxid > cur.zxid)
                || (zxid == cur.zxid && leader > cur.leader);
        }
        is_better(leader, zxid, epoch, cur.leader, cur.zxid, cur.peer_epoch)
    }

    fn update_proposal(&mut self, leader: ServerId, zxid: Zxid, peer_epoch: u32) {
        // Only a voter changes its vote: a non-voter only learns the leader from servers
        // already FOLLOWING or LEADING.
        assert!(
            self.voting,
            "server {}: a non-voter changing its vote",
            self.id
        );
        tracing::trace!(
            leader,
            zxid = %super::Hex(zxid),
            peer_epoch,
            round = self.logical_clock,
            "vote"
        );
        self.proposal = Vote {
            leader,
            zxid,
            election_epoch: self.logical_clock,
            peer_epoch,
        };
    }

    /// When to call `on_tick` next.
    pub fn next_deadline(&self) -> i64 {
        self.finalize_at_ms
            .map_or(self.resend_at_ms, |f| f.min(self.resend_at_ms))
    }

    /// Timers: resend notifications with exponential back-off while nothing arrives, and
    /// decide when the finalize wait passes without a better vote.
    pub fn on_tick(&mut self, now_ms: i64, out: &mut Vec<ElectionEffect>) {
        if let Some(at) = self.finalize_at_ms {
            if now_ms >= at {
                self.finalize_at_ms = None;
                // FastLeaderElection.lookForLeader decides on a vote of the current round.
                assert_eq!(
                    self.proposal.election_epoch, self.logical_clock,
                    "server {}: deciding on a vote of another round",
                    self.id
                );
                out.push(ElectionEffect::Decided {
                    vote: self.proposal,
                });
                return;
            }
        }
        if now_ms >= self.resend_at_ms {
            self.send_notifications(out);
            self.notification_timeout_ms =
                (self.notification_timeout_ms * 2).min(self.timing.max_notification_interval_ms);
            self.resend_at_ms = now_ms + self.notification_timeout_ms;
        }
    }

    /// A notification from `from`. Notifications from non-voters are never counted.
    pub fn on_notification(
        &mut self,
        now_ms: i64,
        from: ServerId,
        n: Notification,
        out: &mut Vec<ElectionEffect>,
    ) {
        // A server counts its own vote itself (`on_looking`); hearing its own notification
        // would count it twice.
        assert_ne!(
            from, self.id,
            "server {}: a notification from itself",
            self.id
        );
        if !self.quorum.is_voter(from) || !self.quorum.is_voter(n.leader) {
            return;
        }
        if n.state == PeerState::Observing {
            // A non-voter's notification neither counts nor holds back our next resend: a
            // repairing server polling us would otherwise keep us from ever asking the
            // other voters again.
            return;
        }
        // Something arrived: back-off restarts (FastLeaderElection resets notTimeout only on
        // a new round, but resending while messages flow is pointless either way).
        self.resend_at_ms = now_ms + self.notification_timeout_ms;
        match n.state {
            PeerState::Looking if self.voting => self.on_looking(now_ms, from, n, out),
            PeerState::Looking => {
                // A non-voter (a server repairing its files) learns the leader only from
                // FOLLOWING/LEADING answers to its own notifications. When a voter's vote
                // is new or changed, voters are electing: ask again at the shortest
                // interval, or a back-off grown while no quorum was up (up to
                // maxNotificationInterval) would keep it out of the ensemble that long after
                // they decide. A repeated vote is only an answer to our own notification
                // and leaves the back-off growing.
                let vote = Vote {
                    leader: n.leader,
                    zxid: n.zxid,
                    election_epoch: n.election_epoch,
                    peer_epoch: n.peer_epoch,
                };
                if self.looking_seen.insert(from, vote) != Some(vote) {
                    self.notification_timeout_ms = self.timing.min_notification_interval_ms;
                    self.resend_at_ms = now_ms + self.notification_timeout_ms;
                }
            }
            PeerState::Observing => unreachable!("returned above"),
            PeerState::Following | PeerState::Leading => self.on_established(from, n, out),
        }
    }

    fn on_looking(
        &mut self,
        now_ms: i64,
        from: ServerId,
        n: Notification,
        out: &mut Vec<ElectionEffect>,
    ) {
        if self.finalize_at_ms.is_some() {
            // The finalize wait only looks for a better vote; others are dropped.
            if !self.better(n.leader, n.zxid, n.peer_epoch, &self.proposal)
                || n.election_epoch != self.logical_clock
            {
                return;
            }
            self.finalize_at_ms = None;
        }
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            self.recvset.clear();
            let init = Vote {
                leader: self.id,
                zxid: self.init_zxid,
                election_epoch: self.logical_clock,
                peer_epoch: self.init_epoch,
            };
            if self.better(n.leader, n.zxid, n.peer_epoch, &init) {
                self.update_proposal(n.leader, n.zxid, n.peer_epoch);
            } else {
                self.update_proposal(self.id, self.init_zxid, self.init_epoch);
            }
            self.send_notifications(out);
        } else if n.election_epoch < self.logical_clock {
            return;
        } else if self.better(n.leader, n.zxid, n.peer_epoch, &self.proposal) {
            self.update_proposal(n.leader, n.zxid, n.peer_epoch);
            self.send_notifications(out);
        }
        // lookForLeader's recvset holds votes of the current round only.
        assert_eq!(
            n.election_epoch, self.logical_clock,
            "server {}: counting a vote of another round",
            self.id
        );
        self.check_proposal_order(out);
        self.recvset.insert(
            from,
            Vote {
                leader: n.leader,
                zxid: n.zxid,
                election_epoch: n.election_epoch,
                peer_epoch: n.peer_epoch,
            },
        );
        let proposal = self.proposal;
        let agreeing = self
            .recvset
            .iter()
            .filter(|(_, v)| **v == proposal)
            .map(|(id, _)| id);
        // Our own vote is in recvset only through our own notification; count ourselves.
        let mut voters: Vec<ServerId> = agreeing.copied().collect();
        voters.push(self.id);
        if self.quorum.contains_quorum(&voters) {
            self.finalize_at_ms = Some(now_ms + self.timing.finalize_wait_ms);
        }
    }

    /// The vote a server proposes only ever moves to a better one, starting from its own:
    /// by the total order of votes (ZOOKEEPER-1419), it is never worse than the vote for
    /// itself it started the round with. The vote-order knob's order is not transitive,
    /// and breaks this; with it, the breach is a finding.
    fn check_proposal_order(&mut self, out: &mut Vec<ElectionEffect>) {
        let p = self.proposal;
        if self.order_breached
            || !is_better(
                self.id,
                self.init_zxid,
                self.init_epoch,
                p.leader,
                p.zxid,
                p.peer_epoch,
            )
        {
            return;
        }
        let detail = format!(
            "server {}: proposing ({}, {:#x}, {}), worse than its own ({}, {:#x}, {})",
            self.id, p.peer_epoch, p.zxid, p.leader, self.init_epoch, self.init_zxid, self.id
        );
        assert!(self.vote_order_bug, "{detail}");
        // Once a round: a knob's election can go on disagreeing for as long as it runs.
        self.order_breached = true;
        out.push(ElectionEffect::Breach {
            invariant: "a proposed vote is never worse than the server's own",
            detail,
        });
    }

    /// A notification from a server that is already FOLLOWING or LEADING.
    fn on_established(&mut self, from: ServerId, n: Notification, out: &mut Vec<ElectionEffect>) {
        // Only FOLLOWING and LEADING servers are established, and they name a voter.
        assert!(
            matches!(n.state, PeerState::Following | PeerState::Leading),
            "server {}: a {:?} notification taken as established",
            self.id,
            n.state
        );
        let vote = Vote {
            leader: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
        };
        if n.election_epoch == self.logical_clock && self.voting {
            self.recvset.insert(from, vote);
            let agreeing: Vec<ServerId> = self
                .recvset
                .iter()
                .filter(|(_, v)| **v == vote)
                .map(|(id, _)| *id)
                .collect();
            if self.quorum.contains_quorum(&agreeing)
                && self.check_leader(n.leader, n.election_epoch)
            {
                out.push(ElectionEffect::Decided { vote });
                return;
            }
        }
        // Outside the election, only (leader, epoch) must match (Vote.equals for non-LOOKING).
        self.outofelection.insert(from, (vote, n.state));
        let agreeing: Vec<ServerId> = self
            .outofelection
            .iter()
            .filter(|(_, (v, _))| v.leader == vote.leader && v.peer_epoch == vote.peer_epoch)
            .map(|(id, _)| *id)
            .collect();
        if self.quorum.contains_quorum(&agreeing) && self.check_leader(n.leader, n.election_epoch) {
            self.logical_clock = n.election_epoch;
            out.push(ElectionEffect::Decided { vote });
        }
    }

    /// `checkLeader`: another server can only be followed once it says it is LEADING; we
    /// can only lead if the round is ours.
    fn check_leader(&self, leader: ServerId, election_epoch: u64) -> bool {
        // Only a voter leads (`Server::decided` relies on it).
        assert!(
            self.quorum.is_voter(leader),
            "server {}: checking non-voter {leader} as leader",
            self.id
        );
        if leader == self.id {
            return self.logical_clock == election_epoch;
        }
        self.outofelection
            .get(&leader)
            .is_some_and(|(_, state)| *state == PeerState::Leading)
    }
}

#[cfg(test)]
mod tests;
