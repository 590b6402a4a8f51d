//! A ZooKeeper server as a sans-IO state machine: fast leader election, then leading,
//! following or observing with ZAB, serving client sessions, and persisting what it must
//! through its driver.
//!
//! Inputs carry `now_ms`, the node's elapsed clock (monotonic, though it may run fast or
//! slow), by which every timeout is measured; txns are stamped by its wall clock, which
//! the driver sets apart (`Server::set_wall_clock_offset`). Outputs are [`Effect`]s in the
//! order they must happen. Nothing here touches a clock, a socket or a
//! file.
//!
//! A [`Server`] is its role (looking, leading or learning) and its [`Core`] (history,
//! tree, disk, clients). `leader` and `learner` carry out Zab's phases (`crate::zab`) and
//! get the core and their own state apart; to leave the role they ask
//! (`Core::leave_role`) and the server starts an election once the input is handled.
//! `clients` is ZooKeeper's request pipeline (connections, request order, replies,
//! watches); it reaches Zab only through the server (`zab_submit`, `zab_touch`,
//! `zab_revalidate`), and hears back through the core (syncs done, reconnects answered,
//! txns applied). The three never call each other.

mod clients;
mod durable;
mod leader;
mod learner;
mod sessions;

use std::sync::Arc;

use crate::log::{DurableRecord, DurableState};
use crate::prep::{Prep, PrepConfig};
use crate::proto::{ClientMessage, ConnId, ServerMessage};
use crate::standalone::SessionLimits;
use crate::stat::Zxid;
use crate::tree::DataTree;
use crate::watch::WatchEvent;
use crate::zab::election::{Election, ElectionEffect, ElectionTiming, Vote};
use crate::zab::history::History;
use crate::zab::messages::{Notification, PeerMessage, Proposal};
use crate::zab::quorum::QuorumVerifier;
use crate::zab::{PeerState, ServerId};

pub use crate::bugs::{Bug, Bugs};
pub use clients::Clients;
pub use durable::Durability;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub id: ServerId,
    pub voters: Vec<ServerId>,
    pub observers: Vec<ServerId>,
    /// `tickTime`.
    pub tick_ms: i64,
    /// `initLimit`, in ticks: how long discovery and synchronization may take.
    pub init_limit: i64,
    /// `syncLimit`, in ticks: how long a follower may go unheard.
    pub sync_limit: i64,
    pub election: ElectionTiming,
    /// Take a snapshot after this many logged txns (`snapCount`).
    pub snap_count: usize,
    /// How often the leader's container manager runs (`znode.container.checkIntervalMs`).
    pub container_check_ms: i64,
    pub prep: PrepConfig,
    pub bugs: Bugs,
}

impl ServerConfig {
    /// A voter of an ensemble with ZooKeeper's usual settings scaled to a 200 ms tick.
    pub fn new(id: ServerId, voters: Vec<ServerId>, observers: Vec<ServerId>) -> ServerConfig {
        ServerConfig {
            id,
            voters,
            observers,
            tick_ms: 200,
            init_limit: 10,
            sync_limit: 5,
            election: ElectionTiming::default(),
            snap_count: 1000,
            container_check_ms: 60_000,
            prep: PrepConfig::default(),
            bugs: Bugs::default(),
        }
    }

    pub fn is_observer(&self) -> bool {
        self.observers.contains(&self.id)
    }

    pub fn session_limits(&self) -> SessionLimits {
        SessionLimits::from_tick(i32::try_from(self.tick_ms).expect("tick fits in i32"))
    }
}

/// What a server asks its driver to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send to a peer over the FIFO link.
    Send { to: ServerId, msg: PeerMessage },
    /// Write the records (each to its file) and fsync them all; then call `on_persisted`
    /// with `token`. Tokens complete in the order they were issued. With `reset`, every
    /// file is replaced by these records in one atomic step (as writing a new data
    /// directory and renaming it over the old one would), instead of being appended to.
    Persist {
        token: u64,
        records: Vec<DurableRecord>,
        reset: bool,
    },
    /// Send once the persist with `token` is durable (a follower's ACK).
    SendAfterPersist {
        token: u64,
        to: ServerId,
        msg: PeerMessage,
    },
    /// Close the connection to a peer: whatever is in flight on it either way is dropped,
    /// and the peer hears of the close (`on_peer_disconnected`) once the network lets it
    /// through. A learner closes its leader's connection when it stops following
    /// (Learner.shutdown), a leader its learners' when it stops leading (Leader.shutdown).
    Disconnect { peer: ServerId },
    /// Send to a client connection.
    ToClient { conn: ConnId, msg: ServerMessage },
    /// Close a client connection.
    CloseConn { conn: ConnId },
    /// The server changed role (for traces and summaries).
    Role {
        state: PeerState,
        epoch: u32,
        leader: Option<ServerId>,
    },
    /// A committed txn applied to this server's tree (ground truth).
    Applied(Arc<Proposal>),
    /// The tree was replaced by the leader's snapshot (ground truth: the log restarts).
    InstalledSnapshot { zxid: Zxid, digest: u64 },
    /// An invariant was breached that a bug knob breaks on purpose. Without a knob the
    /// same breach is an assertion failure; with one, the server goes on as the knob's
    /// bug did, and the run reports the breach among its findings.
    Breach {
        invariant: &'static str,
        detail: String,
    },
}

pub type Effects = Vec<Effect>;

/// What the server is doing.
#[derive(Debug)]
enum Role {
    Looking(Election),
    Leading(leader::Leader),
    Learning(learner::Learner),
}

/// A server: its role (looking, leading or learning, with that role's protocol state)
/// and everything else ([`Core`]). A role's handlers get the core and their own state
/// apart, so they never take the role out of the server; to leave the role they ask
/// (`Core::leave_role`), and the server starts an election once they return.
#[derive(Debug)]
pub struct Server {
    core: Core,
    role: Role,
}

impl std::ops::Deref for Server {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.core
    }
}

/// A server's state apart from its role: configuration, history, tree, disk, clients.
#[derive(Debug)]
pub struct Core {
    config: ServerConfig,
    quorum: QuorumVerifier,
    durable: Durability,
    /// The log, the snapshot, the epochs and how far they are committed.
    history: History,
    /// Committed state, the only state clients ever see.
    tree: DataTree,
    prep: Prep,
    /// The peers the current role holds a connection to (a learner: its leader; a leader:
    /// its learners), closed when the role ends.
    role_peers: std::collections::BTreeSet<ServerId>,
    logical_clock: u64,
    /// The vote this server answers LOOKING peers with while not looking.
    current_vote: Vote,
    clients: Clients,
    /// This server lost durable state (its files failed their checksums): it neither votes
    /// nor counts toward quorums until a leader has given it a full copy by SNAP and it
    /// has written that copy over its files (Alagappan et al., "Protocol-Aware Recovery
    /// for Consensus-Based Storage", FAST 2018).
    repairing: bool,
    /// The reset persist that ends the repair.
    repair_token: Option<u64>,
    /// A snapshot decided at this zxid, written once the disk is free.
    snapshot_label: Option<Zxid>,
    /// Whether the role being left is leadership.
    was_leading: bool,
    /// Syncs confirmed during the current input, answered when it is done.
    syncs_done: Vec<(crate::stat::SessionId, i32)>,
    /// A role handler asked to leave the role (`leave_role`).
    leaving: bool,
    /// The leader's answers to reconnects, heard during the current input.
    revalidations: Vec<(crate::stat::SessionId, bool)>,
    /// How far the wall clock is ahead of the elapsed clock that inputs carry, as the
    /// driver last set it (`set_wall_clock_offset`).
    wall_offset_ms: i64,
}

impl Server {
    /// A server with empty disks.
    pub fn new(config: ServerConfig) -> Server {
        Server::recover(config, DurableState::default())
    }

    /// `QuorumPeer.loadDataBase`: rebuild from what the disks held. The tree is the last
    /// snapshot; logged txns after it are kept but not applied until a leader confirms them.
    pub fn recover(config: ServerConfig, state: DurableState) -> Server {
        let quorum = QuorumVerifier::new(config.voters.iter().copied());
        let tree = state
            .snapshot
            .as_deref()
            .map(DataTree::from_snapshot)
            .unwrap_or_default();
        let prep = Prep::new(config.prep);
        let id = config.id;
        let role = Role::Looking(Election::start(
            0,
            id,
            quorum.clone(),
            config.election,
            false,
            0,
            0,
            0,
            &mut Vec::new(),
        ));
        let core = Core {
            durable: Durability::recovered(
                state.accepted_epoch,
                state.current_epoch,
                state.last_logged_zxid(),
            ),
            history: History::recovered(id, state),
            tree,
            prep,
            logical_clock: 0,
            current_vote: Vote {
                leader: id,
                zxid: 0,
                election_epoch: 0,
                peer_epoch: 0,
            },
            clients: Clients::default(),
            repairing: false,
            repair_token: None,
            snapshot_label: None,
            was_leading: false,
            role_peers: Default::default(),
            syncs_done: Vec::new(),
            leaving: false,
            revalidations: Vec::new(),
            wall_offset_ms: 0,
            quorum,
            config,
        };
        core.check_committed();
        Server { core, role }
    }

    /// A server whose files could not be read back: it starts empty, promises nothing,
    /// and takes a full copy from the leader.
    pub fn repairing(config: ServerConfig) -> Server {
        let mut server = Server::new(config);
        server.repairing = true;
        server
    }

    /// Begin: look for a leader.
    /// Set how far the server's wall clock (`Time.currentWallTime`) is ahead of the elapsed
    /// clock (`Time.currentElapsedTime`) that every input's `now_ms` reads. ZooKeeper times
    /// its timeouts (elections, syncLimit, session expiry, pings) by the elapsed clock and
    /// stamps txns by the wall clock (`PrepRequestProcessor`: ctime and mtime;
    /// `ContainerManager.getElapsed`: TTLs), so a wall clock that jumps moves only
    /// those. Zero until set.
    pub fn set_wall_clock_offset(&mut self, offset_ms: i64) {
        self.core.wall_offset_ms = offset_ms;
    }

    pub fn start(&mut self, now_ms: i64, out: &mut Effects) {
        self.go_looking(now_ms, out);
    }

    pub fn state(&self) -> PeerState {
        match &self.role {
            Role::Looking(_) => PeerState::Looking,
            Role::Leading(_) => PeerState::Leading,
            Role::Learning(l) if l.is_observer() => PeerState::Observing,
            Role::Learning(_) => PeerState::Following,
        }
    }

    /// The leader this server follows or is, once known.
    pub fn leader(&self) -> Option<ServerId> {
        match &self.role {
            Role::Looking(_) => None,
            Role::Leading(_) => Some(self.config.id),
            Role::Learning(l) => Some(l.leader()),
        }
    }

    /// Whether clients are served (the server is synced with an established leader).
    pub fn is_serving(&self) -> bool {
        match &self.role {
            Role::Looking(_) => false,
            Role::Leading(l) => l.is_established(),
            Role::Learning(l) => l.is_serving(),
        }
    }

    /// The earliest time at which `on_tick` has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        match &self.role {
            Role::Looking(e) => Some(e.next_deadline()),
            Role::Leading(l) => Some(l.next_deadline()),
            Role::Learning(l) => Some(l.next_deadline_with(
                self.config.tick_ms,
                self.config.init_limit,
                self.config.sync_limit,
            )),
        }
    }

    // ----- inputs -----

    pub fn on_tick(&mut self, now_ms: i64, out: &mut Effects) {
        self.input_tick(now_ms, out);
        self.settle(now_ms, out);
        clients::release_syncs(self, now_ms, out);
    }

    fn input_tick(&mut self, now_ms: i64, out: &mut Effects) {
        clients::release_held(self, now_ms, out);
        match &mut self.role {
            Role::Looking(election) => {
                let mut eff = Vec::new();
                election.on_tick(now_ms, &mut eff);
                self.on_election_effects(now_ms, eff, out);
            }
            Role::Leading(_) => leader::on_tick(self, now_ms, out),
            Role::Learning(_) => learner::on_tick(self, now_ms, out),
        }
    }

    pub fn on_peer_message(
        &mut self,
        now_ms: i64,
        from: ServerId,
        msg: PeerMessage,
        out: &mut Effects,
    ) {
        self.input_peer_message(now_ms, from, msg, out);
        self.settle(now_ms, out);
        clients::release_syncs(self, now_ms, out);
    }

    fn input_peer_message(
        &mut self,
        now_ms: i64,
        from: ServerId,
        msg: PeerMessage,
        out: &mut Effects,
    ) {
        if let PeerMessage::Notification(n) = msg {
            self.on_notification(now_ms, from, n, out);
            return;
        }
        match &self.role {
            Role::Looking(_) => {}
            Role::Leading(_) => leader::on_message(self, now_ms, from, msg, out),
            Role::Learning(_) => learner::on_message(self, now_ms, from, msg, out),
        }
    }

    /// The FIFO link to `peer` broke: anything sent on it after the last delivered message
    /// is lost, so a learner must resynchronize.
    pub fn on_peer_disconnected(&mut self, now_ms: i64, peer: ServerId, out: &mut Effects) {
        self.input_peer_disconnected(now_ms, peer, out);
        self.settle(now_ms, out);
        clients::release_syncs(self, now_ms, out);
    }

    fn input_peer_disconnected(&mut self, now_ms: i64, peer: ServerId, out: &mut Effects) {
        match &self.role {
            Role::Looking(_) => {}
            Role::Leading(_) => leader::on_learner_lost(self, now_ms, peer, out),
            Role::Learning(l) => {
                if l.leader() == peer {
                    self.go_looking(now_ms, out);
                }
            }
        }
    }

    pub fn on_persisted(&mut self, now_ms: i64, token: u64, out: &mut Effects) {
        self.input_persisted(now_ms, token, out);
        self.settle(now_ms, out);
        clients::release_syncs(self, now_ms, out);
    }

    fn input_persisted(&mut self, now_ms: i64, token: u64, out: &mut Effects) {
        self.durable.on_persisted(token, out);
        if self.repair_token == Some(token) {
            self.repair_token = None;
            self.repairing = false;
        }
        self.capture_snapshot(out);
        if let Role::Leading(_) = &self.role {
            leader::on_durable(self, now_ms, out);
        }
    }

    pub fn on_client_message(
        &mut self,
        now_ms: i64,
        conn: ConnId,
        msg: ClientMessage,
        out: &mut Effects,
    ) {
        self.input_client_message(now_ms, conn, msg, out);
        self.settle(now_ms, out);
        clients::release_syncs(self, now_ms, out);
    }

    fn input_client_message(
        &mut self,
        now_ms: i64,
        conn: ConnId,
        msg: ClientMessage,
        out: &mut Effects,
    ) {
        clients::on_message(self, now_ms, conn, msg, out);
    }

    pub fn on_client_disconnected(&mut self, _now_ms: i64, conn: ConnId) {
        let core = &mut self.core;
        core.clients.disconnected(conn, &mut core.tree);
    }

    // ----- election -----

    fn on_notification(&mut self, now_ms: i64, from: ServerId, n: Notification, out: &mut Effects) {
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

    fn on_election_effects(
        &mut self,
        now_ms: i64,
        effects: Vec<ElectionEffect>,
        out: &mut Effects,
    ) {
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
        if vote.leader == self.config.id {
            leader::become_leader(self, now_ms, out);
        } else {
            learner::become_learner(self, now_ms, vote.leader, out);
        }
    }

    /// A role handler asked to leave its role during this input: leave it now. Handlers
    /// ask as their last step, so the election starts where they would have started it.
    fn settle(&mut self, now_ms: i64, out: &mut Effects) {
        for (session, valid) in std::mem::take(&mut self.core.revalidations) {
            clients::on_revalidated(self, session, valid, out);
        }
        if std::mem::take(&mut self.core.leaving) {
            self.go_looking(now_ms, out);
        }
    }

    /// Leave any role and start an election. Client connections close: a server that is not
    /// synced with a leader serves nobody.
    fn go_looking(&mut self, now_ms: i64, out: &mut Effects) {
        self.core.leaving = false;
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
        self.logical_clock = election.logical_clock();
        self.role = Role::Looking(election);
        out.push(Effect::Role {
            state: PeerState::Looking,
            epoch: self.history.current_epoch(),
            leader: None,
        });
        self.on_election_effects(now_ms, eff, out);
    }
}

// ----- the request pipeline's one way into Zab -----
impl Server {
    /// A client's write, sync or session change: the leader proposes it, a learner forwards
    /// it to its leader; a server that is looking serves no one.
    fn zab_submit(
        &mut self,
        now_ms: i64,
        session: crate::stat::SessionId,
        cxid: i32,
        request: crate::zab::messages::LearnerRequest,
        auth: Vec<crate::acl::Id>,
        out: &mut Effects,
    ) {
        match self.role {
            Role::Leading(_) => leader::submit(self, now_ms, session, cxid, request, auth, out),
            Role::Learning(_) => learner::forward(self, session, cxid, request, auth, out),
            Role::Looking(_) => {}
        }
    }

    /// A client touched its session (the leader's session tracker, or a learner's touches
    /// reported with its next PING).
    fn zab_touch(&mut self, now_ms: i64, session: crate::stat::SessionId, timeout_ms: i32) {
        match self.role {
            Role::Leading(_) => leader::touch(self, now_ms, session),
            Role::Learning(_) => learner::touch(self, session, timeout_ms),
            Role::Looking(_) => {}
        }
    }

    /// Whether a reconnecting session is live: the leader answers at once; a learner asks
    /// its leader (None), and the answer comes back as `Core::revalidated`.
    fn zab_revalidate(
        &mut self,
        now_ms: i64,
        session: crate::stat::SessionId,
        timeout_ms: i32,
        out: &mut Effects,
    ) -> Option<bool> {
        match self.role {
            Role::Leading(_) => Some(leader::revalidate(self, now_ms, session)),
            _ => {
                learner::revalidate(self, session, timeout_ms, out);
                None
            }
        }
    }
}

impl Core {
    /// The wall clock when the elapsed clock reads `now_ms`.
    fn wall_ms(&self, now_ms: i64) -> i64 {
        now_ms + self.wall_offset_ms
    }

    /// A role handler leaves its role: the server starts an election as soon as the
    /// handler returns (`Server::go_looking`). Handlers return right after asking.
    fn leave_role(&mut self) {
        self.leaving = true;
    }

    /// Zab says a sync is done: every write committed before it has been applied here.
    /// The request pipeline answers it once the input is handled (`clients::release_syncs`).
    fn sync_done(&mut self, session: crate::stat::SessionId, cxid: i32) {
        self.syncs_done.push((session, cxid));
    }

    /// The leader answered a reconnect; the request pipeline hears of it once the input is
    /// handled (`Server::settle`).
    fn revalidated(&mut self, session: crate::stat::SessionId, valid: bool) {
        self.revalidations.push((session, valid));
    }

    pub fn is_repairing(&self) -> bool {
        self.repairing
    }

    pub fn id(&self) -> ServerId {
        self.config.id
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    pub fn accepted_epoch(&self) -> u32 {
        self.history.accepted_epoch()
    }

    pub fn current_epoch(&self) -> u32 {
        self.history.current_epoch()
    }

    /// The zxid of the last txn in the log (durable or not).
    pub fn last_logged_zxid(&self) -> Zxid {
        self.history.last_logged()
    }

    pub fn last_committed_zxid(&self) -> Zxid {
        self.history.committed()
    }

    /// The history's committed zxid is the tree's.
    fn check_committed(&self) {
        assert_eq!(
            self.history.committed(),
            self.tree.last_processed_zxid(),
            "server {}: its history and its tree disagree on what is committed",
            self.config.id
        );
    }

    // ----- shared helpers -----

    /// Append a txn to the log and persist it (group commit).
    fn log_proposal(&mut self, proposal: Arc<Proposal>, out: &mut Effects) -> u64 {
        let record = self.history.append(proposal);
        self.durable.persist(vec![record], out)
    }

    /// Apply a committed txn to the tree, hand its replies and watch events to clients, and
    /// record it as ground truth.
    fn apply_committed(&mut self, proposal: &Arc<Proposal>, out: &mut Effects) {
        let last = self.tree.last_processed_zxid();
        assert!(
            proposal.hdr.zxid > last,
            "server {}: applying zxid {:#x} after {:#x}",
            self.config.id,
            proposal.hdr.zxid,
            last
        );
        self.history.commit(proposal.hdr.zxid);
        let mut events: Vec<WatchEvent> = Vec::new();
        let result = self.tree.apply(&proposal.hdr, &proposal.txn, &mut events);
        self.check_committed();
        self.prep.applied(proposal.hdr.zxid);
        out.push(Effect::Applied(Arc::clone(proposal)));
        clients::on_applied(self, proposal, &result, &events, out);
        self.maybe_snapshot(out);
    }

    /// `SyncRequestProcessor`: after `snapCount` txns, snapshot the committed tree and drop
    /// the log entries it covers.
    fn maybe_snapshot(&mut self, out: &mut Effects) {
        if self.snapshot_label.is_some()
            || self.history.txns_since_snapshot() < self.config.snap_count
        {
            return;
        }
        self.snapshot_label = Some(self.tree.last_processed_zxid());
        if self.durable.is_idle() {
            self.capture_snapshot(out);
        }
    }

    /// Write the snapshot decided earlier. Like ZooKeeper's, it is fuzzy: labelled with
    /// the zxid at which it was decided, it holds the tree as it is when the disk is free
    /// to take it, so txns applied in between are in it and are applied again, harmlessly,
    /// when the log after the label is replayed (FileTxnSnapLog.restore).
    fn capture_snapshot(&mut self, out: &mut Effects) {
        let Some(label) = self.snapshot_label.take() else {
            return;
        };
        let mut snapshot = self.tree.snapshot();
        assert!(
            snapshot.zxid >= label,
            "server {}: snapshot content behind its label",
            self.config.id
        );
        snapshot.zxid = label;
        // Snapshots only move forward: recovery reads the last one written.
        let record = self.history.take_snapshot(Arc::new(snapshot));
        self.durable.persist(vec![record], out);
    }

    /// The logged txns after `zxid`, in order.
    fn log_after(&self, zxid: Zxid) -> impl Iterator<Item = &Arc<Proposal>> {
        self.history.log_after(zxid)
    }

    /// The tree the log continues. A learner writes a leader's SNAP as its snapshot when
    /// NEWLEADER arrives but installs it only at UPTODATE; if it left that leader in
    /// between, the snapshot is ahead of its committed tree and the log continues the
    /// snapshot, not the tree.
    fn history_base(&self) -> DataTree {
        match self.history.snapshot() {
            Some(snap) if snap.zxid > self.tree.last_processed_zxid() => {
                DataTree::from_snapshot(snap)
            }
            _ => self.tree.clone(),
        }
    }

    /// Once the history is known committed (UPTODATE, or establishing as leader), start the
    /// tree from a snapshot that is ahead of it (see `history_base`): applying the log after
    /// the older tree would skip every txn in between and leave a replica that claims the
    /// same last zxid as the others with a different tree.
    fn catch_up_to_snapshot(&mut self, out: &mut Effects) {
        let Some(snap) = self.history.snapshot().cloned() else {
            return;
        };
        if snap.zxid <= self.tree.last_processed_zxid() {
            return;
        }
        self.tree = DataTree::from_snapshot(&snap);
        self.prep.clear();
        assert_eq!(self.tree.last_processed_zxid(), snap.zxid);
        self.history.committed_tree(snap.zxid);
        out.push(Effect::InstalledSnapshot {
            zxid: snap.zxid,
            digest: self.tree.digest(),
        });
    }
}
