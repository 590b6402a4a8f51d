//! Judges recorded histories against ZooKeeper's guarantees, one file per property.
//!
//! `linearizability` is the general engine (a porcupine-style search, generic over a
//! sequential model); `external` reads histories recorded by other projects (Jepsen's etcd
//! logs, porcupine's key-value logs, Knossos's register histories) so the engine can be
//! held to their known verdicts. `history` is zksim's own format; `index` pairs its events
//! up, `reference` replays its ground truth on zksim-core's data tree, and `props` holds the
//! ZooKeeper properties (docs/properties.md), with `zkmodel` the sequential specification
//! the search confirms linearizability violations with; `recipes` judges the invariants of
//! the coordination recipe a run's clients ran (docs/recipes.md). `report` and `html` print verdicts;
//! `generator` makes valid histories from a seed and injects violations into them.

pub mod external;
pub mod generator;
pub mod history;
pub mod html;
pub mod index;
pub mod linearizability;
pub mod props;
pub mod recipes;
pub mod reference;
pub mod report;
pub mod watch_horizon;
pub mod zkmodel;

pub use index::History;
pub use props::{Options, Property, Report, check_all};
