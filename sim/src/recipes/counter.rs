//! `counter`: a shared counter incremented with a versioned read-modify-write, as the
//! ZooKeeper paper's example of conditional updates (Hunt et al., ATC 2010, §2.2: "setData
//! ... the update is conditional on the version"; §2.4 builds its recipes on it): read
//! /counter (value v, version n), then setData(/counter, v+1, n); BADVERSION means another
//! client won the race, so read again.
//!
//! Invariants:
//! - `counter-acked-bounds`: a final read (sync then getData, after every increment has
//!   ended) sees a value f with acked <= f <= acked + unknown, and f at least every
//!   acknowledged value. Sound: a conditional set applies only to the version it read, so
//!   every applied set adds exactly one; every applied set is either acknowledged or had an
//!   unknown outcome (an error reply means not applied); the acknowledged ones ended before
//!   the final sync was invoked, so the synced read reflects them.
//! - `counter-unique-acks`: no two acknowledged increments wrote the same value (each was
//!   conditional on a distinct version).

use std::collections::BTreeMap;

use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_core::stat::Zxid;
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{Got, create, data_of, get_data, got, set_data, sync, think_ms, z};
use super::{Agent, Cx, Findings, Observer, Proposal, SessionNews, Team};

const COUNTER: &str = "/counter";

pub const BOUNDS: &str = "counter-acked-bounds";
pub const UNIQUE: &str = "counter-unique-acks";

/// Every increment's fate, and the final read.
#[derive(Debug, Default)]
pub struct Shared {
    findings: Findings,
    /// Acknowledged increments: the value written -> (client, zxid).
    acked: BTreeMap<u64, (u32, Zxid)>,
    acked_count: u64,
    unknown: u64,
    /// Conditional sets submitted and not yet ended, over all clients.
    sets_in_flight: u64,
    /// The client doing the final read while the run winds down.
    final_reader: Option<u32>,
    /// The final read's value and zxid.
    final_value: Option<(u64, Zxid)>,
}

impl Shared {
    /// An acknowledged increment wrote `value` at `zxid`.
    pub fn acked(&mut self, client: u32, value: u64, zxid: Zxid) {
        self.acked_count += 1;
        if let Some((other, at)) = self.acked.insert(value, (client, zxid)) {
            self.findings.report(
                UNIQUE,
                format!(
                    "clients {other} and {client} were both told that their increment to {value} \
                     was applied (zxids {} and {})",
                    z(at),
                    z(zxid)
                ),
            );
        }
    }

    /// The bounds, given the final read.
    fn check_final(&mut self) {
        let Some((f, at)) = self.final_value else {
            return;
        };
        let (acked, unknown) = (self.acked_count, self.unknown);
        if f < acked || f > acked + unknown {
            self.findings.report(
                BOUNDS,
                format!(
                    "the final read at zxid {} found /counter = {f}, but {acked} increments were \
                     acknowledged and {unknown} had an unknown outcome",
                    z(at)
                ),
            );
        }
        if let Some((&max, &(client, zxid))) = self.acked.last_key_value() {
            if max > f {
                self.findings.report(
                    BOUNDS,
                    format!(
                        "the final read at zxid {} found /counter = {f}, below the value {max} \
                         client {client} was told it wrote at zxid {}",
                        z(at),
                        z(zxid)
                    ),
                );
            }
        }
    }
}

impl Observer for Shared {
    fn findings(&mut self) -> &mut Findings {
        &mut self.findings
    }

    fn finish(&mut self) {
        self.check_final();
    }

    fn counts(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("counter increments acknowledged", self.acked_count),
            ("counter increments unknown", self.unknown),
            ("counter final reads", u64::from(self.final_value.is_some())),
        ]
    }
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
    rng: Stream,
    think_ms_max: u64,
    step: Step,
    next_at_ms: i64,
}

pub fn team(scenario: &Scenario, seed: u64) -> Team<CounterAgent> {
    let agents = (0..scenario.clients)
        .map(|i| CounterAgent {
            rng: stream(seed, &format!("recipe-counter-{i}")),
            think_ms_max: scenario.workload.think_ms_max,
            step: Step::Setup,
            next_at_ms: 0,
        })
        .collect();
    Team::new(Shared::default(), agents)
}

impl CounterAgent {
    fn after(&mut self, cx: &Cx, min_ms: u64, max_ms: u64) {
        self.next_at_ms = cx.now_ms + think_ms(&mut self.rng, min_ms, max_ms);
    }

    /// While winding down: claim the final read once no increment is in flight anywhere.
    fn propose_final(&mut self, shared: &mut Shared, cx: &Cx) -> Proposal {
        let free = shared.final_reader.is_none_or(|c| c == cx.client);
        if shared.final_value.is_some() || !free || shared.sets_in_flight > 0 {
            return Proposal::wait();
        }
        shared.final_reader = Some(cx.client);
        self.step = Step::Final;
        Proposal::Requests(vec![sync(COUNTER), get_data(COUNTER, false)])
    }

    fn on_final(&mut self, shared: &mut Shared, request: &Request, g: &Got) {
        if !matches!(request, Request::GetData { .. }) {
            return;
        }
        if let Got::Ok(reply) = g {
            let (text, _) = data_of(reply).expect("a getData reply carries data");
            let value = text.parse().expect("the counter holds a number");
            shared.final_value = Some((value, reply.zxid));
        }
    }
}

impl Agent for CounterAgent {
    type Shared = Shared;

    fn propose(&mut self, shared: &mut Shared, cx: &Cx) -> Proposal {
        if cx.in_flight > 0 {
            return Proposal::wait();
        }
        if cx.winding_down {
            return self.propose_final(shared, cx);
        }
        if cx.now_ms < self.next_at_ms {
            return Proposal::wait();
        }
        match self.step {
            Step::Setup => Proposal::one(create(COUNTER, "0", CreateMode::Persistent)),
            Step::Read | Step::Final => Proposal::one(get_data(COUNTER, false)),
            Step::Write { value, version } => {
                shared.sets_in_flight += 1;
                Proposal::one(set_data(COUNTER, &(value + 1).to_string(), version))
            }
        }
    }

    fn on_complete(&mut self, shared: &mut Shared, cx: &Cx, request: &Request, outcome: &Outcome) {
        let g = got(outcome);
        if self.step == Step::Final {
            return self.on_final(shared, request, &g);
        }
        match (self.step, &g) {
            (Step::Setup, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                self.step = Step::Read;
            }
            (Step::Read, Got::Ok(reply)) => {
                let (text, stat) = data_of(reply).expect("a getData reply carries data");
                let value = text.parse().expect("the counter holds a number");
                self.step = Step::Write {
                    value,
                    version: stat.version,
                };
            }
            (Step::Read, Got::Err(ErrorCode::NoNode, _)) => self.step = Step::Setup,
            (Step::Write { value, .. }, _) => {
                shared.sets_in_flight -= 1;
                self.step = Step::Read;
                match g {
                    Got::Ok(reply) => {
                        shared.acked(cx.client, value + 1, reply.zxid);
                        self.after(cx, 0, self.think_ms_max);
                    }
                    Got::Unknown => shared.unknown += 1,
                    // BADVERSION: another client won the race; read again after a pause.
                    Got::Err(..) => self.after(cx, 0, 20),
                }
            }
            // A failed read or setup: try again shortly.
            _ => self.after(cx, 5, 50),
        }
    }

    fn on_session(&mut self, shared: &mut Shared, cx: &Cx, news: &SessionNews) {
        // A final reader whose session ended gives the read up to another client.
        let ended = matches!(
            news,
            SessionNews::Expired { .. } | SessionNews::Closed { .. } | SessionNews::AuthFailed
        );
        if ended && shared.final_reader == Some(cx.client) && shared.final_value.is_none() {
            shared.final_reader = None;
        }
    }

    fn wake_at_ms(&self) -> Option<i64> {
        Some(self.next_at_ms)
    }

    fn done(&self, shared: &Shared, cx: &Cx) -> bool {
        // Until some client has the final read in hand, every client is a candidate.
        shared.final_value.is_some() || shared.final_reader.is_some_and(|c| c != cx.client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_value_below_the_acknowledged_increments_is_a_violation() {
        // Three increments acknowledged, none unknown: the counter must read 3.
        let mut s = Shared::default();
        for v in 1..=3 {
            s.acked(v as u32, v, 10 + v as i64);
        }
        s.final_value = Some((2, 20));
        s.finish();
        let found = s.findings.take();
        assert_eq!(found[0].invariant, BOUNDS);
        assert!(
            found[0].sentence.contains("3 increments"),
            "{}",
            found[0].sentence
        );
    }

    #[test]
    fn a_final_value_above_acknowledged_plus_unknown_is_a_violation() {
        let mut s = Shared::default();
        s.acked(0, 1, 10);
        s.unknown = 1;
        s.final_value = Some((3, 20));
        s.finish();
        assert_eq!(s.findings.take()[0].invariant, BOUNDS);
    }

    #[test]
    fn unknown_increments_may_or_may_not_count() {
        for f in [1, 2, 3] {
            let mut s = Shared::default();
            s.acked(0, 1, 10);
            s.unknown = 2;
            s.final_value = Some((f, 20));
            s.finish();
            assert!(s.findings.take().is_empty(), "final value {f}");
        }
    }

    #[test]
    fn two_acknowledged_increments_to_one_value_is_a_violation() {
        let mut s = Shared::default();
        s.acked(0, 5, 10);
        s.acked(1, 5, 11);
        let found = s.findings.take();
        assert_eq!(found[0].invariant, UNIQUE);
        assert!(
            found[0].sentence.contains("clients 0 and 1"),
            "{}",
            found[0].sentence
        );
    }
}
