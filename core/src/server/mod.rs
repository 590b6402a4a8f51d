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
//! `looking` is the election and the way into it; `state` holds the core's own steps
//! (accessors, and logging, applying and snapshotting committed txns).

mod clients;
mod config;
mod durable;
mod effect;
mod leader;
mod learner;
mod looking;
mod sessions;
mod state;

use crate::log::DurableState;
use crate::prep::Prep;
use crate::proto::{ClientMessage, ConnId};
use crate::stat::Zxid;
use crate::tree::DataTree;
use crate::zab::election::{Election, Vote};
use crate::zab::history::History;
use crate::zab::messages::PeerMessage;
use crate::zab::quorum::QuorumVerifier;
use crate::zab::{PeerState, ServerId};

pub use crate::bugs::{Bug, Bugs};
pub use clients::Clients;
pub use config::ServerConfig;
pub use durable::Durability;
pub use effect::{Effect, Effects};

/// What the server is doing.
#[derive(Clone, Debug)]
enum Role {
    Looking(Election),
    Leading(leader::Leader),
    Learning(learner::Learner),
}

/// A server: its role (looking, leading or learning, with that role's protocol state)
/// and everything else ([`Core`]). A role's handlers get the core and their own state
/// apart, so they never take the role out of the server; to leave the role they ask
/// (`Core::leave_role`), and the server starts an election once they return.
#[derive(Clone, Debug)]
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
#[derive(Clone, Debug)]
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
    /// The elapsed clock of the last input (`Core::clock`).
    now_ms: i64,
    /// The committed-log-hole knob (ZOOKEEPER-4925): txns applied while syncing as a
    /// learner, missing from the committed log this server serves DIFFs from. In memory
    /// only, as ZooKeeper's committedLog is: a restart rebuilds it whole from the log.
    not_in_committed_log: std::collections::BTreeSet<Zxid>,
}

impl Server {
    /// A server with empty disks.
    pub fn new(config: ServerConfig) -> Server {
        Server::recover(config, DurableState::default())
    }

    /// `QuorumPeer.loadDataBase`: rebuild from what the disks held. The tree is the last
    /// snapshot; logged txns after it are kept but not applied until a leader confirms them.
    pub fn recover(config: ServerConfig, state: DurableState) -> Server {
        // A server is a member of its ensemble, as a voter or an observer, not both
        // (QuorumPeerConfig: a server is either a participant or an observer).
        assert!(
            config.voters.contains(&config.id) != config.observers.contains(&config.id),
            "server {}: neither or both a voter and an observer (voters {:?}, observers {:?})",
            config.id,
            config.voters,
            config.observers
        );
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
            now_ms: 0,
            not_in_committed_log: Default::default(),
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
        self.core.clock(now_ms);
        self.input_tick(now_ms, out);
        self.settle(now_ms, out);
        clients::release_syncs(self, now_ms, out);
        self.check_role();
    }

    fn input_tick(&mut self, now_ms: i64, out: &mut Effects) {
        // A role handler's request to leave is carried out at the end of the input that
        // made it (`settle`): no tick finds one pending from an earlier input.
        assert!(
            !self.core.leaving,
            "server {}: a tick with a request to leave its role pending",
            self.config.id
        );
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
        self.core.clock(now_ms);
        self.input_peer_message(now_ms, from, msg, out);
        self.settle(now_ms, out);
        clients::release_syncs(self, now_ms, out);
        self.check_role();
    }

    fn input_peer_message(
        &mut self,
        now_ms: i64,
        from: ServerId,
        msg: PeerMessage,
        out: &mut Effects,
    ) {
        // A server never talks to itself over the network: it counts its own vote and
        // ACKs itself.
        assert_ne!(
            from,
            self.config.id,
            "server {}: a {} from itself",
            self.config.id,
            msg.kind()
        );
        msg.log_received(from);
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
        self.core.clock(now_ms);
        self.input_peer_disconnected(now_ms, peer, out);
        self.settle(now_ms, out);
        clients::release_syncs(self, now_ms, out);
        self.check_role();
    }

    fn input_peer_disconnected(&mut self, now_ms: i64, peer: ServerId, out: &mut Effects) {
        assert_ne!(
            peer, self.config.id,
            "server {}: its link to itself broke",
            self.config.id
        );
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
        self.core.clock(now_ms);
        self.input_persisted(now_ms, token, out);
        self.settle(now_ms, out);
        clients::release_syncs(self, now_ms, out);
        self.check_role();
    }

    fn input_persisted(&mut self, now_ms: i64, token: u64, out: &mut Effects) {
        self.durable.on_persisted(token, out);
        if self.repair_token == Some(token) {
            // Only a repair's reset persist ends a repair.
            assert!(
                self.repairing,
                "server {}: a repair ended that never began",
                self.config.id
            );
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
        self.core.clock(now_ms);
        self.input_client_message(now_ms, conn, msg, out);
        self.settle(now_ms, out);
        clients::release_syncs(self, now_ms, out);
        self.check_role();
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

    /// After every input: the connections a role holds are its peers (a learner: its
    /// leader; a leader: its registered learners; looking: none, `go_looking` closed them
    /// as Learner.shutdown and Leader.shutdown do), and the history and the tree agree on
    /// what is committed.
    fn check_role(&self) {
        match &self.role {
            Role::Looking(_) => assert!(
                self.role_peers.is_empty(),
                "server {}: looking with connections to {:?}",
                self.config.id,
                self.role_peers
            ),
            Role::Learning(l) => {
                assert_eq!(
                    self.role_peers.len(),
                    1,
                    "server {}: following {} with connections to {:?}",
                    self.config.id,
                    l.leader(),
                    self.role_peers
                );
                assert!(
                    self.role_peers.contains(&l.leader()),
                    "server {}: following {} with a connection to {:?}",
                    self.config.id,
                    l.leader(),
                    self.role_peers
                );
            }
            Role::Leading(l) => assert!(
                l.has_learners(&self.role_peers),
                "server {}: leading with connections to {:?}",
                self.config.id,
                self.role_peers
            ),
        }
        self.check_committed();
    }

    pub fn on_client_disconnected(&mut self, now_ms: i64, conn: ConnId) {
        self.core.clock(now_ms);
        let core = &mut self.core;
        core.clients.disconnected(conn, &mut core.tree);
    }

    /// A role handler asked to leave its role during this input: leave it now. Handlers
    /// ask as their last step, so the election starts where they would have started it.
    fn settle(&mut self, now_ms: i64, out: &mut Effects) {
        // Reconnects are answered only by a leader a learner follows, or the leader itself.
        if !self.core.revalidations.is_empty() {
            assert!(
                !matches!(self.role, Role::Looking(_)),
                "server {}: a reconnect answered while looking",
                self.config.id
            );
        }
        for (session, valid) in std::mem::take(&mut self.core.revalidations) {
            clients::on_revalidated(self, session, valid, out);
        }
        if std::mem::take(&mut self.core.leaving) {
            self.go_looking(now_ms, out);
        }
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
        // Clients are served only while the server is synced with an established leader
        // (ZooKeeperServer not running: the connection closes), so nothing reaches Zab
        // otherwise.
        assert!(
            self.is_serving(),
            "server {}: a client's request submitted while not serving",
            self.config.id
        );
        match self.role {
            Role::Leading(_) => leader::submit(self, now_ms, session, cxid, request, auth, out),
            Role::Learning(_) => learner::forward(self, session, cxid, request, auth, out),
            Role::Looking(_) => {}
        }
    }

    /// A client touched its session (the leader's session tracker, or a learner's touches
    /// reported with its next PING).
    fn zab_touch(&mut self, now_ms: i64, session: crate::stat::SessionId, timeout_ms: i32) {
        assert!(
            self.is_serving(),
            "server {}: session {session:#x} touched while not serving",
            self.config.id
        );
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
        assert!(
            self.is_serving(),
            "server {}: session {session:#x} revalidated while not serving",
            self.config.id
        );
        match self.role {
            Role::Leading(_) => Some(leader::revalidate(self, now_ms, session)),
            _ => {
                learner::revalidate(self, session, timeout_ms, out);
                None
            }
        }
    }
}
