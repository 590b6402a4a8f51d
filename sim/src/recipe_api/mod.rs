//! Test your own ZooKeeper recipe against a ZooKeeper that fails, from a plain `#[test]`.
//!
//! Write each client of the recipe as a [`Recipe`]: what it sends next ([`Recipe::next`],
//! a [`Proposal`] of [`Request`]s built with [`ops`]), and what it is told back: how each
//! request ended ([`Recipe::on_reply`], a [`Got`]: a reply with its zxid, an error code, or
//! an unknown outcome), watch notifications ([`Recipe::on_watch`], a [`WatchNews`]) and
//! session news ([`Recipe::on_session`], a [`SessionNews`]: started, connected,
//! disconnected, expired, closed). The clients of a run share one `Recipe::Shared` value:
//! the observation log they write what they believed into (which client held the lock, from
//! which zxid to which). An [`Invariant`] judges that log, at the end of the run or after
//! every step.
//!
//! A [`Sweep`] runs the recipe under a scenario (a built-in name such as `default`,
//! `swarm`, a file, or a [`Scenario`] value: servers, faults, timings) for a range of seeds.
//! Each seed is one deterministic simulation of a ZooKeeper ensemble with the recipe's
//! clients, through partitions, crashes, pauses, clock and disk faults; the run is judged
//! by the recipe's invariants and by everything `zksim run` judges (liveness, and the
//! checker's properties of the history: linearizable writes, FIFO client order, watches,
//! ephemerals, ...). A failing seed is a [`Failure`]: the seed, each broken invariant
//! ([`Broken`], its name and message) and the command that replays it, which reruns the
//! test on that seed alone and writes its trace, history and an HTML report.
//!
//! ```no_run
//! use zksim_sim::recipe_api::{
//!     CreateMode, Cx, Got, Invariant, Pace, Proposal, Recipe, Request, Scenario, Sweep, Zxid,
//!     ops,
//! };
//!
//! /// Each client creates one sequential node and notes the zxid its create got.
//! struct Creator {
//!     pace: Pace,
//!     created: bool,
//! }
//!
//! impl Recipe for Creator {
//!     type Shared = Vec<Zxid>;
//!     const STREAM: &'static str = "creator";
//!
//!     fn new(_scenario: &Scenario, _client: u32, pace: Pace) -> Creator {
//!         Creator { pace, created: false }
//!     }
//!
//!     fn pace(&self) -> &Pace {
//!         &self.pace
//!     }
//!
//!     fn next(&mut self, _zxids: &mut Vec<Zxid>, _cx: &Cx) -> Proposal {
//!         if self.created {
//!             return Proposal::wait();
//!         }
//!         Proposal::one(ops::create("/n-", "", CreateMode::PersistentSequential))
//!     }
//!
//!     fn on_reply(&mut self, zxids: &mut Vec<Zxid>, cx: &Cx, _request: &Request, got: &Got) {
//!         match got {
//!             Got::Ok(reply) => {
//!                 zxids.push(reply.zxid);
//!                 self.created = true;
//!             }
//!             // An error, or no answer: try again a little later.
//!             _ => self.pace.after(cx, 10, 50),
//!         }
//!     }
//! }
//!
//! #[test]
//! fn creates_get_distinct_zxids() {
//!     Sweep::<Creator>::new("default")
//!         .seeds(0..20)
//!         .invariant(Invariant::at_end("distinct-zxids", |zxids: &Vec<Zxid>| {
//!             let mut sorted = zxids.clone();
//!             sorted.sort();
//!             sorted.dedup();
//!             if sorted.len() == zxids.len() {
//!                 Ok(())
//!             } else {
//!                 Err(format!("two creates share a zxid: {zxids:?}"))
//!             }
//!         }))
//!         .run()
//!         .expect("a valid scenario and seed range")
//!         .assert_passed();
//! }
//! ```
//!
//! The crate is built with `--cfg madsim` (madsim's deterministic runtime), as zksim's own
//! `.cargo/config.toml` sets for its workspace; docs/your-recipe.md walks through a whole
//! recipe, its failure and its replay.

mod invariant;
mod judge;
mod observed;
mod replay;
mod report;
mod sweep;

pub use invariant::{Invariant, When};
pub use replay::{JOBS_VAR, OUT_VAR, SCENARIO_VAR, SEED_VAR, SEEDS_VAR};
pub use report::{Broken, Failure, Source, SweepReport};
pub use sweep::{ScenarioChoice, Sweep, SweepError};

pub use crate::recipes::ops;
pub use crate::recipes::{Cx, Got, Pace, Proposal, Recipe, SessionNews, WatchNews, data, text};
pub use zksim_core::acl::Acl;
pub use zksim_core::error::ErrorCode;
pub use zksim_core::request::{CreateMode, OpResult, Reply, Request, Response};
pub use zksim_core::stat::{SessionId, Stat, Zxid};
pub use zksim_core::watch::EventType;
pub use zksim_scenarios::{Scenario, Stream};
