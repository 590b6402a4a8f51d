//! The madsim harness: a ZooKeeper ensemble and its clients under injected faults.
//!
//! [`run`] builds one seeded madsim runtime with 3 to 9 servers (plus observers) as madsim
//! nodes, whose init rebuilds each server from its disk so that kill and restart is a
//! crash, and a node of clients running the real client session against servers they pick
//! and switch between. Messages travel over zksim's own FIFO links, which break as TCP
//! connections do; disks are zksim's model, which loses unsynced writes in a crash. A
//! fault plan drawn from the seed runs during the safety phase; then everything heals and
//! the liveness phase must converge within its bound.
//!
//! [`recipe_api`] runs a recipe of the caller's (its clients, and invariants over what
//! they observed) the same way, from a plain `#[test]`, for a range of seeds.

pub mod admission;
pub mod bench;
mod client_node;
pub mod clock;
pub mod disk;
mod faults;
pub mod recipe_api;
pub mod recipes;
mod run;
mod server_node;
pub mod trace;
mod workload;
pub mod world;

pub use client_node::ClientStats;
pub use run::{
    NODE_SPANS, RUN_SEARCH_STEPS, RunOptions, RunReport, TraceMode, run, run_check_options,
    run_with, sim_elapsed, simulate,
};
