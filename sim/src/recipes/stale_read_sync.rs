//! `stale_read_sync`: reads that must not be stale. ZooKeeper's reads are served by the
//! server a client is connected to and may lag other clients' writes; the ZooKeeper paper
//! (Hunt et al., ATC 2010, §2.3, and §4.4 on `sync`) gives two ways to fresh reads: a
//! session never reads older state than it has seen (its server must have seen its last
//! zxid), and a read after `sync` reflects every write that completed before the sync.
//!
//! Every client writes /v (an acknowledged write counts as announced to everyone, as one
//! client telling another out of band), reads /v after a sync, or reads it plainly. Clients
//! switch servers now and then (`workload.switch_percent`), so sessions move and reads land
//! on lagging followers.
//!
//! Its invariants, `sync-read-sees-announced-writes` and `session-reads-never-go-back`, are
//! judged by the checker from the run's history (`zksim_checker::recipes::stale_read_sync`).

use rand::Rng;
use zksim_core::client::Outcome;
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_scenarios::{Scenario, Stream, stream};

use super::ops::{Got, create, get_data, got, set_data, sync, think_ms};
use super::{Agent, Cx, Proposal, Team};

const VALUE: &str = "/v";

pub struct StaleReadAgent {
    rng: Stream,
    think_ms_max: u64,
    setup_done: bool,
    writes: u64,
    next_at_ms: i64,
}

pub fn team(scenario: &Scenario, seed: u64) -> Team<StaleReadAgent> {
    let agents = (0..scenario.clients)
        .map(|i| StaleReadAgent {
            rng: stream(seed, &format!("recipe-stale-read-{i}")),
            think_ms_max: scenario.workload.think_ms_max,
            setup_done: false,
            writes: 0,
            next_at_ms: 0,
        })
        .collect();
    Team::new((), agents)
}

impl Agent for StaleReadAgent {
    type Shared = ();

    fn propose(&mut self, _shared: &mut (), cx: &Cx) -> Proposal {
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
            Proposal::Requests(vec![sync(VALUE), get_data(VALUE, false)])
        } else {
            Proposal::one(get_data(VALUE, false))
        }
    }

    fn on_complete(&mut self, _shared: &mut (), _cx: &Cx, request: &Request, outcome: &Outcome) {
        match (request, &got(outcome)) {
            (Request::Create { .. }, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                self.setup_done = true;
            }
            (Request::SetData { .. }, Got::Err(ErrorCode::NoNode, _)) => self.setup_done = false,
            _ => {}
        }
    }

    fn wake_at_ms(&self) -> Option<i64> {
        Some(self.next_at_ms)
    }
}
