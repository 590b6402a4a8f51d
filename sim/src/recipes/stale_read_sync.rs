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
use zksim_core::error::ErrorCode;
use zksim_core::request::{CreateMode, Request};
use zksim_scenarios::Scenario;

use super::ops::{Got, create, get_data, set_data, sync};
use super::recipe::{Pace, Recipe};
use super::{Cx, Proposal};

const VALUE: &str = "/v";

pub struct StaleReadAgent {
    pace: Pace,
    setup_done: bool,
    writes: u64,
}

impl Recipe for StaleReadAgent {
    type Shared = ();

    const STREAM: &'static str = "recipe-stale-read";

    fn new(_scenario: &Scenario, _client: u32, pace: Pace) -> StaleReadAgent {
        StaleReadAgent {
            pace,
            setup_done: false,
            writes: 0,
        }
    }

    fn pace(&self) -> &Pace {
        &self.pace
    }

    fn next(&mut self, _shared: &mut (), cx: &Cx) -> Proposal {
        self.pace.think(cx);
        if !self.setup_done {
            return Proposal::one(create(VALUE, "0", CreateMode::Persistent));
        }
        let pick = self.pace.rng.gen_range(0..100);
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

    fn on_reply(&mut self, _shared: &mut (), _cx: &Cx, request: &Request, g: &Got) {
        match (request, g) {
            (Request::Create { .. }, Got::Ok(_) | Got::Err(ErrorCode::NodeExists, _)) => {
                self.setup_done = true;
            }
            (Request::SetData { .. }, Got::Err(ErrorCode::NoNode, _)) => self.setup_done = false,
            _ => {}
        }
    }
}
