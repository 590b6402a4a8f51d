//! ZooKeeper's guarantees as checks over a zksim history, one file per property.
//!
//! Sources: the ZooKeeper Programmer's Guide, "ZooKeeper consistency guarantees"
//! (https://zookeeper.apache.org/doc/r3.8.0/zookeeperProgrammers.html#ch_zkGuarantees);
//! Hunt et al., "ZooKeeper: Wait-free coordination for Internet-scale systems" (USENIX ATC
//! 2010), §2.3; Junqueira et al., "Zab: High-performance broadcast for primary-backup
//! systems" (DSN 2011) and its TLA+ specification (Zab.tla). docs/properties.md says what
//! each check verifies and where it stops.
//!
//! `check_all` indexes nothing itself: it takes an indexed `History`, runs the reference
//! replay once (`Reference::run`), and hands both to every property.

pub mod durability;
pub mod ephemerals;
pub mod fifo_order;
pub mod linearizable_writes;
pub mod one_shot_watches;
pub mod phantom_writes;
pub mod progress;
pub mod reads;
pub mod replicas;
pub mod sequential;
pub mod sync_reads;
pub mod time_travel;
pub mod watch_order;

use std::fmt;

use crate::index::{History, OpId, TxnId};
use crate::reference::Reference;

/// The properties, in the order they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    LinearizableWrites,
    FifoClientOrder,
    NoTimeTravel,
    WatchBeforeLaterRead,
    ReadsEqualState,
    ReadAfterSync,
    AcknowledgedWritesSurvive,
    NoPhantomWrites,
    EphemeralsLiveWithSession,
    SequentialNames,
    OneShotWatches,
    ReplicaAgreement,
    Progress,
}

impl Property {
    pub const ALL: [Property; 13] = [
        Property::LinearizableWrites,
        Property::FifoClientOrder,
        Property::NoTimeTravel,
        Property::WatchBeforeLaterRead,
        Property::ReadsEqualState,
        Property::ReadAfterSync,
        Property::AcknowledgedWritesSurvive,
        Property::NoPhantomWrites,
        Property::EphemeralsLiveWithSession,
        Property::SequentialNames,
        Property::OneShotWatches,
        Property::ReplicaAgreement,
        Property::Progress,
    ];

    /// The name reports and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Property::LinearizableWrites => "linearizable-writes",
            Property::FifoClientOrder => "fifo-client-order",
            Property::NoTimeTravel => "no-time-travel",
            Property::WatchBeforeLaterRead => "watch-before-later-read",
            Property::ReadsEqualState => "reads-equal-state",
            Property::ReadAfterSync => "read-after-sync",
            Property::AcknowledgedWritesSurvive => "acknowledged-writes-survive",
            Property::NoPhantomWrites => "no-phantom-writes",
            Property::EphemeralsLiveWithSession => "ephemerals-live-with-session",
            Property::SequentialNames => "sequential-names",
            Property::OneShotWatches => "one-shot-watches",
            Property::ReplicaAgreement => "replica-agreement",
            Property::Progress => "progress",
        }
    }

    pub fn from_name(name: &str) -> Option<Property> {
        Property::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Where the guarantee is stated.
    pub fn source(self) -> &'static str {
        const GUIDE: &str = "ZooKeeper Programmer's Guide, consistency guarantees";
        match self {
            Property::LinearizableWrites => "ZooKeeper paper §2.3 (linearizable writes)",
            Property::FifoClientOrder => GUIDE,
            Property::NoTimeTravel => "ZooKeeper Programmer's Guide, single system image",
            Property::WatchBeforeLaterRead => "ZooKeeper Programmer's Guide, ZooKeeper watches",
            Property::ReadsEqualState => GUIDE,
            Property::ReadAfterSync => "ZooKeeper Programmer's Guide, sync",
            Property::AcknowledgedWritesSurvive => "ZooKeeper Programmer's Guide, reliability",
            Property::NoPhantomWrites => "Zab (DSN 2011) §III, integrity",
            Property::EphemeralsLiveWithSession => "ZooKeeper Programmer's Guide, ephemeral nodes",
            Property::SequentialNames => "ZooKeeper Programmer's Guide, sequence nodes",
            Property::OneShotWatches => "ZooKeeper Programmer's Guide, ZooKeeper watches",
            Property::ReplicaAgreement => "Zab (DSN 2011) and Zab.tla",
            Property::Progress => "ZooKeeper Programmer's Guide, sessions, container and TTL nodes",
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One way a history breaks a property: the operations, txns and other events involved,
/// and a plain sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub property: Property,
    pub sentence: String,
    pub ops: Vec<OpId>,
    pub txns: Vec<TxnId>,
    /// Other events involved (notifications, session events), by position.
    pub events: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    /// The first findings (at most `FINDINGS_MAX`) and how many there were.
    Violated {
        findings: Vec<Finding>,
        total: usize,
    },
    /// The check could not decide; never a hidden "holds".
    Unknown(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub property: Property,
    pub verdict: Verdict,
    /// How many things the check examined (operations, txns, notifications).
    pub checked: usize,
}

/// Findings kept per property.
pub const FINDINGS_MAX: usize = 8;

/// Collects a property's findings, keeping the first few.
#[derive(Debug)]
pub struct Findings {
    property: Property,
    kept: Vec<Finding>,
    total: usize,
}

impl Findings {
    pub fn new(property: Property) -> Findings {
        Findings {
            property,
            kept: Vec::new(),
            total: 0,
        }
    }

    pub fn add(&mut self, sentence: String, ops: Vec<OpId>, txns: Vec<TxnId>, events: Vec<usize>) {
        self.total += 1;
        if self.kept.len() < FINDINGS_MAX {
            self.kept.push(Finding {
                property: self.property,
                sentence,
                ops,
                txns,
                events,
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Whether another finding would be kept (so its sentence is worth building).
    pub fn wants_more(&self) -> bool {
        self.kept.len() < FINDINGS_MAX
    }

    /// Count a finding without building it.
    pub fn count(&mut self) {
        self.total += 1;
    }

    pub fn outcome(self, checked: usize) -> Outcome {
        let verdict = if self.total == 0 {
            Verdict::Holds
        } else {
            Verdict::Violated {
                findings: self.kept,
                total: self.total,
            }
        };
        Outcome {
            property: self.property,
            verdict,
            checked,
        }
    }
}

/// What `check_all` may spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Search steps for confirming a linearizability violation (see linearizable_writes).
    pub max_steps: u64,
}

impl Options {
    /// The default search budget for confirming a linearizability violation. A step of the
    /// ZooKeeper model rebuilds its partition's tree, so it costs far more than a step of a
    /// register (up to a few hundred microseconds on large partitions): this keeps a
    /// confirmation within about a minute.
    pub const DEFAULT_MAX_STEPS: u64 = 100_000;
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_steps: Options::DEFAULT_MAX_STEPS,
        }
    }
}

/// Every property's outcome, in `Property::ALL` order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn holds(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| matches!(o.verdict, Verdict::Holds))
    }

    pub fn violated(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.verdict, Verdict::Violated { .. }))
    }

    pub fn unknown(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.verdict, Verdict::Unknown(_)))
    }

    pub fn outcome(&self, property: Property) -> &Outcome {
        self.outcomes
            .iter()
            .find(|o| o.property == property)
            .expect("every property has an outcome")
    }

    /// Every finding, property by property.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.outcomes.iter().flat_map(|o| match &o.verdict {
            Verdict::Violated { findings, .. } => findings.as_slice(),
            _ => &[],
        })
    }
}

/// Run every property on an indexed history. The two halves of the reference replay run
/// on two threads, each followed by the properties that need it, with the properties that
/// need neither shared out between them.
pub fn check_all(h: &History, options: Options) -> Report {
    use crate::reference::Half;
    // No-time-travel, read-after-sync and progress need no replay: they run after the
    // write half, the shorter, so that both threads end together.
    const AFTER_WRITES: [Property; 10] = [
        Property::Progress,
        Property::LinearizableWrites,
        Property::EphemeralsLiveWithSession,
        Property::FifoClientOrder,
        Property::AcknowledgedWritesSurvive,
        Property::NoPhantomWrites,
        Property::SequentialNames,
        Property::ReplicaAgreement,
        Property::NoTimeTravel,
        Property::ReadAfterSync,
    ];
    const AFTER_READS: [Property; 3] = [
        Property::ReadsEqualState,
        Property::WatchBeforeLaterRead,
        Property::OneShotWatches,
    ];
    let run = |half, properties: &[Property]| {
        let r = Reference::half(h, half);
        properties
            .iter()
            .map(|&p| check(p, h, &r, options))
            .collect::<Vec<_>>()
    };
    let mut outcomes = std::thread::scope(|scope| {
        let writes = scope.spawn(|| run(Half::Writes, &AFTER_WRITES));
        let mut outcomes = run(Half::Reads, &AFTER_READS);
        outcomes.extend(writes.join().expect("the write half does not panic"));
        outcomes
    });
    outcomes.sort_by_key(|o| o.property);
    debug_assert_eq!(outcomes.len(), Property::ALL.len());
    Report { outcomes }
}

/// Run one property.
pub fn check(p: Property, h: &History, r: &Reference, options: Options) -> Outcome {
    match p {
        Property::LinearizableWrites => linearizable_writes::check(h, r, options),
        Property::FifoClientOrder => fifo_order::check(h),
        Property::NoTimeTravel => time_travel::check(h),
        Property::WatchBeforeLaterRead => watch_order::check(h, r),
        Property::ReadsEqualState => reads::check(h, r),
        Property::ReadAfterSync => sync_reads::check(h),
        Property::AcknowledgedWritesSurvive => durability::check(h),
        Property::NoPhantomWrites => phantom_writes::check(h),
        Property::EphemeralsLiveWithSession => ephemerals::check(h, r),
        Property::SequentialNames => sequential::check(h),
        Property::OneShotWatches => one_shot_watches::check(h, r),
        Property::ReplicaAgreement => replicas::check(h),
        Property::Progress => progress::check(h),
    }
}

/// Text helpers for sentences.
pub(crate) mod describe {
    use zksim_core::error::ErrorCode;
    use zksim_core::request::{OpResult, Request, Response};
    use zksim_core::stat::{Stat, Zxid};
    use zksim_core::txn::Txn;

    use crate::index::{History, OpId};

    /// `0x100000003` as `1:3` (epoch:counter), the way people read zxids.
    pub fn zxid(z: Zxid) -> String {
        format!("{}:{}", z >> 32, z & 0xffff_ffff)
    }

    /// "session 0x5 (client 2)'s setData /a (event 17)".
    pub fn op(h: &History, id: OpId) -> String {
        let op = h.op(id);
        let who = match op.session {
            Some(s) => format!("session {s:#x} (client {})", op.client),
            None => format!("client {}", op.client),
        };
        format!(
            "{who}'s {} (event {})",
            request(op.request),
            op.invoke_at + 1
        )
    }

    /// A request in a few words: `setData /a`, `multi [create /a, delete /b]`.
    pub fn request(r: &Request) -> String {
        let name = match r {
            Request::Create { .. } => "create",
            Request::Delete { .. } => "delete",
            Request::Exists { .. } => "exists",
            Request::GetData { .. } => "getData",
            Request::SetData { .. } => "setData",
            Request::GetChildren { .. } => "getChildren",
            Request::GetAllChildrenNumber { .. } => "getAllChildrenNumber",
            Request::GetEphemerals { .. } => "getEphemerals",
            Request::GetAcl { .. } => "getACL",
            Request::SetAcl { .. } => "setACL",
            Request::Sync { .. } => "sync",
            Request::Check { .. } => "check",
            Request::AddWatch { .. } => "addWatch",
            Request::RemoveWatches { .. } => "removeWatches",
            Request::SetWatches { .. } => "setWatches",
            Request::Multi(ops) | Request::MultiRead(ops) => {
                let kind = if matches!(r, Request::Multi(_)) {
                    "multi"
                } else {
                    "multiRead"
                };
                let inner: Vec<String> = ops.iter().map(request).collect();
                return format!("{kind} [{}]", inner.join(", "));
            }
        };
        match r.path() {
            Some(path) => format!("{name} {path}"),
            None => name.to_string(),
        }
    }

    /// A txn in a few words: `setData /a`.
    pub fn txn(t: &Txn) -> String {
        match t {
            Txn::CreateSession { .. } => "createSession".to_string(),
            Txn::CloseSession { .. } => "closeSession".to_string(),
            Txn::Create { path, .. } => format!("create {path}"),
            Txn::Delete { path } => format!("delete {path}"),
            Txn::DeleteContainer { path } => format!("deleteContainer {path}"),
            Txn::SetData { path, .. } => format!("setData {path}"),
            Txn::SetAcl { path, .. } => format!("setACL {path}"),
            Txn::Check { path, .. } => format!("check {path}"),
            Txn::Error { err } => format!("error {err}"),
            Txn::Multi(txns) => format!(
                "multi [{}]",
                txns.iter().map(txn).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Bytes as a quoted string when they are text, else as a list.
    pub fn data(d: &Option<Vec<u8>>) -> String {
        match d {
            None => "null".to_string(),
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => format!("{text:?}"),
                Err(_) => format!("{bytes:?}"),
            },
        }
    }

    fn stat_difference(told: &Stat, state: &Stat, out: &mut Vec<String>) {
        let fields: [(&str, i64, i64, bool); 11] = [
            ("czxid", told.czxid, state.czxid, true),
            ("mzxid", told.mzxid, state.mzxid, true),
            ("pzxid", told.pzxid, state.pzxid, true),
            ("ctime", told.ctime, state.ctime, false),
            ("mtime", told.mtime, state.mtime, false),
            ("version", told.version.into(), state.version.into(), false),
            (
                "cversion",
                told.cversion.into(),
                state.cversion.into(),
                false,
            ),
            (
                "aversion",
                told.aversion.into(),
                state.aversion.into(),
                false,
            ),
            (
                "ephemeralOwner",
                told.ephemeral_owner,
                state.ephemeral_owner,
                false,
            ),
            (
                "dataLength",
                told.data_length.into(),
                state.data_length.into(),
                false,
            ),
            (
                "numChildren",
                told.num_children.into(),
                state.num_children.into(),
                false,
            ),
        ];
        for (name, a, b, is_zxid) in fields {
            if a != b {
                let show = |v: i64| if is_zxid { zxid(v) } else { v.to_string() };
                out.push(format!("{name} {} (expected {})", show(a), show(b)));
            }
        }
    }

    /// What differs between an answer and the expected one, in a few words:
    /// `data "x" (expected "y"), version 3 (expected 2)`.
    pub fn difference(told: (ErrorCode, &Response), expected: (ErrorCode, &Response)) -> String {
        if told.0 != expected.0 {
            return format!("{} (expected {})", told.0, expected.0);
        }
        let mut out = Vec::new();
        match (told.1, expected.1) {
            (Response::GetData { data: a, stat: s }, Response::GetData { data: b, stat: t }) => {
                if a != b {
                    out.push(format!("data {} (expected {})", data(a), data(b)));
                }
                stat_difference(s, t, &mut out);
            }
            (Response::Stat(s), Response::Stat(t)) => stat_difference(s, t, &mut out),
            (Response::Create { path: a, stat: s }, Response::Create { path: b, stat: t }) => {
                if a != b {
                    out.push(format!("name {a} (expected {b})"));
                }
                stat_difference(s, t, &mut out);
            }
            (
                Response::GetChildren {
                    children: a,
                    stat: s,
                },
                Response::GetChildren {
                    children: b,
                    stat: t,
                },
            ) => {
                if a != b {
                    out.push(format!(
                        "children [{}] (expected [{}])",
                        a.join(", "),
                        b.join(", ")
                    ));
                }
                if let (Some(s), Some(t)) = (s, t) {
                    stat_difference(s, t, &mut out);
                }
            }
            (Response::Multi(a), Response::Multi(b)) if a.len() == b.len() => {
                for (k, (x, y)) in a.iter().zip(b).enumerate() {
                    if x != y {
                        out.push(format!(
                            "result {} {} (expected {})",
                            k + 1,
                            op_result(x),
                            op_result(y)
                        ));
                        break;
                    }
                }
            }
            (a, b) => out.push(format!("{a:?} (expected {b:?})")),
        }
        if out.is_empty() {
            "the same answer".to_string()
        } else {
            out.join(", ")
        }
    }

    fn op_result(r: &OpResult) -> String {
        match r {
            OpResult::Error(e) => e.to_string(),
            OpResult::Create { path, .. } => format!("created {path}"),
            OpResult::GetData { data: d, .. } => format!("data {}", data(d)),
            OpResult::GetChildren { children } => format!("children [{}]", children.join(", ")),
            other => format!("{other:?}"),
        }
    }
}
