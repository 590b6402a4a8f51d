//! Valid zksim histories from a seed, without the simulator: a small in-memory ensemble
//! built from zksim-core's own parts (the leader's `Prep`, every replica's `DataTree`,
//! `read::serve_read`), driven by a seeded RNG. The leader preps and commits forwarded
//! requests in arrival order, one client at a time; each replica applies the committed log
//! at its own pace, fires the watches of the sessions connected to it (notifications go
//! before replies), and answers its sessions' requests in the order they were sent, reads
//! from its own possibly stale tree. Clients pipeline requests, reconnect to servers that
//! have seen their zxid (re-registering watches), close their sessions or have them
//! expired by the leader, and so leave some operations with unknown outcomes whose txns
//! may or may not exist. `mutate` then injects one violation of a chosen property.
//!
//! Everything is a pure function of `(seed, GenConfig)`.

mod ensemble;
pub mod mutate;
mod workload;

pub use ensemble::generate;

/// The shape of a generated history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// Client operations to invoke.
    pub ops: usize,
    pub clients: u32,
    pub servers: u32,
    /// Top-level znodes the workload writes (`/k0`..).
    pub keys: usize,
    /// Requests a client may have in flight.
    pub pipeline: usize,
    /// Per step, the chance that a client loses its connection and moves server, that a
    /// session ends (closed or expired), and that the leadership changes: per mille.
    pub reconnect_per_mille: u32,
    pub session_end_per_mille: u32,
    pub leader_change_per_mille: u32,
}

impl GenConfig {
    pub fn new(ops: usize) -> GenConfig {
        GenConfig {
            ops,
            clients: 5,
            servers: 3,
            keys: 6,
            pipeline: 3,
            reconnect_per_mille: 4,
            session_end_per_mille: 2,
            leader_change_per_mille: 1,
        }
    }
}
