//! `stale_read_sync`: reads that must not be stale. ZooKeeper's reads are served by the
//! server a client is connected to and may lag other clients' writes; the ZooKeeper paper
//! (Hunt et al., ATC 2010, §2.3, and §4.4 on `sync`) gives two ways to fresh reads: a
//! session never reads older state than it has seen (its server must have seen its last
//! zxid), and a read after `sync` reflects every write that completed before the sync.
//!
//! Every client writes /v (acknowledged at zxid z, the write is announced out of band, as
//! one client telling another), reads /v after a sync, or reads it plainly. Clients switch
//! servers now and then (`workload.switch_percent`), so sessions move and reads land on
//! lagging followers.
//!
//! Invariants:
//! - `sync-read-sees-announced-writes`: a getData after a sync sees /v with mzxid at least
//!   the zxid of every write announced before the sync was invoked. Sound: those writes
//!   were committed before the sync reached the leader, which orders the sync after them;
//!   the read follows the sync on the same connection.
//! - `session-reads-never-go-back`: within one session, a read of /v never shows an mzxid
//!   older than one the session saw before (in a read, or as its own write's zxid). Sound:
//!   a session's server has applied everything the session has seen (a server refuses a
//!   session whose last zxid is ahead of its own), and a session's requests are answered in
//!   order.

use rand::Rng;
use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::stat::Zxid;
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{Got, create, data_of, get_data, got, set_data, sync, think_ms, z};
use super::{Agent, Cx, Findings, Observer, Proposal, SessionNews, Team};

const VALUE: &str = "/v";

pub const SYNC: &str = "sync-read-sees-announced-writes";
pub const MONOTONIC: &str = "session-reads-never-go-back";

/// A write announced out of band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announced {
    pub zxid: Zxid,
    pub client: u32,
}

#[derive(Debug, Default)]
pub struct Shared {
    findings: Findings,
    /// The latest write announced so far.
    pub announced: Option<Announced>,
    writes: u64,
    sync_reads: u64,
    plain_reads: u64,
}

impl Shared {
    pub fn announce(&mut self, client: u32, zxid: Zxid) {
        self.writes += 1;
        if self.announced.is_none_or(|a| zxid > a.zxid) {
            self.announced = Some(Announced { zxid, client });
        }
    }

    /// A read after a sync invoked when `before` was the latest announced write.
    pub fn sync_read(&mut self, client: u32, before: Option<Announced>, mzxid: Zxid, at: Zxid) {
        self.sync_reads += 1;
        let Some(a) = before.filter(|a| mzxid < a.zxid) else {
            return;
        };
        self.findings.report(
            SYNC,
            format!(
                "client {client} read /v after a sync and saw mzxid {} (reply zxid {}), but \
                 client {} had announced its write at zxid {} before the sync was invoked",
                z(mzxid),
                z(at),
                a.client,
                z(a.zxid)
            ),
        );
    }

    /// A read by a session that had seen /v at `seen` (mzxid, and how).
    pub fn session_read(
        &mut self,
        client: u32,
        seen: Option<(Zxid, String)>,
        mzxid: Zxid,
        at: Zxid,
    ) {
        self.plain_reads += 1;
        let Some((before, how)) = seen.filter(|(m, _)| mzxid < *m) else {
            return;
        };
        self.findings.report(
            MONOTONIC,
            format!(
                "client {client} read /v with mzxid {} (reply zxid {}) in a session that had \
                 already seen mzxid {} ({how})",
                z(mzxid),
                z(at),
                z(before)
            ),
        );
    }
}

impl Observer for Shared {
    fn findings(&mut self) -> &mut Findings {
        &mut self.findings
    }

    fn counts(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("stale_read_sync writes announced", self.writes),
            ("stale_read_sync sync reads checked", self.sync_reads),
            ("stale_read_sync reads checked", self.plain_reads),
        ]
    }
}

pub struct StaleReadAgent {
    rng: Stream,
    think_ms_max: u64,
    setup_done: bool,
    writes: u64,
    /// The latest announced write when the pending sync was invoked.
    sync_before: Option<Option<Announced>>,
    /// The newest /v this session has seen: (mzxid, how).
    seen: Option<(Zxid, String)>,
    next_at_ms: i64,
}

pub fn team(scenario: &Scenario, seed: u64) -> Team<StaleReadAgent> {
    let agents = (0..scenario.clients)
        .map(|i| StaleReadAgent {
            rng: stream(seed, &format!("recipe-stale-read-{i}")),
            think_ms_max: scenario.workload.think_ms_max,
            setup_done: false,
            writes: 0,
            sync_before: None,
            seen: None,
            next_at_ms: 0,
        })
        .collect();
    Team::new(Shared::default(), agents)
}

impl StaleReadAgent {
    fn saw(&mut self, mzxid: Zxid, how: String) {
        if self.seen.as_ref().is_none_or(|(m, _)| mzxid > *m) {
            self.seen = Some((mzxid, how));
        }
    }
}

impl Agent for StaleReadAgent {
    type Shared = Shared;

    fn propose(&mut self, shared: &mut Shared, cx: &Cx) -> Proposal {
        if cx.in_flight > 0 || cx.winding_down || cx.now_ms < self.next_at_ms {
            return Proposal::wait();
        }
        self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, 0, self.think_ms_max);
        if !self.setup_done {
            return Proposal::one(create(VALUE, "0", CreateMode::Persistent));
        }
        let pick = self.rng.gen_range(0..100);
        if pick < 35 {
            self.writes += 1;
            let data = format!("c{}-{}", cx.client, self.writes);
            Proposal::one(set_data(VALUE, &data, -1))
        } else if pick < 75 {
            self.sync_before = Some(shared.announced);
            Proposal::Requests(vec![sync(VALUE), get_data(VALUE, false)])
        } else {
            Proposal::one(get_data(VALUE, false))
        }
    }

    fn on_complete(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, outcome: &Outcome) {
        let g = got(outcome);
        match (request, &g) {
            (Request::Create { .. }, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                self.setup_done = true;
            }
            (Request::SetData { .. }, Got::Ok(reply)) => {
                shared.announce(cx.client, reply.zxid);
                self.saw(
                    reply.zxid,
                    format!("its own write at zxid {}", z(reply.zxid)),
                );
            }
            (Request::SetData { .. }, Got::Err(ErrorCode::NoNode, _)) => self.setup_done = false,
            (Request::GetData { .. }, Got::Ok(reply)) => {
                let (_, stat) = data_of(reply).expect("a getData reply carries data");
                if let Some(before) = self.sync_before.take() {
                    shared.sync_read(cx.client, before, stat.mzxid, reply.zxid);
                }
                shared.session_read(cx.client, self.seen.clone(), stat.mzxid, reply.zxid);
                self.saw(stat.mzxid, format!("a read at zxid {}", z(reply.zxid)));
            }
            (Request::GetData { .. }, _) => self.sync_before = None,
            _ => {}
        }
    }

    fn on_session(&mut self, _shared: &mut Shared, _cx: &Cx, news: &SessionNews) {
        // A new session starts with nothing seen (it may read older state than the last).
        if news == &SessionNews::Started {
            self.seen = None;
            self.sync_before = None;
        }
    }

    fn wake_at_ms(&self) -> Option<i64> {
        Some(self.next_at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synced_read_missing_an_announced_write_is_a_violation() {
        // Client 2's write at zxid 30 was announced before client 1's sync.
        let mut s = Shared::default();
        s.announce(2, 30);
        let before = s.announced;
        s.sync_read(1, before, 20, 25);
        let found = s.findings.take();
        assert_eq!(found[0].invariant, SYNC);
        assert!(
            found[0]
                .sentence
                .contains("client 2 had announced its write at zxid 0x1e")
        );
    }

    #[test]
    fn a_write_announced_after_the_sync_may_be_missed() {
        let mut s = Shared::default();
        let before = s.announced;
        s.announce(2, 30);
        s.sync_read(1, before, 20, 25);
        assert!(s.findings.take().is_empty());
    }

    #[test]
    fn a_session_reading_back_in_time_is_a_violation() {
        let mut s = Shared::default();
        s.session_read(1, Some((40, "a read at zxid 0x28".into())), 30, 35);
        let found = s.findings.take();
        assert_eq!(found[0].invariant, MONOTONIC);
        assert!(found[0].sentence.contains("already seen mzxid 0x28"));
    }
}
