//! Client requests and the replies a server gives, independent of any wire encoding.

use serde::{Deserialize, Serialize};

use crate::acl::Acl;
use crate::error::ErrorCode;
use crate::stat::{Stat, Zxid};
use crate::watch::{EventType, WatcherMode};

/// `CreateMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    PersistentWithTtl,
    PersistentSequentialWithTtl,
}

impl CreateMode {
    pub const ALL: [CreateMode; 7] = [
        CreateMode::Persistent,
        CreateMode::Ephemeral,
        CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
        CreateMode::PersistentWithTtl,
        CreateMode::PersistentSequentialWithTtl,
    ];

    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// The snake_case name used in files (`persistent_sequential`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CreateMode::Persistent => "persistent",
            CreateMode::Ephemeral => "ephemeral",
            CreateMode::PersistentSequential => "persistent_sequential",
            CreateMode::EphemeralSequential => "ephemeral_sequential",
            CreateMode::Container => "container",
            CreateMode::PersistentWithTtl => "persistent_with_ttl",
            CreateMode::PersistentSequentialWithTtl => "persistent_sequential_with_ttl",
        }
    }

    pub fn from_name(name: &str) -> Option<CreateMode> {
        CreateMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// `WatcherType` of a removeWatches request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatcherType {
    Children,
    Data,
    Any,
}

/// A client request. `Check` appears only inside `Multi`; `Multi` holds create, delete,
/// set_data and check; `MultiRead` holds get_data and get_children.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// `create2`, or `createContainer` for a container, or `createTTL` when `ttl` is set.
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl: Option<i64>,
    },
    Delete {
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    /// `getChildren2`: children and the parent's stat.
    GetChildren {
        path: String,
        watch: bool,
    },
    GetAllChildrenNumber {
        path: String,
    },
    GetEphemerals {
        prefix: String,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Sync {
        path: String,
    },
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<Request>),
    MultiRead(Vec<Request>),
    AddWatch {
        path: String,
        mode: WatcherMode,
    },
    RemoveWatches {
        path: String,
        watcher_type: WatcherType,
    },
    /// `SetWatches2`, sent after a reconnect: watches to re-register as of `relative_zxid`.
    SetWatches {
        relative_zxid: Zxid,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
        persistent: Vec<String>,
        persistent_recursive: Vec<String>,
    },
}

impl Request {
    /// Whether the request is a write that goes through the leader as a txn.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::SetAcl { .. }
                | Request::Check { .. }
                | Request::Multi(_)
        )
    }

    /// Roughly the heap bytes the request holds (paths, data, names, ACLs): what a record
    /// of it costs beyond its own size, for a run's budget of memory.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Request::Create {
                path, data, acl, ..
            } => string_bytes(path) + data_bytes(data) + acl_bytes(acl),
            Request::SetData { path, data, .. } => string_bytes(path) + data_bytes(data),
            Request::SetAcl { path, acl, .. } => string_bytes(path) + acl_bytes(acl),
            Request::Multi(ops) | Request::MultiRead(ops) => ops
                .iter()
                .map(|op| std::mem::size_of::<Request>() + op.heap_bytes())
                .sum(),
            Request::SetWatches {
                data,
                exist,
                child,
                persistent,
                persistent_recursive,
                ..
            } => [data, exist, child, persistent, persistent_recursive]
                .into_iter()
                .map(|paths| strings_bytes(paths))
                .sum(),
            other => other.path().map_or(0, string_bytes),
        }
    }

    /// The znode path a request names, if it names one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Request::Create { path, .. }
            | Request::Delete { path, .. }
            | Request::Exists { path, .. }
            | Request::GetData { path, .. }
            | Request::SetData { path, .. }
            | Request::GetChildren { path, .. }
            | Request::GetAllChildrenNumber { path }
            | Request::GetAcl { path }
            | Request::SetAcl { path, .. }
            | Request::Sync { path }
            | Request::Check { path, .. }
            | Request::AddWatch { path, .. }
            | Request::RemoveWatches { path, .. } => Some(path),
            Request::GetEphemerals { prefix } => Some(prefix),
            Request::Multi(_) | Request::MultiRead(_) | Request::SetWatches { .. } => None,
        }
    }
}

/// The body of a successful reply (or of a multi, whose header is OK even when it failed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Empty,
    Create {
        path: String,
        stat: Stat,
    },
    Stat(Stat),
    GetData {
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    GetChildren {
        children: Vec<String>,
        stat: Option<Stat>,
    },
    Count(i32),
    Paths(Vec<String>),
    GetAcl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    Sync {
        path: String,
    },
    Multi(Vec<OpResult>),
}

/// One sub-result of a multi or multiRead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// A plain create inside a multi answers with its path only.
    Create {
        path: String,
        stat: Option<Stat>,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    Check,
    GetData {
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    GetChildren {
        children: Vec<String>,
    },
    Error(ErrorCode),
}

impl Response {
    /// Roughly the heap bytes the response holds (data, names, ACLs); see
    /// [`Request::heap_bytes`].
    pub fn heap_bytes(&self) -> usize {
        match self {
            Response::Empty | Response::Stat(_) | Response::Count(_) => 0,
            Response::Create { path, .. } | Response::Sync { path } => string_bytes(path),
            Response::GetData { data, .. } => data_bytes(data),
            Response::GetChildren { children, .. } | Response::Paths(children) => {
                strings_bytes(children)
            }
            Response::GetAcl { acl, .. } => acl_bytes(acl),
            Response::Multi(results) => results
                .iter()
                .map(|r| {
                    std::mem::size_of::<OpResult>()
                        + match r {
                            OpResult::Create { path, .. } => string_bytes(path),
                            OpResult::GetData { data, .. } => data_bytes(data),
                            OpResult::GetChildren { children } => strings_bytes(children),
                            _ => 0,
                        }
                })
                .sum(),
        }
    }
}

/// What the allocator keeps for one heap block beyond its bytes (a rough figure).
const BLOCK_OVERHEAD: usize = 16;

fn string_bytes(s: &str) -> usize {
    s.len() + BLOCK_OVERHEAD
}

fn strings_bytes(names: &[String]) -> usize {
    names
        .iter()
        .map(|n| std::mem::size_of::<String>() + string_bytes(n))
        .sum::<usize>()
        + BLOCK_OVERHEAD
}

fn data_bytes(data: &Option<Vec<u8>>) -> usize {
    data.as_ref().map_or(0, |d| d.len() + BLOCK_OVERHEAD)
}

fn acl_bytes(acl: &[Acl]) -> usize {
    acl.iter()
        .map(|a| std::mem::size_of::<Acl>() + string_bytes(&a.scheme) + string_bytes(&a.id))
        .sum::<usize>()
        + BLOCK_OVERHEAD
}

impl OpResult {
    pub fn err(&self) -> ErrorCode {
        match self {
            OpResult::Error(e) => *e,
            _ => ErrorCode::Ok,
        }
    }
}

/// A server's reply: the reply header's error code and zxid, the body when there is one,
/// and, for an invalid argument, a sentence saying what is wrong (not on ZooKeeper's wire).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub err: ErrorCode,
    pub zxid: Zxid,
    pub response: Response,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Reply {
    /// The reply to a read served at `zxid`: its response, or its error with no body.
    pub fn of_read(outcome: Result<Response, ErrorCode>, zxid: Zxid) -> Reply {
        let (err, response) = match outcome {
            Ok(response) => (ErrorCode::Ok, response),
            Err(err) => (err, Response::Empty),
        };
        Reply {
            err,
            zxid,
            response,
            message: None,
        }
    }
}

/// A watch notification as a client receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub event_type: EventType,
    pub path: String,
    /// The zxid of the txn that triggered it (ZooKeeper sends -1 on the wire; zksim keeps
    /// the real one so the checker can place the event).
    pub zxid: Zxid,
}
