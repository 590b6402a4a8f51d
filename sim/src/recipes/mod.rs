//! Recipe workloads: the coordination recipes of the ZooKeeper paper ("ZooKeeper: wait-free
//! coordination for Internet-scale systems", Hunt et al., USENIX ATC 2010, §2.4) and of
//! ZooKeeper's recipes page, each run by every client of a scenario that names it
//! (docs/recipes.md). The run's history names the recipe, and the checker judges its
//! invariants from the history (`zksim_checker::recipes`); the agents here only behave.
//!
//! A scenario's `recipe` picks one; without one (or with `generic`) the clients run the
//! generic workload of `crate::workload`.

mod agent;
pub mod barrier;
pub mod config;
pub mod counter;
pub mod election;
pub mod lock;
pub mod ops;
pub mod queue;
mod recipe;
pub mod session_expiry;
pub mod stale_read_sync;

pub use agent::{
    Agent, Clients, Cx, Proposal, SessionNews, Team, WatchNews, data, reply, text, unknown,
};
pub use ops::Got;
use recipe::team;
pub use recipe::{Pace, Recipe, team_of};
use zksim_scenarios::{Scenario, stream};

use crate::workload::Generator;

/// What makes a run's agents, from its scenario and seed, when its client node starts: the
/// scenario's own recipe ([`build`]) or a caller's (`crate::recipe_api`).
pub type BuildClients = Box<dyn FnOnce(&Scenario, u64) -> Box<dyn Clients> + Send>;

/// The agents of a run, for the scenario's recipe.
pub fn build(scenario: &Scenario, seed: u64) -> Box<dyn Clients> {
    match scenario.recipe.as_deref() {
        None | Some("generic") => {
            let agents = (0..scenario.clients)
                .map(|i| {
                    Generator::new(
                        stream(seed, &format!("workload-{i}")),
                        stream(seed, &format!("workload-extra-{i}")),
                        scenario.workload.clone(),
                        i,
                    )
                })
                .collect();
            Box::new(Team::new((), agents))
        }
        Some("config") => team::<config::ConfigAgent>(scenario, seed),
        Some("counter") => team::<counter::CounterAgent>(scenario, seed),
        Some("election") => team::<election::ElectionAgent>(scenario, seed),
        Some("lock") => team::<lock::LockAgent>(scenario, seed),
        Some("barrier") => team::<barrier::BarrierAgent>(scenario, seed),
        Some("queue") => team::<queue::QueueAgent>(scenario, seed),
        Some("stale_read_sync") => team::<stale_read_sync::StaleReadAgent>(scenario, seed),
        Some("session_expiry") => team::<session_expiry::ExpiryAgent>(scenario, seed),
        Some(other) => panic!(
            "scenario {}: recipe {other:?} is not implemented",
            scenario.name
        ),
    }
}
