//! `session_expiry`: sessions that expire, and the ephemerals that go with them. The
//! ZooKeeper paper (Hunt et al., ATC 2010, §2.1, §4.3) ties ephemeral znodes to sessions:
//! "ephemeral znodes are removed when the session that creates them terminates", a session
//! expires when the ensemble does not hear from it within its timeout, and an expired
//! session cannot be used again. With short session timeouts, partitions and paused
//! servers, sessions expire while their clients are cut off; each client keeps an ephemeral
//! /e/c<client> and creates it again in every new session, writes /e-data/c<client>, and
//! reads other clients' ephemerals with a watch.
//!
//! Its invariants, `session-ended-stays-silent` and `ephemeral-owner-live`, are judged by
//! the checker from the run's history (`zksim_checker::recipes::session_expiry`).

use rand::Rng;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_scenarios::{Scenario, Stream};

use super::ops::{Got, create, data_of, get_data, set_data};
use super::recipe::{Pace, Recipe};
use super::{Cx, Proposal, SessionNews};

fn path_of(client: u32) -> String {
    format!("/e/c{client}")
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
    pace: Pace,
    clients: u32,
    step: Step,
    setup_done: bool,
    writes: u64,
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

impl ExpiryAgent {
    fn work(&mut self, cx: &Cx) -> Request {
        if self.pace.rng.gen_range(0..100) < 40 {
            self.writes += 1;
            let path = format!("/e-data/c{}", cx.client);
            set_data(&path, &self.writes.to_string(), -1)
        } else {
            let j = self.pace.rng.gen_range(0..self.clients);
            get_data(&path_of(j), true)
        }
    }

    fn on_read(&mut self, cx: &Cx, g: &Got) {
        match g {
            Got::Ok(reply) => {
                let (_, stat) = data_of(reply);
                if self.step == Step::Own {
                    // Ours: work. An earlier session's: wait for it to go, then make ours.
                    if stat.ephemeral_owner == cx.session {
                        self.step = Step::Work;
                    } else {
                        self.step = Step::Ephemeral;
                        self.pace.after(cx, 100, 300);
                    }
                }
            }
            Got::Err(ErrorCode::NoNode, _) if self.step == Step::Own => {
                self.step = Step::Ephemeral;
            }
            _ => {}
        }
    }
}

impl Recipe for ExpiryAgent {
    type Shared = ();

    const STREAM: &'static str = "recipe-session-expiry";

    fn new(scenario: &Scenario, client: u32, pace: Pace) -> ExpiryAgent {
        ExpiryAgent {
            pace,
            clients: scenario.clients,
            step: Step::Setup,
            setup_done: false,
            writes: 0,
            pause_at_ms: 1000 + 500 * i64::from(client),
            session_timeout_ms: scenario.workload.session_timeout_ms,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    fn next(&mut self, _shared: &mut (), cx: &Cx) -> Proposal {
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
                self.pause_at_ms = cx.now_ms + self.pace.draw_ms(1000, 4000);
                let for_ms = pause_ms(&mut self.pace.rng, self.session_timeout_ms);
                Proposal::Pause { for_ms }
            }
            Step::Work => {
                self.pace.think(cx);
                Proposal::one(self.work(cx))
            }
        }
    }

    fn on_reply(&mut self, _shared: &mut (), cx: &Cx, request: &Request, g: &Got) {
        let own = path_of(cx.client);
        match (request, g) {
            (Request::Create { path, .. }, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _))
                if path.starts_with("/e-data/") =>
            {
                self.setup_done = true;
                self.step = Step::Ephemeral;
            }
            (Request::Create { path, .. }, Got::Ok(_)) if *path == own => self.step = Step::Work,
            // Made already (by an unknown create of ours, or an earlier session's): whose?
            (Request::Create { path, .. }, Got::Err(ErrorCode::NodeExists, _) | Got::Unknown)
                if *path == own =>
            {
                self.step = Step::Own;
            }
            (Request::Create { path, .. }, Got::Err(ErrorCode::NoNode, _)) if *path == own => {
                self.step = Step::Setup;
            }
            (Request::GetData { .. }, _) => self.on_read(cx, g),
            (Request::Create { .. }, Got::Unknown | Got::Err(..)) => self.pace.after(cx, 10, 50),
            _ => {}
        }
    }

    fn on_session(&mut self, _shared: &mut (), _cx: &Cx, news: &SessionNews) {
        if news == &SessionNews::Started {
            self.step = if self.setup_done {
                Step::Ephemeral
            } else {
                Step::Setup
            };
        }
    }
}
