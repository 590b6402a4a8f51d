//! Faults and fault plans: what the simulator breaks, when, and when it heals it.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::rng::{Stream, stream};
use crate::scenario::{
    FaultRates, LAST_STAND_EXTRA_CUT_MS, LAST_STAND_TAIL_MS, SYNC_LIMIT_TICKS, Scenario,
};

/// The longest fault interval or duration a scenario may ask for: an hour, as long as the
/// safety phase may last, so that drawing a plan's times cannot overflow.
const MAX_RATE_MS: u64 = 3_600_000;
/// The shortest mean interval between faults (0 turns them off): an hour's safety phase
/// then draws at most about 36,000 faults, in milliseconds.
const MIN_INTERVAL_MS: u64 = 100;
/// The largest sum of the fault kinds' weights, so that drawing a kind cannot overflow.
const MAX_TOTAL_WEIGHT: u64 = 1_000_000;

impl FaultRates {
    /// Check the numbers `FaultPlan::generate` computes with; the error names the field.
    pub(crate) fn check_bounds(&self) -> Result<(), (&'static str, String)> {
        let interval = self.mean_interval_ms;
        if interval != 0 && !(MIN_INTERVAL_MS..=MAX_RATE_MS).contains(&interval) {
            return Err((
                "faults.mean_interval_ms",
                format!("{interval} ms; 0 (no faults) or {MIN_INTERVAL_MS} ms to an hour"),
            ));
        }
        if self.duration_ms[1] > MAX_RATE_MS {
            return Err((
                "faults.duration_ms",
                format!("{} ms; at most an hour", self.duration_ms[1]),
            ));
        }
        let total: u64 = self.weights().iter().map(|(_, w)| u64::from(*w)).sum();
        if total > MAX_TOTAL_WEIGHT {
            return Err((
                "faults",
                format!("the fault kinds' weights add up to {total}; at most {MAX_TOTAL_WEIGHT}"),
            ));
        }
        Ok(())
    }
}

/// One fault, or its healing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Cut every link between `side` and the other servers (clients reach everyone).
    Partition {
        side: Vec<u64>,
    },
    /// Cut the current leader off from the other servers.
    IsolateLeader,
    /// `left` and `right` cannot talk; `bridge` talks to both.
    Bridge {
        left: Vec<u64>,
        right: Vec<u64>,
        bridge: u64,
    },
    /// Messages from `from` to `to` are lost (each loss breaks the link, as a TCP
    /// connection that stops getting acknowledgements does).
    OneWay {
        from: u64,
        to: u64,
    },
    /// Each message on any server link is lost with this probability (per thousand); a loss
    /// breaks its link.
    Loss {
        per_mille: u32,
    },
    /// Every message takes this much longer.
    Latency {
        extra_ms: u64,
    },
    /// Restore every link and remove loss and latency.
    HealNetwork,
    Kill {
        server: u64,
    },
    KillLeader,
    /// Kill several servers at once.
    KillMany {
        servers: Vec<u64>,
    },
    Restart {
        server: u64,
    },
    /// Restart every server that is down.
    RestartAll,
    /// Restart every server that is down but the last leader (the last server to take
    /// the LEADING role), which stays down: restarts ordered against the last election,
    /// so that the others elect among themselves first.
    RestartAllButLeader,
    /// Every server crashes at once, as in a power failure: each loses what it had not
    /// synced. The plan restarts them one by one.
    PowerLoss,
    /// Stop-the-world pause (a long GC): the server's tasks stop, its clock keeps going.
    Pause {
        server: u64,
    },
    Resume {
        server: u64,
    },
    /// Pause whichever server leads at the time.
    PauseLeader,
    /// Resume every paused server.
    ResumeAll,
    /// The server's wall clock is set `offset_ms` ahead (negative: behind) of true time.
    /// Only what ZooKeeper stamps or judges by the wall clock moves (ctime, mtime, TTLs);
    /// timeouts run on the elapsed clock.
    ClockSkew {
        server: u64,
        offset_ms: i64,
    },
    /// The server's wall clock jumps by `delta_ms` (once), as an NTP step does.
    ClockJump {
        server: u64,
        delta_ms: i64,
    },
    /// Both of the server's clocks run at `percent` of true time from now on (100 is
    /// true time): a slow or fast oscillator, a VM whose time is dilated. Its timeouts
    /// fire late (or early) by as much.
    ClockRate {
        server: u64,
        percent: u32,
    },
    /// Both clocks of whichever server leads now run at `percent` of true time: its
    /// timeouts (syncLimit among them) fire late, so it goes on believing it leads while
    /// the others give up on it and elect another, a deposed leader (a VM whose time is
    /// dilated, a stalled timer thread).
    SlowLeader {
        percent: u32,
    },
    /// Every server's clocks run at true time again (their wall-clock offsets stay).
    TrueClocks,
    /// fsync takes this long on the server.
    DiskSlow {
        server: u64,
        fsync_ms: u64,
    },
    DiskNormal {
        server: u64,
    },
    /// The disk of whichever server leads now: each fsync takes `fsync_ms` (the leader's
    /// "fsync-ing the write ahead log took N ms" of ZooKeeper's operations lore). Healed
    /// by `disk_normal` of that server.
    LeaderDiskSlow {
        fsync_ms: u64,
    },
    /// Flip a bit in a durable record of the server, and restart it so that it notices.
    DiskCorrupt {
        server: u64,
    },
    /// Crash the server in the middle of a write: the last unsynced record is torn.
    TornWrite {
        server: u64,
    },
    /// Crash a follower for `down_ms`, after which it restarts by itself: `server`
    /// unless it leads now (or is down), else the next voter after it, in id order, that
    /// is up and does not lead. A learner that falls behind while the others go on, which
    /// a plan cannot name in advance since it does not know who will lead (ZOOKEEPER-3911's
    /// and 4643's learners were behind when a new leader synced them).
    LagFollower {
        server: u64,
        down_ms: u64,
    },
    /// Aim at a protocol step: from now until the server is restarted or resumed, the
    /// first time it reaches `at` with a `message` (a Zab message kind such as NEWLEADER,
    /// ACK, PROPOSAL), it is crashed or paused there. Without `server`, the first server
    /// to reach the step is hit (until `restart_all` or `resume_all`). `sent`: right after the message left
    /// (it is on the wire; nothing the server does after it happens). `held`: at the fsync
    /// that would release a message held for a persist (a learner's ACK, ACKEPOCH): the
    /// disk has the records, the message is lost. Crashing at one moment of a protocol
    /// rather than a time is how Namazu and FoundationDB reach windows a timer rarely hits.
    Aimed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<u64>,
        /// Armed at whichever server leads when the fault starts (without `server`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        leader: bool,
        action: AimAction,
        at: AimPoint,
        message: String,
    },
}

/// What an aimed fault does to its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AimAction {
    Crash,
    Pause,
    /// Crash the sender right after the message left, and its recipient right after it
    /// has handled it (a correlated crash: ZOOKEEPER-3911's learner and leader). At
    /// `synced`: the server and the last leader crash at once (ZOOKEEPER-4643's learner
    /// and leader).
    CrashPair,
}

/// The moment an aimed fault waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AimPoint {
    /// Right after the server sent the message.
    Sent,
    /// At the fsync that would release the message, held for a persist.
    Held,
    /// Right after an fsync made a write to the file named by `message` durable
    /// (`log`, `snapshot`, `acceptedEpoch`, `currentEpoch`), before anything the server
    /// held for it leaves.
    Synced,
    /// As an fsync of a write to the file named by `message` is about to complete: the
    /// server crashes first, and the write is lost (a leader that dies with a tail its
    /// followers have logged and its own disk has not).
    Unsynced,
}

impl AimPoint {
    /// Whether the aim's `message` names a file (at an fsync) rather than a message kind.
    pub fn names_file(self) -> bool {
        matches!(self, AimPoint::Synced | AimPoint::Unsynced)
    }
}

/// The files an aimed fault at `synced` or `unsynced` may name (`zksim_core`'s `File::name`).
pub const AIM_FILES: [&str; 4] = ["log", "snapshot", "acceptedEpoch", "currentEpoch"];

/// The message kinds an aimed fault may name (`zksim_core`'s `PeerMessage::kind`, and
/// `NEWLEADER_ACK` for the ACK of a NEWLEADER, told apart from a proposal's ACK).
pub const AIM_MESSAGES: [&str; 20] = [
    "NOTIFICATION",
    "FOLLOWERINFO",
    "OBSERVERINFO",
    "LEADERINFO",
    "ACKEPOCH",
    "DIFF",
    "TRUNC",
    "SNAP",
    "NEWLEADER",
    "UPTODATE",
    "PROPOSAL",
    "ACK",
    "NEWLEADER_ACK",
    "COMMIT",
    "INFORM",
    "PING",
    "REQUEST",
    "REVALIDATE",
    "REVALIDATE_REPLY",
    "SYNC",
];

/// What swarm aims at: the steps of discovery, synchronization and broadcast whose
/// windows ZooKeeper's bugs lived in (ZOOKEEPER-3911, 4646, 4643, 4685, 4394, 2845),
/// whether the step belongs to a recovery (then swarm also cuts the leader off, so that
/// one happens while the aim waits), and its weight. The steps from NEWLEADER to UPTODATE
/// weigh most: there a learner's epoch, log and ACK become durable in an order Zab
/// prescribes, and a crash between two of them is what 3911, 4643 and 4646 needed.
const AIM_DRAWS: [(AimPoint, &str, bool, u32); 17] = [
    (AimPoint::Sent, "FOLLOWERINFO", true, 1),
    (AimPoint::Sent, "LEADERINFO", true, 1),
    (AimPoint::Held, "ACKEPOCH", true, 1),
    (AimPoint::Sent, "DIFF", true, 2),
    (AimPoint::Sent, "TRUNC", true, 1),
    (AimPoint::Sent, "SNAP", true, 2),
    (AimPoint::Sent, "NEWLEADER", true, 2),
    (AimPoint::Sent, "UPTODATE", true, 3),
    (AimPoint::Sent, "NEWLEADER_ACK", true, 4),
    (AimPoint::Held, "NEWLEADER_ACK", true, 2),
    (AimPoint::Held, "ACK", false, 1),
    (AimPoint::Sent, "ACK", false, 3),
    (AimPoint::Sent, "PROPOSAL", false, 1),
    (AimPoint::Sent, "COMMIT", false, 1),
    (AimPoint::Synced, "acceptedEpoch", true, 1),
    (AimPoint::Synced, "currentEpoch", true, 4),
    (AimPoint::Synced, "snapshot", false, 1),
];

/// The largest extra message latency and fsync time a fault may add.
pub const DELAY_MAX_MS: u64 = 60_000;
/// The largest clock skew or jump, either way.
pub const CLOCK_MAX_MS: i64 = 3_600_000;
/// The slowest and fastest clock rate, in percent of true time.
pub const CLOCK_RATE_PERCENT: std::ops::RangeInclusive<u32> = 1..=1000;
/// The farthest a server's clock may be off true time once its jumps add up, either way.
pub const CLOCK_DRIFT_MAX_MS: i64 = 24 * CLOCK_MAX_MS;

impl Fault {
    /// Check the values a fault carries.
    pub fn check_values(&self) -> Result<(), String> {
        match self {
            Fault::Loss { per_mille } if *per_mille > 1000 => {
                Err(format!("loss of {per_mille} per mille; 0 to 1000"))
            }
            Fault::Latency { extra_ms } if *extra_ms > DELAY_MAX_MS => Err(format!(
                "latency of {extra_ms} ms; at most {DELAY_MAX_MS} ms"
            )),
            Fault::LagFollower { down_ms, .. } if *down_ms == 0 || *down_ms > DELAY_MAX_MS => Err(
                format!("a follower down for {down_ms} ms; 1 to {DELAY_MAX_MS} ms"),
            ),
            Fault::DiskSlow { fsync_ms, .. } | Fault::LeaderDiskSlow { fsync_ms }
                if *fsync_ms > DELAY_MAX_MS =>
            {
                Err(format!("fsync of {fsync_ms} ms; at most {DELAY_MAX_MS} ms"))
            }
            Fault::ClockSkew { offset_ms, .. }
                if offset_ms.unsigned_abs() > CLOCK_MAX_MS.unsigned_abs() =>
            {
                Err(format!(
                    "clock skew of {offset_ms} ms; at most {CLOCK_MAX_MS} ms either way"
                ))
            }
            Fault::ClockJump { delta_ms, .. }
                if delta_ms.unsigned_abs() > CLOCK_MAX_MS.unsigned_abs() =>
            {
                Err(format!(
                    "clock jump of {delta_ms} ms; at most {CLOCK_MAX_MS} ms either way"
                ))
            }
            Fault::ClockRate { percent, .. } | Fault::SlowLeader { percent }
                if !CLOCK_RATE_PERCENT.contains(percent) =>
            {
                Err(format!(
                    "clock rate of {percent} percent; {} to {}",
                    CLOCK_RATE_PERCENT.start(),
                    CLOCK_RATE_PERCENT.end()
                ))
            }
            Fault::Partition { side } if side.is_empty() => {
                Err("a partition with an empty side".to_string())
            }
            Fault::KillMany { servers } if servers.is_empty() => {
                Err("kill_many with no servers".to_string())
            }
            Fault::Aimed {
                action: AimAction::CrashPair,
                at: AimPoint::Held,
                ..
            } => Err("crash_pair at held: a held message has not left; aim it at sent".into()),
            Fault::Aimed {
                server: Some(_),
                leader: true,
                ..
            } => Err("an aimed fault at a named server and at the leader: name one".into()),
            Fault::Aimed {
                at: AimPoint::Unsynced,
                action: AimAction::Pause | AimAction::CrashPair,
                ..
            } => Err("at unsynced the server can only crash: the fsync never completes".into()),
            Fault::Aimed { at, message, .. }
                if at.names_file() && !AIM_FILES.contains(&message.as_str()) =>
            {
                Err(format!(
                    "an aimed fault at a file's fsync, {message:?}; one of {}",
                    AIM_FILES.join(", ")
                ))
            }
            Fault::Aimed { at, message, .. }
                if !at.names_file() && !AIM_MESSAGES.contains(&message.as_str()) =>
            {
                Err(format!(
                    "an aimed fault at message {message:?}; one of {}",
                    AIM_MESSAGES.join(", ")
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether the fault heals others (`restart`, `heal_network`, a clock rate of 100
    /// percent, ...) rather than starting one.
    pub fn is_heal(&self) -> bool {
        fault_kind(self) == "heal"
    }

    /// The servers a fault takes down, if any.
    pub fn takes_down(&self) -> Vec<u64> {
        match self {
            Fault::Kill { server }
            | Fault::Pause { server }
            | Fault::TornWrite { server }
            | Fault::DiskCorrupt { server } => vec![*server],
            Fault::Aimed { server, .. } => server.iter().copied().collect(),
            Fault::KillMany { servers } => servers.clone(),
            _ => Vec::new(),
        }
    }
}

/// The generator's name for the kind of a starting fault.
fn fault_kind(f: &Fault) -> &'static str {
    match f {
        Fault::Partition { .. } => "partition",
        Fault::IsolateLeader => "isolate_leader",
        Fault::Bridge { .. } => "bridge",
        Fault::OneWay { .. } => "one_way",
        Fault::Loss { .. } => "loss",
        Fault::Latency { .. } => "latency",
        Fault::Kill { .. } => "kill",
        Fault::KillLeader => "kill_leader",
        Fault::KillMany { .. } => "kill_many",
        Fault::Pause { .. } => "pause",
        Fault::PauseLeader => "pause_leader",
        Fault::PowerLoss => "power_loss",
        Fault::ClockSkew { .. } | Fault::ClockJump { .. } => "clock",
        Fault::ClockRate { percent, .. } if *percent != 100 => "clock",
        Fault::DiskSlow { .. } | Fault::LeaderDiskSlow { .. } => "disk_slow",
        Fault::DiskCorrupt { .. } => "disk_corrupt",
        Fault::TornWrite { .. } => "torn_write",
        Fault::LagFollower { .. } => "lag_follower",
        Fault::Aimed { .. } => "aimed",
        Fault::SlowLeader { percent } if *percent != 100 => "slow_leader",
        _ => "heal",
    }
}

/// A fault at a time of the safety phase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFault {
    pub at_ms: u64,
    #[serde(flatten)]
    pub fault: Fault,
}

/// A run's faults in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    pub faults: Vec<PlannedFault>,
}

impl FaultPlan {
    /// Check that the plan can happen on an ensemble of `voters` voting servers and
    /// `observers` observers, within a safety phase of `safety_ms`: known ids, times in
    /// order and within the phase, values in range, and never every voter down at once
    /// but by `power_loss` (which the plan then restarts).
    pub fn validate(&self, voters: u32, observers: u32, safety_ms: u64) -> Result<(), String> {
        let servers = voters + observers;
        let known = |id: u64| id >= 1 && id <= u64::from(servers);
        let mut down = std::collections::BTreeSet::new();
        // Each server's clock offset as skews set it and jumps move it.
        let mut clocks: std::collections::BTreeMap<u64, i64> = std::collections::BTreeMap::new();
        let mut last = 0;
        for (i, p) in self.faults.iter().enumerate() {
            if p.at_ms < last {
                return Err(format!(
                    "fault {i} at {} ms comes before the one at {last} ms",
                    p.at_ms
                ));
            }
            if p.at_ms > safety_ms {
                return Err(format!(
                    "fault {i} at {} ms is after the safety phase, which ends at {safety_ms} ms",
                    p.at_ms
                ));
            }
            last = p.at_ms;
            p.fault
                .check_values()
                .map_err(|e| format!("fault {i}: {e}"))?;
            match &p.fault {
                Fault::ClockSkew { server, offset_ms } => {
                    clocks.insert(*server, *offset_ms);
                }
                Fault::ClockJump { server, delta_ms } => {
                    let offset = clocks.entry(*server).or_default();
                    *offset = offset.saturating_add(*delta_ms);
                    if offset.unsigned_abs() > CLOCK_DRIFT_MAX_MS.unsigned_abs() {
                        return Err(format!(
                            "fault {i}: clock jumps put server {server} {offset} ms off true time; at most {CLOCK_DRIFT_MAX_MS} ms either way"
                        ));
                    }
                }
                _ => {}
            }
            let ids: Vec<u64> = match &p.fault {
                Fault::Partition { side } => side.clone(),
                Fault::Bridge {
                    left,
                    right,
                    bridge,
                } => left.iter().chain(right).copied().chain([*bridge]).collect(),
                Fault::OneWay { from, to } => vec![*from, *to],
                Fault::Kill { server }
                | Fault::Restart { server }
                | Fault::Pause { server }
                | Fault::Resume { server } => vec![*server],
                Fault::ClockSkew { server, .. }
                | Fault::ClockJump { server, .. }
                | Fault::ClockRate { server, .. }
                | Fault::DiskSlow { server, .. }
                | Fault::DiskNormal { server } => vec![*server],
                Fault::DiskCorrupt { server } | Fault::TornWrite { server } => vec![*server],
                Fault::LagFollower { server, .. } => vec![*server],
                Fault::Aimed { server, .. } => server.iter().copied().collect(),
                Fault::KillMany { servers } => servers.clone(),
                _ => Vec::new(),
            };
            if let Some(bad) = ids.iter().find(|id| !known(**id)) {
                return Err(format!(
                    "fault {i} names server {bad}, but there are {servers} servers"
                ));
            }
            if let Fault::LagFollower { server, .. } = &p.fault
                && *server > u64::from(voters)
            {
                return Err(format!(
                    "fault {i}: lag_follower names server {server}, an observer; it lags a voter (1 to {voters})"
                ));
            }
            match &p.fault {
                Fault::Restart { server } | Fault::Resume { server } => {
                    down.remove(server);
                }
                Fault::RestartAll => down.clear(),
                Fault::ResumeAll | Fault::RestartAllButLeader => {}
                Fault::PowerLoss => down.extend(1..=u64::from(servers)),
                f => down.extend(f.takes_down()),
            }
        }
        Ok(())
    }

    /// What a valid plan does that is likely not meant: every voter taken down (but by
    /// `power_loss`) with none brought back before the liveness phase, so that the rest of
    /// the safety phase tests nothing.
    pub fn warnings(&self, voters: u32) -> Vec<String> {
        let voter = |s: &u64| *s >= 1 && *s <= u64::from(voters);
        let mut down = std::collections::BTreeSet::new();
        // The fault that took the last voter down, while every voter stays down.
        let mut all_down_by: Option<(usize, u64)> = None;
        for (i, p) in self.faults.iter().enumerate() {
            match &p.fault {
                Fault::Restart { server } | Fault::Resume { server } => {
                    down.remove(server);
                }
                Fault::RestartAll => down.clear(),
                Fault::ResumeAll | Fault::RestartAllButLeader => {}
                Fault::PowerLoss => {
                    // The plan restarts them one by one; that is the point of a power loss.
                    down.clear();
                }
                f => down.extend(f.takes_down().into_iter().filter(voter)),
            }
            if down.len() == voters as usize && voters > 1 {
                all_down_by.get_or_insert((i, p.at_ms));
            } else {
                all_down_by = None;
            }
        }
        all_down_by
            .map(|(i, at_ms)| {
                format!(
                    "plan: fault {i} at {at_ms} ms leaves every voter down, and none comes back before the liveness phase: the rest of the safety phase tests nothing (a power_loss followed by restarts crashes every server at once)"
                )
            })
            .into_iter()
            .collect()
    }

    /// Draw a plan for `scenario` from `seed`: faults start at random intervals around the
    /// mean, each picked by weight, each healed after a random duration; never more than
    /// `max_down` servers down at once; with `end_with_slow_leader`, a last stand after
    /// them. Everything is healed by the liveness phase anyway.
    pub fn generate(scenario: &Scenario, seed: u64) -> FaultPlan {
        let rates = &scenario.faults;
        let last_stand = (rates.end_with_slow_leader && scenario.servers > 1)
            .then(|| last_stand(scenario, seed))
            .flatten()
            .unwrap_or_default();
        let end = last_stand.first().map_or(scenario.safety_ms, |f| f.at_ms);
        let mut draw = Draw::new(scenario, rates.weights(), Vec::new(), false);
        if rates.mean_interval_ms > 0 && draw.total > 0 {
            let mut rng = stream(seed, "faults");
            let interval = rates.mean_interval_ms / 2..=rates.mean_interval_ms * 3 / 2;
            let mut t = rng.gen_range(interval.clone());
            while t < end {
                draw.fault_at(&mut rng, t);
                t += rng.gen_range(interval.clone()).max(1);
            }
        }
        let mut events = draw.events;
        events.extend(last_stand);
        events.sort_by_key(|e| e.at_ms);
        FaultPlan { faults: events }
    }

    /// One fault drawn as `generate` draws each of a plan's faults, starting at `at_ms`
    /// (within the safety phase), while the servers `down` are down (0 for one the plan
    /// names only at run time, as `kill_leader` does) and, with `corrupted`, a disk was
    /// corrupted already: its start, its heal after a drawn duration and what comes with
    /// it (the leader cut off for an aimed recovery step, the restarts of a power loss), in
    /// time order. The kind is picked by the scenario's weights, or by the default ones
    /// when the scenario's are all zero. Fuzzing adds faults to a plan with it.
    pub fn draw_one(
        scenario: &Scenario,
        rng: &mut Stream,
        at_ms: u64,
        down: &[u64],
        corrupted: bool,
    ) -> Vec<PlannedFault> {
        assert!(at_ms <= scenario.safety_ms);
        let mut weights = scenario.faults.weights();
        if weights.iter().all(|(_, w)| *w == 0) {
            weights = FaultRates::default().weights();
        }
        let down = down.iter().map(|s| (u64::MAX, *s)).collect();
        let mut draw = Draw::new(scenario, weights, down, corrupted);
        draw.fault_at(rng, at_ms);
        let mut events = draw.events;
        events.sort_by_key(|e| e.at_ms);
        assert!(!events.is_empty());
        events
    }
}

/// What the generator knows while it draws a plan's faults one after another.
struct Draw<'a> {
    scenario: &'a Scenario,
    weights: [(&'static str, u32); 20],
    total: u32,
    /// The voters, and every server (voters and observers).
    servers: Vec<u64>,
    all: Vec<u64>,
    /// (until_ms, server) for servers that are down.
    down: Vec<(u64, u64)>,
    /// A disk was corrupted: at most one corruption per plan.
    corrupted: bool,
    /// The kinds not drawn yet (for `cover_all_kinds`).
    uncovered: Vec<(&'static str, u32)>,
    events: Vec<PlannedFault>,
}

impl<'a> Draw<'a> {
    fn new(
        scenario: &'a Scenario,
        weights: [(&'static str, u32); 20],
        down: Vec<(u64, u64)>,
        corrupted: bool,
    ) -> Draw<'a> {
        let servers = scenario.server_ids();
        let all: Vec<u64> = servers
            .iter()
            .copied()
            .chain(scenario.observer_ids())
            .collect();
        Draw {
            scenario,
            weights,
            total: weights.iter().map(|(_, w)| w).sum(),
            servers,
            all,
            down,
            corrupted,
            uncovered: weights.into_iter().filter(|(_, w)| *w > 0).collect(),
            events: Vec::new(),
        }
    }

    /// Draw the fault that starts at `t`: its kind by weight, its duration, its servers.
    fn fault_at(&mut self, rng: &mut Stream, t: u64) {
        let rates = &self.scenario.faults;
        let duration =
            rng.gen_range(rates.duration_ms[0]..=rates.duration_ms[1].max(rates.duration_ms[0]));
        let mut kind = by_weight(rng.gen_range(0..self.total), &self.weights, |(_, w)| *w);
        if rates.cover_all_kinds {
            // The first kind not yet drawn; it stays on the list until it can happen.
            if let Some(k) = self.uncovered.first().copied() {
                kind = Some(k);
            }
        }
        // An aim that finds no room waits for it: it starts as the server or aim that
        // takes the room comes back, if that is within the safety phase (else it becomes
        // extra latency, as any fault without room does). Aims then follow one another,
        // each with its recovery, rather than the later one being lost.
        let t = match kind {
            Some(("aimed", _)) => self.room_from(t).unwrap_or(t),
            _ => t,
        };
        self.down.retain(|(until, _)| *until > t);
        let end = (t + duration).min(self.scenario.safety_ms);
        let (start, heal) = self.start_of(rng, kind.map(|(k, _)| k), t, end, duration);
        let used = match (kind, &start) {
            // It starts as `disk_slow` of one server, the others' alongside.
            (Some(("disk_slow_all", _)), Fault::DiskSlow { .. }) => "disk_slow_all",
            (Some(("rolling_restart", _)), Fault::Kill { .. }) => "rolling_restart",
            _ => fault_kind(&start),
        };
        self.uncovered.retain(|(k, _)| *k != used);
        if matches!(start, Fault::KillLeader | Fault::PauseLeader) {
            // The server is known only at run time; count one server down. (An aim counts
            // its own, until its end.)
            self.down.push((end, 0));
        }
        self.events.push(PlannedFault {
            at_ms: t,
            fault: start,
        });
        if let Some(h) = heal {
            self.events.push(PlannedFault {
                at_ms: end,
                fault: h,
            });
        }
    }

    /// The first moment from `t` on, within the safety phase, at which one more server
    /// may go down.
    fn room_from(&self, t: u64) -> Option<u64> {
        let max_down = self.scenario.faults.max_down as usize;
        if max_down == 0 {
            return None;
        }
        let mut untils: Vec<u64> = self.down.iter().map(|(until, _)| *until).collect();
        if untils.len() < max_down {
            return Some(t);
        }
        untils.sort_unstable();
        // Room for one more once all but max_down - 1 of them are back.
        let at = untils[untils.len() - max_down];
        (at < self.scenario.safety_ms).then_some(at.max(t))
    }

    /// The fault of `kind` starting at `t` and its heal (at `end`), or extra latency when
    /// that kind cannot happen now (no room for another server down, too few servers).
    fn start_of(
        &mut self,
        rng: &mut Stream,
        kind: Option<&str>,
        t: u64,
        end: u64,
        duration: u64,
    ) -> (Fault, Option<Fault>) {
        let all = self.all.clone();
        let up: Vec<u64> = all
            .iter()
            .copied()
            .filter(|s| !self.down.iter().any(|(_, d)| d == s))
            .collect();
        let room = (self.scenario.faults.max_down as usize).saturating_sub(self.down.len());
        match kind {
            Some("partition") if all.len() > 1 => {
                let mut side: Vec<u64> =
                    all.iter().copied().filter(|_| rng.gen_bool(0.5)).collect();
                if side.is_empty() || side.len() == all.len() {
                    side = vec![any(rng, &all)];
                }
                (Fault::Partition { side }, Some(Fault::HealNetwork))
            }
            Some("isolate_leader") => (Fault::IsolateLeader, Some(Fault::HealNetwork)),
            Some("bridge") if self.servers.len() >= 3 => {
                (self.bridge(rng), Some(Fault::HealNetwork))
            }
            Some("one_way") if all.len() > 1 => {
                let from = any(rng, &all);
                let others: Vec<u64> = all.iter().copied().filter(|s| *s != from).collect();
                (
                    Fault::OneWay {
                        from,
                        to: any(rng, &others),
                    },
                    Some(Fault::HealNetwork),
                )
            }
            Some("loss") => (
                Fault::Loss {
                    per_mille: rng.gen_range(5..=100),
                },
                Some(Fault::HealNetwork),
            ),
            Some("latency") => (
                Fault::Latency {
                    extra_ms: rng.gen_range(20..=600),
                },
                Some(Fault::HealNetwork),
            ),
            Some("kill") if room > 0 && !up.is_empty() => {
                let server = any(rng, &up);
                self.down.push((end, server));
                (Fault::Kill { server }, Some(Fault::Restart { server }))
            }
            Some("kill_leader") if room > 0 => (Fault::KillLeader, Some(Fault::RestartAll)),
            Some("kill_many") if room > 1 && up.len() > 1 => {
                (self.kill_many(rng, room, up, end), Some(Fault::RestartAll))
            }
            Some("pause") if room > 0 && !up.is_empty() => {
                let server = any(rng, &up);
                self.down.push((end, server));
                (Fault::Pause { server }, Some(Fault::Resume { server }))
            }
            Some("clock") => clock(rng, &all),
            Some("disk_slow") => {
                let server = any(rng, &all);
                (
                    Fault::DiskSlow {
                        server,
                        fsync_ms: rng.gen_range(20..=1_500),
                    },
                    Some(Fault::DiskNormal { server }),
                )
            }
            // Every server's disk at once (storage they share, a cloud volume service
            // having a bad hour): each follower then has txns queued for its log whenever
            // its role ends (ZOOKEEPER-4712's ground).
            Some("disk_slow_all") => {
                let fsync_ms = rng.gen_range(20..=1_500);
                for server in all.iter().copied().skip(1) {
                    self.events.push(PlannedFault {
                        at_ms: t,
                        fault: Fault::DiskSlow { server, fsync_ms },
                    });
                    self.events.push(PlannedFault {
                        at_ms: end,
                        fault: Fault::DiskNormal { server },
                    });
                }
                let server = all[0];
                (
                    Fault::DiskSlow { server, fsync_ms },
                    Some(Fault::DiskNormal { server }),
                )
            }
            // At most one corruption per run: a second server repairing at the same time
            // could leave no quorum of intact voters, and nothing could make progress.
            Some("disk_corrupt") if room > 0 && !up.is_empty() && !self.corrupted => {
                self.corrupted = true;
                let server = any(rng, &up);
                (Fault::DiskCorrupt { server }, None)
            }
            Some("pause_leader") if room > 0 => (Fault::PauseLeader, Some(Fault::ResumeAll)),
            // A correlated crash of everything: allowed only when nothing else is down,
            // and it stands for every server down until the last is back.
            Some("power_loss") if self.down.is_empty() => {
                self.power_loss(rng, t, duration);
                (Fault::PowerLoss, None)
            }
            Some("aimed") if room > 0 => self.aimed(rng, t, end),
            Some("rolling_restart") if self.down.is_empty() && room > 0 && all.len() > 1 => {
                self.rolling_restart(rng, t)
            }
            Some("slow_leader") if self.servers.len() > 1 => self.slow_leader(rng, t),
            Some("torn_write") if room > 0 && !up.is_empty() => {
                let server = any(rng, &up);
                self.down.push((end, server));
                (Fault::TornWrite { server }, Some(Fault::Restart { server }))
            }
            _ => (
                Fault::Latency {
                    extra_ms: rng.gen_range(5..=50),
                },
                Some(Fault::HealNetwork),
            ),
        }
    }

    /// Two non-empty sides, both talking to the bridge (a voter).
    fn bridge(&self, rng: &mut Stream) -> Fault {
        let bridge = any(rng, &self.servers);
        let mut rest: Vec<u64> = self.all.iter().copied().filter(|s| *s != bridge).collect();
        let cut = rng.gen_range(1..rest.len());
        for i in (1..rest.len()).rev() {
            rest.swap(i, rng.gen_range(0..=i));
        }
        let right = rest.split_off(cut);
        Fault::Bridge {
            left: rest,
            right,
            bridge,
        }
    }

    /// Kill 2 to `room` of the servers `up` until `end`.
    fn kill_many(&mut self, rng: &mut Stream, room: usize, mut up: Vec<u64>, end: u64) -> Fault {
        let n = rng.gen_range(2..=room.min(up.len()));
        let mut servers_down = Vec::new();
        for _ in 0..n {
            let i = rng.gen_range(0..up.len());
            servers_down.push(up.remove(i));
        }
        servers_down.sort();
        for s in &servers_down {
            self.down.push((end, *s));
        }
        Fault::KillMany {
            servers: servers_down,
        }
    }

    /// Every server restarted one by one after a power loss at `t`, in a random order.
    fn power_loss(&mut self, rng: &mut Stream, t: u64, duration: u64) {
        let mut order = self.all.clone();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.gen_range(0..=i));
        }
        let mut at = t;
        for server in order {
            at = (at + rng.gen_range(0..=duration)).min(self.scenario.safety_ms);
            self.down.push((at, server));
            self.events.push(PlannedFault {
                at_ms: at,
                fault: Fault::Restart { server },
            });
        }
    }

    /// A fault aimed at a protocol step, armed at `t` and healed at `end` (later, when a
    /// lagging learner comes first).
    fn aimed(&mut self, rng: &mut Stream, t: u64, end: u64) -> (Fault, Option<Fault>) {
        // Whichever server reaches the step first: the one that leads the next recovery,
        // the first follower to ACK.
        let total: u32 = AIM_DRAWS.iter().map(|d| d.3).sum();
        let (at, message, recovery, _) = by_weight(rng.gen_range(0..total), &AIM_DRAWS, |d| d.3)
            .expect("a pick below the total weight falls on a step");
        // A crash pair one time in two (a learner and its leader crashing together broke
        // ZOOKEEPER-3911 and 4643; a follower and its leader, acknowledged txns).
        let draw = rng.gen_range(0..4);
        let pair = at != AimPoint::Held && draw <= 1;
        let safety = self.scenario.safety_ms;
        let mut end = end;
        if recovery && end > t + 1 {
            let mut trigger = t + 1;
            // The recovery for the aim to hit: the leader is cut off, or, before a crash
            // pair three times in four, crashes as its next log fsync is to complete,
            // losing txns its followers have logged (the unsynced tail ZOOKEEPER-3911's
            // first leader lost). Then its disk is slow (100 to 800 ms an fsync) from a
            // little before, so that the fsync it dies in holds txns its followers have
            // logged and acknowledged meanwhile (a leader whose fsyncs stall while its
            // followers' do not).
            let slow_fsync_ms = (pair && rng.gen_bool(0.75)).then(|| rng.gen_range(100..=800));
            // A learner that has fallen behind, before every crash pair and half the time
            // otherwise: a follower down for 0.3 to 4 s from just after the aim is armed, and
            // the recovery starting just before it comes back, so that the new leader
            // syncs it with the committed txns it lacks (a DIFF or a SNAP with txns: the
            // ground of ZOOKEEPER-3911 and 4643, whose learners were behind when a new
            // leader synced them). Were the recovery later, it would rejoin the old leader
            // first.
            let recovery = 10 * self.scenario.tick_ms + rng.gen_range(0..=2_000);
            if pair || rng.gen_bool(0.5) {
                let lag = rng.gen_range(300..=4_000);
                // The learner returns 1 to 500 ms after the recovery's trigger, and after
                // the slow fsync a leader is to crash in: back before, it would rejoin that
                // leader.
                let rejoin = slow_fsync_ms.unwrap_or(0) + rng.gen_range(1..=500);
                if t + lag + rejoin + recovery < safety {
                    // A follower: were the leader the one to lag, the recovery would
                    // come at once, with nobody behind.
                    let server = any(rng, &self.servers);
                    self.events.push(PlannedFault {
                        at_ms: t + 1,
                        fault: Fault::LagFollower {
                            server,
                            down_ms: lag + rejoin,
                        },
                    });
                    self.down.push((t + 1 + lag + rejoin, 0));
                    trigger = t + 1 + lag;
                }
            }
            // Time for the recovery (the followers notice the leader is gone, elect one of
            // theirs and sync): 10 ticks and up to 2 s more.
            end = end.max(trigger + recovery).min(safety);
            if let Some(fsync_ms) = slow_fsync_ms {
                let slow_from = trigger.saturating_sub(rng.gen_range(1..=300)).max(t + 1);
                self.events.push(PlannedFault {
                    at_ms: slow_from,
                    fault: Fault::LeaderDiskSlow { fsync_ms },
                });
                for server in self.servers.clone() {
                    self.events.push(PlannedFault {
                        at_ms: end,
                        fault: Fault::DiskNormal { server },
                    });
                }
                self.events.push(PlannedFault {
                    at_ms: trigger,
                    fault: Fault::Aimed {
                        server: None,
                        leader: true,
                        action: AimAction::Crash,
                        at: AimPoint::Unsynced,
                        message: "log".to_string(),
                    },
                });
            } else {
                self.events.push(PlannedFault {
                    at_ms: trigger,
                    fault: Fault::IsolateLeader,
                });
                self.events.push(PlannedFault {
                    at_ms: end,
                    fault: Fault::HealNetwork,
                });
            }
        } else if pair && end > t {
            // Before a crash pair in broadcast, a follower down from just before the aim is
            // armed until the pair's restart: the leader commits with the sender's ACKs
            // alone, and once the pair is down, the ensemble that comes back is this
            // server and the sender, so whatever the sender acknowledged must have been
            // durable (Zab's ACK follows the log write: the paper's Phase 3).
            let server = any(rng, &self.servers);
            self.events.push(PlannedFault {
                at_ms: t,
                fault: Fault::LagFollower {
                    server,
                    down_ms: end - t,
                },
            });
            self.down.push((end, 0));
        }
        let action = match draw {
            // A correlated crash of the sender and the recipient (at `synced`, of the
            // learner and its leader), which come back against the last election: every
            // server but the last leader at the aim's end, the leader 1 to 6 s later.
            // Like a power loss, it may take down more than `max_down`.
            _ if pair => {
                let later = (end + rng.gen_range(1_000..=6_000)).min(safety);
                self.events.push(PlannedFault {
                    at_ms: end,
                    fault: Fault::RestartAllButLeader,
                });
                self.events.push(PlannedFault {
                    at_ms: later,
                    fault: Fault::RestartAll,
                });
                self.down.push((later, 0));
                AimAction::CrashPair
            }
            0..=2 => AimAction::Crash,
            _ => AimAction::Pause,
        };
        let heal = match action {
            AimAction::CrashPair => None,
            AimAction::Crash => Some(Fault::RestartAll),
            AimAction::Pause => Some(Fault::ResumeAll),
        };
        if let Some(fault) = heal {
            self.events.push(PlannedFault { at_ms: end, fault });
        }
        self.down.push((end, 0));
        (
            Fault::Aimed {
                server: None,
                leader: false,
                action,
                at,
                message: message.to_string(),
            },
            None,
        )
    }

    /// A rolling restart from `t`, as operators upgrade an ensemble: every server in turn,
    /// in a random order, is killed and restarted 0.3 to 2 s later, and the next one is
    /// killed 0 to 300 ms after that restart. Each learner that comes back is synced while
    /// the leader has proposals in flight and, with one server down, needs its ACKs for a
    /// quorum: the window of ZOOKEEPER-4685 (an ACK overtaking the NEWLEADER ACK) and
    /// 4394 (a COMMIT between NEWLEADER and UPTODATE). The first kill and its restart.
    fn rolling_restart(&mut self, rng: &mut Stream, t: u64) -> (Fault, Option<Fault>) {
        let safety = self.scenario.safety_ms;
        let mut order = self.all.clone();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.gen_range(0..=i));
        }
        let down_ms = rng.gen_range(300..=2_000);
        let mut at = t;
        let mut first = None;
        for server in order {
            let back = at + down_ms;
            if back >= safety {
                break;
            }
            self.down.push((back, server));
            if first.is_none() {
                first = Some((server, back));
            } else {
                self.events.push(PlannedFault {
                    at_ms: at,
                    fault: Fault::Kill { server },
                });
                self.events.push(PlannedFault {
                    at_ms: back,
                    fault: Fault::Restart { server },
                });
            }
            at = back + rng.gen_range(0..=300);
        }
        let Some((server, back)) = first else {
            // No room before the safety phase ends for even one.
            return (
                Fault::Latency {
                    extra_ms: rng.gen_range(5..=50),
                },
                Some(Fault::HealNetwork),
            );
        };
        self.events.push(PlannedFault {
            at_ms: back,
            fault: Fault::Restart { server },
        });
        (Fault::Kill { server }, None)
    }

    /// The leader's clocks slowed at `t` to 5 to 30% of true time, for 2 to 8 s (longer
    /// than most faults: the others must notice, elect and commit meanwhile), and three
    /// times in four the leader cut off from the other servers (not from its clients) as
    /// well: the window of `deposed_leader`, where a server that still believes it leads
    /// may meet clients that have seen the new leader's txns (ZOOKEEPER-1675's sync, a
    /// reconnect with a later zxid).
    fn slow_leader(&mut self, rng: &mut Stream, t: u64) -> (Fault, Option<Fault>) {
        let percent = rng.gen_range(5..=30);
        let end = (t + rng.gen_range(2_000..=8_000)).min(self.scenario.safety_ms);
        if rng.gen_bool(0.75) && end > t + 1 {
            self.events.push(PlannedFault {
                at_ms: t + 1,
                fault: Fault::IsolateLeader,
            });
            self.events.push(PlannedFault {
                at_ms: end,
                fault: Fault::HealNetwork,
            });
        }
        self.events.push(PlannedFault {
            at_ms: end,
            fault: Fault::TrueClocks,
        });
        (Fault::SlowLeader { percent }, None)
    }
}

/// The faults of an `end_with_slow_leader` plan's last stand, from a stream of their own;
/// `None` when the safety phase is too short to hold the one drawn (validation refuses a
/// phase too short for any).
fn last_stand(scenario: &Scenario, seed: u64) -> Option<Vec<PlannedFault>> {
    let mut rng = stream(seed, "faults-last-stand");
    let cut = SYNC_LIMIT_TICKS * scenario.tick_ms + rng.gen_range(LAST_STAND_EXTRA_CUT_MS);
    let lead = cut + rng.gen_range(LAST_STAND_TAIL_MS);
    let at = scenario.safety_ms.checked_sub(lead).filter(|at| *at > 0)?;
    let percent = rng.gen_range(5..=30);
    let fault = |at_ms, fault| PlannedFault { at_ms, fault };
    Some(vec![
        fault(at, Fault::SlowLeader { percent }),
        fault(at + 1, Fault::IsolateLeader),
        fault(at + 1 + cut, Fault::HealNetwork),
        // At the instant the plan ends: the liveness phase's heal usually sets the clocks
        // back first (recorded as `clock_rate` at 100%). Kept so that seeds drawn with it
        // run as they did: its pending timer is part of the schedule.
        fault(scenario.safety_ms, Fault::TrueClocks),
    ])
}

/// The item of `items` that `pick` (below the weights' sum) falls on, each item taking
/// as many values as its `weight`; `None` when `pick` is past them all.
fn by_weight<T: Copy>(mut pick: u32, items: &[T], weight: impl Fn(&T) -> u32) -> Option<T> {
    items.iter().copied().find(|item| {
        let w = weight(item);
        if pick < w {
            true
        } else {
            pick -= w;
            false
        }
    })
}

/// One of `from`, drawn uniformly.
fn any(rng: &mut Stream, from: &[u64]) -> u64 {
    from[rng.gen_range(0..from.len())]
}

/// A clock fault on one of `all`: a skew, a jump, or a rate (healed by true time again).
fn clock(rng: &mut Stream, all: &[u64]) -> (Fault, Option<Fault>) {
    let server = any(rng, all);
    match rng.gen_range(0..3) {
        0 => (
            Fault::ClockSkew {
                server,
                offset_ms: rng.gen_range(-2_000..=2_000),
            },
            None,
        ),
        1 => (
            Fault::ClockJump {
                server,
                delta_ms: rng.gen_range(-1_000..=5_000),
            },
            None,
        ),
        // Slow: the server's timeouts fire late (a deposed leader believes it leads);
        // fast: they fire early.
        _ => {
            let percent = if rng.gen_bool(0.5) {
                rng.gen_range(10..=90)
            } else {
                rng.gen_range(110..=400)
            };
            (
                Fault::ClockRate { server, percent },
                Some(Fault::ClockRate {
                    server,
                    percent: 100,
                }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::builtin;
    use std::collections::{BTreeMap, BTreeSet};

    // Found by fuzzing: rates whose arithmetic overflowed when a plan was drawn are refused
    // by validation, naming the field, and the largest rates allowed draw a plan.
    #[test]
    fn rates_that_would_overflow_a_plan_are_refused() {
        let mut s = builtin("default").expect("default");
        s.faults.mean_interval_ms = 8_446_744_073_709_551_615;
        let e = s
            .validate()
            .expect_err("an interval past an hour")
            .to_string();
        assert!(e.contains("faults.mean_interval_ms"), "{e}");
        // Found by fuzzing: a fault every millisecond took seconds to draw.
        s.faults.mean_interval_ms = 1;
        let e = s
            .validate()
            .expect_err("an interval under 100 ms")
            .to_string();
        assert!(e.contains("faults.mean_interval_ms"), "{e}");
        let mut s = builtin("default").expect("default");
        s.faults.duration_ms = [0, u64::MAX];
        let e = s
            .validate()
            .expect_err("a duration past an hour")
            .to_string();
        assert!(e.contains("faults.duration_ms"), "{e}");
        let mut s = builtin("default").expect("default");
        s.faults.kill = u32::MAX;
        let e = s
            .validate()
            .expect_err("weights past the bound")
            .to_string();
        // Each weight is bounded, and so is their sum.
        assert!(e.contains("field `faults`") && e.contains("weigh"), "{e}");
        let mut s = builtin("default").expect("default");
        s.safety_ms = 3_600_000;
        s.faults.mean_interval_ms = MIN_INTERVAL_MS;
        s.validate().expect("the shortest interval is valid");
        assert!(FaultPlan::generate(&s, 1).faults.len() > 30_000);
        s.faults.mean_interval_ms = MAX_RATE_MS;
        s.faults.duration_ms = [MAX_RATE_MS, MAX_RATE_MS];
        s.faults.kill = u32::try_from(MAX_TOTAL_WEIGHT).expect("fits") / 2;
        s.safety_ms = 3_600_000;
        s.validate().expect("the largest rates are valid");
        let plan = FaultPlan::generate(&s, 1);
        plan.validate(s.servers, s.observers, s.safety_ms)
            .expect("a valid plan");
    }

    // Found by fuzzing: an operation mix whose weights overflowed u32 when added up is
    // refused by validation, naming the field.
    #[test]
    fn a_mix_that_overflows_is_refused() {
        let mut s = builtin("default").expect("default");
        s.workload.mix.create = u32::MAX;
        let e = s.validate().expect_err("weights past u32").to_string();
        assert!(e.contains("workload.mix"), "{e}");
    }

    #[test]
    fn plans_are_reproducible_valid_and_use_every_kind() {
        let s = builtin("default").expect("default");
        let a = FaultPlan::generate(&s, 42);
        assert_eq!(a, FaultPlan::generate(&s, 42));
        assert_ne!(a, FaultPlan::generate(&s, 43));
        a.validate(s.servers, s.observers, s.safety_ms)
            .expect("generated plans are valid");
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 0..200 {
            for f in FaultPlan::generate(&s, seed).faults {
                let json = serde_json::to_value(&f.fault).expect("serializes");
                kinds.insert(json["kind"].as_str().expect("kind").to_string());
            }
        }
        for k in [
            "partition",
            "isolate_leader",
            "bridge",
            "one_way",
            "loss",
            "latency",
            "kill",
            "kill_leader",
            "pause",
            "clock_skew",
            "clock_jump",
            "clock_rate",
            "disk_slow",
            "disk_corrupt",
            "torn_write",
        ] {
            assert!(kinds.contains(k), "{k} never drawn");
        }
    }

    // A single fault drawn as the generator draws a plan's: valid where it is placed,
    // healed within the safety phase, and drawn by the default weights when a scenario
    // switches every kind off.
    #[test]
    fn draw_one_draws_a_valid_fault_where_it_is_asked() {
        let s = builtin("default").expect("default");
        let mut rng = stream(3, "test");
        for _ in 0..500 {
            let at_ms = rng.gen_range(0..=s.safety_ms);
            let events = FaultPlan::draw_one(&s, &mut rng, at_ms, &[2], false);
            assert!(events.iter().any(|e| e.at_ms == at_ms));
            assert!(events.iter().all(|e| e.at_ms >= at_ms));
            FaultPlan { faults: events }
                .validate(s.servers, s.observers, s.safety_ms)
                .expect("a valid fault");
        }
        let mut off = s.clone();
        zero_weights(&mut off.faults);
        off.faults.mean_interval_ms = 0;
        assert!(FaultPlan::generate(&off, 1).faults.is_empty());
        let events = FaultPlan::draw_one(&off, &mut rng, 0, &[], false);
        assert!(!events.is_empty());
    }

    #[test]
    fn disk_slow_all_slows_every_disk_alike_and_heals_each() {
        let mut s = builtin("default").expect("default");
        zero_weights(&mut s.faults);
        s.faults.disk_slow_all = 1;
        s.faults.cover_all_kinds = true;
        let plan = FaultPlan::generate(&s, 7);
        plan.validate(s.servers, s.observers, s.safety_ms)
            .expect("a valid plan");
        let starts: BTreeSet<u64> = plan.faults.iter().map(|p| p.at_ms).collect();
        let mut slowed = 0;
        for at in starts {
            let here: Vec<&Fault> = plan
                .faults
                .iter()
                .filter(|p| p.at_ms == at)
                .map(|p| &p.fault)
                .collect();
            let fsyncs: BTreeMap<u64, u64> = here
                .iter()
                .filter_map(|f| match f {
                    Fault::DiskSlow { server, fsync_ms } => Some((*server, *fsync_ms)),
                    _ => None,
                })
                .collect();
            if fsyncs.is_empty() {
                continue;
            }
            slowed += 1;
            let all: Vec<u64> = s.server_ids().into_iter().chain(s.observer_ids()).collect();
            assert_eq!(
                fsyncs.keys().copied().collect::<Vec<_>>(),
                all,
                "at {at} ms"
            );
            let times: BTreeSet<u64> = fsyncs.values().copied().collect();
            assert_eq!(times.len(), 1, "one fsync time for every disk at {at} ms");
        }
        assert!(slowed > 1, "{slowed} slowdowns");
        let normals = plan
            .faults
            .iter()
            .filter(|p| matches!(p.fault, Fault::DiskNormal { .. }))
            .count();
        let slows = plan
            .faults
            .iter()
            .filter(|p| matches!(p.fault, Fault::DiskSlow { .. }))
            .count();
        assert_eq!(slows, normals, "each slow disk is healed");
    }

    #[test]
    fn a_rolling_restart_takes_each_server_down_once_and_one_at_a_time() {
        let mut s = builtin("five").expect("five");
        zero_weights(&mut s.faults);
        s.faults.rolling_restart = 1;
        s.faults.mean_interval_ms = 2_000;
        s.faults.cover_all_kinds = false;
        for seed in 0..20 {
            let plan = FaultPlan::generate(&s, seed);
            plan.validate(s.servers, s.observers, s.safety_ms)
                .expect("a valid plan");
            let mut down: BTreeSet<u64> = BTreeSet::new();
            let mut killed: Vec<u64> = Vec::new();
            for p in &plan.faults {
                match p.fault {
                    Fault::Kill { server } => {
                        assert!(
                            down.is_empty(),
                            "seed {seed}: {server} killed with {down:?} down"
                        );
                        down.insert(server);
                        killed.push(server);
                    }
                    Fault::Restart { server } => assert!(down.remove(&server)),
                    // Drawn while a rolling restart is under way: a little latency instead.
                    Fault::Latency { .. } | Fault::HealNetwork => {}
                    ref f => panic!("seed {seed}: {f:?}"),
                }
            }
            assert!(down.is_empty(), "seed {seed}: each one restarted");
            // The first rolling restart (well within the minute) takes every server down
            // once, in some order.
            let n = (s.servers + s.observers) as usize;
            let first: BTreeSet<u64> = killed.iter().take(n).copied().collect();
            assert_eq!(first.len(), n, "seed {seed}: {killed:?}");
        }
    }

    /// Every kind's weight 0.
    #[test]
    fn an_aim_without_room_starts_when_room_comes() {
        let mut s = builtin("default").expect("default");
        s.safety_ms = 20_000;
        s.faults.max_down = 2;
        let weights = s.faults.weights();
        let at = |down: Vec<(u64, u64)>, t: u64| Draw::new(&s, weights, down, false).room_from(t);
        assert_eq!(at(vec![], 1_000), Some(1_000));
        assert_eq!(at(vec![(5_000, 2)], 1_000), Some(1_000));
        // Two down: room once the first of them is back.
        assert_eq!(at(vec![(5_000, 2), (3_000, 0)], 1_000), Some(3_000));
        assert_eq!(
            at(vec![(5_000, 2), (7_000, 3), (6_000, 0)], 1_000),
            Some(6_000)
        );
        // Not within the safety phase: none.
        assert_eq!(at(vec![(25_000, 2), (20_000, 3)], 1_000), None);
        // A plan of aims only, drawn every 2.5 to 7.5 s, each holding its room for up
        // to about 10 s: every draw becomes an aim, waiting for room if it must, except
        // the last ones, whose room comes after the safety phase.
        s.safety_ms = 60_000;
        s.faults.max_down = 1;
        zero_weights(&mut s.faults);
        s.faults.aimed = 1;
        s.faults.mean_interval_ms = 5_000;
        for seed in 0..20 {
            let plan = FaultPlan::generate(&s, seed);
            let count = |aim: bool| {
                plan.faults
                    .iter()
                    .filter(|f| match f.fault {
                        Fault::Aimed { server: None, .. } => aim,
                        Fault::Latency { .. } => !aim,
                        _ => false,
                    })
                    .count()
            };
            let (aims, lost) = (count(true), count(false));
            assert!(
                aims >= 8 && lost <= 5,
                "seed {seed}: {aims} aims, {lost} lost"
            );
        }
    }

    #[test]
    fn a_last_stand_ends_the_plan() {
        let mut s = builtin("default").expect("default");
        s.faults.end_with_slow_leader = true;
        for (tick_ms, safety_ms) in [(100, 10_000), (500, 30_000)] {
            s.tick_ms = tick_ms;
            s.safety_ms = safety_ms;
            for seed in 0..20 {
                let plan = FaultPlan::generate(&s, seed);
                plan.validate(s.servers, s.observers, s.safety_ms)
                    .expect("a valid plan");
                let at = plan
                    .faults
                    .iter()
                    .rposition(|f| matches!(f.fault, Fault::SlowLeader { .. }))
                    .expect("a slowed leader");
                let (start, tail) = (plan.faults[at].at_ms, &plan.faults[at + 1..]);
                // Nothing starts after it; what heals meanwhile is earlier faults ending.
                assert!(
                    tail.iter().all(|f| matches!(
                        f.fault,
                        Fault::IsolateLeader
                            | Fault::HealNetwork
                            | Fault::TrueClocks
                            | Fault::RestartAll
                            | Fault::Restart { .. }
                            | Fault::ResumeAll
                            | Fault::Resume { .. }
                            | Fault::DiskNormal { .. }
                    )),
                    "seed {seed}: {tail:?}"
                );
                assert!(
                    tail.iter()
                        .any(|f| f.at_ms == start + 1 && matches!(f.fault, Fault::IsolateLeader))
                );
                // The cut lasts syncLimit (5 ticks) and 10 to 200 ms more, and heals 0.2
                // to 1.5 s before the end.
                let cut = 5 * tick_ms + 10..=5 * tick_ms + 200;
                let heal = tail
                    .iter()
                    .find(|f| {
                        matches!(f.fault, Fault::HealNetwork)
                            && cut.contains(&(f.at_ms - start - 1))
                    })
                    .unwrap_or_else(|| panic!("seed {seed}: no heal in {cut:?} ms: {tail:?}"));
                assert!(
                    (200..=1_500).contains(&(safety_ms - heal.at_ms)),
                    "seed {seed}"
                );
                let last = plan.faults.last().expect("faults");
                assert!(matches!(last.fault, Fault::TrueClocks) && last.at_ms == safety_ms);
            }
        }
        // A safety phase too short for it has none, and a lone server none either.
        s.tick_ms = 500;
        s.safety_ms = 2_000;
        let none = |s: &Scenario| {
            (0..20).all(|seed| {
                !FaultPlan::generate(s, seed)
                    .faults
                    .iter()
                    .any(|f| matches!(f.fault, Fault::SlowLeader { .. }))
            })
        };
        assert!(none(&s));
        let refused = |s: &Scenario| {
            s.validate()
                .expect_err("refused")
                .to_string()
                .contains("faults.end_with_slow_leader")
        };
        // One too short for any last stand is refused (5 ticks and 210 ms).
        s.safety_ms = 2_710;
        assert!(refused(&s));
        s.safety_ms = 2_711;
        s.validate().expect("long enough for the shortest");
        s.safety_ms = 30_000;
        s.servers = 1;
        zero_weights(&mut s.faults);
        s.faults.kill = 1;
        s.faults.max_down = 0;
        assert!(none(&s));
        assert!(refused(&s));
    }

    fn zero_weights(rates: &mut FaultRates) {
        for (name, _) in FaultRates::default().weights() {
            set_weight(rates, name, 0);
        }
    }

    fn set_weight(rates: &mut FaultRates, name: &str, w: u32) {
        match name {
            "partition" => rates.partition = w,
            "isolate_leader" => rates.isolate_leader = w,
            "bridge" => rates.bridge = w,
            "one_way" => rates.one_way = w,
            "loss" => rates.loss = w,
            "latency" => rates.latency = w,
            "kill" => rates.kill = w,
            "kill_leader" => rates.kill_leader = w,
            "kill_many" => rates.kill_many = w,
            "pause" => rates.pause = w,
            "clock" => rates.clock = w,
            "disk_slow" => rates.disk_slow = w,
            "disk_corrupt" => rates.disk_corrupt = w,
            "torn_write" => rates.torn_write = w,
            "pause_leader" => rates.pause_leader = w,
            "power_loss" => rates.power_loss = w,
            "aimed" => rates.aimed = w,
            "slow_leader" => rates.slow_leader = w,
            "disk_slow_all" => rates.disk_slow_all = w,
            "rolling_restart" => rates.rolling_restart = w,
            _ => panic!("unknown kind {name}"),
        }
    }

    #[test]
    fn impossible_plans_are_refused() {
        let plan = FaultPlan {
            faults: vec![PlannedFault {
                at_ms: 0,
                fault: Fault::Kill { server: 7 },
            }],
        };
        assert!(
            plan.validate(3, 0, 10_000)
                .expect_err("unknown server")
                .contains("server 7")
        );
        let plan = FaultPlan {
            faults: vec![
                PlannedFault {
                    at_ms: 5,
                    fault: Fault::HealNetwork,
                },
                PlannedFault {
                    at_ms: 1,
                    fault: Fault::HealNetwork,
                },
            ],
        };
        assert!(plan.validate(3, 0, 10_000).is_err());
        let refused = |fault: Fault, at_ms: u64| {
            FaultPlan {
                faults: vec![PlannedFault { at_ms, fault }],
            }
            .validate(3, 1, 10_000)
            .expect_err("refused")
        };
        assert!(refused(Fault::HealNetwork, 10_001).contains("after the safety phase"));
        assert!(refused(Fault::Loss { per_mille: 1001 }, 0).contains("0 to 1000"));
        assert!(refused(Fault::Latency { extra_ms: u64::MAX }, 0).contains("latency"));
        let rate = Fault::ClockRate {
            server: 1,
            percent: 0,
        };
        assert!(refused(rate, 0).contains("clock rate of 0 percent"));
        assert!(
            refused(Fault::SlowLeader { percent: 1001 }, 0).contains("1001"),
            "a slow leader's rate is a clock rate"
        );
        let aim = |at, message: &str| Fault::Aimed {
            server: None,
            leader: false,
            action: AimAction::CrashPair,
            at,
            message: message.to_string(),
        };
        assert!(refused(aim(AimPoint::Synced, "ACK"), 0).contains("currentEpoch"));
        assert!(refused(aim(AimPoint::Unsynced, "log"), 0).contains("only crash"));
        assert!(refused(aim(AimPoint::Sent, "currentEpoch"), 0).contains("NEWLEADER"));
        assert!(aim(AimPoint::Synced, "currentEpoch").check_values().is_ok());
        let both = Fault::Aimed {
            server: Some(1),
            leader: true,
            action: AimAction::Crash,
            at: AimPoint::Sent,
            message: "PROPOSAL".to_string(),
        };
        assert!(refused(both, 0).contains("name one"));
        let lag = |server, down_ms| Fault::LagFollower { server, down_ms };
        assert!(refused(lag(4, 1_000), 0).contains("an observer"));
        assert!(refused(lag(1, 0), 0).contains("1 to"));
        assert!(refused(lag(1, DELAY_MAX_MS + 1), 0).contains("1 to"));
        assert!(lag(3, 1_000).check_values().is_ok());
        let slow = |fsync_ms| Fault::LeaderDiskSlow { fsync_ms };
        assert!(refused(slow(DELAY_MAX_MS + 1), 0).contains("fsync of"));
        assert!(slow(DELAY_MAX_MS).check_values().is_ok());
        let jump = Fault::ClockJump {
            server: 1,
            delta_ms: i64::MIN,
        };
        assert!(refused(jump, 0).contains("clock jump"));
        // Jumps within range that add up beyond a day.
        let jumps = FaultPlan {
            faults: (0..25)
                .map(|k| PlannedFault {
                    at_ms: k,
                    fault: Fault::ClockJump {
                        server: 2,
                        delta_ms: CLOCK_MAX_MS,
                    },
                })
                .collect(),
        };
        assert!(
            jumps
                .validate(3, 0, 10_000)
                .expect_err("a day off")
                .contains("fault 24: clock jumps put server 2")
        );
    }

    #[test]
    fn every_voter_down_for_good_is_warned_about() {
        let at = |at_ms, fault| PlannedFault { at_ms, fault };
        // Every voter down (the observer up is no quorum), none back: warned.
        let plan = FaultPlan {
            faults: vec![
                at(0, Fault::Pause { server: 1 }),
                at(
                    1,
                    Fault::KillMany {
                        servers: vec![2, 3],
                    },
                ),
            ],
        };
        plan.validate(3, 1, 10_000).expect("valid");
        let warnings = plan.warnings(3);
        assert!(
            warnings[0].contains("fault 1 at 1 ms leaves every voter down"),
            "{warnings:?}"
        );
        // One of them back: a plan like newleader_crash's, no warning.
        let mut back = plan.clone();
        back.faults.push(at(5, Fault::Restart { server: 2 }));
        assert_eq!(back.warnings(3), Vec::<String>::new());
        // A power loss, restarted one by one, is what power_loss means.
        let plan = FaultPlan {
            faults: vec![
                at(0, Fault::PowerLoss),
                at(10, Fault::Latency { extra_ms: 5 }),
            ],
        };
        plan.validate(3, 0, 10_000).expect("a power loss is a plan");
        assert_eq!(plan.warnings(3), Vec::<String>::new());
    }
}
