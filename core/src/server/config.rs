//! A server's configuration: its id, the ensemble, its timing and limits, and the bug
//! knobs it runs with.

use crate::bugs::Bugs;
use crate::prep::PrepConfig;
use crate::standalone::SessionLimits;
use crate::zab::ServerId;
use crate::zab::election::ElectionTiming;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub id: ServerId,
    pub voters: Vec<ServerId>,
    pub observers: Vec<ServerId>,
    /// `tickTime`.
    pub tick_ms: i64,
    /// `initLimit`, in ticks: how long discovery and synchronization may take.
    pub init_limit: i64,
    /// `syncLimit`, in ticks: how long a follower may go unheard.
    pub sync_limit: i64,
    pub election: ElectionTiming,
    /// Take a snapshot after this many logged txns (`snapCount`).
    pub snap_count: usize,
    /// How often the leader's container manager runs (`znode.container.checkIntervalMs`).
    pub container_check_ms: i64,
    pub prep: PrepConfig,
    pub bugs: Bugs,
}

impl ServerConfig {
    /// A voter of an ensemble with ZooKeeper's usual settings scaled to a 200 ms tick.
    pub fn new(id: ServerId, voters: Vec<ServerId>, observers: Vec<ServerId>) -> ServerConfig {
        ServerConfig {
            id,
            voters,
            observers,
            tick_ms: 200,
            init_limit: 10,
            sync_limit: 5,
            election: ElectionTiming::default(),
            snap_count: 1000,
            container_check_ms: 60_000,
            prep: PrepConfig::default(),
            bugs: Bugs::default(),
        }
    }

    pub fn is_observer(&self) -> bool {
        self.observers.contains(&self.id)
    }

    pub fn session_limits(&self) -> SessionLimits {
        SessionLimits::from_tick(i32::try_from(self.tick_ms).expect("tick fits in i32"))
    }
}
