//! `election`: test-and-set master election with an ephemeral znode, the ZooKeeper paper's
//! "Simple Locks" (Hunt et al., ATC 2010, §2.4): "to acquire a lock, a client tries to create
//! the designated znode with the EPHEMERAL flag. If the create succeeds, the client holds
//! the lock. Otherwise, the client can read the znode with the watch flag set to be notified
//! if the current leader dies."
//!
//! Every client tries to create /master (ephemeral, data = its client id). The winner is
//! master: it reads /master now and then and resigns by closing its session after a while.
//! The others read /master with a watch and try again when it is deleted (or after a poll).
//!
//! Invariant `election-one-master`, in zxid order, not real time (ZooKeeper gives no
//! real-time exclusivity once sessions can expire unnoticed): the nodes /master ever had
//! live in disjoint zxid intervals, each from its create to its deletion (its owner's close
//! or expiry), and agree with the create that made them. From what clients observe:
//! - a node read with czxid c, owner X and session S was made by the create that was
//!   answered with zxid c, by client X in session S;
//! - a node created at c1 is not seen alive at any zxid >= c2, the zxid of a later
//!   successful create (which needed /master to be absent);
//! - a node is not seen alive at or after a zxid by which it was known dead: a deletion
//!   event for it, its owner's close reply, or a read that found /master absent after the
//!   node's creation.
//!
//! Each fact is sound: a read reflects the state at its reply's zxid; a watch event
//! following a read of node c reports c's deletion (or, fired by SetWatches, a zxid after
//! it); a session's closeSession txn deletes its ephemerals.

use std::collections::BTreeMap;

use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::watch::EventType;
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{Got, create, data_of, get_data, got, think_ms, z};
use super::{Agent, Cx, Findings, Observer, Proposal, SessionNews, Team, WatchNews};

const MASTER: &str = "/master";

pub const INVARIANT: &str = "election-one-master";

/// A node of /master seen alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alive {
    pub czxid: Zxid,
    pub at: Zxid,
    /// The client id in the node's data.
    pub owner: String,
    pub session: SessionId,
    pub observer: u32,
}

/// Everything observed about /master.
#[derive(Debug, Default)]
pub struct Shared {
    findings: Findings,
    /// Acknowledged creates by their zxid: (client, session).
    pub creates: BTreeMap<Zxid, (u32, SessionId)>,
    pub alive: Vec<Alive>,
    /// (czxid, zxid by which the node was gone, how it is known).
    pub dead_by: Vec<(Zxid, Zxid, String)>,
    /// (zxid, observer): a read found /master absent.
    pub absent: Vec<(Zxid, u32)>,
}

impl Shared {
    pub fn created(&mut self, client: u32, session: SessionId, czxid: Zxid) {
        if let Some((other, _)) = self.creates.insert(czxid, (client, session)) {
            self.findings.report(
                INVARIANT,
                format!(
                    "clients {other} and {client} were both told they created /master at zxid {}",
                    z(czxid)
                ),
            );
        }
        self.alive.push(Alive {
            czxid,
            at: czxid,
            owner: client.to_string(),
            session,
            observer: client,
        });
    }

    /// The owner named by a read agrees with the create answered at that zxid.
    fn check_owners(&mut self) {
        for a in &self.alive {
            let Some(&(client, session)) = self.creates.get(&a.czxid) else {
                continue;
            };
            if a.owner != client.to_string() || a.session != session {
                self.findings.report(
                    INVARIANT,
                    format!(
                        "client {} read /master created at zxid {} as owned by client {} \
                         (session {:#x}), but client {client} was told it created it at that \
                         zxid in session {session:#x}",
                        a.observer,
                        z(a.czxid),
                        a.owner,
                        a.session
                    ),
                );
            }
        }
    }

    /// The latest zxid each node was seen alive at, with the fact that shows it.
    fn latest_alive(&self) -> BTreeMap<Zxid, &Alive> {
        let mut latest: BTreeMap<Zxid, &Alive> = BTreeMap::new();
        for a in &self.alive {
            let entry = latest.entry(a.czxid).or_insert(a);
            if a.at > entry.at {
                *entry = a;
            }
        }
        latest
    }

    /// No node is seen alive once a later create succeeded, or once it was known gone.
    fn check_intervals(&mut self) {
        let latest = self.latest_alive();
        let mut sentences = Vec::new();
        let nodes: Vec<Zxid> = latest.keys().copied().collect();
        for pair in nodes.windows(2) {
            let (c1, c2) = (pair[0], pair[1]);
            let a = latest[&c1];
            if a.at >= c2 {
                let (winner, _) = self.creates.get(&c2).copied().unwrap_or((u32::MAX, 0));
                sentences.push(format!(
                    "two masters at zxid {}: client {}'s /master (created at zxid {}) was read \
                     alive by client {} at zxid {}, after /master was created again at zxid {} \
                     (by client {})",
                    z(c2),
                    a.owner,
                    z(c1),
                    a.observer,
                    z(a.at),
                    z(c2),
                    if winner == u32::MAX {
                        "?".to_string()
                    } else {
                        winner.to_string()
                    }
                ));
            }
        }
        for (czxid, by, how) in &self.dead_by {
            if let Some(a) = latest.get(czxid).filter(|a| a.at >= *by) {
                sentences.push(format!(
                    "client {} read /master created at zxid {} alive at zxid {}, but it was gone \
                     by zxid {} ({how})",
                    a.observer,
                    z(*czxid),
                    z(a.at),
                    z(*by)
                ));
            }
        }
        for &(at, observer) in &self.absent {
            let Some((&czxid, a)) = latest.range(..=at).next_back() else {
                continue;
            };
            if a.at >= at {
                sentences.push(format!(
                    "client {observer} found /master absent at zxid {}, but client {} read the \
                     node created at zxid {} alive at the later zxid {}",
                    z(at),
                    a.observer,
                    z(czxid),
                    z(a.at)
                ));
            }
        }
        for s in sentences {
            self.findings.report(INVARIANT, s);
        }
    }
}

impl Observer for Shared {
    fn findings(&mut self) -> &mut Findings {
        &mut self.findings
    }

    fn finish(&mut self) {
        self.check_owners();
        self.check_intervals();
    }

    fn counts(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("election masters elected", self.creates.len() as u64),
            ("election reads of /master", self.alive.len() as u64),
            ("election deletions seen", self.dead_by.len() as u64),
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Try to create /master.
    Create,
    /// Read /master with a watch (after losing the race, or to re-check after a loss of
    /// connection or an unknown create).
    Check,
    /// Wait for the deletion of the master seen (or a poll).
    Wait,
    /// Master until `hold_until_ms`, reading its node now and then.
    Hold,
}

pub struct ElectionAgent {
    rng: Stream,
    step: Step,
    /// The node this client created (or found it owns), while it believes it is master.
    mine: Option<Zxid>,
    /// The node this client's watch is on.
    watching: Option<Zxid>,
    next_at_ms: i64,
    hold_until_ms: i64,
}

pub fn team(scenario: &Scenario, seed: u64) -> Team<ElectionAgent> {
    let agents = (0..scenario.clients)
        .map(|i| ElectionAgent {
            rng: stream(seed, &format!("recipe-election-{i}")),
            step: Step::Create,
            mine: None,
            watching: None,
            next_at_ms: 0,
            hold_until_ms: 0,
        })
        .collect();
    Team::new(Shared::default(), agents)
}

impl ElectionAgent {
    fn after(&mut self, cx: &Cx, min_ms: u64, max_ms: u64) {
        self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, min_ms, max_ms);
    }

    fn become_master(&mut self, cx: &Cx, czxid: Zxid) {
        self.mine = Some(czxid);
        self.watching = None;
        self.step = Step::Hold;
        self.hold_until_ms = cx.now_ms + think_ms(&mut self.rng, 300, 1500);
        self.after(cx, 50, 200);
    }

    fn on_create(&mut self, shared: &mut Shared, cx: &Cx, g: &Got) {
        match g {
            Got::Ok(reply) => {
                shared.created(cx.client, cx.session, reply.zxid);
                self.become_master(cx, reply.zxid);
            }
            Got::Err(ErrorCode::NodeExists, _) => self.step = Step::Check,
            // The create may have been applied: find out who owns /master.
            Got::Unknown => self.step = Step::Check,
            Got::Err(..) => self.after(cx, 20, 100),
        }
    }

    fn on_read(&mut self, shared: &mut Shared, cx: &Cx, g: &Got) {
        let reply = match g {
            Got::Ok(reply) => reply,
            Got::Err(ErrorCode::NoNode, at) => {
                shared.absent.push((*at, cx.client));
                self.mine = None;
                self.step = Step::Create;
                return;
            }
            _ => {
                // Stop treating itself as master until a read says so again.
                self.mine = None;
                self.step = Step::Check;
                return self.after(cx, 20, 100);
            }
        };
        let (owner, stat) = data_of(reply).expect("a getData reply carries data");
        shared.alive.push(Alive {
            czxid: stat.czxid,
            at: reply.zxid,
            owner,
            session: stat.ephemeral_owner,
            observer: cx.client,
        });
        if stat.ephemeral_owner == cx.session {
            if self.step != Step::Hold {
                self.become_master(cx, stat.czxid);
            } else {
                self.after(cx, 50, 200);
            }
            return;
        }
        self.mine = None;
        self.watching = Some(stat.czxid);
        self.step = Step::Wait;
        self.after(cx, 1000, 2000);
    }
}

impl Agent for ElectionAgent {
    type Shared = Shared;

    fn propose(&mut self, _shared: &mut Shared, cx: &Cx) -> Proposal {
        if cx.in_flight > 0 || cx.winding_down {
            return Proposal::wait();
        }
        if self.step == Step::Hold && cx.now_ms >= self.hold_until_ms {
            // Resign: closing the session deletes /master.
            let restart_after_ms = think_ms(&mut self.rng, 50, 300) as u64;
            return Proposal::CloseSession { restart_after_ms };
        }
        if cx.now_ms < self.next_at_ms {
            return Proposal::wait();
        }
        match self.step {
            Step::Create => Proposal::one(create(
                MASTER,
                &cx.client.to_string(),
                CreateMode::Ephemeral,
            )),
            Step::Check => Proposal::one(get_data(MASTER, true)),
            Step::Hold => Proposal::one(get_data(MASTER, false)),
            // The poll: the watch may have been lost with a session.
            Step::Wait => {
                self.step = Step::Check;
                Proposal::one(get_data(MASTER, true))
            }
        }
    }

    fn on_complete(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, outcome: &Outcome) {
        let g = got(outcome);
        match request {
            Request::Create { .. } => self.on_create(shared, cx, &g),
            _ => self.on_read(shared, cx, &g),
        }
    }

    fn on_watch(&mut self, shared: &mut Shared, cx: &Cx, event: &WatchNews) {
        if event.path != MASTER {
            return;
        }
        let deleted = event.event_type == EventType::NodeDeleted;
        if let Some(czxid) = self.watching.take().filter(|_| deleted) {
            let how = format!("client {} was notified of its deletion", cx.client);
            shared.dead_by.push((czxid, event.zxid, how));
        }
        // Any change (a re-registered watch may report a new master as a data change):
        // try to create after a deletion, read again otherwise.
        if self.step == Step::Wait {
            self.step = if deleted { Step::Create } else { Step::Check };
            self.next_at_ms = cx.now_ms;
        }
    }

    fn on_session(&mut self, shared: &mut Shared, cx: &Cx, news: &SessionNews) {
        match news {
            SessionNews::Started => {
                self.mine = None;
                self.watching = None;
                self.step = Step::Create;
            }
            // A master that loses its connection stops acting as one until it re-checks.
            SessionNews::Disconnected if self.step == Step::Hold => self.step = Step::Check,
            SessionNews::Connected { .. } if self.step == Step::Wait => self.step = Step::Check,
            SessionNews::Closed {
                session,
                zxid: Some(at),
            } => {
                if let Some(czxid) = self.mine.take() {
                    let how = format!("client {} closed its session {session:#x}", cx.client);
                    shared.dead_by.push((czxid, *at, how));
                }
            }
            _ => {}
        }
    }

    fn wake_at_ms(&self) -> Option<i64> {
        match self.step {
            Step::Hold => Some(self.next_at_ms.min(self.hold_until_ms)),
            _ => Some(self.next_at_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(czxid: Zxid, at: Zxid, owner: u32, session: SessionId, observer: u32) -> Alive {
        Alive {
            czxid,
            at,
            owner: owner.to_string(),
            session,
            observer,
        }
    }

    #[test]
    fn a_master_read_alive_after_a_later_create_is_a_violation() {
        // Client 1 created /master at 10; client 2 at 20; client 3 still reads 1's at 25.
        let mut s = Shared::default();
        s.created(1, 0x11, 10);
        s.created(2, 0x22, 20);
        s.alive.push(alive(10, 25, 1, 0x11, 3));
        s.finish();
        let found = s.findings.take();
        assert_eq!(found.len(), 1);
        assert!(
            found[0].sentence.starts_with("two masters at zxid 0x14"),
            "{}",
            found[0].sentence
        );
    }

    #[test]
    fn a_read_that_disagrees_with_the_create_is_a_violation() {
        let mut s = Shared::default();
        s.created(1, 0x11, 10);
        s.alive.push(alive(10, 12, 2, 0x22, 3));
        s.finish();
        assert!(
            s.findings.take()[0]
                .sentence
                .contains("as owned by client 2")
        );
    }

    #[test]
    fn a_node_alive_after_its_deletion_is_a_violation() {
        let mut s = Shared::default();
        s.created(1, 0x11, 10);
        s.dead_by
            .push((10, 15, "client 2 was notified of its deletion".into()));
        s.alive.push(alive(10, 16, 1, 0x11, 3));
        s.absent.push((18, 4));
        s.alive.push(alive(10, 19, 1, 0x11, 3));
        s.finish();
        let found = s.findings.take();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].sentence.contains("gone by zxid 0xf"));
        assert!(found[1].sentence.contains("absent at zxid 0x12"));
    }

    #[test]
    fn masters_one_after_another_hold() {
        let mut s = Shared::default();
        s.created(1, 0x11, 10);
        s.alive.push(alive(10, 14, 1, 0x11, 2));
        s.dead_by
            .push((10, 15, "client 2 was notified of its deletion".into()));
        s.absent.push((15, 3));
        s.created(2, 0x22, 16);
        s.alive.push(alive(16, 30, 2, 0x22, 1));
        s.finish();
        assert!(s.findings.take().is_empty());
    }
}
