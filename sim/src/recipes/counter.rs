//! `counter`: a shared counter incremented with a versioned read-modify-write, as the
//! ZooKeeper paper's example of conditional updates (Hunt et al., ATC 2010, §2.2: "setData
//! ... the update is conditional on the version"; §2.4 builds its recipes on it): read
//! /counter (value v, version n), then setData(/counter, v+1, n); BADVERSION means another
//! client won the race, so read again.
//!
//! While the run winds down, once no increment is in flight anywhere, one client does a
//! final sync and read. The invariants, `counter-acked-bounds` and `counter-unique-acks`,
//! are judged by the checker from the run's history (`zksim_checker::recipes::counter`).

use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_scenarios::Scenario;

use super::ops::{Got, create, data_of, get_data, set_data, sync};
use super::recipe::{Pace, Recipe};
use super::{Cx, Proposal, SessionNews};

const COUNTER: &str = "/counter";

/// What the clients coordinate on: increments in flight and the final read.
#[derive(Debug, Default)]
pub struct Shared {
    /// Conditional sets submitted and not yet ended, over all clients.
    sets_in_flight: u64,
    /// The client doing the final read while the run winds down.
    final_reader: Option<u32>,
    /// The final read was answered.
    final_done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Create /counter (it may exist).
    Setup,
    /// Read the value and version.
    Read,
    /// Set value + 1 conditional on the version read.
    Write { value: u64, version: i32 },
    /// The final sync and read.
    Final,
}

pub struct CounterAgent {
    pace: Pace,
    step: Step,
}

impl CounterAgent {
    fn on_final(&mut self, shared: &mut Shared, request: &Request, g: &Got) {
        if !matches!(request, Request::GetData { .. }) {
            return;
        }
        if let Got::Ok(_) = g {
            shared.final_done = true;
        }
    }
}

impl Recipe for CounterAgent {
    type Shared = Shared;

    const STREAM: &'static str = "recipe-counter";

    fn new(_scenario: &Scenario, _client: u32, pace: Pace) -> CounterAgent {
        CounterAgent {
            pace,
            step: Step::Setup,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    /// Claim the final read once no increment is in flight anywhere.
    fn wind_down(&mut self, shared: &mut Shared, cx: &Cx) -> Proposal {
        let free = shared.final_reader.is_none_or(|c| c == cx.client);
        if shared.final_done || !free || shared.sets_in_flight > 0 {
            return Proposal::wait();
        }
        shared.final_reader = Some(cx.client);
        self.step = Step::Final;
        Proposal::Requests(vec![sync(COUNTER), get_data(COUNTER, false)])
    }

    fn next(&mut self, shared: &mut Shared, _cx: &Cx) -> Proposal {
        match self.step {
            Step::Setup => Proposal::one(create(COUNTER, "0", CreateMode::Persistent)),
            Step::Read | Step::Final => Proposal::one(get_data(COUNTER, false)),
            Step::Write { value, version } => {
                shared.sets_in_flight += 1;
                Proposal::one(set_data(COUNTER, &(value + 1).to_string(), version))
            }
        }
    }

    fn on_reply(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, g: &Got) {
        if self.step == Step::Final {
            return self.on_final(shared, request, g);
        }
        match (self.step, g) {
            (Step::Setup, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                self.step = Step::Read;
            }
            (Step::Read, Got::Ok(reply)) => {
                let (text, stat) = data_of(reply);
                let value = text.parse().expect("the counter holds a number");
                self.step = Step::Write {
                    value,
                    version: stat.version,
                };
            }
            (Step::Read, Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Setup,
            (Step::Write { .. }, _) => {
                shared.sets_in_flight -= 1;
                self.step = Step::Read;
                match g {
                    Got::Ok(_) => self.pace.think(cx),
                    Got::Unknown => {}
                    // BADVERSION: another client won the race; read again after a pause.
                    Got::Err(..) => self.pace.after(cx, 0, 20),
                }
            }
            // A failed read or setup: try again shortly.
            _ => self.pace.after(cx, 5, 50),
        }
    }

    fn on_session(&mut self, shared: &mut Shared, cx: &Cx, news: &SessionNews) {
        // A final reader whose session ended gives the read up to another client.
        let ended = matches!(
            news,
            SessionNews::Expired { .. } | SessionNews::Closed { .. } | SessionNews::AuthFailed
        );
        if ended && shared.final_reader == Some(cx.client) && !shared.final_done {
            shared.final_reader = None;
        }
    }

    fn done(&self, shared: &Shared, cx: &Cx) -> bool {
        // Until some client has the final read in hand, every client is a candidate.
        shared.final_done || shared.final_reader.is_some_and(|c| c != cx.client)
    }
}
