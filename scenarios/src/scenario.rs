//! The scenario format and the built-in scenarios.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::fault::FaultPlan;

/// Relative weights of the operations a client issues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpMix {
    pub create: u32,
    pub delete: u32,
    pub set_data: u32,
    pub get_data: u32,
    pub exists: u32,
    pub get_children: u32,
    pub multi: u32,
    pub sync_read: u32,
    pub check_set: u32,
}

impl Default for OpMix {
    fn default() -> Self {
        OpMix {
            create: 20,
            delete: 10,
            set_data: 25,
            get_data: 20,
            exists: 8,
            get_children: 7,
            multi: 5,
            sync_read: 3,
            check_set: 2,
        }
    }
}

impl OpMix {
    /// (name, weight) of every operation.
    pub fn weights(&self) -> [(&'static str, u32); 9] {
        [
            ("create", self.create),
            ("delete", self.delete),
            ("set_data", self.set_data),
            ("get_data", self.get_data),
            ("exists", self.exists),
            ("get_children", self.get_children),
            ("multi", self.multi),
            ("sync_read", self.sync_read),
            ("check_set", self.check_set),
        ]
    }

    /// The sum of the weights; `validate` refuses a mix whose sum does not fit in u32.
    pub fn total(&self) -> u32 {
        self.checked_total()
            .expect("a validated mix's weights add up within u32")
    }

    /// The sum of the weights, `None` when it does not fit in u32.
    pub fn checked_total(&self) -> Option<u32> {
        [
            self.create,
            self.delete,
            self.set_data,
            self.get_data,
            self.exists,
            self.get_children,
            self.multi,
            self.sync_read,
            self.check_set,
        ]
        .into_iter()
        .try_fold(0u32, u32::checked_add)
    }
}

/// What the clients do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    pub mix: OpMix,
    /// Distinct znode names under the workload's root.
    pub keys: u32,
    /// Data sizes are drawn from 0..=value_bytes_max.
    pub value_bytes_max: u32,
    /// How many requests a client keeps in flight.
    pub pipeline: u32,
    /// Percent of reads that set a watch.
    pub watch_percent: u32,
    /// Percent of creates that are ephemeral.
    pub ephemeral_percent: u32,
    /// Percent of creates that are sequential.
    pub sequential_percent: u32,
    /// Upper bound of the pause between a completion and the next request.
    pub think_ms_max: u64,
    /// Percent chance, per second of a client's life, that it closes its session and opens
    /// a new one.
    pub session_churn_percent: u32,
    /// The session timeout clients ask for.
    pub session_timeout_ms: i32,
    /// Percent chance, per operation, that a client drops its connection and reconnects to
    /// its next server, so that its session moves (and reads land on lagging followers).
    pub switch_percent: u32,
    /// Switching balances the load: a client decides to move whatever it has in flight
    /// (and lets that finish first, submitting nothing meanwhile), and goes to the serving
    /// server with the fewest client connections when it reconnects (as a balancer does,
    /// and ZooKeeper's client rebalancing aims to), not its next one. A server that has
    /// just synced with its leader and started serving has none, so sessions and their
    /// reads land on it first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub switch_to_least_loaded: bool,
    /// Writes come in bursts: in the last `quiet_ms` of every `quiet_every_ms` (simulated
    /// time, the same for every client) nobody writes, and each client reads after a sync
    /// instead. 0 turns it off. A server that missed a committed txn is then not brought
    /// up to date by the next one, and the syncs of the quiet spell find it.
    #[serde(skip_serializing_if = "is_zero")]
    pub quiet_every_ms: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub quiet_ms: u64,
    /// Percent of persistent creates of a key that make a container (ZooKeeper 3.6's
    /// CONTAINER mode: the server deletes it once its last child is gone).
    pub container_percent: u32,
    /// Percent of persistent creates of a key that make a TTL node (`PERSISTENT_WITH_TTL`:
    /// the server deletes it once it has no children and was not changed for `ttl_ms`).
    pub ttl_percent: u32,
    /// The TTL of TTL nodes.
    pub ttl_ms: i64,
    /// Percent of creates and deletes aimed at a child of a key (`/k3/c1`) rather than at
    /// a key, so that containers gain and lose children.
    pub child_percent: u32,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            mix: OpMix::default(),
            keys: 12,
            value_bytes_max: 32,
            pipeline: 4,
            watch_percent: 25,
            ephemeral_percent: 15,
            sequential_percent: 15,
            think_ms_max: 0,
            session_churn_percent: 2,
            session_timeout_ms: 4000,
            switch_percent: 0,
            switch_to_least_loaded: false,
            quiet_every_ms: 0,
            quiet_ms: 0,
            container_percent: 0,
            ttl_percent: 0,
            ttl_ms: 2000,
            child_percent: 0,
        }
    }
}

/// How often faults happen, and the relative weight of each kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultRates {
    /// The mean time between fault starts; 0 disables generated faults.
    pub mean_interval_ms: u64,
    /// How long a fault lasts before it is healed: drawn from this range.
    pub duration_ms: [u64; 2],
    /// At most this many servers are down (killed or paused) at once.
    pub max_down: u32,
    pub partition: u32,
    pub isolate_leader: u32,
    pub bridge: u32,
    pub one_way: u32,
    pub loss: u32,
    pub latency: u32,
    pub kill: u32,
    pub kill_leader: u32,
    pub kill_many: u32,
    pub pause: u32,
    pub clock: u32,
    pub disk_slow: u32,
    pub disk_corrupt: u32,
    pub torn_write: u32,
    /// Stop-the-world pause of whichever server leads at the time.
    pub pause_leader: u32,
    /// Every server crashes at once (a power failure: unsynced writes are lost everywhere)
    /// and they come back one by one in a random order.
    pub power_loss: u32,
    /// A fault aimed at a protocol step: crash or pause a server right after it sends a
    /// chosen message kind, or at the fsync that would release one it held (`Fault::Aimed`).
    pub aimed: u32,
    /// The leader's clocks slowed (and, three times in four, the leader cut off from the
    /// other servers) for 2 to 8 s: a deposed leader that believes it still leads.
    pub slow_leader: u32,
    /// Every server's disk slow at once, by the same fsync time, until the fault heals.
    pub disk_slow_all: u32,
    /// Every server in turn killed and restarted, the next killed soon after the last is
    /// back (an upgrade's rolling restart).
    pub rolling_restart: u32,
    /// Draw every kind with a non-zero weight once before drawing by weight.
    pub cover_all_kinds: bool,
    /// The plan ends with a deposed leader's last stand: 0.2 to 1.7 s before the safety
    /// phase ends, whoever leads has its clocks slowed to 5 to 30% of true time until the
    /// end, and is cut off from the other servers for syncLimit (5 ticks, their read
    /// timeout) and 10 to 200 ms more. Its followers give up on it together and, if the
    /// heal comes before they agree on another leader (finalizeWait is 200 ms), rejoin it
    /// all at once while its last proposals are outstanding.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub end_with_slow_leader: bool,
}

impl Default for FaultRates {
    fn default() -> Self {
        FaultRates {
            mean_interval_ms: 2_000,
            duration_ms: [300, 4_000],
            max_down: 1,
            partition: 3,
            isolate_leader: 3,
            bridge: 1,
            one_way: 1,
            loss: 2,
            latency: 2,
            kill: 3,
            kill_leader: 3,
            kill_many: 1,
            pause: 2,
            clock: 2,
            disk_slow: 2,
            disk_corrupt: 1,
            torn_write: 2,
            pause_leader: 1,
            power_loss: 1,
            aimed: 0,
            slow_leader: 0,
            disk_slow_all: 0,
            rolling_restart: 0,
            cover_all_kinds: false,
            end_with_slow_leader: false,
        }
    }
}

impl FaultRates {
    /// (name, weight) of every fault kind.
    pub fn weights(&self) -> [(&'static str, u32); 20] {
        [
            ("partition", self.partition),
            ("isolate_leader", self.isolate_leader),
            ("bridge", self.bridge),
            ("one_way", self.one_way),
            ("loss", self.loss),
            ("latency", self.latency),
            ("kill", self.kill),
            ("kill_leader", self.kill_leader),
            ("kill_many", self.kill_many),
            ("pause", self.pause),
            ("clock", self.clock),
            ("disk_slow", self.disk_slow),
            ("disk_corrupt", self.disk_corrupt),
            ("torn_write", self.torn_write),
            ("pause_leader", self.pause_leader),
            ("power_loss", self.power_loss),
            ("aimed", self.aimed),
            ("slow_leader", self.slow_leader),
            ("disk_slow_all", self.disk_slow_all),
            ("rolling_restart", self.rolling_restart),
        ]
    }
}

/// A whole run's description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub servers: u32,
    #[serde(default)]
    pub observers: u32,
    pub clients: u32,
    /// Length of the safety phase (faults on).
    pub safety_ms: u64,
    /// Bound on the liveness phase (faults healed): everything must converge within it.
    pub liveness_ms: u64,
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    #[serde(default = "default_snap_count")]
    pub snap_count: usize,
    #[serde(default)]
    pub workload: Workload,
    #[serde(default)]
    pub faults: FaultRates,
    /// An explicit fault plan: when present it replaces the one drawn from the seed (a
    /// shrunk reproduction keeps its plan here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<FaultPlan>,
    /// A recipe workload instead of the generic one (see docs/scenarios.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    /// How often the leader looks for containers and TTL nodes to delete
    /// (`znode.container.checkIntervalMs`; ZooKeeper's default is 60 s).
    #[serde(default = "default_container_check_ms")]
    pub container_check_ms: u64,
    /// How long, once the liveness phase begins, clients that are done (the even-numbered
    /// ones; the others close at once) keep their sessions open and idle (pinging) before
    /// they close them, so that the fault-free service is
    /// seen keeping sessions alive and reaping what is due. Default: 1.5 session timeouts,
    /// plus a container check interval and a TTL when the workload makes containers or TTL
    /// nodes, at most half of `liveness_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_hold_ms: Option<u64>,
    /// The run's budget of simulated events (deliveries a node takes, timer firings,
    /// passes of the clients' loop): past it the run stops and fails with "run budget
    /// exceeded". Default [`MAX_EVENTS_DEFAULT`], at most [`MAX_EVENTS_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u64>,
    /// The run's budget of memory, in MB: what it holds until it is judged (its history
    /// and the servers' disks, estimated as it runs); past it the run stops and fails with
    /// "run budget exceeded". Default [`MEMORY_MB_DEFAULT`], at most [`MEMORY_MB_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb_max: Option<u64>,
    /// BUGGIFY: the harness misbehaves now and then in ways a real deployment does (a slow
    /// fsync, a late timer, a connection reset mid-recovery or under a client, a vote sent
    /// twice); the seed chooses which of these are on (docs/simulator.md). Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub buggify: bool,
}

/// The default budget of simulated events per run: far above what a passing run of any
/// built-in scenario or swarm seed takes (docs/scenarios.md has the measurement).
pub const MAX_EVENTS_DEFAULT: u64 = 20_000_000;

/// The largest budget a scenario may ask for.
pub const MAX_EVENTS_LIMIT: u64 = 100_000_000;

/// The largest value the generic workload may write. ZooKeeper allows 1 MB, but a run keeps
/// every value it wrote and read (the history, each server's log) and holds many in flight
/// at once (`clients` x `pipeline`): at 1 MB a run outgrows 2 GB before its memory budget
/// can stop it. At 16 KB a run at every maximum peaks below 1.6 GB (docs/scenarios.md).
pub const VALUE_BYTES_LIMIT: u32 = 16 * 1024;

/// The default budget of memory per run, in MB of what the run holds (estimated: history,
/// disks, trees). A process's peak is up to about 2 times the estimate (messages in
/// flight, the checker's index), so a run stays under 2 GB, and two jobs do too since they share a bound
/// (sim::admission; docs/scenarios.md has the measurements).
pub const MEMORY_MB_DEFAULT: u64 = 768;

/// The largest budget of memory a scenario may ask for.
pub const MEMORY_MB_LIMIT: u64 = 768;

fn default_container_check_ms() -> u64 {
    60_000
}

fn default_tick_ms() -> u64 {
    200
}

fn default_snap_count() -> usize {
    200
}

/// A scenario that cannot be run, with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// Not JSON, or JSON that is not a scenario: the message says which and where.
    #[error("{0}")]
    Json(String),
    #[error("field `{field}`: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
    #[error("unknown scenario {name:?}; built in: {known}")]
    Unknown { name: String, known: String },
}

/// The largest weight of an operation or a fault kind (so that their sums cannot overflow).
pub const WEIGHT_MAX: u32 = 1_000_000;

/// Values quoted in an error longer than this are cut short.
const QUOTE_MAX: usize = 40;

/// `message` with every quoted value (between `"` or backticks) longer than `QUOTE_MAX`
/// characters cut short: a huge bad value is named, never echoed whole.
fn shorten_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let close = rest.find(quote).unwrap_or(rest.len());
        let value = &rest[..close];
        let chars = value.chars().count();
        if chars > QUOTE_MAX {
            out.extend(value.chars().take(QUOTE_MAX));
            out.push_str(&format!("... ({chars} characters)"));
        } else {
            out.push_str(value);
        }
        if close < rest.len() {
            out.push(quote);
            rest = &rest[close + 1..];
        } else {
            rest = "";
        }
    }
    out.push_str(rest);
    out
}

fn field(field: &'static str, problem: impl Into<String>) -> ScenarioError {
    ScenarioError::Field {
        field,
        problem: problem.into(),
    }
}

impl Scenario {
    /// Parse and validate a scenario file's bytes: UTF-8 text with no byte order mark.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Scenario, ScenarioError> {
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            return Err(ScenarioError::Json(
                "the text starts with a byte order mark (EF BB BF); save it as UTF-8 without one"
                    .to_string(),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            ScenarioError::Json(format!(
                "not UTF-8 text: the byte at offset {} is not part of a UTF-8 character",
                e.valid_up_to()
            ))
        })?;
        Scenario::from_json(text)
    }

    /// Parse and validate a scenario file's text. An error names the field, by its path
    /// (`workload.pipeline`, `plan.faults[2].at_ms`), and quotes a long value cut short.
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        let start = text.trim_start();
        let what = match start.chars().next() {
            None => Some("empty"),
            Some('[') => Some("a JSON array"),
            Some('"') => Some("a JSON string"),
            Some('t' | 'f') if start.starts_with("true") || start.starts_with("false") => {
                Some("a JSON boolean")
            }
            Some('n') if start.starts_with("null") => Some("null"),
            Some(c) if c == '-' || c.is_ascii_digit() => Some("a JSON number"),
            _ => None,
        };
        if let Some(what) = what {
            return Err(ScenarioError::Json(format!(
                "a scenario is a JSON object ({{\"name\": ..., \"servers\": ...}}), but the text is {what}"
            )));
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let s: Scenario = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = shorten_quoted(&inner.to_string());
            ScenarioError::Json(if !inner.is_data() {
                format!("not valid JSON: {message}")
            } else if path.is_empty() || path == "." {
                message
            } else {
                format!("field `{path}`: {message}")
            })
        })?;
        de.end().map_err(|e| {
            ScenarioError::Json(format!(
                "not valid JSON: {}",
                shorten_quoted(&e.to_string())
            ))
        })?;
        s.validate()?;
        Ok(s)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("scenarios serialize")
    }

    /// How long clients keep their sessions idle once the liveness phase begins.
    pub fn liveness_hold_ms(&self) -> u64 {
        if let Some(ms) = self.liveness_hold_ms {
            return ms;
        }
        let w = &self.workload;
        let timeout = u64::try_from(w.session_timeout_ms.max(0)).expect("non-negative");
        let mut hold = timeout.saturating_mul(3) / 2;
        if w.container_percent > 0 || w.ttl_percent > 0 {
            let ttl = u64::try_from(w.ttl_ms.max(0)).expect("non-negative");
            hold += self.container_check_ms + ttl;
        }
        // At most half the liveness bound, so that a scenario written before the hold
        // existed still converges within its bound.
        hold.min(self.liveness_ms / 2)
    }

    /// What a valid scenario does that is likely not meant, each with the reason.
    pub fn warnings(&self) -> Vec<String> {
        self.plan
            .as_ref()
            .map_or_else(Vec::new, |p| p.warnings(self.servers))
    }

    /// The session timeout the servers grant the clients' request: 2 to 20 ticks
    /// (ZooKeeper's minSessionTimeout and maxSessionTimeout defaults).
    pub fn negotiated_timeout_ms(&self) -> u64 {
        let requested = u64::try_from(self.workload.session_timeout_ms.max(0)).unwrap_or(0);
        requested.clamp(2 * self.tick_ms, 20 * self.tick_ms)
    }

    /// The shortest liveness bound a run can meet: once faults heal, the clients' hold,
    /// an election (about ten ticks: initLimit and syncLimit) and one session timeout for
    /// the sessions left behind to expire.
    pub fn liveness_needed_ms(&self) -> u64 {
        self.liveness_hold_ms()
            .max(10 * self.tick_ms + self.negotiated_timeout_ms())
    }

    /// The run's budget of simulated events.
    pub fn max_events(&self) -> u64 {
        self.max_events.unwrap_or(MAX_EVENTS_DEFAULT)
    }

    /// The run's budget of memory, in MB.
    pub fn memory_mb_max(&self) -> u64 {
        self.memory_mb_max.unwrap_or(MEMORY_MB_DEFAULT)
    }

    /// Check every field a run depends on.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if !(1..=9).contains(&self.servers) {
            return Err(field(
                "servers",
                format!("{} servers; an ensemble has 1 to 9", self.servers),
            ));
        }
        if self.observers > 4 {
            return Err(field(
                "observers",
                format!("{} observers; at most 4", self.observers),
            ));
        }
        if !(1..=200).contains(&self.clients) {
            return Err(field(
                "clients",
                format!("{} clients; 1 to 200", self.clients),
            ));
        }
        if self.safety_ms > 3_600_000 {
            return Err(field("safety_ms", "longer than an hour of simulated time"));
        }
        if !(1_000..=3_600_000).contains(&self.liveness_ms) {
            return Err(field(
                "liveness_ms",
                format!(
                    "{} ms; the liveness bound must be 1 s to 1 h",
                    self.liveness_ms
                ),
            ));
        }
        if !(10..=10_000).contains(&self.tick_ms) {
            return Err(field(
                "tick_ms",
                format!("{} ms; 10 to 10000", self.tick_ms),
            ));
        }
        if !(2..=1_000_000).contains(&self.snap_count) {
            return Err(field(
                "snap_count",
                format!("{}; 2 to 1000000 txns between snapshots", self.snap_count),
            ));
        }
        let w = &self.workload;
        if !(1..=10_000).contains(&w.keys) {
            return Err(field(
                "workload.keys",
                format!("{} keys; 1 to 10000", w.keys),
            ));
        }
        if w.think_ms_max > 60_000 {
            return Err(field(
                "workload.think_ms_max",
                format!("{} ms; at most a minute", w.think_ms_max),
            ));
        }
        if w.quiet_every_ms > 60_000 || (w.quiet_every_ms > 0) != (w.quiet_ms > 0) {
            return Err(field(
                "workload.quiet_every_ms",
                format!(
                    "{} ms every {} ms; both 0, or a spell of 1 ms or more in a period of at most a minute",
                    w.quiet_ms, w.quiet_every_ms
                ),
            ));
        }
        if w.quiet_ms >= w.quiet_every_ms && w.quiet_every_ms > 0 {
            return Err(field(
                "workload.quiet_ms",
                format!(
                    "{} ms; shorter than the period of {} ms",
                    w.quiet_ms, w.quiet_every_ms
                ),
            ));
        }
        for (name, weight) in w.mix.weights() {
            if weight > WEIGHT_MAX {
                return Err(field(
                    "workload.mix",
                    format!("{name} weighs {weight}; a weight is 0 to {WEIGHT_MAX}"),
                ));
            }
        }
        if !(1..=64).contains(&w.pipeline) {
            return Err(field(
                "workload.pipeline",
                format!("{}; 1 to 64", w.pipeline),
            ));
        }
        if w.value_bytes_max > VALUE_BYTES_LIMIT {
            return Err(field(
                "workload.value_bytes_max",
                format!(
                    "{} bytes; at most {VALUE_BYTES_LIMIT} (16 KB), so that a run's memory stays bounded (ZooKeeper's own limit is 1 MB)",
                    w.value_bytes_max
                ),
            ));
        }
        for (name, v) in [
            ("workload.watch_percent", w.watch_percent),
            ("workload.ephemeral_percent", w.ephemeral_percent),
            ("workload.sequential_percent", w.sequential_percent),
            ("workload.session_churn_percent", w.session_churn_percent),
            ("workload.switch_percent", w.switch_percent),
            ("workload.container_percent", w.container_percent),
            ("workload.ttl_percent", w.ttl_percent),
            ("workload.child_percent", w.child_percent),
        ] {
            if v > 100 {
                return Err(field(name, format!("{v} is not a percentage")));
            }
        }
        if w.mix.checked_total().is_none() {
            return Err(field(
                "workload.mix",
                "the weights add up to more than 4294967295",
            ));
        }
        if w.mix.total() == 0 && self.recipe.is_none() {
            return Err(field("workload.mix", "every weight is zero"));
        }
        if !(1..=3_600_000).contains(&w.session_timeout_ms) {
            return Err(field(
                "workload.session_timeout_ms",
                format!(
                    "{} ms; 1 ms to 1 h (the server negotiates it into 2 to 20 ticks)",
                    w.session_timeout_ms
                ),
            ));
        }
        if w.container_percent + w.ttl_percent > 100 {
            return Err(field(
                "workload.ttl_percent",
                "container_percent and ttl_percent add up to more than 100",
            ));
        }
        if !(1..=3_600_000).contains(&w.ttl_ms) {
            return Err(field(
                "workload.ttl_ms",
                format!("{} ms; a TTL is 1 ms to 1 h", w.ttl_ms),
            ));
        }
        if !(100..=3_600_000).contains(&self.container_check_ms) {
            return Err(field(
                "container_check_ms",
                format!("{} ms; 100 ms to 1 h", self.container_check_ms),
            ));
        }
        if self
            .liveness_hold_ms
            .is_some_and(|hold| hold >= self.liveness_ms)
        {
            return Err(field(
                "liveness_hold_ms",
                format!(
                    "clients hold their sessions {} ms into the liveness phase, which is bounded at {} ms: the bound can never be met",
                    self.liveness_hold_ms(),
                    self.liveness_ms
                ),
            ));
        }
        let needed = self.liveness_needed_ms();
        if self.liveness_ms < needed {
            return Err(field(
                "liveness_ms",
                format!(
                    "{} ms can never be met: sessions time out after {} ms (workload.session_timeout_ms negotiated into 2 to 20 ticks of {} ms), and once faults heal the service needs an election, a session timeout to end the sessions left behind and the {} ms clients hold their sessions: at least {needed} ms",
                    self.liveness_ms,
                    self.negotiated_timeout_ms(),
                    self.tick_ms,
                    self.liveness_hold_ms()
                ),
            ));
        }
        if self
            .max_events
            .is_some_and(|n| !(1..=MAX_EVENTS_LIMIT).contains(&n))
        {
            return Err(field(
                "max_events",
                format!(
                    "{}; a run's budget is 1 to {MAX_EVENTS_LIMIT} events",
                    self.max_events()
                ),
            ));
        }
        if self
            .memory_mb_max
            .is_some_and(|n| !(1..=MEMORY_MB_LIMIT).contains(&n))
        {
            return Err(field(
                "memory_mb_max",
                format!(
                    "{} MB; a run's memory budget is 1 to {MEMORY_MB_LIMIT} MB",
                    self.memory_mb_max()
                ),
            ));
        }
        let f = &self.faults;
        if f.mean_interval_ms > 3_600_000 {
            return Err(field(
                "faults.mean_interval_ms",
                format!("{} ms; at most an hour", f.mean_interval_ms),
            ));
        }
        if f.duration_ms.iter().any(|&d| d > 3_600_000) {
            return Err(field(
                "faults.duration_ms",
                format!("{:?} ms; a fault lasts at most an hour", f.duration_ms),
            ));
        }
        for (name, weight) in f.weights() {
            if weight > WEIGHT_MAX {
                return Err(field(
                    "faults",
                    format!("{name} weighs {weight}; a weight is 0 to {WEIGHT_MAX}"),
                ));
            }
        }
        if f.max_down >= self.servers && f.mean_interval_ms > 0 && self.servers > 1 {
            return Err(field(
                "faults.max_down",
                format!(
                    "{} down at once, but the ensemble has {} servers",
                    f.max_down, self.servers
                ),
            ));
        }
        if f.duration_ms[0] > f.duration_ms[1] {
            return Err(field("faults.duration_ms", "the range is reversed"));
        }
        if f.end_with_slow_leader && self.servers == 1 {
            return Err(field(
                "faults.end_with_slow_leader",
                "a last stand needs followers to give up on their leader: two servers or more",
            ));
        }
        let shortest_last_stand = SYNC_LIMIT_TICKS * self.tick_ms + LAST_STAND_MIN_MS;
        if f.end_with_slow_leader && self.safety_ms <= shortest_last_stand {
            return Err(field(
                "faults.end_with_slow_leader",
                format!(
                    "a safety phase of {} ms cannot hold a last stand: it takes more than {SYNC_LIMIT_TICKS} ticks and {LAST_STAND_MIN_MS} ms ({shortest_last_stand} ms)",
                    self.safety_ms,
                ),
            ));
        }
        f.check_bounds()
            .map_err(|(name, problem)| field(name, problem))?;
        if let Some(plan) = &self.plan {
            plan.validate(self.servers, self.observers, self.safety_ms)
                .map_err(|p| field("plan", p))?;
        }
        if let Some(r) = &self.recipe {
            if !RECIPES.contains(&r.as_str()) {
                return Err(field(
                    "recipe",
                    format!("unknown recipe {r:?}; known: {}", RECIPES.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// Server ids: voters are 1..=servers, observers follow.
    pub fn server_ids(&self) -> Vec<u64> {
        (1..=u64::from(self.servers)).collect()
    }

    pub fn observer_ids(&self) -> Vec<u64> {
        let first = u64::from(self.servers) + 1;
        (first..first + u64::from(self.observers)).collect()
    }
}

/// syncLimit in ticks, as the simulator configures every server: a follower that hears
/// nothing from its leader for that long gives up on it (`Learner.syncWithLeader`'s read
/// timeout).
pub const SYNC_LIMIT_TICKS: u64 = 5;

/// How much longer than syncLimit a last stand (`end_with_slow_leader`) cuts the leader
/// off: up to an election of the others (finalizeWait is 200 ms).
pub const LAST_STAND_EXTRA_CUT_MS: RangeInclusive<u64> = 10..=200;

/// How long before the safety phase ends a last stand's cut heals.
pub const LAST_STAND_TAIL_MS: RangeInclusive<u64> = 200..=1_500;

/// How long a last stand takes beyond syncLimit, at least.
pub const LAST_STAND_MIN_MS: u64 = *LAST_STAND_EXTRA_CUT_MS.start() + *LAST_STAND_TAIL_MS.start();

/// The recipe workloads a scenario can name.
pub const RECIPES: [&str; 9] = [
    "config",
    "counter",
    "election",
    "lock",
    "barrier",
    "queue",
    "stale_read_sync",
    "session_expiry",
    "generic",
];

/// The built-in scenarios, each a JSON file in scenarios/builtin/.
const BUILTIN: [(&str, &str); 19] = [
    ("default", include_str!("../builtin/default.json")),
    ("three", include_str!("../builtin/three.json")),
    ("five", include_str!("../builtin/five.json")),
    ("crash", include_str!("../builtin/crash.json")),
    ("reaping", include_str!("../builtin/reaping.json")),
    ("config", include_str!("../builtin/config.json")),
    ("counter", include_str!("../builtin/counter.json")),
    ("election", include_str!("../builtin/election.json")),
    ("lock", include_str!("../builtin/lock.json")),
    ("barrier", include_str!("../builtin/barrier.json")),
    ("queue", include_str!("../builtin/queue.json")),
    (
        "stale_read_sync",
        include_str!("../builtin/stale_read_sync.json"),
    ),
    (
        "session_expiry",
        include_str!("../builtin/session_expiry.json"),
    ),
    (
        "deposed_leader",
        include_str!("../builtin/deposed_leader.json"),
    ),
    (
        "newleader_crash",
        include_str!("../builtin/newleader_crash.json"),
    ),
    (
        "newleader_crash_late",
        include_str!("../builtin/newleader_crash_late.json"),
    ),
    (
        "idle_election",
        include_str!("../builtin/idle_election.json"),
    ),
    ("stale_writer", include_str!("../builtin/stale_writer.json")),
    ("log_hole", include_str!("../builtin/log_hole.json")),
];

pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// A built-in scenario by name.
pub fn builtin(name: &str) -> Result<Scenario, ScenarioError> {
    let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name) else {
        return Err(ScenarioError::Unknown {
            name: name.to_string(),
            known: builtin_names().join(", "),
        });
    };
    Scenario::from_json(text)
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_scenario_is_valid() {
        for name in builtin_names() {
            let s = builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.name, name);
            assert_eq!(s.warnings(), Vec::<String>::new(), "{name}");
        }
        assert!(matches!(
            builtin("nope"),
            Err(ScenarioError::Unknown { .. })
        ));
    }

    #[test]
    fn errors_name_the_field() {
        let mut s = builtin("default").expect("default");
        s.servers = 0;
        assert_eq!(
            s.validate().map_err(|e| e.to_string()),
            Err("field `servers`: 0 servers; an ensemble has 1 to 9".to_string())
        );
        let mut s = builtin("default").expect("default");
        s.faults.max_down = 3;
        assert!(
            s.validate()
                .expect_err("three down of three")
                .to_string()
                .contains("faults.max_down")
        );
        let text = builtin("default")
            .expect("default")
            .to_json()
            .replace("\"clients\"", "\"clientz\"");
        assert!(
            matches!(Scenario::from_json(&text), Err(ScenarioError::Json(m)) if m.contains("clientz"))
        );
    }

    #[test]
    fn quiet_spells_must_fit_their_period() {
        let quiet = |every: u64, spell: u64| {
            let mut s = builtin("default").expect("default");
            s.workload.quiet_every_ms = every;
            s.workload.quiet_ms = spell;
            s.validate().map_err(|e| e.to_string())
        };
        assert!(quiet(500, 100).is_ok());
        assert!(quiet(0, 0).is_ok());
        for (every, spell, field) in [
            (500, 0, "workload.quiet_every_ms"),
            (0, 100, "workload.quiet_every_ms"),
            (120_000, 100, "workload.quiet_every_ms"),
            (500, 500, "workload.quiet_ms"),
            (500, 900, "workload.quiet_ms"),
        ] {
            let e = quiet(every, spell).expect_err("refused");
            assert!(e.contains(field), "{every}/{spell}: {e}");
        }
        // Written out only when on, so scenarios without them read and write as before.
        let json = builtin("default").expect("default").to_json();
        assert!(
            !json.contains("quiet") && !json.contains("least_loaded"),
            "{json}"
        );
    }
}
