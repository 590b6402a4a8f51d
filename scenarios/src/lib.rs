//! Workloads and fault plans as data, and swarm generation from a seed.
//!
//! A [`Scenario`] describes a run: the ensemble, the clients and their workload, which
//! faults may happen and how often, and how long the safety and liveness phases last. It is
//! JSON (docs/scenarios.md). A run turns a scenario and a seed into a concrete
//! [`FaultPlan`], a list of timed faults that is itself data, so a failing run can be
//! replayed or shrunk without the generator. [`mutate`] turns such an input into another
//! valid one, for coverage-guided fuzzing.

mod fault;
mod mutate;
mod rng;
mod scenario;
mod swarm;

pub use fault::{AIM_FILES, AIM_MESSAGES, AimAction, AimPoint, Fault, FaultPlan, PlannedFault};
pub use mutate::{Mutant, Operator, mutate, pick_weighted};
pub use rng::{Stream, stream};
pub use scenario::{
    FaultRates, MAX_EVENTS_DEFAULT, MAX_EVENTS_LIMIT, MEMORY_MB_DEFAULT, MEMORY_MB_LIMIT, OpMix,
    Scenario, ScenarioError, VALUE_BYTES_LIMIT, Workload, builtin, builtin_names,
};
pub use swarm::swarm;
