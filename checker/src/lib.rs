//! Judges recorded histories against ZooKeeper's guarantees, one file per property.
//!
//! `linearizability` is the general engine (a porcupine-style search, generic over a
//! sequential model); `external` reads histories recorded by other projects (Jepsen's etcd
//! logs, porcupine's key-value logs, Knossos's register histories) so the engine can be
//! held to their known verdicts.

pub mod external;
pub mod history;
pub mod linearizability;
