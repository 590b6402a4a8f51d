//! `session_expiry`: sessions that expire, and the ephemerals that go with them. The
//! ZooKeeper paper (Hunt et al., ATC 2010, §2.1, §4.3) ties ephemeral znodes to sessions:
//! "ephemeral znodes are removed when the session that creates them terminates", a session
//! expires when the ensemble does not hear from it within its timeout, and an expired
//! session cannot be used again. With short session timeouts, partitions and paused
//! servers, sessions expire while their clients are cut off; each client keeps an ephemeral
//! /e/c<client> and creates it again in every new session, writes /e-data/c<client>, and
//! reads other clients' ephemerals with a watch.
//!
//! Invariants:
//! - `session-ended-stays-silent`: a client told that its session expired gets no
//!   successful reply on it afterwards; and no write of a session succeeds at a zxid at or
//!   after one by which the session had ended (its close reply, or the deletion of one of
//!   its ephemerals, which only the end of the session removes here). Sound: the leader
//!   refuses a closed session's writes.
//! - `ephemeral-owner-live`: a read of /e/c<j> names as owner one of client j's sessions,
//!   and one not known to have ended by the read's zxid. Sound: only client j creates
//!   /e/c<j>; a session's ephemerals are deleted by the txn that ends it.
//!
//! A session is known to have ended by zxid e when its close was answered at e, or one of
//! its ephemerals was gone by e: a deletion event after a read of it, a read finding the
//! path empty at e after it was made, or a later node at the same path made at e.

use std::collections::BTreeMap;

use rand::Rng;
use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::stat::{SessionId, Zxid};
use zksim_core::watch::EventType;
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{Got, create, data_of, get_data, got, set_data, think_ms, z};
use super::{Agent, Cx, Findings, Observer, Proposal, SessionNews, Team, WatchNews};

pub const SILENT: &str = "session-ended-stays-silent";
pub const OWNER: &str = "ephemeral-owner-live";

/// An ephemeral seen alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub path: String,
    pub czxid: Zxid,
    pub owner: SessionId,
    pub at: Zxid,
    pub observer: u32,
}

#[derive(Debug, Default)]
pub struct Shared {
    findings: Findings,
    /// Every session each client established.
    pub sessions_of: BTreeMap<u32, Vec<SessionId>>,
    /// Close replies: session -> (zxid, client).
    pub closed: BTreeMap<SessionId, (Zxid, u32)>,
    pub sightings: Vec<Sighting>,
    /// (path, czxid, zxid by which it was gone, how it is known).
    pub gone: Vec<(String, Zxid, Zxid, String)>,
    /// (path, zxid, observer): a read found no node there.
    pub absent: Vec<(String, Zxid, u32)>,
    /// Acknowledged writes: (session, zxid, client).
    pub writes: Vec<(SessionId, Zxid, u32)>,
    expired: u64,
}

fn path_of(client: u32) -> String {
    format!("/e/c{client}")
}

impl Shared {
    /// When each node (path, czxid) is known gone, and how.
    fn gone_by(&self) -> BTreeMap<(String, Zxid), (Zxid, String)> {
        let mut gone: BTreeMap<(String, Zxid), (Zxid, String)> = BTreeMap::new();
        let mut note = |key: (String, Zxid), at: Zxid, how: String| {
            let e = gone.entry(key).or_insert((at, how.clone()));
            if at < e.0 {
                *e = (at, how);
            }
        };
        for (path, czxid, at, how) in &self.gone {
            note((path.clone(), *czxid), *at, how.clone());
        }
        // The nodes each path had, by czxid.
        let mut nodes: BTreeMap<&str, Vec<Zxid>> = BTreeMap::new();
        for s in &self.sightings {
            nodes.entry(&s.path).or_default().push(s.czxid);
        }
        for (path, czxids) in &mut nodes {
            czxids.sort();
            czxids.dedup();
            for pair in czxids.windows(2) {
                let how = format!("{path} was made again at zxid {}", z(pair[1]));
                note((path.to_string(), pair[0]), pair[1], how);
            }
            for (apath, at, observer) in &self.absent {
                if apath != path {
                    continue;
                }
                if let Some(&c) = czxids.iter().rev().find(|c| **c <= *at) {
                    let how = format!("client {observer} found {path} absent at zxid {}", z(*at));
                    note((path.to_string(), c), *at, how);
                }
            }
        }
        gone
    }

    /// By when each session is known to have ended, and how.
    fn ended_by(&self) -> BTreeMap<SessionId, (Zxid, String)> {
        let mut ended: BTreeMap<SessionId, (Zxid, String)> = BTreeMap::new();
        let mut note = |session: SessionId, at: Zxid, how: String| {
            let e = ended.entry(session).or_insert((at, how.clone()));
            if at < e.0 {
                *e = (at, how);
            }
        };
        for (session, (at, client)) in &self.closed {
            note(
                *session,
                *at,
                format!("client {client} closed it at zxid {}", z(*at)),
            );
        }
        let owners: BTreeMap<(&str, Zxid), SessionId> = self
            .sightings
            .iter()
            .map(|s| ((s.path.as_str(), s.czxid), s.owner))
            .collect();
        for ((path, czxid), (at, how)) in self.gone_by() {
            if let Some(owner) = owners.get(&(path.as_str(), czxid)) {
                let how = format!(
                    "its ephemeral {path} made at zxid {} was gone: {how}",
                    z(czxid)
                );
                note(*owner, at, how);
            }
        }
        ended
    }

    fn check(&mut self) {
        let mut found = Vec::new();
        let owners: BTreeMap<SessionId, u32> = self
            .sessions_of
            .iter()
            .flat_map(|(c, ss)| ss.iter().map(move |s| (*s, *c)))
            .collect();
        for s in &self.sightings {
            let named = s
                .path
                .strip_prefix("/e/c")
                .and_then(|c| c.parse::<u32>().ok());
            if named.is_some() && owners.get(&s.owner).copied() != named {
                found.push((
                    OWNER,
                    format!(
                        "client {} read {} (made at zxid {}) at zxid {} owned by session {:#x}, \
                         which is not a session of client {}",
                        s.observer,
                        s.path,
                        z(s.czxid),
                        z(s.at),
                        s.owner,
                        named.unwrap_or_default()
                    ),
                ));
            }
        }
        let ended = self.ended_by();
        for s in &self.sightings {
            if let Some((by, how)) = ended.get(&s.owner).filter(|(by, _)| s.at >= *by) {
                found.push((
                    OWNER,
                    format!(
                        "client {} read {} at zxid {} owned by session {:#x}, which had ended by \
                         zxid {} ({how})",
                        s.observer,
                        s.path,
                        z(s.at),
                        s.owner,
                        z(*by)
                    ),
                ));
            }
        }
        for (session, at, client) in &self.writes {
            if let Some((by, how)) = ended.get(session).filter(|(by, _)| *at >= *by) {
                found.push((
                    SILENT,
                    format!(
                        "client {client}'s write in session {session:#x} succeeded at zxid {}, \
                         but the session had ended by zxid {} ({how})",
                        z(*at),
                        z(*by)
                    ),
                ));
            }
        }
        for (invariant, sentence) in found {
            self.findings.report(invariant, sentence);
        }
    }
}

impl Observer for Shared {
    fn findings(&mut self) -> &mut Findings {
        &mut self.findings
    }

    fn finish(&mut self) {
        self.check();
    }

    fn counts(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("session_expiry sessions expired", self.expired),
            (
                "session_expiry ephemerals read",
                self.sightings.len() as u64,
            ),
            (
                "session_expiry ephemerals seen gone",
                self.gone.len() as u64,
            ),
            ("session_expiry writes", self.writes.len() as u64),
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Create /e and /e-data and this client's data node.
    Setup,
    /// Create this session's ephemeral.
    Ephemeral,
    /// Read this client's ephemeral: whose is it?
    Own,
    /// Write and read.
    Work,
}

pub struct ExpiryAgent {
    rng: Stream,
    think_ms_max: u64,
    clients: u32,
    step: Step,
    setup_done: bool,
    /// Sessions this client was told expired.
    expired: Vec<SessionId>,
    /// The node each watched path had when last read.
    watching: BTreeMap<String, Zxid>,
    writes: u64,
    next_at_ms: i64,
    /// When the client next stops for a while (so that its session may expire).
    pause_at_ms: i64,
    session_timeout_ms: i32,
}

/// How long a client stops: around the scenario's session timeout, so that some of its
/// sessions expire and some survive.
fn pause_ms(rng: &mut Stream, session_timeout_ms: i32) -> u64 {
    let timeout = u64::try_from(session_timeout_ms).expect("a positive timeout");
    rng.gen_range(timeout / 4..=timeout * 2)
}

pub fn team(scenario: &Scenario, seed: u64) -> Team<ExpiryAgent> {
    let agents = (0..scenario.clients)
        .map(|i| ExpiryAgent {
            rng: stream(seed, &format!("recipe-session-expiry-{i}")),
            think_ms_max: scenario.workload.think_ms_max,
            clients: scenario.clients,
            step: Step::Setup,
            setup_done: false,
            expired: Vec::new(),
            watching: BTreeMap::new(),
            writes: 0,
            next_at_ms: 0,
            pause_at_ms: 1000 + 500 * i64::from(i),
            session_timeout_ms: scenario.workload.session_timeout_ms,
        })
        .collect();
    Team::new(Shared::default(), agents)
}

impl ExpiryAgent {
    fn after(&mut self, cx: &Cx, min_ms: u64, max_ms: u64) {
        self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, min_ms, max_ms);
    }

    fn work(&mut self, cx: &Cx) -> Request {
        if self.rng.gen_range(0..100) < 40 {
            self.writes += 1;
            let path = format!("/e-data/c{}", cx.client);
            set_data(&path, &self.writes.to_string(), -1)
        } else {
            let j = self.rng.gen_range(0..self.clients);
            get_data(&path_of(j), true)
        }
    }

    fn on_read(&mut self, shared: &mut Shared, cx: &Cx, path: &str, g: &Got) {
        match g {
            Got::Ok(reply) => {
                let (_, stat) = data_of(reply).expect("a getData reply carries data");
                shared.sightings.push(Sighting {
                    path: path.to_string(),
                    czxid: stat.czxid,
                    owner: stat.ephemeral_owner,
                    at: reply.zxid,
                    observer: cx.client,
                });
                self.watching.insert(path.to_string(), stat.czxid);
                if self.step == Step::Own {
                    // Ours: work. An earlier session's: wait for it to go, then make ours.
                    if stat.ephemeral_owner == cx.session {
                        self.step = Step::Work;
                    } else {
                        self.step = Step::Ephemeral;
                        self.after(cx, 100, 300);
                    }
                }
            }
            Got::Err(ErrorCode::NoNode, at) => {
                shared.absent.push((path.to_string(), *at, cx.client));
                self.watching.remove(path);
                if self.step == Step::Own {
                    self.step = Step::Ephemeral;
                }
            }
            _ => {}
        }
    }
}

impl Agent for ExpiryAgent {
    type Shared = Shared;

    fn propose(&mut self, _shared: &mut Shared, cx: &Cx) -> Proposal {
        if cx.in_flight > 0 || cx.winding_down || cx.now_ms < self.next_at_ms {
            return Proposal::wait();
        }
        let own = path_of(cx.client);
        match self.step {
            Step::Setup => Proposal::Requests(vec![
                create("/e", "", CreateMode::Persistent),
                create("/e-data", "", CreateMode::Persistent),
                create(
                    &format!("/e-data/c{}", cx.client),
                    "0",
                    CreateMode::Persistent,
                ),
            ]),
            Step::Ephemeral => Proposal::one(create(
                &own,
                &format!("c{}", cx.client),
                CreateMode::Ephemeral,
            )),
            Step::Own => Proposal::one(get_data(&own, true)),
            Step::Work if cx.now_ms >= self.pause_at_ms => {
                self.pause_at_ms = cx.now_ms + think_ms(&mut self.rng, 1000, 4000);
                let for_ms = pause_ms(&mut self.rng, self.session_timeout_ms);
                Proposal::Pause { for_ms }
            }
            Step::Work => {
                self.after(cx, 0, self.think_ms_max);
                Proposal::one(self.work(cx))
            }
        }
    }

    fn on_complete(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, outcome: &Outcome) {
        if let (Outcome::Reply(r), true) = (outcome, self.expired.contains(&cx.session)) {
            shared.findings.report(
                SILENT,
                format!(
                    "client {} got a reply ({} at zxid {}) in session {:#x} after it was told \
                     the session expired",
                    cx.client,
                    r.err.name(),
                    z(r.zxid),
                    cx.session
                ),
            );
        }
        let g = got(outcome);
        let own = path_of(cx.client);
        match (request, &g) {
            (Request::Create { path, .. }, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _))
                if path.starts_with("/e-data/") =>
            {
                self.setup_done = true;
                self.step = Step::Ephemeral;
            }
            (Request::Create { path, .. }, Got::Ok(reply)) if *path == own => {
                let czxid = reply.zxid;
                shared.sightings.push(Sighting {
                    path: own,
                    czxid,
                    owner: cx.session,
                    at: czxid,
                    observer: cx.client,
                });
                self.step = Step::Work;
            }
            // Made already (by an unknown create of ours, or an earlier session's): whose?
            (Request::Create { path, .. }, Got::Err(ErrorCode::NodeExists, _) | Got::Unknown)
                if *path == own =>
            {
                self.step = Step::Own;
            }
            (Request::Create { path, .. }, Got::Err(ErrorCode::NoNode, _)) if *path == own => {
                self.step = Step::Setup;
            }
            (Request::SetData { .. }, Got::Ok(reply)) => {
                shared.writes.push((cx.session, reply.zxid, cx.client));
            }
            (Request::GetData { path, .. }, _) => self.on_read(shared, cx, path, &g),
            (Request::Create { .. }, Got::Unknown | Got::Err(..)) => self.after(cx, 10, 50),
            _ => {}
        }
    }

    fn on_watch(&mut self, shared: &mut Shared, cx: &Cx, event: &WatchNews) {
        let Some(czxid) = self.watching.remove(&event.path) else {
            return;
        };
        if event.event_type == EventType::NodeDeleted {
            let how = format!("client {} was notified of its deletion", cx.client);
            shared
                .gone
                .push((event.path.clone(), czxid, event.zxid, how));
        }
    }

    fn on_session(&mut self, shared: &mut Shared, cx: &Cx, news: &SessionNews) {
        match news {
            SessionNews::Started => {
                self.watching.clear();
                self.step = if self.setup_done {
                    Step::Ephemeral
                } else {
                    Step::Setup
                };
            }
            SessionNews::Connected { session, .. } => {
                let known = shared.sessions_of.entry(cx.client).or_default();
                if !known.contains(session) {
                    known.push(*session);
                }
            }
            SessionNews::Expired { session } => {
                shared.expired += 1;
                self.expired.push(*session);
            }
            SessionNews::Closed {
                session,
                zxid: Some(at),
            } => {
                shared.closed.insert(*session, (*at, cx.client));
            }
            _ => {}
        }
    }

    fn wake_at_ms(&self) -> Option<i64> {
        Some(self.next_at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting(path: &str, czxid: Zxid, owner: SessionId, at: Zxid, observer: u32) -> Sighting {
        Sighting {
            path: path.to_string(),
            czxid,
            owner,
            at,
            observer,
        }
    }

    fn two_clients() -> Shared {
        let mut s = Shared::default();
        s.sessions_of.insert(1, vec![0x11, 0x12]);
        s.sessions_of.insert(2, vec![0x21]);
        s
    }

    #[test]
    fn an_ephemeral_of_a_closed_session_read_later_is_a_violation() {
        // Session 0x11 closed at zxid 20; client 2 still reads its /e/c1 at zxid 25.
        let mut s = two_clients();
        s.closed.insert(0x11, (20, 1));
        s.sightings.push(sighting("/e/c1", 10, 0x11, 25, 2));
        s.finish();
        let found = s.findings.take();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].invariant, OWNER);
        assert!(
            found[0].sentence.contains("had ended by zxid 0x14"),
            "{}",
            found[0].sentence
        );
    }

    #[test]
    fn an_owner_that_is_not_the_clients_session_is_a_violation() {
        let mut s = two_clients();
        s.sightings.push(sighting("/e/c1", 10, 0x21, 12, 2));
        s.finish();
        assert!(
            s.findings.take()[0]
                .sentence
                .contains("not a session of client 1")
        );
    }

    #[test]
    fn a_write_after_the_sessions_ephemeral_went_is_a_violation() {
        // Client 2 saw /e/c1 (session 0x11) deleted at zxid 30; 0x11 then wrote at 31.
        let mut s = two_clients();
        s.sightings.push(sighting("/e/c1", 10, 0x11, 12, 2));
        s.gone.push((
            "/e/c1".into(),
            10,
            30,
            "client 2 was notified of its deletion".into(),
        ));
        s.writes.push((0x11, 31, 1));
        s.writes.push((0x11, 29, 1));
        s.finish();
        let found = s.findings.take();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].invariant, SILENT);
        assert!(found[0].sentence.contains("succeeded at zxid 0x1f"));
    }

    #[test]
    fn a_new_node_at_the_path_ends_the_old_owner() {
        // Client 1's second session made /e/c1 again at zxid 40: the first one had ended.
        let mut s = two_clients();
        s.sightings.push(sighting("/e/c1", 10, 0x11, 12, 2));
        s.sightings.push(sighting("/e/c1", 40, 0x12, 40, 1));
        s.sightings.push(sighting("/e/c1", 10, 0x11, 41, 2));
        s.finish();
        let found = s.findings.take();
        assert!(!found.is_empty());
        assert!(
            found[0].sentence.contains("was made again at zxid 0x28"),
            "{}",
            found[0].sentence
        );
    }

    #[test]
    fn expiry_then_a_new_session_holds() {
        let mut s = two_clients();
        s.sightings.push(sighting("/e/c1", 10, 0x11, 12, 2));
        s.absent.push(("/e/c1".into(), 20, 2));
        s.writes.push((0x11, 15, 1));
        s.sightings.push(sighting("/e/c1", 40, 0x12, 45, 2));
        s.writes.push((0x12, 50, 1));
        s.finish();
        assert!(s.findings.take().is_empty());
    }
}
