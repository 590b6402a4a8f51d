//! `config`: a configuration changed through a ready znode, as in the ZooKeeper paper
//! (Hunt et al., ATC 2010), §2.3 "ZooKeeper guarantees": a new leader deletes `ready`,
//! changes the configuration znodes, and creates `ready` again; "if a process sees the ready
//! znode, it must also see all the configuration changes made by the new leader", because
//! of FIFO client order and because a client that watches `ready` is notified of its
//! deletion before it can read any state after it.
//!
//! Client 0 writes (pipelined, in order): delete /ready, set /cfg/a and /cfg/b to version
//! v, create /ready with data v. Every other client reads (pipelined): getData(/ready,
//! watch), getData(/cfg/a), getData(/cfg/b).
//!
//! Invariant `config-no-mixed-versions`: a reader that got no watch event for /ready
//! between the /ready reply and a config reply sees in that reply the version /ready named.
//! Sound: the config reads come after the /ready read on the same connection (FIFO, no time
//! travel), so they reflect a state at or after the /ready read's; a change of /cfg/a or
//! /cfg/b after that state comes after the deletion of /ready (the writer's order), and the
//! watch set by the /ready read is delivered before any reply reflecting that deletion.

use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{Got, create, data_of, delete, get_data, got, set_data, think_ms, z};
use super::{Agent, Cx, Findings, Observer, Proposal, Team, WatchNews};

const READY: &str = "/ready";
const CFG: &str = "/cfg";
const CFG_A: &str = "/cfg/a";
const CFG_B: &str = "/cfg/b";

pub const INVARIANT: &str = "config-no-mixed-versions";

/// What the readers saw, and the writer's progress.
#[derive(Debug, Default)]
pub struct Shared {
    findings: Findings,
    versions_written: u64,
    reads_checked: u64,
}

impl Observer for Shared {
    fn findings(&mut self) -> &mut Findings {
        &mut self.findings
    }

    fn counts(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("config versions written", self.versions_written),
            ("config reads checked", self.reads_checked),
        ]
    }
}

/// One reader round: the /ready reply and whether a /ready event came after it.
#[derive(Clone, Debug, Default)]
struct Round {
    /// The /ready version and the read's zxid, once answered OK.
    ready: Option<(String, i64)>,
    /// A watch event for /ready arrived after the /ready reply.
    event_after_ready: bool,
    /// The round failed (unknown outcome or NONODE): the rest is not judged.
    void: bool,
}

pub struct ConfigAgent {
    rng: Stream,
    think_ms_max: u64,
    writer: bool,
    /// The writer: the setup batch is done; the version being written.
    setup_done: bool,
    version: u64,
    /// The writer: replies outstanding in the current batch and whether all were as hoped.
    batch_left: usize,
    batch_ok: bool,
    round: Round,
    next_at_ms: i64,
}

pub fn team(scenario: &Scenario, seed: u64) -> Team<ConfigAgent> {
    let agents = (0..scenario.clients)
        .map(|i| ConfigAgent {
            rng: stream(seed, &format!("recipe-config-{i}")),
            think_ms_max: scenario.workload.think_ms_max.max(1),
            writer: i == 0,
            setup_done: false,
            version: 1,
            batch_left: 0,
            batch_ok: true,
            round: Round::default(),
            next_at_ms: 0,
        })
        .collect();
    Team::new(Shared::default(), agents)
}

impl ConfigAgent {
    fn writer_batch(&mut self) -> Vec<Request> {
        let v = self.version.to_string();
        let batch = if self.setup_done {
            vec![
                delete(READY, -1),
                set_data(CFG_A, &v, -1),
                set_data(CFG_B, &v, -1),
                create(READY, &v, CreateMode::Persistent),
            ]
        } else {
            vec![
                create(CFG, "", CreateMode::Persistent),
                create(CFG_A, "0", CreateMode::Persistent),
                create(CFG_B, "0", CreateMode::Persistent),
                create(READY, "0", CreateMode::Persistent),
            ]
        };
        self.batch_left = batch.len();
        self.batch_ok = true;
        batch
    }

    fn on_writer_reply(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, g: &Got) {
        let fine = match (g, request) {
            (Got::Ok(_), _) => true,
            // The setup may have been done before (by an earlier attempt or session).
            (Got::Err(ErrorCode::NodeExists, _), Request::Create { .. }) => !self.setup_done,
            // An earlier attempt of this version may have deleted /ready already.
            (Got::Err(ErrorCode::NoNode, _), Request::Delete { .. }) => true,
            _ => false,
        };
        self.batch_ok &= fine;
        self.batch_left = self.batch_left.saturating_sub(1);
        if self.batch_left > 0 {
            return;
        }
        if !self.batch_ok {
            // Retry the same version: the batch is idempotent.
            self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, 10, 100);
            return;
        }
        if self.setup_done {
            shared.versions_written += 1;
            self.version += 1;
        }
        self.setup_done = true;
        self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, 20, 20 + self.think_ms_max);
    }

    fn on_reader_reply(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, g: &Got) {
        let path = request.path().unwrap_or("");
        let Got::Ok(reply) = g else {
            self.round.void = true;
            if path == CFG_B {
                self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, 10, 100);
            }
            return;
        };
        let (value, _) = data_of(reply).expect("a getData reply carries data");
        if path == READY {
            self.round.ready = Some((value, reply.zxid));
            return;
        }
        if path == CFG_B {
            self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, 0, self.think_ms_max);
        }
        let Some((ready, ready_zxid)) = self.round.ready.clone() else {
            return;
        };
        if self.round.void || self.round.event_after_ready {
            return;
        }
        shared.reads_checked += 1;
        if value != ready {
            shared.findings.report(
                INVARIANT,
                format!(
                    "client {} read /ready = {ready} at zxid {}, then {path} = {value} at zxid {} \
                     with no watch event for /ready in between",
                    cx.client,
                    z(ready_zxid),
                    z(reply.zxid)
                ),
            );
        }
    }
}

impl Agent for ConfigAgent {
    type Shared = Shared;

    fn propose(&mut self, _shared: &mut Shared, cx: &Cx) -> Proposal {
        if cx.in_flight > 0 || cx.winding_down || cx.now_ms < self.next_at_ms {
            return Proposal::wait();
        }
        if self.writer {
            return Proposal::Requests(self.writer_batch());
        }
        self.round = Round::default();
        Proposal::Requests(vec![
            get_data(READY, true),
            get_data(CFG_A, false),
            get_data(CFG_B, false),
        ])
    }

    fn on_complete(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, outcome: &Outcome) {
        let g = got(outcome);
        if self.writer {
            self.on_writer_reply(shared, cx, request, &g);
        } else {
            self.on_reader_reply(shared, cx, request, &g);
        }
    }

    fn on_watch(&mut self, _shared: &mut Shared, _cx: &Cx, event: &WatchNews) {
        if event.path == READY && self.round.ready.is_some() {
            self.round.event_after_ready = true;
        }
    }

    fn wake_at_ms(&self) -> Option<i64> {
        Some(self.next_at_ms)
    }
}

#[cfg(test)]
mod tests {
    use zksim_core::request::{Reply, Response};
    use zksim_core::stat::Stat;
    use zksim_core::watch::EventType;

    use super::*;

    fn read(value: &str, zxid: i64) -> Outcome {
        Outcome::Reply(Reply {
            err: ErrorCode::Ok,
            zxid,
            response: Response::GetData {
                data: Some(value.as_bytes().to_vec()),
                stat: Stat::default(),
            },
            message: None,
        })
    }

    fn reader() -> (ConfigAgent, Shared, Cx) {
        let mut t = team(&zksim_scenarios::builtin("default").expect("default"), 1);
        let agent = t.agents.remove(1);
        let cx = Cx {
            client: 1,
            now_ms: 100,
            session: 7,
            winding_down: false,
            in_flight: 0,
            room: 4,
        };
        (agent, Shared::default(), cx)
    }

    #[test]
    fn a_mixed_configuration_without_an_event_is_a_violation() {
        // §2.3: having seen ready = 3, a reader must see the version-3 configuration.
        let (mut a, mut shared, cx) = reader();
        a.propose(&mut shared, &cx);
        a.on_complete(&mut shared, &cx, &get_data(READY, true), &read("3", 10));
        a.on_complete(&mut shared, &cx, &get_data(CFG_A, false), &read("3", 11));
        a.on_complete(&mut shared, &cx, &get_data(CFG_B, false), &read("4", 12));
        let found = shared.findings.take();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].invariant, INVARIANT);
        assert!(
            found[0].sentence.contains("/cfg/b = 4"),
            "{}",
            found[0].sentence
        );
    }

    #[test]
    fn a_mixed_configuration_after_an_event_is_allowed() {
        // The deletion of /ready was announced first: the reader knows the config moves.
        let (mut a, mut shared, cx) = reader();
        a.propose(&mut shared, &cx);
        a.on_complete(&mut shared, &cx, &get_data(READY, true), &read("3", 10));
        let event = WatchNews {
            event_type: EventType::NodeDeleted,
            path: READY.to_string(),
            zxid: 11,
        };
        a.on_watch(&mut shared, &cx, &event);
        a.on_complete(&mut shared, &cx, &get_data(CFG_A, false), &read("4", 12));
        a.on_complete(&mut shared, &cx, &get_data(CFG_B, false), &read("4", 12));
        assert!(shared.findings.take().is_empty());
        assert_eq!(shared.reads_checked, 0);
    }

    #[test]
    fn a_consistent_configuration_holds() {
        let (mut a, mut shared, cx) = reader();
        a.propose(&mut shared, &cx);
        a.on_complete(&mut shared, &cx, &get_data(READY, true), &read("3", 10));
        a.on_complete(&mut shared, &cx, &get_data(CFG_A, false), &read("3", 10));
        a.on_complete(&mut shared, &cx, &get_data(CFG_B, false), &read("3", 10));
        assert!(shared.findings.take().is_empty());
        assert_eq!(shared.reads_checked, 2);
    }
}
